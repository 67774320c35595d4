//! What the end-to-end tests of every real agent CLI share: a test repository whose agent is
//! a preset, the CLI first on PATH, a scripted model server, and the checks every such test
//! makes (decoded logs, a clean merge, no process left).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::model_server::{ModelServer, Run};
use crate::support::{Output, TestEnv};
use crate::test_claude::{bounded, processes_under};

/// Upper bound of one `git conflux` command (or one direct CLI run) here; a run that needs
/// it is a failure.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(120);

/// A test repository whose agent is a preset, its CLI `bin` on PATH, and a scripted model.
pub(crate) struct CliEnv {
    pub(crate) env: TestEnv,
    pub(crate) server: ModelServer,
    bin_dir: PathBuf,
}

impl CliEnv {
    /// `bin` linked as `name` into a folder put first on PATH; the server runs `default` for
    /// every change not given a script.
    pub(crate) fn new(name: &str, bin: &Path, default: Vec<Run>) -> CliEnv {
        let env = TestEnv::new();
        let bin_dir = env.path().join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        std::os::unix::fs::symlink(bin, bin_dir.join(name)).unwrap();
        CliEnv {
            env,
            server: ModelServer::start(default),
            bin_dir,
        }
    }

    /// `.conflux.yaml`: `agent: <preset>`, fast test defaults unless `extra` (YAML lines)
    /// sets the same key, `extra`, then the agent's environment.
    pub(crate) fn configure(&self, preset: &str, extra: &str, env: &[(&str, String)]) {
        let mut text = format!("agent: {preset}\n");
        for default in [
            "stagger: 0s",
            "kill_grace: 1s",
            "retry: {delay: 0s}",
            "inactivity_timeout: 60s",
        ] {
            let key = default.split(':').next().unwrap_or_default();
            if !extra.lines().any(|l| l.starts_with(&format!("{key}:"))) {
                text.push_str(default);
                text.push('\n');
            }
        }
        text.push_str(extra);
        text.push_str("env:\n");
        for (key, value) in env {
            // A JSON string is a YAML double-quoted scalar.
            text.push_str(&format!("  {key}: {}\n", serde_json::json!(value)));
        }
        self.env.write(".conflux.yaml", &text);
    }

    /// Runs `cmd` with the CLI first on PATH, bounded by [`RUN_LIMIT`].
    pub(crate) fn run(&self, mut cmd: Command) -> Output {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.bin_dir.clone()).chain(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(dirs).unwrap());
        bounded(&self.env, cmd, RUN_LIMIT)
    }

    /// `git conflux ARGS`, the CLI first on PATH.
    pub(crate) fn conflux(&self, args: &[&str]) -> Output {
        self.run(self.env.conflux_cmd(args))
    }

    pub(crate) fn phase(&self, id: &str) -> String {
        self.env.state(id)["phase"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// `git conflux start` meets the CLI's refusal: exit 5, `id` fails after one run with no
    /// retry, every id of `not_started` stays pending and unasked, and nothing is left
    /// running. Returns `id`'s reason, for the caller to check the CLI's words and the fix.
    pub(crate) fn start_refused(&self, id: &str, not_started: &[&str]) -> String {
        let out = self.conflux(&["start"]);
        assert_eq!(out.code, 5, "{out}");
        let st = self.env.state(id);
        assert_eq!(st["phase"], "failed", "{st}");
        assert_eq!(st["retries"], 0, "{st}");
        assert_eq!(self.server.runs(id), 1);
        for other in not_started {
            assert_eq!(self.phase(other), "pending");
            assert_eq!(self.server.runs(other), 0);
        }
        self.assert_no_process_left();
        st["reason"].as_str().unwrap_or("").to_owned()
    }

    /// No process is left whose working directory is inside this test's directory.
    pub(crate) fn assert_no_process_left(&self) {
        let left = processes_under(self.env.path());
        assert!(left.is_empty(), "processes left behind: {left:?}");
    }

    /// `git conflux logs ID`: decoded lines, never the CLI's raw JSON.
    pub(crate) fn decoded_log(&self, id: &str) -> String {
        let out = self.conflux(&["logs", id]);
        assert_eq!(out.code, 0, "{out}");
        for line in out.stdout.lines() {
            assert!(
                !line.contains("{\"type\""),
                "raw JSON in `logs {id}`: {line}\n{out}"
            );
        }
        out.stdout
    }

    /// A change whose first run hangs (the server's [`crate::model_server::Fault::Hang`]):
    /// the inactivity timeout, configured as `after` ("6s"), ends it, the retry completes it,
    /// and nothing is left running.
    pub(crate) fn assert_hang_is_retried(&self, after: &str) {
        self.env
            .add_change("hung", &["1.1 Survive a hang"], &[], "");
        self.env.commit_all("change");
        let out = self.conflux(&["start"]);
        assert_eq!(out.code, 0, "{out}");
        assert_eq!(self.phase("hung"), "done");
        assert_eq!(self.server.runs("hung"), 2, "{:?}", self.server.requests());
        let log = self.decoded_log("hung");
        assert!(log.contains(&format!("no output for {after}")), "{log}");
        self.assert_no_process_left();
    }

    /// `dependent`'s branch was built on `dependency`'s work, and the commit the CLI made
    /// itself (the script's `committing` run) is on `committed`'s branch.
    pub(crate) fn assert_built_on_and_committed(
        &self,
        dependency: &str,
        dependent: &str,
        committed: &str,
    ) {
        self.env.git(&[
            "merge-base",
            "--is-ancestor",
            &format!("conflux/{dependency}"),
            &format!("conflux/{dependent}"),
        ]);
        let subjects = self
            .env
            .git(&["log", "--format=%s", &format!("conflux/{committed}")]);
        assert!(
            subjects.contains(&format!("claude: {committed}")),
            "{subjects}"
        );
    }

    /// `git conflux merge --all` brings each change's work and ticked tasks into the
    /// checkout, which is left clean and passes `git fsck`.
    pub(crate) fn assert_merges(&self, ids: &[&str]) {
        let merged = self.conflux(&["merge", "--all"]);
        assert_eq!(merged.code, 0, "{merged}");
        for id in ids {
            let work = self.env.read(&format!("claude-work/{id}/task-1.txt"));
            assert!(work.contains(id), "{id}: {work}");
            let tasks = self.env.read(&format!("openspec/changes/{id}/tasks.md"));
            assert!(!tasks.contains("[ ]"), "{id}: {tasks}");
        }
        assert_eq!(self.env.git(&["status", "--porcelain"]), "");
        self.env.git(&["fsck", "--strict"]);
    }
}
