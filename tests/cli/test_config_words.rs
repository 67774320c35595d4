//! Mistakes the audit of issue 18 found still answered in a parser's words, without a place
//! or a suggestion, or with advice that leads nowhere: a list or a mapping where a scalar
//! stands, an agent's own keys and values, a mistyped hook, preset or `merge.resolve`, an id
//! given to `clean` that conflux has no record of, and the log of a merged change.

use insta::assert_snapshot;

use crate::support::{TestEnv, redactions};

/// What `config check` says of each `.conflux.yaml` in turn: its one problem, a line each.
fn problems(env: &TestEnv, files: &[&str]) -> String {
    let lines: Vec<String> = files
        .iter()
        .map(|yaml| {
            env.write(".conflux.yaml", yaml);
            let out = env.conflux(&["config", "check"]);
            assert_eq!(out.code, 2, "{out}");
            assert!(out.stderr.contains("\nerror: 1 problem in"), "{out}");
            out.stderr.lines().next().unwrap_or_default().to_owned()
        })
        .collect();
    lines.join("\n")
}

/// A list or mapping where a scalar belongs, an agent's own keys and choices, and a mistyped
/// hook, preset or `merge.resolve`: said in words, with the name probably meant, and placed
/// at file:line:column like any parse error.
#[test]
fn config_mistakes_are_placed_and_said_in_words_with_what_was_meant() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    let said = problems(
        &env,
        &[
            "copy: 3\nenv: {A: b}\n",
            "env: [a]\n",
            "agent: {command: my-agent, format: jsn}\n",
            "agent: {command: my-agent, promt: stdin}\n",
            "hooks: {on_chnage_done: make}\n",
            "jobs: 2\nhooks:\n  on_chnage_done: make\n",
            "jobs: 2\nmerge:\n  resolve: agnet\n",
            "jobs: 2\nreview:\n  agent: claud\n",
        ],
    );
    insta::with_settings!({filters => redactions()}, {
        assert_snapshot!(said, @"
        error: $TEST/repo/.conflux.yaml:1:7: expected a list such as [a, b]
        error: $TEST/repo/.conflux.yaml:1:6: expected a mapping such as {KEY: value}
        error: $TEST/repo/.conflux.yaml:1:8: agent format `jsn` is not one of: text, claude, codex, gemini, opencode, aider
        error: $TEST/repo/.conflux.yaml:1:8: unknown key `promt`; did you mean `prompt`?
        error: $TEST/repo/.conflux.yaml:1:8: `hooks.on_chnage_done`: unknown hook; did you mean `on_change_done`?
        error: $TEST/repo/.conflux.yaml:3:3: `hooks.on_chnage_done`: unknown hook; did you mean `on_change_done`?
        error: $TEST/repo/.conflux.yaml:3:12: `merge.resolve`: `agnet` is not one of: none, agent
        error: $TEST/repo/.conflux.yaml:3:10: unknown agent preset `claud`; did you mean `claude`?
        ");
    });
}

#[test]
fn clean_of_a_mistyped_id_suggests_a_change_it_has_a_record_of() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    env.add_change("add-login", &["t"], &[], "");
    env.add_change("add-logout", &["t"], &[], "");
    env.commit_all("changes");
    assert_eq!(env.conflux(&["start", "add-login"]).code, 0);
    insta::with_settings!({filters => redactions()}, {
        assert_snapshot!(env.conflux(&["clean", "add-logn"]), @"
        ------- stderr -------
        error: conflux has no record of add-logn
        hint: did you mean `add-login`? `git conflux status` shows the changes that have run
        [exit status: 2]
        ");
    });
}

/// A merged change whose log `clean` removed is not sent back to `start`.
#[test]
fn logs_of_a_cleaned_merged_change_say_so_and_suggest_no_new_run() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    env.add_change("a", &["t"], &[], "");
    env.commit_all("change");
    assert_eq!(env.conflux(&["start"]).code, 0);
    assert_eq!(env.conflux(&["merge", "a"]).code, 0);
    assert_eq!(env.conflux(&["clean"]).code, 0);
    insta::with_settings!({filters => redactions()}, {
        assert_snapshot!(env.conflux(&["logs", "a"]), @"
        ------- stderr -------
        error: change a is merged and has no log ($TEST/repo/.git/conflux/logs/a.log does not exist; `git conflux clean` removes the logs of merged changes)
        hint: its work is on the base branch: `git log` shows it
        [exit status: 1]
        ");
    });
}

/// Files that each read well can still add up to a run `start` refuses before any worktree:
/// `config check` says so too (here `claude` as root without IS_SANDBOX=1, and a missing
/// agent binary).
#[test]
fn config_check_refuses_what_start_would_refuse_before_running() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    env.write(".conflux.yaml", "agent: {command: no-such-agent-binary}\n");
    let out = env.conflux(&["config", "check"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("error: agent binary `no-such-agent-binary` not found on PATH"),
        "{out}"
    );
    if nix::unistd::geteuid().is_root() {
        env.write(".conflux.yaml", "agent: claude\n");
        let out = env.conflux(&["config", "check"]);
        assert_eq!(out.code, 2, "{out}");
        assert!(out.stderr.contains("unless IS_SANDBOX=1"), "{out}");
        env.write(".conflux.yaml", "agent: claude\nenv: {IS_SANDBOX: \"1\"}\n");
        let out = env.conflux(&["config", "check"]);
        assert!(!out.stderr.contains("IS_SANDBOX"), "{out}");
    }
}
