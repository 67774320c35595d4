//! `git conflux merge` and `clean`, with the real git as the oracle.

use crate::support::TestEnv;

/// A repository where changes `ids` have run to done with the demo agent.
fn done(ids: &[(&str, &[&str])]) -> TestEnv {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    for (id, deps) in ids {
        env.add_change(id, &["one", "two"], deps, "");
    }
    env.commit_all("changes");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    env
}

fn head(env: &TestEnv, rev: &str) -> String {
    env.git(&["rev-parse", rev]).trim().to_owned()
}

#[test]
fn fast_forward_then_worktree_and_branch_are_removed() {
    let env = done(&[("a", &[])]);
    let tip = head(&env, "conflux/a");
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("fast-forwarded main"), "{out}");
    assert_eq!(head(&env, "main"), tip);
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        "",
        "the checkout follows the merge"
    );
    assert!(env.read("conflux-demo/a.txt").contains("a: one"));
    assert!(
        env.try_git(&["rev-parse", "--verify", "-q", "conflux/a"])
            .is_none(),
        "branch kept"
    );
    assert!(!env.worktree("a").exists());
    assert_eq!(env.state("a")["phase"], "merged");
    // Idempotent.
    let again = env.conflux(&["merge", "a"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stdout.contains("already merged"), "{again}");
    env.git(&["fsck", "--strict"]);
}

#[test]
fn no_ff_makes_a_merge_commit_and_squash_one_commit() {
    let env = done(&[("a", &[]), ("b", &[])]);
    let out = env.conflux(&["merge", "--no-ff", "--keep", "a"]);
    assert_eq!(out.code, 0, "{out}");
    let parents = env.git(&["log", "-1", "--format=%P", "main"]);
    assert_eq!(parents.split_whitespace().count(), 2, "{parents}");
    let subject = env.git(&["log", "-1", "--format=%B", "main"]);
    assert!(subject.starts_with("Merge change a: a"), "{subject}");
    assert!(subject.contains("2/2 tasks"), "{subject}");
    assert!(env.worktree("a").exists(), "--keep keeps the worktree");
    let before = head(&env, "main");
    let out = env.conflux(&["merge", "--squash", "b"]);
    assert_eq!(out.code, 0, "{out}");
    let parents = env.git(&["log", "-1", "--format=%P", "main"]);
    assert_eq!(
        parents.trim(),
        before,
        "a squash has the base as its only parent"
    );
    assert!(env.read("conflux-demo/b.txt").contains("b: two"));
    assert!(
        env.try_git(&["rev-parse", "--verify", "-q", "conflux/b"])
            .is_none()
    );
    env.git(&["fsck", "--strict"]);
}

#[test]
fn merge_all_goes_in_dependency_order_and_refuses_unmerged_dependencies() {
    let env = done(&[("base-x", &[]), ("mid", &["base-x"]), ("top", &["mid"])]);
    let out = env.conflux(&["merge", "top"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("top depends on mid, not merged yet")
            && out.stderr.contains("--with-deps"),
        "{out}"
    );
    let out = env.conflux(&["merge", "--all"]);
    assert_eq!(out.code, 0, "{out}");
    let order: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(order, ["base-x", "mid", "top"], "{out}");
    for id in ["base-x", "mid", "top"] {
        assert_eq!(env.state(id)["phase"], "merged");
    }
}

#[test]
fn conflict_is_exit_3_with_paths_and_changes_nothing() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all, DEMO_FILE: shared.txt}\n");
    env.add_change("a", &["one"], &[], "");
    env.add_change("b", &["one"], &[], "");
    env.commit_all("changes");
    assert_eq!(env.conflux(&["start"]).code, 0);
    assert_eq!(env.conflux(&["merge", "a"]).code, 0);
    let before = (
        env.refs_and_worktrees(),
        env.git(&["status", "--porcelain"]),
        env.read("shared.txt"),
    );
    let index_before = std::fs::read(env.root.join(".git/index")).unwrap();
    let out = env.conflux(&["merge", "b"]);
    assert_eq!(out.code, 3, "{out}");
    assert!(
        out.stderr.contains("shared.txt") && out.stderr.contains("nothing was changed"),
        "{out}"
    );
    let after = (
        env.refs_and_worktrees(),
        env.git(&["status", "--porcelain"]),
        env.read("shared.txt"),
    );
    assert_eq!(before, after);
    assert_eq!(
        index_before,
        std::fs::read(env.root.join(".git/index")).unwrap()
    );
    assert_eq!(env.state("b")["phase"], "done");
    // The real git agrees that these branches conflict.
    let probe = std::process::Command::new("git")
        .current_dir(&env.root)
        .args(["merge-tree", "--write-tree", "main", "conflux/b"])
        .output()
        .unwrap();
    assert_eq!(
        probe.status.code(),
        Some(1),
        "git merge-tree sees no conflict"
    );
}

#[test]
fn local_edits_are_kept_when_unrelated_and_refuse_the_merge_when_overlapping() {
    let env = done(&[("a", &[]), ("b", &[])]);
    env.write("README.md", "# my local edit\n");
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.read("README.md"), "# my local edit\n");
    // b writes conflux-demo/b.txt: a local untracked file there must not be overwritten.
    env.write("conflux-demo/b.txt", "mine\n");
    let main_before = head(&env, "main");
    let out = env.conflux(&["merge", "b"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("conflux-demo/b.txt"), "{out}");
    assert_eq!(head(&env, "main"), main_before);
    assert_eq!(env.read("conflux-demo/b.txt"), "mine\n");
    assert_eq!(env.state("b")["phase"], "done");
}

#[test]
fn base_not_checked_out_only_moves_the_ref() {
    let env = TestEnv::new();
    env.git(&["branch", "trunk"]);
    env.use_demo_agent("base: trunk\nenv: {DEMO_TICK: all}\n");
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change on main");
    env.git(&["branch", "-f", "trunk", "main"]);
    assert_eq!(env.conflux(&["start"]).code, 0);
    let status_before = env.git(&["status", "--porcelain"]);
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("trunk"), "{out}");
    assert!(
        env.git(&["show", "trunk:conflux-demo/a.txt"])
            .contains("a: one")
    );
    assert_eq!(env.git(&["status", "--porcelain"]), status_before);
    assert!(
        !env.root.join("conflux-demo").exists(),
        "main's checkout was touched"
    );
}

#[test]
fn not_done_is_refused_unless_forced() {
    let env = TestEnv::new();
    env.use_demo_agent("max_iterations: 1\n");
    env.add_change("a", &["one", "two", "three"], &[], "");
    env.commit_all("change");
    assert_eq!(env.conflux(&["start"]).code, 1);
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("not done") && out.stderr.contains("--force"),
        "{out}"
    );
    let out = env.conflux(&["merge", "--force", "a"]);
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn start_with_merge_merges_each_change_as_it_finishes() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    env.add_change("a", &["one"], &[], "");
    env.add_change("b", &["one"], &["a"], "");
    env.commit_all("changes");
    let out = env.conflux(&["start", "--merge"]);
    assert_eq!(out.code, 0, "{out}");
    for id in ["a", "b"] {
        assert_eq!(env.state(id)["phase"], "merged", "{out}");
        assert!(env.read(&format!("conflux-demo/{id}.txt")).contains("one"));
    }
    assert_eq!(
        env.git(&["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
}

#[test]
fn clean_removes_only_what_conflux_created() {
    let env = done(&[("a", &[]), ("b", &[])]);
    env.git(&["branch", "my-own-branch"]);
    let mine = env.path().join("my-worktree");
    env.git(&[
        "worktree",
        "add",
        "-q",
        mine.to_str().unwrap(),
        "my-own-branch",
    ]);
    // Uncommitted work in a change's worktree is refused without --force.
    std::fs::write(env.worktree("a").join("scratch.txt"), "unsaved\n").unwrap();
    let out = env.conflux(&["clean", "--all"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(env.worktree("a").join("scratch.txt").exists());
    assert!(
        !env.worktree("b").exists(),
        "b was clean… but its branch is unmerged"
    );
    let out = env.conflux(&["clean", "--all", "--force"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!env.worktree("a").exists());
    let branches = env.git(&["branch", "--format=%(refname:short)"]);
    assert_eq!(
        branches.lines().collect::<Vec<_>>(),
        ["main", "my-own-branch"],
        "{branches}"
    );
    assert!(
        mine.join("README.md").exists(),
        "the user's worktree was removed"
    );
    assert!(env.git(&["worktree", "list"]).contains("my-worktree"));
    assert!(
        env.conflux(&["status", "--json"])
            .stdout
            .contains("\"pending\"")
    );
}

/// Commits `files` more files under `bulk/` (and one of `big` bytes) on the done change `a`'s
/// branch, so that merging it writes that many files into the checkout.
fn grow_change(env: &TestEnv, files: usize, big: usize) {
    let worktree = env.worktree("a");
    let bulk = worktree.join("bulk");
    std::fs::create_dir_all(&bulk).unwrap();
    for i in 0..files {
        std::fs::write(bulk.join(format!("{i:05}.txt")), format!("file {i}\n")).unwrap();
    }
    if big > 0 {
        std::fs::write(bulk.join("big.bin"), vec![b'x'; big]).unwrap();
    }
    env.git_in(&worktree, &["add", "-A"]);
    env.git_in(&worktree, &["commit", "-q", "-m", "bulk"]);
}

#[test]
fn a_merge_killed_half_way_is_undone_and_the_next_merge_completes() {
    let env = done(&[("a", &[])]);
    grow_change(&env, 20_000, 0);
    env.write("mine.txt", "my own work\n");
    let before = head(&env, "main");
    let tip = head(&env, "conflux/a");
    let journal = env.root.join(".git/conflux/merge-journal.json");

    let mut child = env.conflux_cmd(&["merge", "a"]).spawn().unwrap();
    // Kill it once its first files are in the checkout: mid-write, before the ref moves.
    crate::support::wait_for(
        "the merge to write files",
        std::time::Duration::from_secs(60),
        || std::fs::read_dir(env.root.join("bulk")).is_ok_and(|mut d| d.next().is_some()),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        journal.exists(),
        "killed before it finished (else this proves nothing)"
    );
    assert_eq!(head(&env, "main"), before, "the ref had not moved");
    assert_ne!(
        env.git(&["status", "--porcelain", "--", "bulk"]),
        "",
        "files were half written"
    );

    // The next command that could trip over the half-written files settles them first.
    let started = env.conflux(&["start"]);
    assert!(
        started
            .stderr
            .contains("interrupted merge into main was undone"),
        "{started}"
    );
    assert_eq!(env.git(&["status", "--porcelain"]), "?? mine.txt\n");
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        head(&env, "main"),
        tip,
        "fast-forwarded to the change's tip"
    );
    assert_eq!(env.git(&["status", "--porcelain"]), "?? mine.txt\n");
    assert_eq!(env.read("mine.txt"), "my own work\n");
    assert!(!journal.exists());
    env.git(&["fsck", "--strict"]);
}

#[test]
fn a_merge_that_cannot_write_a_file_restores_the_checkout_and_moves_nothing() {
    let env = done(&[("a", &[])]);
    // 200 small files and one over the file-size limit the merge runs under (like a full
    // disk, the write fails half-way with most files already written).
    grow_change(&env, 200, 1 << 20);
    let before = head(&env, "main");
    let mut cmd = std::process::Command::new("sh");
    env.hermetic(&mut cmd);
    cmd.current_dir(&env.root).args([
        "-c",
        r#"trap "" XFSZ; ulimit -f 256; exec "$0" merge a"#,
        env!("CARGO_BIN_EXE_git-conflux"),
    ]);
    let out = env.run(cmd);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("File too large") && out.stderr.contains("nothing was changed"),
        "{out}"
    );
    assert_eq!(head(&env, "main"), before);
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        "",
        "every written file was undone"
    );
    assert!(!env.root.join("bulk").exists());
    assert!(!env.root.join(".git/conflux/merge-journal.json").exists());
    assert_eq!(env.state("a")["phase"], "done");

    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    env.git(&["fsck", "--strict"]);
}

#[test]
fn merge_refuses_a_change_that_a_running_start_drives() {
    let env = TestEnv::new();
    env.use_demo_agent("kill_grace: 1s\n");
    env.add_change("h", &["one"], &[], "conflux: {env: {DEMO_MODE: hang}}");
    env.commit_all("change");
    let mut cmd = env.conflux_cmd(&["start"]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    crate::support::wait_for(
        "the agent to start",
        std::time::Duration::from_secs(20),
        || env.try_state("h").is_some_and(|s| s["pid"].is_i64()),
    );
    let pgid = env.state("h")["pid"].as_i64().unwrap() as i32;

    let out = env.conflux(&["merge", "--force", "h"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("h is being run by git conflux start")
            && out.stderr.contains("git conflux stop"),
        "{out}"
    );
    assert!(
        env.worktree("h").exists(),
        "the agent's worktree is untouched"
    );
    assert!(crate::support::group_alive(pgid), "the agent runs on");

    let out = env.conflux(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

#[test]
fn merging_a_done_dependency_during_a_run_lets_its_dependent_build_on_the_base() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    let go = env.path().join("go");
    env.add_change("a", &["one"], &[], "");
    env.add_change(
        "s",
        &["one"],
        &[],
        &format!("conflux: {{env: {{DEMO_WAIT_FOR: {}}}}}", go.display()),
    );
    env.add_change("b", &["one"], &["a", "s"], "");
    env.commit_all("changes");
    let mut cmd = env.conflux_cmd(&["start", "-j", "2"]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    crate::support::wait_for("a to be done", std::time::Duration::from_secs(30), || {
        env.try_state("a").is_some_and(|s| s["phase"] == "done")
    });

    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    std::fs::write(&go, "").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "b: {}", env.state("b"));
    assert_eq!(env.state("b")["phase"], "done");
    let a_work = env.git(&["show", "conflux/b:conflux-demo/a.txt"]);
    assert!(a_work.contains("a: one"), "b builds on a's merged work");
    let s_work = env.git(&["show", "conflux/b:conflux-demo/s.txt"]);
    assert!(s_work.contains("s: one"), "and on s's branch");
}

#[test]
fn a_conflict_stays_a_conflict_on_a_plain_start_and_names_the_resolve_command() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all, DEMO_FILE: shared.txt}\n");
    env.add_change("alpha", &["one"], &[], "");
    env.add_change("beta", &["one"], &[], "");
    env.commit_all("changes");
    // Both start from the same base; whichever finishes second conflicts with the first.
    let out = env.conflux(&["start", "--merge", "-j", "2"]);
    assert_eq!(out.code, 1, "{out}");
    let (merged, conflicting) = if env.state("alpha")["phase"] == "merged" {
        ("alpha", "beta")
    } else {
        ("beta", "alpha")
    };
    assert_eq!(env.state(merged)["phase"], "merged", "{out}");
    assert_eq!(env.state(conflicting)["phase"], "conflict", "{out}");
    let resolve = format!("git conflux merge --resolve {conflicting}");
    assert!(
        out.stdout.contains(&format!(
            "Conflicting with the base: {conflicting}. Resolve with `{resolve}`"
        )),
        "{out}"
    );

    let again = env.conflux(&["start"]);
    assert_eq!(env.state(conflicting)["phase"], "conflict", "{again}");
    assert!(again.stderr.contains(&resolve), "{again}");
}

#[test]
fn a_merge_lock_held_elsewhere_delays_start_merge_and_never_fails_the_change() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    // Another git conflux holds the merge lock: a live process of ours (blocked reading a
    // message from its standard input), recorded the way a merge records itself.
    let mut holder = env.conflux_cmd(&["tell", "a", "-F", "-"]);
    holder
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut holder = holder.spawn().unwrap();
    let pid = holder.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ticks: u64 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    std::fs::create_dir_all(env.root.join(".git/conflux")).unwrap();
    std::fs::write(
        env.root.join(".git/conflux/merge.lock"),
        format!(r#"{{"pid":{pid},"started_at":1,"start":{ticks}}}"#),
    )
    .unwrap();

    let mut start = env.conflux_cmd(&["start", "--merge", "--no-progress"]);
    start
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let start = start.spawn().unwrap();
    crate::support::wait_for("a to be done", std::time::Duration::from_secs(30), || {
        env.try_state("a").is_some_and(|s| s["phase"] == "done")
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        env.state("a")["phase"],
        "done",
        "the merge waits for the lock"
    );
    drop(holder.stdin.take());
    holder.wait().unwrap();

    let out = start.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(env.state("a")["phase"], "merged", "{stderr}");
    assert!(
        stderr.contains(&format!("waiting for the merge of git conflux (pid {pid})")),
        "{stderr}"
    );
}

/// A merged change's worktree goes through the trash (`.git/conflux/trash`): the merge
/// returns with the trash empty, and what a killed merge left there is deleted by the next
/// `merge` or `clean` (read-only folders, as some tools leave them, included).
#[test]
fn merge_and_clean_empty_the_trash_a_killed_merge_left() {
    use std::os::unix::fs::PermissionsExt;
    let env = done(&[("a", &[]), ("b", &[])]);
    let trash = env.root.join(".git/conflux/trash");
    let leave = |name: &str| {
        let left = trash.join(name).join("src/deep");
        std::fs::create_dir_all(&left).unwrap();
        std::fs::write(left.join("file.txt"), "left by a killed merge\n").unwrap();
        std::fs::set_permissions(&left, std::fs::Permissions::from_mode(0o555)).unwrap();
    };
    leave("a.4242.1.0");
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!env.worktree("a").exists());
    assert_eq!(env.state("a")["phase"], "merged");
    let left: Vec<_> = std::fs::read_dir(&trash).unwrap().collect();
    assert!(left.is_empty(), "the trash still holds {left:?}");
    assert!(
        !env.git(&["worktree", "list", "--porcelain"])
            .contains("/a\n"),
        "registration kept"
    );

    leave("b.4242.2.0");
    let out = env.conflux(&["clean", "--all", "--force"]);
    assert_eq!(out.code, 0, "{out}");
    let left: Vec<_> = std::fs::read_dir(&trash).unwrap().collect();
    assert!(left.is_empty(), "clean left {left:?} in the trash");
    env.git(&["fsck", "--strict"]);
}

/// `merge --all` killed (kill -9) right after one merge, while earlier worktrees may still be
/// being removed beside it: every finished merge is committed and recorded merged, the
/// checkout is clean, the next `merge --all` merges the rest, and `clean` removes what the
/// killed one had not.
#[test]
fn merge_all_killed_between_two_merges_keeps_every_finished_merge() {
    let env = TestEnv::new();
    env.use_demo_agent(
        "env: {DEMO_TICK: all}\nhooks: {on_merged: \"if [ $CONFLUX_CHANGE_ID = b ]; then kill -9 $PPID; fi\"}\n",
    );
    for id in ["a", "b", "c"] {
        env.add_change(id, &["one"], &[], "");
    }
    env.commit_all("changes");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");

    let out = env.conflux(&["merge", "--all"]);
    assert_ne!(out.code, 0, "the hook did not kill merge: {out}");
    assert_eq!(env.state("a")["phase"], "merged");
    assert_eq!(env.state("b")["phase"], "merged");
    assert_eq!(env.state("c")["phase"], "done");
    env.git(&["show", "main:conflux-demo/a.txt"]);
    env.git(&["show", "main:conflux-demo/b.txt"]);
    assert_eq!(env.git(&["status", "--porcelain"]), "", "{out}");
    env.git(&["fsck", "--strict"]);

    let out = env.conflux(&["merge", "--all"]);
    assert_eq!(out.code, 0, "{out}");
    env.git(&["show", "main:conflux-demo/c.txt"]);
    let out = env.conflux(&["clean", "--all"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        env.git(&["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1,
        "{}",
        env.refs_and_worktrees()
    );
    assert_eq!(env.git(&["branch", "--list", "conflux/*"]), "");
    env.git(&["fsck", "--strict"]);
}
