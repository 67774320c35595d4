//! The unchanged `claude` preset against the real Claude Code CLI, offline: the CLI talks to
//! the scripted model server on 127.0.0.1 (`model_server.rs`) and does the work with its own
//! Read / Write / Edit / Bash tools. Plus the stream decoder on transcripts recorded from the
//! real CLI (tests/fixtures/claude/, version in VERSION), compared with golden text.
//!
//! The CLI comes from `CONFLUX_CLAUDE_BIN`, else the cache scripts/test.sh installs it into.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git_conflux::agent::stream::{Decoder, StreamFormat};

use crate::agent_cli::CliEnv;
use crate::model_server::{Fault, Run};
use crate::support::{Output, TestEnv};

/// An agent CLI the tests drive: `$<env_var>`, else where scripts/test.sh installs it
/// (`<cache>/<name>/node_modules/.bin/<name>`), else a failure that says how to get it.
pub(crate) fn cli_bin(name: &str, package: &str, env_var: &str) -> PathBuf {
    if let Some(bin) = std::env::var_os(env_var) {
        let bin = PathBuf::from(bin);
        assert!(bin.is_file(), "{env_var}={} is not a file", bin.display());
        return bin;
    }
    let cache = std::env::var_os("CONFLUX_TEST_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("git-conflux-test"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/git-conflux-test"))
        });
    match cache.map(|c| c.join(format!("{name}/node_modules/.bin/{name}"))) {
        Some(bin) if bin.is_file() => bin,
        _ => panic!(
            "{package} is not installed, so the {name} end-to-end tests cannot run: run the \
             tests through scripts/test.sh (it installs {package} with npm into its cache; \
             npm is required), or set {env_var} to a {name} executable"
        ),
    }
}

fn claude_bin() -> PathBuf {
    cli_bin("claude", "@anthropic-ai/claude-code", "CONFLUX_CLAUDE_BIN")
}

/// A test repository whose agent is the `claude` preset, pointed at a scripted model.
struct ClaudeEnv(CliEnv);

impl std::ops::Deref for ClaudeEnv {
    type Target = CliEnv;
    fn deref(&self) -> &CliEnv {
        &self.0
    }
}

impl ClaudeEnv {
    fn new(default: Vec<Run>) -> ClaudeEnv {
        ClaudeEnv(CliEnv::new("claude", &claude_bin(), default))
    }

    /// `.conflux.yaml`: the `claude` preset, the server, and only what keeps the CLI offline
    /// and private. `sandbox` adds IS_SANDBOX=1 (what the preset needs as root).
    fn configure(&self, extra: &str, sandbox: bool) {
        let config_dir = self.env.path().join("claude-config");
        let mut env = vec![
            ("ANTHROPIC_BASE_URL", self.server.base_url()),
            ("ANTHROPIC_API_KEY", "dummy-key-not-a-secret".to_owned()),
            ("CLAUDE_CONFIG_DIR", config_dir.display().to_string()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
            ("DISABLE_AUTOUPDATER", "1".to_owned()),
            ("DISABLE_TELEMETRY", "1".to_owned()),
            ("DISABLE_ERROR_REPORTING", "1".to_owned()),
        ];
        if sandbox {
            env.push(("IS_SANDBOX", "1".to_owned()));
        }
        self.0.configure("claude", extra, &env);
    }

    fn add(&self, id: &str, tasks: &[&str], deps: &[&str]) {
        self.env.add_change(id, tasks, deps, "");
    }

    /// `git conflux logs ID`: decoded lines, never the CLI's raw JSON, with the model named.
    fn assert_decoded_log(&self, id: &str) -> String {
        let log = self.decoded_log(id);
        assert!(log.contains("session started (model "), "{log}");
        log
    }
}

/// Runs `cmd`, killing it and failing the test after `limit`.
pub(crate) fn bounded(env: &TestEnv, mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn git-conflux");
    let mut pipes = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    ];
    let readers: Vec<_> = pipes
        .iter_mut()
        .map(|p| {
            let mut p = p.take().expect("piped");
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = p.read_to_end(&mut buf);
                buf
            })
        })
        .collect();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("git conflux did not finish within {}s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut texts = readers.into_iter().map(|r| {
        let text = String::from_utf8_lossy(&r.join().unwrap_or_default()).into_owned();
        text.replace(&env.path().display().to_string(), "$TEST")
    });
    Output {
        stdout: texts.next().unwrap_or_default(),
        stderr: texts.next().unwrap_or_default(),
        code: status.code().unwrap_or(-1),
    }
}

/// Live (not zombie) processes whose working directory is under `dir`: pid and command line.
pub(crate) fn processes_under(dir: &Path) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if cwd.starts_with(dir) && !zombie {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn claude_completes_dependent_changes_and_they_merge() {
    let c = ClaudeEnv::new(vec![Run::all()]);
    c.configure("jobs: 2\n", true);
    c.add(
        "add-greeting",
        &["1.1 Write the greeting", "1.2 Document it"],
        &[],
    );
    c.add(
        "add-farewell",
        &["1.1 Write the farewell"],
        &["add-greeting"],
    );
    c.add("add-notes", &["1.1 Write notes", "1.2 Review notes"], &[]);
    c.server.script("add-notes", vec![Run::all().committing()]);
    c.env.commit_all("three changes");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    for id in ["add-greeting", "add-farewell", "add-notes"] {
        assert_eq!(c.phase(id), "done", "{id}: {}", c.env.state(id));
        let branch = format!("conflux/{id}");
        let tasks = c
            .env
            .git(&["show", &format!("{branch}:openspec/changes/{id}/tasks.md")]);
        assert!(
            !tasks.contains("[ ]") && tasks.contains("- [x] 1.1"),
            "{id}: {tasks}"
        );
        let work = c
            .env
            .git(&["show", &format!("{branch}:claude-work/{id}/task-1.txt")]);
        assert!(work.starts_with(&format!("{id}: 1.1 ")), "{work}");
    }
    // The dependent ran on top of its dependency's work.
    c.env.git(&[
        "merge-base",
        "--is-ancestor",
        "conflux/add-greeting",
        "conflux/add-farewell",
    ]);
    // The commit the CLI made itself through Bash is on the branch.
    assert!(
        c.env
            .git(&["log", "--format=%s", "conflux/add-notes"])
            .contains("claude: add-notes"),
    );
    let log = c.assert_decoded_log("add-greeting");
    for expected in [
        "Read openspec/changes/add-greeting/tasks.md",
        "Write claude-work/add-greeting/task-2.txt",
        "Edit openspec/changes/add-greeting/tasks.md",
        "Completed 2 task(s) of change add-greeting; 0 remain open.",
    ] {
        assert!(log.contains(expected), "missing {expected:?} in:\n{log}");
    }
    assert!(log.contains("done: 6 turns"), "{log}");
    let notes = c.assert_decoded_log("add-notes");
    assert!(
        notes.contains("Bash git add -A && git commit -q -m 'claude: add-notes'"),
        "{notes}"
    );

    c.assert_merges(&["add-greeting", "add-farewell", "add-notes"]);
    c.assert_no_process_left();
}

#[test]
fn change_needing_three_iterations_completes() {
    let c = ClaudeEnv::new(vec![Run::ticks(1)]);
    c.configure("", true);
    c.add("three", &["1.1 First", "1.2 Second", "1.3 Third"], &[]);
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let st = c.env.state("three");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(st["iteration"], 3, "{st}");
    assert_eq!(c.server.runs("three"), 3);
    let subjects = c.env.git(&["log", "--format=%s", "conflux/three"]);
    for i in 1..=3 {
        assert!(subjects.contains(&format!("iteration {i}")), "{subjects}");
        c.env.git(&[
            "show",
            &format!("conflux/three:claude-work/three/task-{i}.txt"),
        ]);
    }
    c.assert_no_process_left();
}

#[test]
fn hung_model_is_ended_by_the_inactivity_timeout_then_retried() {
    let c = ClaudeEnv::new(vec![Run::fault(Fault::Hang), Run::all()]);
    // Not 1-2 s: under load the real CLI prints its first line only 2-3 s after it starts.
    c.configure("inactivity_timeout: 6s\n", true);
    c.add("hung", &["1.1 Survive a hang"], &[]);
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(c.phase("hung"), "done");
    assert_eq!(c.server.runs("hung"), 2, "{:?}", c.server.requests());
    let log = c.assert_decoded_log("hung");
    assert!(log.contains("no output for 6s"), "{log}");
    c.assert_no_process_left();
}

#[test]
fn overloaded_exit_is_retried_by_the_retry_patterns() {
    // 529 marked not retryable: the CLI gives up at once (exit 1), conflux retries.
    let overloaded = Fault::Error {
        status: 529,
        should_retry: Some(false),
        times: None,
    };
    let c = ClaudeEnv::new(vec![Run::fault(overloaded), Run::all()]);
    c.configure("", true);
    c.add("busy", &["1.1 Wait for capacity"], &[]);
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let st = c.env.state("busy");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(st["retries"], 1, "{st}");
    // The CLI did not retry the 529 itself; the second run is conflux's retry.
    let seen: Vec<(usize, usize, String)> = c
        .server
        .requests()
        .into_iter()
        .filter(|r| r.change.as_deref() == Some("busy"))
        .map(|r| (r.run, r.step, r.action))
        .collect();
    assert_eq!(
        seen[..2],
        [(1, 0, "error 529".to_owned()), (2, 0, "Read".to_owned())],
        "{seen:?}"
    );
    let log = c.assert_decoded_log("busy");
    assert!(log.contains("error: API Error: 529"), "{log}");
    assert!(log.contains("matched \"overloaded\""), "{log}");
    c.assert_no_process_left();
}

#[test]
fn server_error_is_not_retried_and_fails_the_change() {
    let broken = Fault::Error {
        status: 500,
        should_retry: Some(false),
        times: None,
    };
    let c = ClaudeEnv::new(vec![Run::fault(broken)]);
    c.configure("", true);
    c.add("broken", &["1.1 Never happens"], &[]);
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let st = c.env.state("broken");
    assert_eq!(st["phase"], "failed", "{st}");
    assert_eq!(st["retries"], 0, "{st}");
    assert_eq!(c.server.runs("broken"), 1);
    let log = c.assert_decoded_log("broken");
    assert!(log.contains("error: API Error: 500"), "{log}");
    c.assert_no_process_left();
}

#[test]
fn model_that_makes_no_progress_is_reported_stalled() {
    let c = ClaudeEnv::new(vec![Run::ticks(0)]);
    c.configure("stall_iterations: 2\n", true);
    c.add("stuck", &["1.1 Never ticked"], &[]);
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let st = c.env.state("stuck");
    assert_eq!(st["phase"], "stalled", "{st}");
    assert_eq!(c.server.runs("stuck"), 2);
    let log = c.assert_decoded_log("stuck");
    assert!(
        log.contains("I did not complete any task of change stuck; 1 remain open."),
        "{log}"
    );
    c.assert_no_process_left();
}

#[test]
fn root_without_is_sandbox_is_a_preflight_error() {
    let c = ClaudeEnv::new(vec![Run::all()]);
    c.configure("", false);
    c.add("a", &["1.1 Anything"], &[]);
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    if root() {
        assert_eq!(out.code, 2, "{out}");
        // The advice once, as the hint.
        assert!(
            out.stderr
                .contains("\nhint: set `env: {IS_SANDBOX: \"1\"}` in .conflux.yaml"),
            "{out}"
        );
        assert_eq!(out.stderr.matches("IS_SANDBOX: \"1\"").count(), 1, "{out}");
        assert!(out.stderr.contains("normal user"), "{out}");
        assert!(!c.env.worktree("a").exists());
        assert_eq!(c.env.git(&["branch", "--list", "conflux/*"]), "");
        assert!(c.server.requests().is_empty());
    } else {
        // Not root: the preset runs as it is.
        assert_eq!(out.code, 0, "{out}");
        assert_eq!(c.phase("a"), "done");
    }
}

/// Decodes a recorded transcript (tests/fixtures/<dir>/<name>) into the text `git conflux
/// logs` shows.
pub(crate) fn render(dir: &str, format: StreamFormat, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut d = Decoder::new(format);
    let mut out = Vec::new();
    for line in text.lines() {
        out.extend(d.decode(line).lines);
    }
    out.extend(d.finish());
    out.join("\n") + "\n"
}

/// Compares the rendering of `<name>.jsonl` with `<name>.golden` beside it;
/// `CONFLUX_BLESS=1` rewrites the golden file.
pub(crate) fn assert_golden(dir: &str, format: StreamFormat, name: &str) {
    let rendered = render(dir, format, &format!("{name}.jsonl"));
    let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(format!("{name}.golden"));
    if std::env::var_os("CONFLUX_BLESS").is_some() {
        std::fs::write(&golden, &rendered).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("read {}: {e} (CONFLUX_BLESS=1 writes it)", golden.display()));
    assert_eq!(
        rendered, expected,
        "{dir}/{name}: rendered text differs from the golden file"
    );
}

#[test]
fn recorded_transcripts_render_as_their_golden_text() {
    for name in [
        "tools-and-result",
        "overloaded-529",
        "server-error-500",
        "api-retry-then-success",
        "hung-model",
    ] {
        assert_golden("claude", StreamFormat::Claude, name);
    }
    let version = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude/VERSION"),
    )
    .unwrap();
    assert!(version.contains("(Claude Code)"), "{version}");
    // Every recorded line is one the decoder understands: nothing passes through raw.
    for name in [
        "tools-and-result",
        "overloaded-529",
        "api-retry-then-success",
    ] {
        let rendered = render("claude", StreamFormat::Claude, &format!("{name}.jsonl"));
        assert!(!rendered.contains("{\""), "{name}:\n{rendered}");
    }
}
