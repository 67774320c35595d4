//! `git conflux merge --resolve`: an agent resolves a conflict inside the change's worktree,
//! with the real git as the oracle.

use crate::support::TestEnv;

/// Changes `a` and `b` both wrote `shared.txt`; `a` is merged, so `b` conflicts with main.
pub(crate) fn conflicting() -> TestEnv {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all, DEMO_FILE: shared.txt}\n");
    env.add_change("a", &["one"], &[], "");
    env.add_change("b", &["one"], &[], "");
    env.commit_all("changes");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    env
}

/// Makes the configured agent a script running `body` in the worktree (its prompt is saved
/// to `resolve.prompt` in the test dir), with `extra` YAML lines; commits the configuration.
fn use_resolver(env: &TestEnv, body: &str, extra: &str) {
    let script = env.path().join("resolver.sh");
    let prompt = env.path().join("resolve.prompt");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nset -eu\ncat >'{}'\n{body}\n", prompt.display()),
    )
    .unwrap();
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", prompt: stdin}}\nstagger: 0s\nkill_grace: 2s\n{extra}",
            script.display()
        ),
    );
    env.commit_all("the resolver agent");
}

const RESOLVES: &str = "printf 'a: one\\nb: one\\n' >shared.txt; echo 'resolved shared.txt'";

fn assert_resolved_and_merged(env: &TestEnv) {
    assert_eq!(env.git(&["show", "main:shared.txt"]), "a: one\nb: one\n");
    assert_eq!(env.read("shared.txt"), "a: one\nb: one\n");
    assert_eq!(env.git(&["status", "--porcelain"]), "", "checkout follows");
    // History: b's branch got a merge of main, then main moved to it.
    let graph = env.git(&["log", "--graph", "--format=%s", "main"]);
    assert!(
        graph.contains("Merge branch 'main' into conflux/b"),
        "{graph}"
    );
    let parents = env.git(&[
        "log",
        "-1",
        "--format=%P",
        "--grep=Merge branch 'main'",
        "main",
    ]);
    assert_eq!(parents.split_whitespace().count(), 2, "{parents}");
    assert_eq!(env.state("b")["phase"], "merged");
    assert!(!env.worktree("b").exists(), "worktree removed after merge");
    env.git(&["fsck", "--strict"]);
}

#[test]
fn resolve_flag_has_the_agent_resolve_then_merges_both_sides() {
    let env = conflicting();
    use_resolver(&env, RESOLVES, "");
    let out = env.conflux(&["merge", "--resolve", "b"]);
    assert_eq!(out.code, 0, "{out}");
    assert_resolved_and_merged(&env);
    // The agent was told the path and both sides' intent.
    let prompt = std::fs::read_to_string(env.path().join("resolve.prompt")).unwrap();
    assert!(prompt.contains("shared.txt (add/add)"), "{prompt}");
    assert!(
        prompt.contains("openspec/changes/b/proposal.md"),
        "{prompt}"
    );
    assert!(
        prompt.contains("change `a` (a): read openspec/changes/a/proposal.md"),
        "{prompt}"
    );
    assert!(prompt.contains("<<<<<<< conflux/b"), "{prompt}");
    // Its output is in the change's log.
    assert!(
        env.log("b").contains("resolve│ resolved shared.txt"),
        "{}",
        env.log("b")
    );
}

#[test]
fn config_merge_resolve_agent_behaves_like_the_flag_and_none_keeps_refusing() {
    let env = conflicting();
    use_resolver(&env, RESOLVES, "merge: {resolve: none}\n");
    let main_before = env.git(&["rev-parse", "main"]);
    let out = env.conflux(&["merge", "b"]);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stderr.contains("nothing was changed"), "{out}");
    assert_eq!(env.git(&["rev-parse", "main"]), main_before);
    assert!(
        !env.path().join("resolve.prompt").exists(),
        "no agent without resolve"
    );

    use_resolver(&env, RESOLVES, "merge: {resolve: agent}\n");
    let out = env.conflux(&["merge", "b"]);
    assert_eq!(out.code, 0, "{out}");
    assert_resolved_and_merged(&env);
}

#[test]
fn markers_left_by_the_agent_are_refused_with_exit_3_and_the_base_unchanged() {
    let env = conflicting();
    use_resolver(&env, "echo 'I looked at it'", "");
    let main_before = env.git(&["rev-parse", "main"]);
    let branch_before = env.git(&["rev-parse", "conflux/b"]);
    let out = env.conflux(&["merge", "--resolve", "b"]);
    assert_eq!(out.code, 3, "{out}");
    assert!(
        out.stderr.contains("conflict markers remain in shared.txt"),
        "{out}"
    );
    assert!(out.stderr.contains("merge --abort"), "{out}");
    assert!(out.stderr.contains("repo.conflux/b"), "{out}");
    assert_eq!(env.git(&["rev-parse", "main"]), main_before);
    assert_eq!(env.git(&["rev-parse", "conflux/b"]), branch_before);
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    assert_eq!(env.read("shared.txt"), "a: one\n");
    assert_eq!(env.state("b")["phase"], "done");
    // The half-done merge is where the message says, as git sees a merge in progress.
    let wt = env.worktree("b");
    let status = env.git_in(&wt, &["status", "--porcelain"]);
    assert!(status.contains("AA shared.txt"), "{status}");
    env.git_in(&wt, &["rev-parse", "--verify", "MERGE_HEAD"]);

    // Aborting as told, then resolving with a working agent, finishes the job.
    env.git_in(&wt, &["merge", "--abort"]);
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    use_resolver(&env, RESOLVES, "");
    let out = env.conflux(&["merge", "--resolve", "b"]);
    assert_eq!(out.code, 0, "{out}");
    assert_resolved_and_merged(&env);
}

#[test]
fn failing_verify_after_the_resolution_is_refused_and_the_base_unchanged() {
    let env = conflicting();
    use_resolver(
        &env,
        RESOLVES,
        "verify: \"grep -q 'never there' shared.txt\"\n",
    );
    let main_before = env.git(&["rev-parse", "main"]);
    let out = env.conflux(&["merge", "--resolve", "b"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("verify"), "{out}");
    assert_eq!(env.git(&["rev-parse", "main"]), main_before);
    assert_eq!(env.state("b")["phase"], "done");
}

#[test]
fn start_merge_resolves_with_the_configured_agent_too() {
    let env = TestEnv::new();
    // One agent for both jobs: the demo agent for tasks, a resolver for conflicts.
    let script = env.path().join("agent.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprompt=$(cat)\ncase $prompt in\n*'resolving merge conflicts'*) {RESOLVES} ;;\n*) printf '%s' \"$prompt\" | sh '{}' ;;\nesac\n",
            crate::support::demo_agent().display()
        ),
    )
    .unwrap();
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", prompt: stdin}}\nstagger: 0s\nkill_grace: 2s\nenv: {{DEMO_TICK: all, DEMO_FILE: shared.txt}}\nmerge: {{resolve: agent}}\n",
            script.display()
        ),
    );
    env.add_change("a", &["one"], &[], "");
    env.add_change("b", &["one"], &[], "");
    env.commit_all("changes");
    let out = env.conflux(&["start", "--merge"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.git(&["show", "main:shared.txt"]), "a: one\nb: one\n");
    let subjects = env.git(&["log", "--format=%s", "main"]);
    assert!(
        subjects.contains("Merge branch 'main' into conflux/"),
        "{subjects}"
    );
    for id in ["a", "b"] {
        assert_eq!(env.state(id)["phase"], "merged", "{out}");
    }
    env.git(&["fsck", "--strict"]);
}
