//! The unchanged `gemini` preset against the real Gemini CLI, offline: the CLI talks to the
//! scripted model server (`GOOGLE_GEMINI_BASE_URL`, Gemini API) and works with its own
//! read_file / write_file / replace tools.

use crate::model_server::{ModelServer, Run};
use crate::support::TestEnv;
use git_conflux::agent::stream::StreamFormat;

use crate::test_claude::{assert_golden, bounded, cli_bin, processes_under, render};

#[test]
fn recorded_gemini_transcript_renders_as_its_golden_text() {
    assert_golden("gemini", StreamFormat::Gemini, "tools-and-result");
    let rendered = render("gemini", StreamFormat::Gemini, "tools-and-result.jsonl");
    assert!(!rendered.contains("{\""), "{rendered}");
}

#[test]
fn gemini_completes_a_change_offline() {
    gemini_completes_a_change("");
}

#[test]
fn gemini_completes_a_change_inside_the_bwrap_sandbox() {
    if crate::test_sandbox::have_bwrap() {
        gemini_completes_a_change("sandbox: bwrap\n");
    }
}

/// One change of two tasks, two runs of the CLI, with `extra` lines in the configuration.
fn gemini_completes_a_change(extra: &str) {
    let bin = cli_bin("gemini", "@google/gemini-cli", "CONFLUX_GEMINI_BIN");
    let env = TestEnv::new();
    let bin_dir = env.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(&bin, bin_dir.join("gemini")).unwrap();
    let server = ModelServer::start(vec![Run::ticks(1)]);
    // An API key chosen as the auth method, as `gemini` would store it after a login.
    std::fs::create_dir_all(env.home.join(".gemini")).unwrap();
    std::fs::write(
        env.home.join(".gemini/settings.json"),
        r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#,
    )
    .unwrap();
    // A fixed model skips the CLI's model-routing request (a JSON classification call).
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: gemini\nstagger: 0s\nkill_grace: 1s\nretry: {{delay: 0s}}\n\
             inactivity_timeout: 60s\nenv:\n  GOOGLE_GEMINI_BASE_URL: \"{}\"\n  \
             GEMINI_API_KEY: dummy-key-not-a-secret\n  GEMINI_MODEL: gemini-2.5-pro\n{extra}",
            server.base_url()
        ),
    );
    env.add_change("add-x", &["1.1 First", "1.2 Second"], &[], "");
    env.commit_all("change");
    let mut cmd = env.conflux_cmd(&["start"]);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(bin_dir.clone()).chain(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    let out = bounded(&env, cmd, std::time::Duration::from_secs(120));
    assert_eq!(out.code, 0, "{out}");
    let st = env.state("add-x");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(st["iteration"], 2, "{st}");
    assert_eq!(server.runs("add-x"), 2);
    let tasks = env.git(&["show", "conflux/add-x:openspec/changes/add-x/tasks.md"]);
    assert!(
        tasks.contains("- [x] 1.1 First") && tasks.contains("- [x] 1.2 Second"),
        "{tasks}"
    );
    env.git(&["show", "conflux/add-x:claude-work/add-x/task-2.txt"]);
    let logs = env.conflux(&["logs", "add-x"]);
    assert_eq!(logs.code, 0, "{logs}");
    for expected in [
        "session started (model gemini-2.5-pro)",
        "read_file openspec/changes/add-x/tasks.md",
        "replace openspec/changes/add-x/tasks.md",
        "Completed 1 task(s) of change add-x; 1 remain open.",
    ] {
        assert!(
            logs.stdout.contains(expected),
            "missing {expected:?}:\n{logs}"
        );
    }
    assert!(
        !logs.stdout.contains("{\"type\""),
        "raw JSON in the log:\n{logs}"
    );
    let left = processes_under(env.path());
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
