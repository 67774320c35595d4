//! The unchanged `codex` preset against the real Codex CLI, offline: `codex exec` talks to the
//! scripted model server's Responses API (`model_server.rs`) through a provider in its own
//! CODEX_HOME, and works with its own `exec_command` and `apply_patch` tools. Plus the stream
//! decoder on transcripts recorded from the real CLI (tests/fixtures/codex/, version in
//! VERSION), compared with golden text.
//!
//! The CLI comes from `CONFLUX_CODEX_BIN`, else the cache scripts/test.sh installs it into.

use std::path::{Path, PathBuf};
use std::process::Command;

use git_conflux::agent::stream::{Decoder, StreamFormat};

use crate::agent_cli::CliEnv;
use crate::model_server::{Fault, Run};
use crate::support::Output;
use crate::test_claude::{assert_golden, cli_bin, render};

/// A test repository whose agent is the `codex` preset, pointed at a scripted model.
struct CodexEnv {
    cli: CliEnv,
    codex_home: PathBuf,
}

impl std::ops::Deref for CodexEnv {
    type Target = CliEnv;
    fn deref(&self) -> &CliEnv {
        &self.cli
    }
}

impl CodexEnv {
    fn new(default: Vec<Run>) -> CodexEnv {
        let cli = CliEnv::new("codex", &codex_bin(), default);
        let codex_home = cli.env.path().join("codex-home");
        std::fs::create_dir_all(&codex_home).unwrap();
        // A provider of our own, pointed at the server: an API key from the environment, so
        // no login; no retries by the CLI itself, so that a failed request ends the run and
        // conflux's retry policy is what is tested. Offline: no update check, no sync of the
        // plugin marketplace (`git ls-remote https://github.com/openai/plugins` at every
        // start), no login-shell snapshot (one `bash -lc` per start).
        std::fs::write(
            codex_home.join("config.toml"),
            format!(
                "model = \"gpt-5.5\"\nmodel_provider = \"scripted\"\n\
                 check_for_update_on_startup = false\n\n\
                 [features]\nplugins = false\nshell_snapshot = false\n\n\
                 [model_providers.scripted]\nname = \"Scripted model\"\n\
                 base_url = \"{}/v1\"\nwire_api = \"responses\"\n\
                 env_key = \"SCRIPTED_API_KEY\"\nrequest_max_retries = 0\n\
                 stream_max_retries = 0\n",
                cli.server.base_url()
            ),
        )
        .unwrap();
        CodexEnv { cli, codex_home }
    }

    /// What the CLI needs in its environment: its CODEX_HOME and the provider's key.
    fn cli_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CODEX_HOME", self.codex_home.display().to_string()),
            ("SCRIPTED_API_KEY", "dummy-key-not-a-secret".to_owned()),
        ]
    }

    /// `.conflux.yaml`: the `codex` preset and its environment, with extra YAML lines.
    fn configure(&self, extra: &str) {
        self.cli.configure("codex", extra, &self.cli_env());
    }
}

fn codex_bin() -> PathBuf {
    cli_bin("codex", "@openai/codex", "CONFLUX_CODEX_BIN")
}

/// A run the server answers with HTTP `status` at every request.
fn http_error(status: u16) -> Run {
    Run::fault(Fault::Error {
        status,
        should_retry: None,
        times: None,
    })
}

#[test]
fn codex_completes_changes_over_iterations_and_they_merge() {
    let c = CodexEnv::new(vec![Run::all()]);
    c.configure("jobs: 3\n");
    c.env.add_change(
        "add-greeting",
        &["1.1 Write the greeting", "1.2 Document it"],
        &[],
        "",
    );
    c.env.add_change("add-notes", &["1.1 Write notes"], &[], "");
    c.server.script("add-notes", vec![Run::all().committing()]);
    c.env.add_change(
        "add-steps",
        &["1.1 First", "1.2 Second", "1.3 Third"],
        &[],
        "",
    );
    c.server.script("add-steps", vec![Run::ticks(1)]);
    c.env.commit_all("three changes");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    for id in ["add-greeting", "add-notes", "add-steps"] {
        assert_eq!(c.phase(id), "done", "{id}: {}", c.env.state(id));
        let tasks = c.env.git(&[
            "show",
            &format!("conflux/{id}:openspec/changes/{id}/tasks.md"),
        ]);
        assert!(
            !tasks.contains("[ ]") && tasks.contains("- [x] 1.1"),
            "{tasks}"
        );
        let work = c
            .env
            .git(&["show", &format!("conflux/{id}:claude-work/{id}/task-1.txt")]);
        assert!(work.starts_with(&format!("{id}: 1.1 ")), "{work}");
    }
    // One task ticked per run: three runs, each committed as its own iteration.
    assert_eq!(c.env.state("add-steps")["iteration"], 3);
    assert_eq!(c.server.runs("add-steps"), 3);
    let steps = c.env.git(&["log", "--format=%s", "conflux/add-steps"]);
    for i in 1..=3 {
        assert!(steps.contains(&format!("iteration {i}")), "{steps}");
    }
    // Only the work is committed: nothing of the CLI's own (its home, logs, sessions).
    let changed = c
        .env
        .git(&["diff", "--name-only", "main", "conflux/add-greeting"]);
    assert_eq!(
        changed.lines().collect::<Vec<_>>(),
        [
            "claude-work/add-greeting/task-1.txt",
            "claude-work/add-greeting/task-2.txt",
            "openspec/changes/add-greeting/tasks.md",
        ]
    );
    // The CLI left its work uncommitted and exited 0: conflux committed it.
    let greeting = c.env.git(&["log", "--format=%s", "conflux/add-greeting"]);
    assert!(
        greeting.contains("conflux(add-greeting): iteration 1"),
        "{greeting}"
    );
    // The CLI's own commit in the linked worktree works: the preset runs it unsandboxed.
    let notes = c.env.git(&["log", "--format=%s", "conflux/add-notes"]);
    assert!(notes.contains("claude: add-notes"), "{notes}");
    let log = c.decoded_log("add-greeting");
    for expected in [
        "Bash cat openspec/changes/add-greeting/tasks.md",
        "Add claude-work/add-greeting/task-2.txt",
        "Edit openspec/changes/add-greeting/tasks.md",
        "Completed 2 task(s) of change add-greeting; 0 remain open.",
        "done: 1 turn, 600 in / 120 out tokens",
    ] {
        assert!(log.contains(expected), "missing {expected:?} in:\n{log}");
    }
    // Codex reports tokens, no cost: the change's totals are the turns' sums, USD null.
    assert!(log.contains("tokens: in 600 out 120"), "{log}");
    let st = c.env.state("add-greeting");
    assert_eq!(
        (
            &st["tokens"]["input"],
            &st["tokens"]["output"],
            &st["cost_usd"]
        ),
        (&600.into(), &120.into(), &serde_json::Value::Null),
        "{st}"
    );
    let notes_log = c.decoded_log("add-notes");
    assert!(
        notes_log.contains("Bash git add -A && git commit -q -m 'claude: add-notes'"),
        "{notes_log}"
    );

    c.assert_merges(&["add-greeting", "add-notes", "add-steps"]);
    c.assert_no_process_left();
}

#[test]
fn hung_model_is_ended_by_the_inactivity_timeout_then_retried() {
    let c = CodexEnv::new(vec![Run::fault(Fault::Hang), Run::all()]);
    // Not a few seconds: under load the CLI prints its first line 3-6 s after it starts, and
    // a full suite on 2 cores once kept its healthy retry silent for 12 s after its warning.
    c.configure("inactivity_timeout: 20s\n");
    c.assert_hang_is_retried("20s");
}

#[test]
fn rate_limit_is_retried_and_a_server_error_is_not() {
    let c = CodexEnv::new(vec![Run::all()]);
    c.configure("jobs: 2\n");
    c.env
        .add_change("busy", &["1.1 Wait for capacity"], &[], "");
    c.server.script("busy", vec![http_error(429), Run::all()]);
    c.env.add_change("broken", &["1.1 Never happens"], &[], "");
    c.server.script("broken", vec![http_error(500)]);
    c.env.commit_all("changes");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    // The CLI gives up on the 429 (no retries of its own here); conflux's retry policy
    // recognises it and runs the CLI again.
    let busy = c.env.state("busy");
    assert_eq!(busy["phase"], "done", "{busy}");
    assert_eq!(busy["retries"], 1, "{busy}");
    assert_eq!(c.server.runs("busy"), 2);
    let log = c.decoded_log("busy");
    assert!(
        log.contains("error: exceeded retry limit, last status: 429 Too Many Requests"),
        "{log}"
    );
    // A 500 is what the CLI says after its own retries: not retried again.
    let broken = c.env.state("broken");
    assert_eq!(broken["phase"], "failed", "{broken}");
    assert_eq!(broken["retries"], 0, "{broken}");
    assert_eq!(c.server.runs("broken"), 1);
    let log = c.decoded_log("broken");
    assert!(
        log.contains("error: We’re currently experiencing high demand"),
        "{log}"
    );
    c.assert_no_process_left();
}

/// `codex exec --json` (the preset's flags, the prompt as an argument) run directly in the
/// test repository against the server: what the CLI prints, paths as `$TEST`.
fn exec_directly(c: &CodexEnv, args: &[&str], prompt: &str) -> Output {
    let mut cmd = Command::new(codex_bin());
    c.env.hermetic(&mut cmd);
    cmd.current_dir(&c.env.root)
        .envs(c.cli_env())
        .args([
            "exec",
            "--json",
            "--dangerously-bypass-approvals-and-sandbox",
            "--skip-git-repo-check",
        ])
        .args(args)
        .arg(prompt);
    c.run(cmd)
}

/// The transcripts in tests/fixtures/codex/: name, the run the server scripts for it, and
/// more arguments for the CLI.
fn recordings() -> Vec<(&'static str, Run, &'static [&'static str])> {
    vec![
        ("tools-and-result", Run::ticks(1).committing(), &[]),
        ("auth-401", http_error(401), &[]),
        ("unknown-model", http_error(404), &[]),
        ("rate-limit-429", http_error(429), &[]),
        ("server-error-500", http_error(500), &[]),
        (
            "usage-limit",
            Run::fault(Fault::UsageLimit { reset_secs: 5400 }),
            &[],
        ),
        // A model the CLI has no metadata for: a warning item, then the run goes on.
        ("model-warning", Run::all(), &["--model", "gpt-scripted"]),
    ]
}

/// A transcript without what differs from run to run: the thread id, the server's port and
/// the reset time of a usage limit.
fn stable(transcript: &str) -> String {
    let mut text = transcript.to_owned();
    for (start, end, with) in [
        ("\"thread_id\":\"", "\"", "THREAD"),
        ("127.0.0.1:", "/", "PORT"),
        ("try again at ", ".\"", "TIME"),
    ] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start).map(|i| from + i + start.len()) {
            let Some(len) = text[i..].find(end) else {
                break;
            };
            text.replace_range(i..i + len, with);
            from = i + with.len();
        }
    }
    text
}

#[test]
fn the_cli_prints_the_recorded_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codex");
    let version = Command::new(codex_bin()).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let recorded = std::fs::read_to_string(dir.join("VERSION")).unwrap();
    assert_eq!(
        version,
        recorded.trim(),
        "the fixtures were recorded with another Codex CLI; run with CONFLUX_BLESS=1 to \
         record them again, and update VERSION"
    );
    for (name, run, args) in recordings() {
        let c = CodexEnv::new(vec![run]);
        c.env
            .add_change("add-x", &["1.1 First", "1.2 Second"], &[], "");
        c.env.commit_all("change");
        let out = exec_directly(
            &c,
            args,
            "Work on openspec/changes/add-x: do its open tasks.",
        );
        let path = dir.join(format!("{name}.jsonl"));
        let mut fixture = std::fs::read_to_string(&path).unwrap_or_default();
        if std::env::var_os("CONFLUX_BLESS").is_some() && stable(&fixture) != stable(&out.stdout) {
            std::fs::write(&path, &out.stdout).unwrap();
            fixture = out.stdout.clone();
        }
        assert_eq!(stable(&out.stdout), stable(&fixture), "{name}: {out}");
        c.assert_no_process_left();
    }
}

#[test]
fn recorded_transcripts_render_as_their_golden_text() {
    for (name, _, _) in recordings() {
        assert_golden("codex", StreamFormat::Codex, name);
        let rendered = render("codex", StreamFormat::Codex, &format!("{name}.jsonl"));
        assert!(!rendered.contains("{\""), "{name}:\n{rendered}");
    }
    // A run that succeeds reports no error, warnings included: nothing for a failure reason.
    for name in ["tools-and-result", "model-warning"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/codex/{name}.jsonl"));
        let mut d = Decoder::new(StreamFormat::Codex);
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let decoded = d.decode(line);
            assert_eq!(decoded.error, None, "{name}: {line}");
        }
    }
}
