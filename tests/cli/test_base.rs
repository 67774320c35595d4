//! The base branch: the main worktree's branch, wherever `start` runs from, and never a
//! change's own branch.

use crate::support::TestEnv;

/// Changes `a`, `b`, `c`, each with one task the demo agent ticks; `a` ran, so its worktree
/// (on `conflux/a`) exists.
fn with_a_started() -> TestEnv {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    for id in ["a", "b", "c"] {
        env.add_change(id, &["one"], &[], "");
    }
    env.commit_all("changes");
    let out = env.conflux(&["start", "a", "--no-progress"]);
    assert_eq!(out.code, 0, "{out}");
    env
}

#[test]
fn start_inside_a_change_worktree_bases_on_the_main_worktree_branch() {
    let env = with_a_started();
    let inside = env.worktree("a");
    let out = env.conflux(&[
        "-C",
        &inside.display().to_string(),
        "start",
        "b",
        "--no-progress",
    ]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.state("b")["base"], "main", "{out}");
    let mut cmd = env.conflux_cmd(&["start", "c", "--no-progress"]);
    cmd.current_dir(inside.join("openspec"));
    let out = env.run(cmd);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.state("c")["base"], "main", "{out}");

    let out = env.conflux(&["merge", "b", "c"]);
    assert_eq!(out.code, 0, "{out}");
    let files = env.git(&["ls-tree", "-r", "--name-only", "main"]);
    assert!(files.contains("conflux-demo/b.txt"), "{out}\n{files}");
    assert!(files.contains("conflux-demo/c.txt"), "{out}\n{files}");
}

#[test]
fn a_change_branch_is_refused_as_a_base() {
    let env = with_a_started();
    let before = env.refs_and_worktrees();
    let out = env.conflux(&["start", "b", "--base", "conflux/a"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("conflux/a"), "{out}");
    assert!(out.stderr.contains("change branch"), "{out}");
    env.write(
        ".conflux.yaml",
        &(env.read(".conflux.yaml") + "base: conflux/a\n"),
    );
    let out = env.conflux(&["start", "b"]);
    assert_eq!(out.code, 2, "{out}");
    assert_eq!(env.refs_and_worktrees(), before);

    // A run recorded on a change branch (by an older version) is not merged into it.
    let path = env.root.join(".git/conflux/state/a.json");
    let mut st = env.state("a");
    st["base"] = "conflux/b".into();
    std::fs::write(&path, st.to_string()).unwrap();
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("change branch"), "{out}");
    assert_eq!(env.refs_and_worktrees(), before);
}
