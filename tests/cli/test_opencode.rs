//! The unchanged `opencode` preset against the real OpenCode CLI (`opencode-ai`, pinned in
//! scripts/test.sh), offline: an Anthropic provider whose `baseURL` is the scripted model
//! server (`model_server.rs`), which then speaks OpenCode's own tools (read / write / edit /
//! bash). Plus the stream decoder on transcripts recorded from the real CLI
//! (tests/fixtures/opencode/, version in VERSION), compared with golden text.
//!
//! The CLI comes from `CONFLUX_OPENCODE_BIN`, else the cache scripts/test.sh installs it into.

use std::path::{Path, PathBuf};

use git_conflux::agent::stream::{Decoder, StreamFormat};

use crate::agent_cli::CliEnv;
use crate::model_server::{Fault, Run};
use crate::test_claude::{assert_golden, cli_bin, render};

/// A test repository whose agent is the `opencode` preset, pointed at a scripted model.
struct OpencodeEnv(CliEnv);

impl std::ops::Deref for OpencodeEnv {
    type Target = CliEnv;
    fn deref(&self) -> &CliEnv {
        &self.0
    }
}

impl OpencodeEnv {
    fn new(default: Vec<Run>) -> OpencodeEnv {
        let bin = cli_bin("opencode", "opencode-ai", "CONFLUX_OPENCODE_BIN");
        let c = OpencodeEnv(CliEnv::new("opencode", &bin, default));
        c.write_opencode_config();
        c.create_database();
        c
    }

    /// OpenCode's database, as any earlier use leaves it: the first runs on a fresh HOME
    /// race to create it, and one of two started at once can fail ("Failed query: CREATE
    /// TABLE `workspace`", exit 1).
    fn create_database(&self) {
        let mut cmd = std::process::Command::new(self.env.path().join("bin/opencode"));
        self.env.hermetic(&mut cmd);
        cmd.current_dir(self.env.path())
            .args(["db", "select count(*) from sqlite_master"])
            .envs(self.offline_env())
            .stdin(std::process::Stdio::null());
        let out = self.run(cmd);
        assert_eq!(out.code, 0, "{out}");
    }

    /// The provider, outside the repository: an Anthropic provider (the bundled
    /// `@ai-sdk/anthropic`) at the server, with the model's price so that OpenCode reports a
    /// cost of its own. The global config folder is marked as installed, or OpenCode would
    /// `npm install @opencode-ai/plugin` into it in the background, over the network.
    fn write_opencode_config(&self) {
        let config = serde_json::json!({
            "$schema": "https://opencode.ai/config.json",
            "autoupdate": false,
            "share": "disabled",
            "model": "scripted/scripted-model",
            "small_model": "scripted/scripted-model",
            "provider": {"scripted": {
                "npm": "@ai-sdk/anthropic",
                "name": "Scripted model server",
                "options": {"baseURL": format!("{}/v1", self.server.base_url()),
                            "apiKey": "dummy-key-not-a-secret"},
                "models": {"scripted-model": {
                    "name": "Scripted model",
                    "tool_call": true,
                    "cost": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75},
                    "limit": {"context": 200000, "output": 32000}
                }}
            }}
        });
        std::fs::write(self.config_file(), config.to_string()).unwrap();
        let global = self.env.home.join(".config/opencode");
        std::fs::create_dir_all(global.join("node_modules")).unwrap();
        let dep = serde_json::json!({"@opencode-ai/plugin": "*"});
        std::fs::write(
            global.join("package.json"),
            serde_json::json!({"dependencies": dep}).to_string(),
        )
        .unwrap();
        std::fs::write(
            global.join("package-lock.json"),
            serde_json::json!({"packages": {"": {"dependencies": dep}}}).to_string(),
        )
        .unwrap();
    }

    fn config_file(&self) -> PathBuf {
        self.env.path().join("opencode.json")
    }

    /// `.conflux.yaml`: the `opencode` preset, its config file, and only what keeps the CLI
    /// offline (no models.dev fetch, no update check, no default plugins).
    fn configure(&self, extra: &str) {
        self.0.configure("opencode", extra, &self.offline_env());
    }

    /// The CLI's environment: its config file, and only what keeps it offline.
    fn offline_env(&self) -> [(&'static str, String); 5] {
        [
            ("OPENCODE_CONFIG", self.config_file().display().to_string()),
            ("OPENCODE_DISABLE_MODELS_FETCH", "1".to_owned()),
            ("OPENCODE_DISABLE_AUTOUPDATE", "1".to_owned()),
            ("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1".to_owned()),
            ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1".to_owned()),
        ]
    }

    /// What the server answered for `change`: (run, action).
    fn answered(&self, change: &str) -> Vec<(usize, String)> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.change.as_deref() == Some(change))
            .map(|r| (r.run, r.action))
            .collect()
    }
}

#[test]
fn opencode_completes_changes_over_iterations_and_they_merge() {
    let c = OpencodeEnv::new(vec![Run::all()]);
    c.configure("jobs: 2\n");
    c.env
        .add_change("add-greeting", &["1.1 Write it", "1.2 Test it"], &[], "");
    c.env.add_change(
        "add-farewell",
        &["1.1 Write the farewell"],
        &["add-greeting"],
        "",
    );
    c.env.add_change("add-notes", &["1.1 Write notes"], &[], "");
    // One task per run: two iterations. The notes' agent commits its work itself.
    c.server.script("add-greeting", vec![Run::ticks(1)]);
    c.server.script("add-notes", vec![Run::all().committing()]);
    c.env.commit_all("three changes");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    for id in ["add-greeting", "add-farewell", "add-notes"] {
        let st = c.env.state(id);
        assert_eq!(st["phase"], "done", "{id}: {st}");
        let tasks = c.env.git(&[
            "show",
            &format!("conflux/{id}:openspec/changes/{id}/tasks.md"),
        ]);
        assert!(!tasks.contains("[ ]"), "{id}: {tasks}");
    }
    assert_eq!(c.env.state("add-greeting")["iteration"], 2);
    assert_eq!(c.server.runs("add-greeting"), 2);
    let subjects = c.env.git(&["log", "--format=%s", "conflux/add-greeting"]);
    assert!(
        subjects.contains("iteration 1") && subjects.contains("iteration 2"),
        "{subjects}"
    );
    // The CLI's own commit worked in the linked worktree (its gitdir is outside it).
    c.assert_built_on_and_committed("add-greeting", "add-farewell", "add-notes");
    let log = c.decoded_log("add-greeting");
    for expected in [
        "read openspec/changes/add-greeting/tasks.md",
        "write claude-work/add-greeting/task-1.txt",
        "edit openspec/changes/add-greeting/tasks.md",
        "Completed 1 task(s) of change add-greeting; 1 remain open.",
        "Completed 1 task(s) of change add-greeting; 0 remain open.",
    ] {
        assert!(log.contains(expected), "missing {expected:?} in:\n{log}");
    }
    let notes = c.decoded_log("add-notes");
    assert!(
        notes.contains("bash git add -A && git commit -q -m 'claude: add-notes'"),
        "{notes}"
    );

    c.assert_merges(&["add-greeting", "add-farewell", "add-notes"]);
    c.assert_no_process_left();
}

#[test]
fn read_outside_the_worktree_does_not_wait_for_an_approval() {
    // OpenCode asks before it touches a path outside its folder (`external_directory`);
    // nobody answers in a headless run.
    let c = OpencodeEnv::new(vec![Run::all().reading_outside("../../repo/README.md")]);
    c.configure("");
    c.env
        .add_change("look-around", &["1.1 Look around"], &[], "");
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(c.phase("look-around"), "done");
    assert_eq!(c.server.runs("look-around"), 1, "{:?}", c.server.requests());
    let log = c.decoded_log("look-around");
    assert!(log.contains("read ../../repo/README.md"), "{log}");
    assert!(log.contains("→ <path>$TEST/repo/README.md</path>"), "{log}");
    assert!(!log.contains("rejected"), "{log}");
    c.assert_no_process_left();
}

#[test]
fn hung_model_is_ended_by_the_inactivity_timeout_then_retried() {
    let c = OpencodeEnv::new(vec![Run::fault(Fault::Hang), Run::all()]);
    // Not a few seconds: the retried CLI prints nothing before its first model call ends,
    // which takes it 4 s of CPU, 15-25 s on a loaded machine.
    c.configure("inactivity_timeout: 40s\n");
    c.assert_hang_is_retried("40s");
}

#[test]
fn rate_limit_is_retried_by_the_cli_then_by_conflux() {
    // Every request of the first run is rate limited (with `retry-after: 0`): OpenCode
    // retries 5 times itself, gives up (exit 1); conflux retries the run.
    let limited = Fault::Error {
        status: 429,
        should_retry: None,
        times: None,
    };
    let c = OpencodeEnv::new(vec![Run::fault(limited), Run::all()]);
    c.configure("");
    c.env
        .add_change("busy", &["1.1 Wait for capacity"], &[], "");
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let st = c.env.state("busy");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(st["retries"], 1, "{st}");
    let seen = c.answered("busy");
    let limited: Vec<_> = seen.iter().filter(|(run, _)| *run == 1).collect();
    assert_eq!(limited.len(), 6, "{seen:?}");
    assert!(limited.iter().all(|(_, a)| a == "error 429"), "{seen:?}");
    assert_eq!(seen[6], (2, "Read".to_owned()), "{seen:?}");
    let log = c.decoded_log("busy");
    assert!(
        log.contains("error: Rate limited (scripted) (HTTP 429)"),
        "{log}"
    );
    assert!(log.contains("matched \"429\""), "{log}");
    c.assert_no_process_left();
}

#[test]
fn bad_request_is_not_retried_and_fails_the_change() {
    let bad = Fault::Error {
        status: 400,
        should_retry: None,
        times: None,
    };
    let c = OpencodeEnv::new(vec![Run::fault(bad)]);
    c.configure("");
    c.env.add_change("broken", &["1.1 Never happens"], &[], "");
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let st = c.env.state("broken");
    assert_eq!(st["phase"], "failed", "{st}");
    assert_eq!(st["retries"], 0, "{st}");
    assert_eq!(c.answered("broken"), [(1, "error 400".to_owned())]);
    let log = c.decoded_log("broken");
    assert!(
        log.contains("error: Bad request (scripted) (HTTP 400)"),
        "{log}"
    );
    c.assert_no_process_left();
}

/// A rejected key is OpenCode's refusal: that change fails at once with the provider's words
/// and the fix, and the other change on the same agent never starts (exit 5).
#[test]
fn a_rejected_key_is_one_refusal_and_no_other_change_starts() {
    let rejected = Fault::Error {
        status: 401,
        should_retry: None,
        times: None,
    };
    let c = OpencodeEnv::new(vec![Run::fault(rejected)]);
    c.configure("jobs: 1\n");
    c.env.add_change("first", &["1.1 Never happens"], &[], "");
    c.env.add_change("second", &["1.1 Never happens"], &[], "");
    c.env.commit_all("changes");
    let reason = c.start_refused("first", &["second"]);
    assert!(
        reason.starts_with("opencode refused: invalid x-api-key")
            && reason.contains("opencode auth login"),
        "{reason}"
    );
}

#[test]
fn recorded_opencode_transcripts_render_as_their_golden_text() {
    let names = [
        "tools-and-result",
        "auth-401",
        "unknown-model",
        "usage-limit",
    ];
    for name in names {
        assert_golden("opencode", StreamFormat::Opencode, name);
        // Every recorded line is one the decoder understands: nothing passes through raw.
        let rendered = render("opencode", StreamFormat::Opencode, &format!("{name}.jsonl"));
        assert!(!rendered.contains("{\""), "{name}:\n{rendered}");
    }
    let version = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opencode/VERSION"),
    )
    .unwrap();
    assert!(version.starts_with("1.18."), "{version}");
}

#[test]
fn recorded_steps_add_up_to_the_runs_tokens_and_cost() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/opencode/tools-and-result.jsonl");
    let mut d = Decoder::new(StreamFormat::Opencode);
    for line in std::fs::read_to_string(path).unwrap().lines() {
        d.decode(line);
    }
    // Seven model calls of 100 input and 20 output tokens each; OpenCode priced them from
    // the model's `cost` in its config ($3 / $15 per million): $0.0006 each.
    let u = d.usage();
    assert_eq!(u.turns, Some(7));
    assert_eq!((u.input_tokens, u.output_tokens), (Some(700), Some(140)));
    assert!((u.cost_usd.unwrap() - 0.0042).abs() < 1e-9, "{u:?}");
    assert_eq!(
        u.final_text.as_deref(),
        Some("Completed 2 task(s) of change add-x; 0 remain open.")
    );
}
