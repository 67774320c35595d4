//! The unchanged `claude` preset against the real Claude Code CLI, offline: the CLI talks to
//! the scripted model server on 127.0.0.1 (`model_server.rs`) and does the work with its own
//! Read / Write / Edit / Bash tools. Plus the stream decoder on transcripts recorded from the
//! real CLI (tests/fixtures/claude/, version in VERSION), compared with golden text.
//!
//! The CLI comes from `CONFLUX_CLAUDE_BIN`, else the cache scripts/test.sh installs it into.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use git_conflux::agent::refusal::{self, Cause};
use git_conflux::agent::stream::{Decoder, StreamFormat};

use crate::agent_cli::CliEnv;
use crate::model_server::{Fault, Run};
use crate::support::{Output, TestEnv};

/// An agent CLI the tests drive: `$<env_var>`, else where scripts/test.sh installs it
/// (`<cache>/<name>/node_modules/.bin/<name>`), else a failure that says how to get it.
pub(crate) fn cli_bin(name: &str, package: &str, env_var: &str) -> PathBuf {
    cached_bin(
        &format!("{name}/node_modules/.bin/{name}"),
        package,
        env_var,
        "npm",
    )
}

/// A tool the tests drive: `$<env_var>`, else `<cache>/<rel>` where scripts/test.sh installs
/// `package` with `installer`, else a failure that says how to get it.
pub(crate) fn cached_bin(rel: &str, package: &str, env_var: &str, installer: &str) -> PathBuf {
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
    match cache.map(|c| c.join(rel)) {
        Some(bin) if bin.is_file() => bin,
        _ => panic!(
            "{package} is not installed, so its end-to-end tests cannot run: run the tests \
             through scripts/test.sh (it installs {package} with {installer} into its cache; \
             {installer} is required), or set {env_var} to the executable"
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
    c.assert_built_on_and_committed("add-greeting", "add-farewell", "add-notes");
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

/// The real CLI's tokens and cost reach the change's log, state and `status`; a budget the
/// first run crosses ends the change `over-budget` after that run (its work committed), and
/// a higher budget finishes it.
#[test]
fn a_budget_ends_a_change_after_the_crossing_run_and_a_higher_one_finishes_it() {
    let c = ClaudeEnv::new(vec![Run::ticks(1)]);
    c.configure("budget: {usd: 0.000001}\n", true);
    c.add("paid", &["1.1 First", "1.2 Second"], &[]);
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 4, "{out}");
    assert_eq!(c.server.runs("paid"), 1, "{out}");
    let st = c.env.state("paid");
    assert_eq!(
        (&st["phase"], &st["tasks_done"]),
        (&"over-budget".into(), &1.into()),
        "{st}"
    );
    let tokens = &st["tokens"];
    for part in ["input", "output", "cache_read", "cache_write"] {
        assert!(tokens[part].as_u64().unwrap_or(0) > 0, "{part} in {st}");
    }
    let first_cost = st["cost_usd"].as_f64().unwrap_or(0.0);
    assert!(first_cost > 0.0, "{st}");
    let log = c.env.log("paid");
    assert_eq!(log.matches(" tokens: in ").count(), 1, "{log}");
    let status = c.conflux(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(
        (&rows[0]["tokens"], &rows[0]["cost_usd"]),
        (tokens, &st["cost_usd"])
    );
    assert_eq!(rows[0]["state"], "over-budget", "{status}");

    c.configure("budget: {usd: 100}\n", true);
    c.env.commit_all("a higher budget");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(c.server.runs("paid"), 2, "{out}");
    let st = c.env.state("paid");
    assert_eq!(st["phase"], "done", "{st}");
    assert!(st["cost_usd"].as_f64().unwrap_or(0.0) > first_cost, "{st}");
    c.assert_no_process_left();
}

#[test]
fn hung_model_is_ended_by_the_inactivity_timeout_then_retried() {
    let c = ClaudeEnv::new(vec![Run::fault(Fault::Hang), Run::all()]);
    // Not 1-2 s: under load the real CLI prints its first line only 2-3 s after it starts,
    // and with the whole suite running beside it, it was once silent 10 s between a tool
    // use and the next model request (a 6 s timeout then ended the healthy retry too).
    c.configure("inactivity_timeout: 15s\n", true);
    c.assert_hang_is_retried("15s");
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
fn a_rejected_key_is_one_refusal_and_no_other_change_starts() {
    // The real API sends no `x-should-retry` with a 401; the CLI then retries it itself for
    // about two minutes (ten `api_retry` events, tests/fixtures/claude/) and ends with the
    // same words. The server says not to, so that the test stays short.
    let rejected = Fault::Error {
        status: 401,
        should_retry: Some(false),
        times: None,
    };
    let c = ClaudeEnv::new(vec![Run::fault(rejected)]);
    c.configure("jobs: 1\n", true);
    c.add("first", &["1.1 Never happens"], &[]);
    c.add("second", &["1.1 Never happens"], &[]);
    c.env.commit_all("changes");
    let reason = c.start_refused("first", &["second"]);
    assert_eq!(
        reason,
        "claude refused: Invalid API key · Fix external API key — run `claude /login`, or set a valid ANTHROPIC_API_KEY in `env:` of .conflux.yaml"
    );
}

#[test]
fn an_unknown_model_is_a_refusal_not_retried() {
    let unknown = Fault::Error {
        status: 404,
        should_retry: None,
        times: None,
    };
    let c = ClaudeEnv::new(vec![Run::fault(unknown)]);
    c.configure("", true);
    c.add("modelless", &["1.1 Never happens"], &[]);
    c.env.commit_all("change");
    let reason = c.start_refused("modelless", &[]);
    assert!(
        reason.starts_with("claude refused: There's an issue with the selected model")
            && reason.contains("--model"),
        "{reason}"
    );
}

#[test]
fn a_spend_limit_is_waited_out_and_the_same_iteration_runs_again() {
    // The CLI shows the reset to the minute ("resets 3:03am (UTC)"): the wait ends within
    // that minute's end.
    let limited = Fault::SpendLimit { secs: 2 };
    let c = ClaudeEnv::new(vec![Run::fault(limited), Run::all()]);
    c.configure("max_iterations: 1\n", true);
    c.add("capped", &["1.1 Wait for the reset"], &[]);
    c.env.commit_all("change");
    let out = c.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let st = c.env.state("capped");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(st["iteration"], 1, "{st}");
    assert_eq!(st["retries"], 0, "{st}");
    assert_eq!(c.server.runs("capped"), 2);
    let log = c.assert_decoded_log("capped");
    assert!(
        log.contains("waiting until ") && log.contains("spend limit reached · resets "),
        "{log}"
    );
    c.assert_no_process_left();
}

#[test]
fn recorded_refusals_and_limits_are_recognised() {
    let errors = |dir: &str, format: StreamFormat, name: &str| -> Vec<String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir)
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut d = Decoder::new(format);
        text.lines().filter_map(|l| d.decode(l).error).collect()
    };
    for (dir, format, name, cause) in [
        (
            "claude",
            StreamFormat::Claude,
            "auth-401.jsonl",
            Cause::Auth,
        ),
        (
            "claude",
            StreamFormat::Claude,
            "unknown-model-404.jsonl",
            Cause::UnknownModel,
        ),
        (
            "gemini",
            StreamFormat::Gemini,
            "auth-400-key.jsonl",
            Cause::Auth,
        ),
        (
            "gemini",
            StreamFormat::Gemini,
            "auth-401.jsonl",
            Cause::Auth,
        ),
        (
            "gemini",
            StreamFormat::Gemini,
            "unknown-model-404.jsonl",
            Cause::UnknownModel,
        ),
        ("codex", StreamFormat::Codex, "auth-401.jsonl", Cause::Auth),
        (
            "codex",
            StreamFormat::Codex,
            "unknown-model.jsonl",
            Cause::UnknownModel,
        ),
        (
            "opencode",
            StreamFormat::Opencode,
            "auth-401.jsonl",
            Cause::Auth,
        ),
    ] {
        // Codex reports its error twice (an `error` event, then `turn.failed`).
        let errors = errors(dir, format, name);
        let found: Vec<_> = errors
            .iter()
            .filter_map(|e| refusal::refusal(format, e))
            .collect();
        assert!(
            !found.is_empty() && found.len() == errors.len(),
            "{dir}/{name}: {found:?}"
        );
        assert!(found.iter().all(|r| r.cause == cause), "{dir}/{name}");
    }
    // OpenCode names an unknown model only in its error log on stderr.
    let stderr = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opencode/unknown-model.stderr"),
    )
    .unwrap();
    let found: Vec<_> = stderr
        .lines()
        .filter_map(|l| refusal::refusal(StreamFormat::Opencode, l))
        .collect();
    assert!(!found.is_empty(), "{stderr}");
    assert!(found.iter().all(|r| r.cause == Cause::UnknownModel));
    // A 500, an overload and a plain rate limit are no refusals and no usage limits: they
    // are retried.
    let now = jiff::Zoned::now();
    for (dir, format, name) in [
        ("claude", StreamFormat::Claude, "server-error-500.jsonl"),
        ("claude", StreamFormat::Claude, "overloaded-529.jsonl"),
        ("codex", StreamFormat::Codex, "rate-limit-429.jsonl"),
        ("codex", StreamFormat::Codex, "server-error-500.jsonl"),
    ] {
        for e in errors(dir, format, name) {
            assert_eq!(refusal::refusal(format, &e), None, "{name}");
            assert_eq!(refusal::usage_limit(format, &e, &now), None, "{name}");
        }
    }
    for (dir, format, name, words) in [
        (
            "claude",
            StreamFormat::Claude,
            "spend-limit-429.jsonl",
            "spend limit reached · resets 5:03am (UTC)",
        ),
        (
            "codex",
            StreamFormat::Codex,
            "usage-limit.jsonl",
            "or try again at 4:31 AM.",
        ),
    ] {
        let limits: Vec<_> = errors(dir, format, name)
            .iter()
            .filter_map(|e| refusal::usage_limit(format, e, &now))
            .collect();
        assert!(!limits.is_empty(), "{name}");
        assert!(limits.iter().all(|l| l.words.contains(words)), "{limits:?}");
    }
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
        "auth-401",
        "unknown-model-404",
        "spend-limit-429",
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

#[test]
fn claude_completes_a_change_inside_the_bwrap_sandbox() {
    if !crate::test_sandbox::have_bwrap() {
        return;
    }
    let c = ClaudeEnv::new(vec![Run::all().committing()]);
    c.configure("sandbox: bwrap\n", true);
    c.add("walled", &["1.1 Write inside", "1.2 Then commit"], &[]);
    c.env.commit_all("one change");

    let out = c.conflux(&["start"]);

    assert_eq!(out.code, 0, "{out}\n{}", c.env.log("walled"));
    assert_eq!(c.phase("walled"), "done", "{}", c.env.state("walled"));
    let work = c
        .env
        .git(&["show", "conflux/walled:claude-work/walled/task-1.txt"]);
    assert!(work.starts_with("walled: 1.1 "), "{work}");
    // Its own `git commit`, run through its Bash tool inside the sandbox, is on the branch.
    assert!(
        c.env
            .git(&["log", "--format=%s", "conflux/walled"])
            .contains("claude: walled"),
    );
    c.env.git(&["fsck", "--strict"]);
    c.assert_no_process_left();
}
