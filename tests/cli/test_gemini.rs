//! The unchanged `gemini` preset against the real Gemini CLI, offline: the CLI talks to the
//! scripted model server (`GOOGLE_GEMINI_BASE_URL`, Gemini API) and works with its own
//! read_file / write_file / replace tools.

use crate::model_server::{Fault, ModelServer, Run};
use crate::support::{Output, TestEnv};
use git_conflux::agent::stream::StreamFormat;

use crate::test_claude::{assert_golden, bounded, cli_bin, processes_under, render};

#[test]
fn recorded_gemini_transcript_renders_as_its_golden_text() {
    for name in [
        "tools-and-result",
        "auth-400-key",
        "auth-401",
        "unknown-model-404",
    ] {
        assert_golden("gemini", StreamFormat::Gemini, name);
    }
    let rendered = render("gemini", StreamFormat::Gemini, "tools-and-result.jsonl");
    assert!(!rendered.contains("{\""), "{rendered}");
}

/// A repository whose agent is the `gemini` preset, pointed at `server`, with `extra`
/// configuration lines.
fn gemini_env(server: &ModelServer, extra: &str) -> TestEnv {
    let bin = cli_bin("gemini", "@google/gemini-cli", "CONFLUX_GEMINI_BIN");
    let env = TestEnv::new();
    let bin_dir = env.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(&bin, bin_dir.join("gemini")).unwrap();
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
             inactivity_timeout: 60s\n{extra}env:\n  GOOGLE_GEMINI_BASE_URL: \"{}\"\n  \
             GEMINI_API_KEY: dummy-key-not-a-secret\n  GEMINI_MODEL: gemini-2.5-pro\n",
            server.base_url()
        ),
    );
    env
}

/// `git conflux start` with the CLI first on PATH, bounded.
fn start(env: &TestEnv) -> Output {
    let mut cmd = env.conflux_cmd(&["start"]);
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(env.path().join("bin")).chain(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    bounded(env, cmd, std::time::Duration::from_secs(120))
}

#[test]
fn gemini_rejecting_the_key_is_one_refusal_and_no_other_change_starts() {
    let rejected = Fault::Error {
        status: 400,
        should_retry: None,
        times: None,
    };
    let server = ModelServer::start(vec![Run::fault(rejected)]);
    let env = gemini_env(&server, "jobs: 1\n");
    env.add_change("first", &["1.1 Never happens"], &[], "");
    env.add_change("second", &["1.1 Never happens"], &[], "");
    env.commit_all("changes");
    let out = start(&env);
    assert_eq!(out.code, 5, "{out}");
    let st = env.state("first");
    assert_eq!(st["phase"], "failed", "{st}");
    assert_eq!(st["retries"], 0, "{st}");
    let reason = st["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with(
            "gemini refused: API key not valid. Please pass a valid API key. — set a valid GEMINI_API_KEY"
        ),
        "{reason}"
    );
    assert_eq!(server.runs("first"), 1);
    assert_eq!(env.state("second")["phase"], "pending");
    assert_eq!(server.runs("second"), 0);
    let left = processes_under(env.path());
    assert!(left.is_empty(), "processes left behind: {left:?}");
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
    let server = ModelServer::start(vec![Run::ticks(1)]);
    let env = gemini_env(&server, extra);
    env.add_change("add-x", &["1.1 First", "1.2 Second"], &[], "");
    env.commit_all("change");
    let out = start(&env);
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
    // Gemini reports tokens but no cost: one usage line per run, tokens summed, no USD.
    assert_eq!(logs.stdout.matches(" tokens: in ").count(), 2, "{logs}");
    assert!(st["tokens"]["input"].as_u64().unwrap_or(0) > 0, "{st}");
    assert!(st["tokens"]["output"].as_u64().unwrap_or(0) > 0, "{st}");
    assert_eq!(st["cost_usd"], serde_json::Value::Null, "{st}");
    let left = processes_under(env.path());
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
