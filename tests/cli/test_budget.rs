//! Tokens and cost as the agent reports them (Claude Code's stream-json `result` event),
//! carried into each change's log, state, `status` and the summary; and the budgets that
//! end a change (`budget`) or a run (`run_budget`, `--budget`) once spent.

use crate::support::{Output, TestEnv};

/// A fake agent in Claude Code's stream-json: each run ticks one task and reports what the
/// run spent — $0.40; 1000 input, 300 output, 5000 cache-read and 200 cache-write tokens.
/// Each run is counted in `$DEMO_STATE/fake-<id>.runs`.
pub(crate) fn fake_agent(env: &TestEnv, extra: &str) {
    let script = env.path().join("fake-claude.sh");
    std::fs::write(
        &script,
        r#"cat >/dev/null
echo run >>"$DEMO_STATE/fake-$CONFLUX_CHANGE_ID.runs"
tasks=openspec/changes/$CONFLUX_CHANGE_ID/tasks.md
line=$(grep -n -m1 '^- \[ \]' "$tasks" | cut -d: -f1)
[ -z "$line" ] || sed -i "${line}s/\[ \]/[x]/" "$tasks"
printf '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ticked","total_cost_usd":0.4,"usage":{"input_tokens":1000,"cache_creation_input_tokens":200,"cache_read_input_tokens":5000,"output_tokens":300}}\n'
"#,
    )
    .unwrap();
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", format: claude, prompt: stdin}}\nstagger: 0s\nkill_grace: 2s\n{extra}",
            script.display()
        ),
    );
}

fn runs(env: &TestEnv, id: &str) -> usize {
    std::fs::read_to_string(env.path().join(format!("fake-{id}.runs")))
        .map_or(0, |text| text.lines().count())
}

fn usd(state: &serde_json::Value) -> f64 {
    state["cost_usd"].as_f64().unwrap_or_default()
}

/// The summary table's row of `id`, from what `start` printed.
fn summary_row<'a>(out: &'a Output, id: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap_or_else(|| panic!("no summary row for {id}:\n{out}"))
}

#[test]
fn usage_goes_to_the_log_per_iteration_and_adds_up_in_state_status_and_summary() {
    let env = TestEnv::new();
    fake_agent(&env, "");
    env.add_change("two", &["one", "two"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(runs(&env, "two"), 2);

    let log = env.log("two");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" tokens: ")).collect();
    assert_eq!(lines.len(), 2, "one usage line per iteration:\n{log}");
    for line in lines {
        assert!(
            line.ends_with("tokens: in 1k out 300 cache r 5k w 200 · $0.40"),
            "{line}"
        );
    }

    let st = env.state("two");
    assert_eq!(
        st["tokens"],
        serde_json::json!({"input": 2000, "output": 600, "cache_read": 10000, "cache_write": 400}),
        "{st}"
    );
    assert!((usd(&st) - 0.8).abs() < 1e-9, "{st}");

    let json = env.conflux(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(rows[0]["tokens"], st["tokens"], "{json}");
    assert!((usd(&rows[0]) - 0.8).abs() < 1e-9, "{json}");
    assert_eq!(
        rows[0]["budget"],
        serde_json::json!({"usd": null, "tokens": null})
    );

    // Input, output and cache writes: 3000 tokens; cache reads are not counted.
    let status = env.conflux(&["status"]);
    assert!(status.stdout.contains("COST   TOKENS"), "{status}");
    assert!(status.stdout.contains("$0.80  3k "), "{status}");
    assert!(summary_row(&out, "two").contains("$0.80  3k "), "{out}");
}

#[test]
fn a_change_over_its_budget_ends_over_budget_and_a_higher_budget_continues_it() {
    let env = TestEnv::new();
    // The front matter's budget wins over the repository's.
    fake_agent(&env, "budget: {usd: 5}\n");
    let tasks = ["one", "two", "three"];
    env.add_change("paid", &tasks, &[], "conflux: {budget: {usd: 0.7}}");
    env.commit_all("change");

    // $0.40 after the first run, $0.80 after the second: no third run starts.
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 4, "{out}");
    assert_eq!(runs(&env, "paid"), 2, "{out}");
    let st = env.state("paid");
    assert_eq!(st["phase"], "over-budget", "{st}");
    assert_eq!(st["tasks_done"], 2, "{st}");
    let reason = st["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("its budget is spent ($0.80 of $0.70"),
        "{reason}"
    );
    assert!(reason.contains("git conflux start paid"), "{reason}");
    assert!(out.stdout.contains("Over budget: paid."), "{out}");
    // The work of both runs is committed on the branch.
    let subjects = env.git(&["log", "--format=%s", "conflux/paid"]);
    assert!(subjects.contains("iteration 2 — 2/3 tasks"), "{subjects}");
    let status = env.conflux(&["status"]);
    assert!(status.stdout.contains("over-budget"), "{status}");
    assert!(status.stdout.contains("$0.80/$0.70"), "{status}");

    // The same budget again: nothing more is spent.
    let again = env.conflux(&["start"]);
    assert_eq!(again.code, 4, "{again}");
    assert_eq!(runs(&env, "paid"), 2, "{again}");

    // A higher one: it continues where it stopped and finishes.
    env.add_change("paid", &tasks, &[], "conflux: {budget: {usd: 2}}");
    env.commit_all("a higher budget");
    let resumed = env.conflux(&["start"]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert_eq!(runs(&env, "paid"), 3, "{resumed}");
    let st = env.state("paid");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(st["iteration"], 3, "{st}");
    assert!((usd(&st) - 1.2).abs() < 1e-9, "{st}");
    assert!(
        summary_row(&resumed, "paid").contains("$1.20/$2.00"),
        "{resumed}"
    );
}

#[test]
fn a_spent_run_budget_starts_no_new_agent_run() {
    let env = TestEnv::new();
    fake_agent(&env, "");
    env.add_change("a-first", &["one", "two"], &[], "");
    env.add_change("b-second", &["one"], &[], "");
    env.commit_all("changes");
    // One run counts 1000 + 300 + 200 = 1500 tokens: the budget is spent after a-first's
    // first run, so a-first stops there and b-second never starts.
    let out = env.conflux(&["start", "-j", "1", "--budget-tokens", "1500"]);
    assert_eq!(out.code, 4, "{out}");
    assert_eq!((runs(&env, "a-first"), runs(&env, "b-second")), (1, 0));
    let a = env.state("a-first");
    assert_eq!(
        (&a["phase"], &a["tasks_done"]),
        (&"over-budget".into(), &1.into())
    );
    let b = env.state("b-second");
    assert_eq!(b["phase"], "over-budget", "{b}");
    let reason = b["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("not started: the run's budget is spent (1.5k of 1.5k tokens"),
        "{reason}"
    );
    assert!(out.stderr.contains("(run budget 1.5k tokens)"), "{out}");
    assert!(
        out.stdout
            .contains("Spent in this run: $0.40 · 1.5k/1.5k tokens."),
        "{out}"
    );
    assert!(
        out.stdout.contains("Over budget: a-first, b-second."),
        "{out}"
    );
    let status = env.conflux(&["status"]);
    assert!(
        status
            .stderr
            .contains("Run budget of the latest start: $0.40 · 1.5k/1.5k tokens (spent)"),
        "{status}"
    );

    // Without the run budget, both finish.
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!((runs(&env, "a-first"), runs(&env, "b-second")), (2, 1));
}

#[test]
fn a_budget_of_nothing_is_refused() {
    let env = TestEnv::new();
    fake_agent(&env, "budget: {usd: 0}\n");
    env.add_change("x", &["one"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("`budget.usd`: must be"), "{out}");
    fake_agent(&env, "");
    let out = env.conflux(&["start", "--budget", "0"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("--budget 0: give US dollars above 0"),
        "{out}"
    );
}

/// A running start keeps its own budget: a second `start --budget` that would join it is
/// refused, naming the flag.
#[test]
fn a_budget_cannot_be_given_to_a_running_start() {
    let env = TestEnv::new();
    env.use_demo_agent("kill_grace: 1s\n");
    let (mut child, _) = crate::test_start::start_hanging(&env, 1);
    let joined = env.conflux(&["start", "h", "--budget", "5"]);
    let ended = crate::support::interrupt_and_wait(&mut child);
    assert_eq!(joined.code, 2, "{joined}");
    assert!(
        joined.stderr.contains("--budget applies to a new run"),
        "{joined}"
    );
    assert!(ended.is_ok(), "{ended:?}");
}

/// A USD budget over an agent that reports no cost could never act: `start` says so (once
/// per agent, not per change) and names the budget that can; over an agent that reports cost,
/// or with a token budget only, it says nothing.
#[test]
fn a_usd_budget_over_an_agent_that_reports_no_cost_is_warned_about() {
    let env = TestEnv::new();
    env.add_change("x", &["one"], &[], "");
    env.add_change("y", &["one"], &[], "");
    env.commit_all("changes");
    for (yaml, flags, warnings) in [
        ("agent: {command: \"true\"}\nbudget: {usd: 5}\n", &[][..], 1),
        (
            "agent: {command: \"true\", format: codex}\n",
            &["--budget", "3"][..],
            1,
        ),
        (
            "agent: {command: \"true\"}\nbudget: {tokens: 1000}\n",
            &[][..],
            0,
        ),
        (
            "agent: {command: \"true\", format: claude}\nbudget: {usd: 5}\n",
            &["--budget", "3"][..],
            0,
        ),
    ] {
        env.write(".conflux.yaml", yaml);
        let mut args = vec!["start", "--dry-run"];
        args.extend(flags);
        let out = env.conflux(&args);
        assert_eq!(out.code, 0, "{yaml}: {out}");
        let said = out
            .stderr
            .matches("reports no cost, so that budget never stops it; add a token budget")
            .count();
        assert_eq!(said, warnings, "{yaml} {flags:?}: {out}");
    }
}
