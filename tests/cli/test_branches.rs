//! A branch `conflux/<id>` that conflux did not create is neither built on nor deleted.

use crate::support::TestEnv;

/// A repository with change `a` and the user's own branch `conflux/a` holding a commit that
/// is on no other branch; returns that commit.
fn users_branch() -> (TestEnv, String) {
    let env = TestEnv::new();
    env.one_change("a", "");
    env.commit_all("change");
    env.git(&["checkout", "-q", "-b", "conflux/a"]);
    env.write("mine.txt", "the user's unmerged work\n");
    env.commit_all("my work");
    env.git(&["checkout", "-q", "main"]);
    let tip = env.git(&["rev-parse", "conflux/a"]);
    (env, tip)
}

#[test]
fn start_refuses_a_branch_it_did_not_create() {
    let (env, tip) = users_branch();
    let out = env.conflux(&["start", "a"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("branch conflux/a already exists and git conflux did not create it")
            && out.stderr.contains("git branch -m conflux/a"),
        "{out}"
    );
    assert_eq!(env.git(&["rev-parse", "conflux/a"]), tip);
    assert!(!env.worktree("a").exists(), "{out}");
}

#[test]
fn clean_force_keeps_a_branch_it_did_not_create() {
    // The state says conflux did not create the branch; an older state says nothing.
    for record in [r#""created_branch": false,"#, ""] {
        let (env, tip) = users_branch();
        let state = format!(
            r#"{{"id": "a", "phase": "failed", "branch": "conflux/a", {record}
                "worktree": "{}", "base": "main"}}"#,
            env.worktree("a").display()
        );
        let path = env.root.join(".git/conflux/state/a.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, state).unwrap();
        let out = env.conflux(&["clean", "--force", "a"]);
        assert_eq!(out.code, 0, "{out}");
        assert!(out.stderr.contains("keeping branch conflux/a"), "{out}");
        assert_eq!(env.git(&["rev-parse", "conflux/a"]), tip, "{out}");
    }
}

#[test]
fn a_branch_conflux_created_is_marked_in_its_reflog_and_cleaned() {
    let env = TestEnv::new();
    env.one_change("a", "");
    env.commit_all("change");
    let out = env.conflux(&["start", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.state("a")["created_branch"], true);
    // Even a state that lost the record (a crash right after creating the branch) knows
    // the branch from its reflog.
    let path = env.root.join(".git/conflux/state/a.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(r#""created_branch": true"#, r#""created_branch": false"#),
    )
    .unwrap();
    assert!(
        env.git(&["reflog", "show", "conflux/a"])
            .contains("by git conflux"),
        "{}",
        env.git(&["reflog", "show", "conflux/a"])
    );
    let out = env.conflux(&["clean", "--force", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        env.try_git(&["rev-parse", "--verify", "-q", "conflux/a"])
            .is_none(),
        "{out}"
    );
    assert!(!env.worktree("a").exists(), "{out}");
}

#[test]
fn a_branch_made_while_its_change_waits_is_left_alone() {
    let env = TestEnv::new();
    // Every agent run waits for the test's go-ahead (bounded), so `b` is still queued
    // behind its dependency `a` when the user makes `conflux/b`.
    let gate = env.path().join("go");
    let script = env.path().join("gated-agent.sh");
    std::fs::write(
        &script,
        format!(
            "i=0; while [ ! -e '{}' ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done\nexec sh '{}'\n",
            gate.display(),
            crate::support::demo_agent().display()
        ),
    )
    .unwrap();
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", prompt: stdin}}\nstagger: 0s\nkill_grace: 2s\nenv: {{DEMO_TICK: all}}\n",
            script.display()
        ),
    );
    env.add_change("a", &["one"], &[], "");
    env.add_change("b", &["one"], &["a"], "");
    env.commit_all("changes");
    let mut start = env.conflux_cmd(&["start"]);
    start
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut start = start.spawn().unwrap();
    crate::support::wait_for(
        "a to be applying",
        std::time::Duration::from_secs(20),
        || env.try_state("a").is_some_and(|s| s["phase"] == "applying"),
    );
    env.git(&["branch", "conflux/b", "main"]);
    let tip = env.git(&["rev-parse", "conflux/b"]);
    std::fs::write(&gate, "").unwrap();
    assert_eq!(start.wait().unwrap().code(), Some(1));
    assert_eq!(env.state("a")["phase"], "done");
    assert_eq!(env.state("b")["phase"], "failed");
    let reason = env.state("b")["reason"].to_string();
    assert!(
        reason.contains("branch conflux/b was created meanwhile"),
        "{reason}"
    );
    assert_eq!(env.git(&["rev-parse", "conflux/b"]), tip);
    assert!(!env.worktree("b").exists());
}

/// A checkout that fails (a required filter whose program is missing, as with git-lfs not
/// installed) says why in the change's reason, once.
#[test]
fn a_failed_checkout_names_its_cause() {
    let env = TestEnv::new();
    env.git(&["config", "filter.missing.clean", "cat"]);
    env.git(&[
        "config",
        "filter.missing.smudge",
        "no-such-filter-program-xyz",
    ]);
    env.git(&["config", "filter.missing.required", "true"]);
    env.write(".gitattributes", "*.dat filter=missing\n");
    env.write("data.dat", "payload\n");
    env.one_change("a", "");
    env.commit_all("filtered file");
    let out = env.conflux(&["start", "a"]);
    assert_eq!(out.code, 1, "{out}");
    let reason = env.state("a")["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("could not check out branch conflux/a"),
        "{reason}"
    );
    assert!(reason.contains("no-such-filter-program-xyz"), "{reason}");
}

/// A branch that cannot be created (a branch `conflux` is a file where the directory
/// `refs/heads/conflux/` would go) says why, once.
#[test]
fn a_branch_that_cannot_be_created_names_its_cause() {
    let env = TestEnv::new();
    env.one_change("a", "");
    env.commit_all("change");
    env.git(&["branch", "conflux"]);
    let out = env.conflux(&["start", "a"]);
    let reason = env
        .try_state("a")
        .and_then(|s| s["reason"].as_str().map(str::to_owned))
        .unwrap_or_else(|| out.stderr.clone());
    assert!(
        reason.contains("could not create branch conflux/a"),
        "{out}\n{reason}"
    );
    // The cause, said once: the file system's refusal.
    assert_eq!(reason.matches("File exists").count(), 1, "{reason}");
}

/// A `branch_prefix` git would refuse as a ref name is refused when the configuration is
/// read (exit 2), before any change runs.
#[test]
fn an_invalid_branch_prefix_is_refused_up_front() {
    for prefix in [
        "\"a.lock/\"",
        "\"x~1/\"",
        "\"x:y/\"",
        "\"a//b/\"",
        "\"x?/\"",
    ] {
        let env = TestEnv::new();
        env.one_change("a", &format!("branch_prefix: {prefix}\n"));
        env.commit_all("change");
        let out = env.conflux(&["start", "a"]);
        assert_eq!(out.code, 2, "{prefix}: {out}");
        assert!(out.stderr.contains("branch_prefix"), "{out}");
        assert!(env.try_state("a").is_none(), "{out}");
    }
}
