//! A CLI's refusal (no retry cures it) and its usage limits (waited out), with a scripted
//! agent that prints Claude Code's stream-json: the words are the real CLI's (recorded in
//! tests/fixtures/claude/); test_claude.rs runs the real CLI through the same paths.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{TestEnv, interrupt_and_wait, wait_for};

/// A scripted agent in Claude's stream format: it counts its runs per change in
/// `$TEST/runs/<id>`, then does what `body` says.
fn scripted(env: &TestEnv, extra: &str, body: &str) {
    let script = env.path().join("agent.sh");
    let runs = env.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    std::fs::write(
        &script,
        format!(
            "cat >/dev/null\nruns={}/$CONFLUX_CHANGE_ID\necho run >> \"$runs\"\n{body}\n",
            runs.display()
        ),
    )
    .unwrap();
    let mut text = format!(
        "agent: {{command: \"sh {}\", format: claude, prompt: stdin}}\nstagger: 0s\nkill_grace: 2s\nretry: {{delay: 0s}}\n",
        script.display()
    );
    text.push_str(extra);
    env.write(".conflux.yaml", &text);
}

/// How many times the agent ran for `id`.
fn runs(env: &TestEnv, id: &str) -> usize {
    std::fs::read_to_string(env.path().join("runs").join(id)).map_or(0, |t| t.lines().count())
}

/// Claude Code's answer to a rejected key (tests/fixtures/claude/auth-401.jsonl).
const REFUSE: &str = r#"echo '{"type":"result","subtype":"success","is_error":true,"num_turns":1,"api_error_status":401,"result":"Invalid API key · Please run /login"}'
exit 1"#;

/// Ticks every task and says so.
const TICK: &str = r#"sed -i 's/- \[ \]/- [x]/' "openspec/changes/$CONFLUX_CHANGE_ID/tasks.md"
echo '{"type":"result","is_error":false,"num_turns":1,"result":"All done."}'"#;

/// The first run of a change reports a usage limit that resets `$RESET_IN` seconds from
/// now (Claude's `usage limit reached|<epoch>`); later runs tick every task.
fn limited_once() -> String {
    format!(
        r#"if [ "$(wc -l < "$runs")" -eq 1 ]; then
  echo "{{\"type\":\"result\",\"is_error\":true,\"result\":\"Claude AI usage limit reached|$(( $(date +%s) + RESET_IN ))\"}}"
  exit 1
fi
{TICK}"#
    )
}

#[test]
fn a_refusal_fails_the_change_at_once_and_no_other_change_of_that_agent_starts() {
    let env = TestEnv::new();
    scripted(&env, "jobs: 1\n", REFUSE);
    for id in ["a", "b", "c"] {
        env.add_change(id, &["1.1 Work"], &[], "");
    }
    // Another agent (the demo agent) is not refused.
    let demo = crate::support::demo_agent();
    env.add_change(
        "d",
        &["1.1 Work"],
        &[],
        &format!(
            "conflux: {{agent: {{command: \"sh {}\", prompt: stdin}}, env: {{DEMO_TICK: all}}}}",
            demo.display()
        ),
    );
    env.commit_all("changes");
    let out = env.conflux(&["start", "--no-progress"]);
    assert_eq!(out.code, 5, "{out}");
    let a = env.state("a");
    assert_eq!(a["phase"], "failed", "{a}");
    assert_eq!(a["retries"], 0, "{a}");
    assert_eq!(
        a["reason"],
        "claude refused: Invalid API key · Please run /login — run `claude /login`, or set a valid ANTHROPIC_API_KEY in `env:` of .conflux.yaml",
    );
    assert_eq!(runs(&env, "a"), 1);
    for id in ["b", "c"] {
        let st = env.state(id);
        assert_eq!(st["phase"], "pending", "{st}");
        let reason = st["reason"].as_str().unwrap_or("");
        assert!(
            reason.starts_with("not started: claude refused: Invalid API key")
                && reason.contains("(in a)"),
            "{st}"
        );
        assert_eq!(runs(&env, id), 0, "{id}");
    }
    assert_eq!(env.state("d")["phase"], "done");
    assert!(
        out.stdout
            .contains("Not started, since their agent refused: b, c."),
        "{out}"
    );
    // Once fixed, start runs the ones not started.
    scripted(&env, "jobs: 1\n", TICK);
    let again = env.conflux(&["start", "--no-progress", "b"]);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(env.state("b")["phase"], "done");
}

#[test]
fn a_usage_limit_is_waited_out_without_spending_an_iteration_or_a_retry() {
    let env = TestEnv::new();
    scripted(
        &env,
        "env: {RESET_IN: \"2\"}\nmax_iterations: 1\n",
        &limited_once(),
    );
    env.add_change("a", &["1.1 Work"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start", "--no-progress"]);
    assert_eq!(out.code, 0, "{out}");
    let st = env.state("a");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(st["iteration"], 1, "{st}");
    assert_eq!(st["retries"], 0, "{st}");
    assert_eq!(runs(&env, "a"), 2);
    let log = env.log("a");
    assert!(
        log.contains("waiting until ") && log.contains(": Claude AI usage limit reached|"),
        "{log}"
    );
    assert!(out.stderr.contains("waiting until "), "{out}");
}

#[test]
fn a_usage_limit_that_resets_after_max_wait_fails_naming_the_reset() {
    let env = TestEnv::new();
    scripted(
        &env,
        "env: {RESET_IN: \"7200\"}\nmax_wait: 1m\n",
        &limited_once(),
    );
    env.add_change("a", &["1.1 Work"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start", "--no-progress"]);
    assert_eq!(out.code, 1, "{out}");
    let st = env.state("a");
    assert_eq!(st["phase"], "failed", "{st}");
    let reason = st["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("the agent hit a usage limit that resets at ")
            && reason.contains("later than max_wait (1m)")
            && reason.contains("run `git conflux start` after the reset"),
        "{reason}"
    );
    assert_eq!(runs(&env, "a"), 1);
}

#[test]
fn an_agent_still_limited_after_its_resets_fails_instead_of_waiting_for_ever() {
    let env = TestEnv::new();
    let always = r#"echo "{\"type\":\"result\",\"is_error\":true,\"result\":\"Claude AI usage limit reached|$(( $(date +%s) + 1 ))\"}"
exit 1"#;
    scripted(&env, "", always);
    env.add_change("a", &["1.1 Work"], &[], "");
    env.commit_all("change");
    // Without a bound on the waits this run never ends.
    let out = env.conflux_bounded(&["start", "--no-progress"], Duration::from_secs(60));
    assert_eq!(out.code, 1, "{out}");
    let st = env.state("a");
    assert_eq!(st["phase"], "failed", "{st}");
    assert_eq!(st["retries"], 0, "{st}");
    assert!(
        st["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("the agent still reports a usage limit after 3 waits")),
        "{st}"
    );
    assert_eq!(runs(&env, "a"), 4);
}

/// `start` in the background, its output to files.
fn spawn_start(env: &TestEnv) -> std::process::Child {
    let mut cmd = env.conflux_cmd(&["start", "--no-progress"]);
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(env.path().join("start.out")).unwrap())
        .stderr(std::fs::File::create(env.path().join("start.err")).unwrap());
    cmd.spawn().unwrap()
}

fn wait_for_waiting(env: &TestEnv) {
    wait_for("the change to wait", Duration::from_secs(60), || {
        env.try_state("a").is_some_and(|s| s["phase"] == "waiting")
    });
}

#[test]
fn a_wait_outlives_a_killed_run_and_the_next_start_waits_on() {
    let env = TestEnv::new();
    scripted(&env, "env: {RESET_IN: \"8\"}\n", &limited_once());
    env.add_change("a", &["1.1 Work"], &[], "");
    env.commit_all("change");
    let mut child = spawn_start(&env);
    wait_for_waiting(&env);
    child.kill().unwrap();
    child.wait().unwrap();
    let status = env.conflux(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["state"], "waiting", "{status}");
    assert!(
        rows[0]["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("waiting until ")),
        "{status}"
    );
    let text = env.conflux(&["status"]);
    assert!(text.stdout.contains("waiting until "), "{text}");
    let out = env.conflux(&["start", "--no-progress"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.state("a")["phase"], "done");
    // The resumed run waited first: its one agent run came after the reset.
    assert_eq!(runs(&env, "a"), 2);
    assert!(out.stderr.contains("waiting until "), "{out}");
}

#[test]
fn ctrl_c_during_a_wait_ends_the_run_at_once() {
    let env = TestEnv::new();
    scripted(&env, "env: {RESET_IN: \"3600\"}\n", &limited_once());
    env.add_change("a", &["1.1 Work"], &[], "");
    env.commit_all("change");
    let mut child = spawn_start(&env);
    wait_for_waiting(&env);
    // An hour's wait: only the stop can end it.
    assert_eq!(interrupt_and_wait(&mut child), Ok(Some(130)));
    let st = env.state("a");
    assert_eq!(st["phase"], "cancelled", "{st}");
    assert!(st["waiting"]["until"].is_u64(), "{st}");
    assert_eq!(runs(&env, "a"), 1);
}
