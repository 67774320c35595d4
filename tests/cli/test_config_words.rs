//! Mistakes the audit of issue 18 found still answered in a parser's words, without a place
//! or a suggestion, or with advice that leads nowhere: a list or a mapping where a scalar
//! stands, an agent's own keys and values, a mistyped hook, preset or `merge.resolve`, an id
//! given to `clean` that conflux has no record of, and the log of a merged change.

use insta::assert_snapshot;

use crate::support::{TestEnv, redactions};

/// `config check` on `.conflux.yaml` holding `yaml`: the lines it prints and its exit.
fn check(env: &TestEnv, yaml: &str) -> String {
    env.write(".conflux.yaml", yaml);
    env.conflux(&["config", "check"]).to_string()
}

#[test]
fn config_mistakes_are_said_in_words_with_what_was_meant() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    insta::with_settings!({filters => redactions()}, {
        assert_snapshot!(check(&env, "copy: 3\nenv: {A: b}\n"), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:1:7: expected a list such as [a, b]
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
        assert_snapshot!(check(&env, "env: [a]\n"), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:1:6: expected a mapping such as {KEY: value}
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
        assert_snapshot!(check(&env, "hooks: {on_chnage_done: make}\n"), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:1:8: `hooks.on_chnage_done`: unknown hook; did you mean `on_change_done`?
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
        assert_snapshot!(check(&env, "agent: {command: my-agent, format: jsn}\n"), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:1:8: agent format `jsn` is not one of: text, claude, codex, gemini, opencode
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
        assert_snapshot!(check(&env, "agent: {command: my-agent, promt: stdin}\n"), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:1:8: unknown key `promt`; did you mean `prompt`?
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
    });
}

/// A value that is the wrong one of its kind (a preset, a hook, a `merge.resolve`) is
/// placed like a parse error: file:line:column, in the file the user edits.
#[test]
fn wrong_names_are_placed_at_their_line_and_column() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    insta::with_settings!({filters => redactions()}, {
        assert_snapshot!(check(&env, "jobs: 2\nmerge:\n  resolve: agnet\n"), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:3:12: `merge.resolve`: `agnet` is not one of: none, agent
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
        assert_snapshot!(check(&env, "jobs: 2\nhooks:\n  on_chnage_done: make\n"), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:3:3: `hooks.on_chnage_done`: unknown hook; did you mean `on_change_done`?
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
        assert_snapshot!(check(&env, "jobs: 2\nreview:\n  agent: claud\n"), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:3:10: unknown agent preset `claud`; did you mean `claude`?
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
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
