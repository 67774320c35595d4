//! Merges computed by `git_conflux::git` must agree with git's own (`git merge-tree
//! --write-tree`) and leave history and checkouts as `git merge` would.

#[path = "common/git_fixture.rs"]
mod git_fixture;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use git_conflux::git::{
    ConflictKind, MergeMode, MergeOutcome, MergeRequest, MergedCommit, Repo, merge,
};
use git_fixture::{Fixture, oid};

/// Branches `left` and `right` from the current commit, each given its own edits.
fn branch_pair(fixture: &Fixture, left: impl Fn(&Path), right: impl Fn(&Path)) {
    let wt_left = fixture.base.join("left-wt");
    let wt_right = fixture.base.join("right-wt");
    fixture.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "left",
        wt_left.to_str().unwrap(),
    ]);
    fixture.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "right",
        wt_right.to_str().unwrap(),
    ]);
    left(&wt_left);
    fixture.commit_all_in(&wt_left, "left side");
    right(&wt_right);
    fixture.commit_all_in(&wt_right, "right side");
    // Leave both branches checked out nowhere, so only refs are involved.
    fixture.git(&["worktree", "remove", "--force", wt_left.to_str().unwrap()]);
    fixture.git(&["worktree", "remove", "--force", wt_right.to_str().unwrap()]);
}

/// git's verdict: `Ok(tree)` when clean, `Err(conflicted paths)` otherwise.
fn git_verdict(fixture: &Fixture, ours: &str, theirs: &str) -> Result<String, BTreeSet<PathBuf>> {
    let output = fixture.output_in(
        &fixture.root,
        &[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            ours,
            theirs,
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines = stdout.lines();
    let tree = lines.next().unwrap_or_default().to_owned();
    match output.status.code() {
        Some(0) => Ok(tree),
        Some(1) => Err(lines.filter(|l| !l.is_empty()).map(PathBuf::from).collect()),
        other => panic!(
            "git merge-tree failed ({other:?}): {}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn request(base: &str, branch: &str, mode: MergeMode) -> MergeRequest {
    MergeRequest {
        base: base.into(),
        branch: branch.into(),
        mode,
        message: format!("Merge {branch} into {base}"),
    }
}

/// Merge `right` into `left` with our code and compare with git.
fn assert_agrees_with_git(fixture: &Fixture, expect_clean: bool) -> MergeOutcome {
    let verdict = git_verdict(fixture, "left", "right");
    assert_eq!(verdict.is_ok(), expect_clean, "git's verdict: {verdict:?}");
    let repo = Repo::discover(&fixture.root).unwrap();
    let left_before = fixture.rev_parse("left");
    let outcome = repo
        .merge_into(&request("left", "right", MergeMode::NoFastForward))
        .unwrap();
    match (&verdict, &outcome) {
        (Ok(git_tree), MergeOutcome::Merged { commit }) => {
            assert_eq!(
                &fixture.rev_parse(&format!("{commit}^{{tree}}")),
                git_tree,
                "same merged tree as git"
            );
            assert_eq!(fixture.rev_parse("left"), commit.to_string());
            assert_eq!(fixture.rev_parse("left^1"), left_before);
            assert_eq!(fixture.rev_parse("left^2"), fixture.rev_parse("right"));
        }
        (Err(git_paths), MergeOutcome::Conflicts(conflicts)) => {
            let ours: BTreeSet<PathBuf> = conflicts.iter().map(|c| c.path.clone()).collect();
            assert!(
                ours.is_subset(git_paths) && !ours.is_empty(),
                "ours {ours:?} vs git {git_paths:?}"
            );
            assert_eq!(fixture.rev_parse("left"), left_before, "nothing moved");
        }
        _ => panic!("verdicts differ: git {verdict:?}, ours {outcome:?}"),
    }
    fixture.assert_fsck();
    outcome
}

fn conflict_kinds(outcome: &MergeOutcome) -> Vec<(PathBuf, ConflictKind)> {
    match outcome {
        MergeOutcome::Conflicts(conflicts) => {
            conflicts.iter().map(|c| (c.path.clone(), c.kind)).collect()
        }
        other => panic!("expected conflicts, got {other:?}"),
    }
}

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn lines(n: usize, tag: &str) -> String {
    (0..n).map(|i| format!("line {i} {tag}\n")).collect()
}

#[test]
fn clean_merge_of_different_files() {
    let fixture = Fixture::new();
    branch_pair(
        &fixture,
        |d| write(d, "a.txt", b"a\n"),
        |d| write(d, "b/c.txt", b"c\n"),
    );
    assert_agrees_with_git(&fixture, true);
    let graph = fixture.git(&["log", "--graph", "--format=%s", "left"]);
    assert!(
        graph.starts_with("*   Merge right into left\n|\\"),
        "{graph}"
    );
}

#[test]
fn same_line_edits_conflict() {
    let fixture = Fixture::new();
    fixture.write("f.txt", &lines(10, "base"));
    fixture.commit_all("f");
    branch_pair(
        &fixture,
        |d| {
            write(
                d,
                "f.txt",
                lines(10, "base")
                    .replace("line 3 base", "line 3 left")
                    .as_bytes(),
            )
        },
        |d| {
            write(
                d,
                "f.txt",
                lines(10, "base")
                    .replace("line 3 base", "line 3 right")
                    .as_bytes(),
            )
        },
    );
    let outcome = assert_agrees_with_git(&fixture, false);
    assert_eq!(
        conflict_kinds(&outcome),
        vec![(PathBuf::from("f.txt"), ConflictKind::Content)]
    );
}

#[test]
fn add_add_conflicts() {
    let fixture = Fixture::new();
    branch_pair(
        &fixture,
        |d| write(d, "new.txt", b"left\n"),
        |d| write(d, "new.txt", b"right\n"),
    );
    let outcome = assert_agrees_with_git(&fixture, false);
    assert_eq!(
        conflict_kinds(&outcome),
        vec![(PathBuf::from("new.txt"), ConflictKind::AddAdd)]
    );
}

#[test]
fn modify_delete_conflicts() {
    let fixture = Fixture::new();
    fixture.write("f.txt", &lines(5, "base"));
    fixture.commit_all("f");
    branch_pair(
        &fixture,
        |d| write(d, "f.txt", lines(5, "left").as_bytes()),
        |d| std::fs::remove_file(d.join("f.txt")).unwrap(),
    );
    let outcome = assert_agrees_with_git(&fixture, false);
    assert_eq!(
        conflict_kinds(&outcome),
        vec![(PathBuf::from("f.txt"), ConflictKind::ModifyDelete)]
    );
}

#[test]
fn rename_on_one_side_and_edit_on_the_other_merges() {
    let fixture = Fixture::new();
    fixture.write("old.txt", &lines(30, "base"));
    fixture.commit_all("f");
    branch_pair(
        &fixture,
        |d| std::fs::rename(d.join("old.txt"), d.join("new.txt")).unwrap(),
        |d| {
            write(
                d,
                "old.txt",
                lines(30, "base")
                    .replace("line 29 base", "line 29 edited")
                    .as_bytes(),
            )
        },
    );
    assert_agrees_with_git(&fixture, true);
    assert!(
        fixture
            .git(&["show", "left:new.txt"])
            .contains("line 29 edited")
    );
}

#[test]
fn binary_edits_conflict() {
    let fixture = Fixture::new();
    fixture.write("img.bin", "\0\x01\x02base");
    fixture.commit_all("bin");
    branch_pair(
        &fixture,
        |d| write(d, "img.bin", b"\0\x01left"),
        |d| write(d, "img.bin", b"\0\x01right"),
    );
    let outcome = assert_agrees_with_git(&fixture, false);
    assert_eq!(
        conflict_kinds(&outcome),
        vec![(PathBuf::from("img.bin"), ConflictKind::Content)]
    );
}

#[test]
fn executable_bit_change_merges_with_a_content_edit() {
    use std::os::unix::fs::PermissionsExt;
    let fixture = Fixture::new();
    fixture.write("run.sh", &lines(5, "base"));
    fixture.commit_all("script");
    branch_pair(
        &fixture,
        |d| {
            std::fs::set_permissions(d.join("run.sh"), std::fs::Permissions::from_mode(0o755))
                .unwrap()
        },
        |d| {
            write(
                d,
                "run.sh",
                lines(5, "base")
                    .replace("line 4 base", "line 4 edited")
                    .as_bytes(),
            )
        },
    );
    assert_agrees_with_git(&fixture, true);
    assert!(
        fixture
            .git(&["ls-tree", "left", "run.sh"])
            .starts_with("100755")
    );
}

#[test]
fn symlink_retargeted_on_both_sides_conflicts() {
    let fixture = Fixture::new();
    std::os::unix::fs::symlink("README.md", fixture.root.join("link")).unwrap();
    fixture.commit_all("link");
    let retarget = |target: &'static str| {
        move |d: &Path| {
            std::fs::remove_file(d.join("link")).unwrap();
            std::os::unix::fs::symlink(target, d.join("link")).unwrap();
        }
    };
    branch_pair(&fixture, retarget("left-target"), retarget("right-target"));
    let outcome = assert_agrees_with_git(&fixture, false);
    assert_eq!(conflict_kinds(&outcome)[0].0, PathBuf::from("link"));
}

#[test]
fn fast_forward_no_ff_squash_and_already_merged() {
    let fixture = Fixture::new();
    let start = fixture.rev_parse("HEAD");
    fixture.git(&["branch", "base"]);
    fixture.git(&["checkout", "-q", "-b", "topic"]);
    fixture.write("t.txt", "topic\n");
    let topic = fixture.commit_all("topic work");
    fixture.git(&["checkout", "-q", "main"]);
    fixture.git(&["branch", "base2"]);
    fixture.git(&["branch", "base3"]);
    let repo = Repo::discover(&fixture.root).unwrap();

    let ff = repo
        .merge_into(&request("base", "topic", MergeMode::FastForward))
        .unwrap();
    assert_eq!(
        ff,
        MergeOutcome::FastForward {
            from: oid(&start),
            to: oid(&topic)
        }
    );
    assert_eq!(fixture.rev_parse("base"), topic);
    assert_eq!(
        repo.merge_into(&request("base", "topic", MergeMode::FastForward))
            .unwrap(),
        MergeOutcome::AlreadyMerged
    );

    let MergeOutcome::Merged { commit } = repo
        .merge_into(&request("base2", "topic", MergeMode::NoFastForward))
        .unwrap()
    else {
        panic!("no-ff makes a merge commit");
    };
    assert_eq!(fixture.rev_parse("base2"), commit.to_string());
    assert_eq!(
        fixture.git(&["rev-parse", "base2^1", "base2^2"]),
        format!("{start}\n{topic}\n")
    );
    let graph = fixture.git(&["log", "--graph", "--format=%s", "base2"]);
    assert_eq!(
        graph,
        "*   Merge topic into base2\n|\\  \n| * topic work\n|/  \n* initial\n"
    );

    let MergeOutcome::Merged { commit } = repo
        .merge_into(&request("base3", "topic", MergeMode::Squash))
        .unwrap()
    else {
        panic!("squash makes a commit");
    };
    assert_eq!(
        fixture.git(&["rev-list", "--parents", "-n1", "base3"]),
        format!("{commit} {start}\n")
    );
    assert_eq!(
        fixture.rev_parse("base3^{tree}"),
        fixture.rev_parse("topic^{tree}")
    );
    let reflog = fixture.git(&["reflog", "-1", "--format=%gs", "base2"]);
    assert!(reflog.starts_with("merge topic:"), "{reflog}");
    fixture.assert_fsck();
    assert_eq!(fixture.status_in(&fixture.root), "");
}

/// `main` checked out in the main worktree, `topic` changes `shared.txt` and adds `added/new.txt`.
fn checked_out_base() -> (Fixture, Repo) {
    let fixture = Fixture::new();
    fixture.write("shared.txt", "base\n");
    fixture.write("unrelated.txt", "base\n");
    fixture.write("gone.txt", "to delete\n");
    fixture.commit_all("base");
    fixture.git(&["checkout", "-q", "-b", "topic"]);
    fixture.write("shared.txt", "topic\n");
    fixture.write("added/new.txt", "new\n");
    std::fs::remove_file(fixture.root.join("gone.txt")).unwrap();
    fixture.commit_all("topic");
    fixture.git(&["checkout", "-q", "main"]);
    fixture.write("main-only.txt", "main\n");
    fixture.commit_all("main moves on");
    let repo = Repo::discover(&fixture.root).unwrap();
    (fixture, repo)
}

#[test]
fn merge_into_checked_out_base_keeps_unrelated_local_edits() {
    let (fixture, repo) = checked_out_base();
    fixture.write("unrelated.txt", "local edit\n");
    fixture.write("scratch.txt", "untracked\n");
    let before = fixture.rev_parse("main");

    let outcome = repo
        .merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap();

    let MergeOutcome::Merged { commit } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(fixture.rev_parse("HEAD"), commit.to_string());
    assert_eq!(fixture.rev_parse("HEAD^1"), before);
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("shared.txt")).unwrap(),
        "topic\n"
    );
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("added/new.txt")).unwrap(),
        "new\n"
    );
    assert!(!fixture.root.join("gone.txt").exists());
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("unrelated.txt")).unwrap(),
        "local edit\n"
    );
    assert_eq!(
        fixture.status_in(&fixture.root),
        " M unrelated.txt\n?? scratch.txt\n"
    );
    assert_eq!(fixture.git(&["diff", "--cached", "--name-only"]), "");
    fixture.assert_fsck();
}

#[test]
fn merge_into_checked_out_base_refuses_overlapping_local_changes_and_changes_nothing() {
    let (fixture, repo) = checked_out_base();
    fixture.write("shared.txt", "local edit\n");
    let before = fixture.rev_parse("main");
    let index_before = std::fs::read(fixture.root.join(".git/index")).unwrap();

    let err = repo
        .merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap_err();

    match &err {
        merge::Error::LocalChanges { worktree, paths } => {
            assert_eq!(worktree, &fixture.root);
            assert_eq!(paths, &vec![PathBuf::from("shared.txt")]);
        }
        other => panic!("unexpected: {other}"),
    }
    assert!(err.to_string().contains("shared.txt"));
    assert_eq!(fixture.rev_parse("main"), before);
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("shared.txt")).unwrap(),
        "local edit\n"
    );
    assert!(fixture.root.join("gone.txt").exists());
    assert!(!fixture.root.join("added").exists());
    assert_eq!(
        std::fs::read(fixture.root.join(".git/index")).unwrap(),
        index_before
    );

    // An untracked file where the merge adds one is in the way too.
    fixture.git(&["checkout", "--", "shared.txt"]);
    fixture.write("added/new.txt", "mine\n");
    let err = repo
        .merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap_err();
    assert!(
        matches!(err, merge::Error::LocalChanges { ref paths, .. } if paths == &vec![PathBuf::from("added/new.txt")]),
        "{err}"
    );
    assert_eq!(fixture.rev_parse("main"), before);
}

#[test]
fn merge_into_checked_out_base_refuses_staged_deleted_and_retyped_paths() {
    use std::os::unix::fs::PermissionsExt as _;
    let (fixture, repo) = checked_out_base();
    let before = fixture.rev_parse("main");
    let chmod_x = |rel: &str| {
        let path = fixture.root.join(rel);
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        permissions.set_mode(0o755);
        std::fs::set_permissions(&path, permissions).unwrap();
    };
    // Each local state, and the path the merge must refuse for: the merge writes shared.txt
    // and added/new.txt, and deletes gone.txt.
    type Case<'a> = (&'static str, Box<dyn Fn() + 'a>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "a staged edit, the file as in HEAD",
            Box::new(|| {
                fixture.write("shared.txt", "staged\n");
                fixture.git(&["add", "shared.txt"]);
                fixture.write("shared.txt", "base\n");
            }),
            "shared.txt",
        ),
        (
            "a staged deletion of a file the merge deletes",
            Box::new(|| {
                fixture.git(&["rm", "-q", "--cached", "gone.txt"]);
            }),
            "gone.txt",
        ),
        (
            "a file deleted from the worktree",
            Box::new(|| std::fs::remove_file(fixture.root.join("shared.txt")).unwrap()),
            "shared.txt",
        ),
        (
            "the executable bit set",
            Box::new(|| chmod_x("shared.txt")),
            "shared.txt",
        ),
        (
            "the same size of other content",
            Box::new(|| fixture.write("shared.txt", "BASE\n")),
            "shared.txt",
        ),
        (
            "a file staged where the merge needs a folder",
            Box::new(|| {
                fixture.write("added", "a file\n");
                fixture.git(&["add", "added"]);
                std::fs::remove_file(fixture.root.join("added")).unwrap();
            }),
            "added",
        ),
    ];
    for (what, make, path) in cases {
        make();
        let status = fixture.status_in(&fixture.root);
        let err = repo
            .merge_into(&request("main", "topic", MergeMode::FastForward))
            .unwrap_err();
        assert!(
            matches!(&err, merge::Error::LocalChanges { paths, .. } if paths.contains(&PathBuf::from(path))),
            "{what}: {err}"
        );
        assert_eq!(fixture.rev_parse("main"), before, "{what}");
        assert_eq!(
            fixture.status_in(&fixture.root),
            status,
            "{what}: nothing changed"
        );
        fixture.git(&["reset", "-q", "--hard"]);
        fixture.git(&["clean", "-q", "-fd"]);
    }
    // Back as it was, the merge goes through.
    assert!(matches!(
        repo.merge_into(&request("main", "topic", MergeMode::FastForward)),
        Ok(MergeOutcome::Merged { .. })
    ));
    fixture.assert_fsck();
}

/// Where the stat comparison declines (here a case-insensitive setting), gix's status of the
/// touched paths finds the same local changes.
#[test]
fn local_changes_are_found_where_only_a_status_can_tell() {
    let (fixture, repo) = checked_out_base();
    fixture.git(&["config", "core.ignoreCase", "true"]);
    let repo_again = Repo::discover(&fixture.root).unwrap();
    drop(repo);
    fixture.write("shared.txt", "local edit\n");
    fixture.write("unrelated.txt", "local edit\n");
    let before = fixture.rev_parse("main");
    let err = repo_again
        .merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap_err();
    assert!(
        matches!(&err, merge::Error::LocalChanges { paths, .. } if paths == &vec![PathBuf::from("shared.txt")]),
        "{err}"
    );
    assert_eq!(fixture.rev_parse("main"), before);
    fixture.git(&["checkout", "--", "shared.txt"]);
    assert!(matches!(
        repo_again.merge_into(&request("main", "topic", MergeMode::FastForward)),
        Ok(MergeOutcome::Merged { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("unrelated.txt")).unwrap(),
        "local edit\n"
    );
    fixture.assert_fsck();
}

#[test]
fn fast_forward_of_a_checked_out_base_updates_files_and_index() {
    let fixture = Fixture::new();
    fixture.git(&["checkout", "-q", "-b", "topic"]);
    fixture.write("dir/x.txt", "x\n");
    let topic = fixture.commit_all("topic");
    fixture.git(&["checkout", "-q", "main"]);
    let repo = Repo::discover(&fixture.root).unwrap();

    let outcome = repo
        .merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap();

    assert!(matches!(outcome, MergeOutcome::FastForward { .. }));
    assert_eq!(fixture.rev_parse("HEAD"), topic);
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("dir/x.txt")).unwrap(),
        "x\n"
    );
    assert_eq!(fixture.status_in(&fixture.root), "");
}

#[test]
fn base_not_checked_out_moves_only_the_ref_even_with_a_detached_main_worktree() {
    let fixture = Fixture::new();
    fixture.git(&["checkout", "-q", "-b", "topic"]);
    fixture.write("x.txt", "x\n");
    let topic = fixture.commit_all("topic");
    fixture.git(&["checkout", "-q", "--detach", "main"]);
    let repo = Repo::discover(&fixture.root).unwrap();

    repo.merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap();

    assert_eq!(fixture.rev_parse("main"), topic);
    assert!(
        !fixture.root.join("x.txt").exists(),
        "the detached checkout is untouched"
    );
    assert_eq!(fixture.status_in(&fixture.root), "");
}

#[test]
fn several_dependency_tips_merge_into_one_start_commit() {
    let fixture = Fixture::new();
    let start = fixture.rev_parse("HEAD");
    for name in ["d1", "d2", "d3"] {
        fixture.git(&["checkout", "-q", "-b", name, &start]);
        fixture.write(&format!("{name}.txt"), name);
        fixture.commit_all(name);
    }
    fixture.git(&["checkout", "-q", "-b", "conflicting", &start]);
    fixture.write("d1.txt", "other");
    fixture.commit_all("conflicting");
    fixture.git(&["checkout", "-q", "main"]);
    let repo = Repo::discover(&fixture.root).unwrap();
    let tip = |name: &str| oid(&fixture.rev_parse(name));

    assert_eq!(
        repo.merge_commits_to_commit(&[tip("d1")], "deps").unwrap(),
        MergedCommit::Commit(tip("d1"))
    );
    assert_eq!(
        repo.merge_commits_to_commit(&[tip("main"), tip("d1")], "deps")
            .unwrap(),
        MergedCommit::Commit(tip("d1")),
        "a tip contained in another adds nothing"
    );
    let MergedCommit::Commit(merged) = repo
        .merge_commits_to_commit(&[tip("d1"), tip("d2"), tip("d3")], "deps")
        .unwrap()
    else {
        panic!("clean merge expected");
    };
    let parents = fixture.git(&["rev-list", "--parents", "-n1", &merged.to_string()]);
    assert_eq!(
        parents,
        format!("{merged} {} {} {}\n", tip("d1"), tip("d2"), tip("d3"))
    );
    let files = fixture.git(&["ls-tree", "--name-only", &merged.to_string()]);
    assert_eq!(files, "README.md\nd1.txt\nd2.txt\nd3.txt\n");
    fixture.assert_fsck();

    let conflicts = repo
        .merge_commits_to_commit(&[tip("d1"), tip("conflicting")], "deps")
        .unwrap();
    assert_eq!(
        conflicts,
        MergedCommit::Conflicts(vec![git_conflux::git::Conflict {
            path: PathBuf::from("d1.txt"),
            kind: ConflictKind::AddAdd
        }])
    );
}

/// `topic` turns the folder `x` into a file and adds `d/f` and `l/f` (issue 12, item 1).
fn shape_changing_topic() -> (Fixture, Repo) {
    let fixture = Fixture::new();
    fixture.write("x/a.txt", "a\n");
    fixture.write("keep.txt", "keep\n");
    fixture.commit_all("base");
    fixture.git(&["checkout", "-q", "-b", "topic"]);
    fixture.git(&["rm", "-q", "-r", "x"]);
    fixture.write("x", "x is a file now\n");
    fixture.write("d/f", "f\n");
    fixture.write("l/f", "f\n");
    fixture.commit_all("topic");
    fixture.git(&["checkout", "-q", "main"]);
    let repo = Repo::discover(&fixture.root).unwrap();
    (fixture, repo)
}

/// Every file, symlink and directory below `dir` (`.git` aside), with contents, to compare
/// a tree before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if entry.file_name() == ".git" {
                continue;
            }
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().to_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((rel, format!("-> {}", target.display())));
            } else if meta.is_dir() {
                out.push((rel, "dir".into()));
                walk(root, &path, out);
            } else {
                out.push((
                    rel,
                    String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// `git merge topic` in a copy of the repository must refuse, and so must we, changing nothing
/// (checkout, index, ref) and naming `expected` among the paths in the way.
fn assert_refused_like_git(fixture: &Fixture, repo: &Repo, expected: &str) {
    let copy = fixture.base.join("copy-for-git");
    let _ = std::fs::remove_dir_all(&copy);
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(&fixture.root)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success());
    let git = fixture.output_in(&copy, &["merge", "--no-edit", "topic"]);
    assert!(
        !git.status.success(),
        "git merge did not refuse: {}",
        String::from_utf8_lossy(&git.stdout)
    );

    let before = fixture.rev_parse("main");
    let files_before = snapshot(&fixture.root);
    let index_before = std::fs::read(fixture.root.join(".git/index")).unwrap();
    let err = repo
        .merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap_err();
    match &err {
        merge::Error::LocalChanges { paths, .. } => assert!(
            paths.contains(&PathBuf::from(expected)),
            "{expected} not among {paths:?}"
        ),
        other => panic!("unexpected: {other}"),
    }
    assert_eq!(fixture.rev_parse("main"), before, "the ref did not move");
    assert_eq!(snapshot(&fixture.root), files_before, "no file changed");
    assert_eq!(
        std::fs::read(fixture.root.join(".git/index")).unwrap(),
        index_before
    );
}

#[test]
fn an_untracked_file_where_the_merge_needs_a_folder_is_in_the_way() {
    let (fixture, repo) = shape_changing_topic();
    fixture.write("d", "my notes\n");
    assert_refused_like_git(&fixture, &repo, "d");
}

#[test]
fn an_untracked_file_in_a_folder_the_merge_turns_into_a_file_is_in_the_way() {
    let (fixture, repo) = shape_changing_topic();
    fixture.write("x/notes.txt", "my notes\n");
    assert_refused_like_git(&fixture, &repo, "x/notes.txt");
}

#[test]
fn an_untracked_symlink_where_the_merge_needs_a_folder_is_in_the_way() {
    let (fixture, repo) = shape_changing_topic();
    let outside = fixture.base.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, fixture.root.join("l")).unwrap();
    assert_refused_like_git(&fixture, &repo, "l");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
}

#[test]
fn an_ignored_file_in_the_way_is_kept_too() {
    // git merge would overwrite an ignored file; losing a user's file is never right.
    let (fixture, repo) = shape_changing_topic();
    std::fs::write(fixture.root.join(".git/info/exclude"), "notes.txt\nd\n").unwrap();
    fixture.write("x/notes.txt", "my ignored notes\n");
    fixture.write("d", "ignored\n");
    let before = fixture.rev_parse("main");
    let err = repo
        .merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap_err();
    assert!(matches!(err, merge::Error::LocalChanges { .. }), "{err}");
    assert_eq!(fixture.rev_parse("main"), before);
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("x/notes.txt")).unwrap(),
        "my ignored notes\n"
    );
}

#[test]
fn the_shape_changing_merge_itself_works_and_git_agrees() {
    let (fixture, repo) = shape_changing_topic();
    let outcome = repo
        .merge_into(&request("main", "topic", MergeMode::FastForward))
        .unwrap();
    assert!(
        matches!(outcome, MergeOutcome::FastForward { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        std::fs::read_to_string(fixture.root.join("x")).unwrap(),
        "x is a file now\n"
    );
    assert_eq!(fixture.status_in(&fixture.root), "");
    fixture.assert_fsck();
}

#[test]
fn a_branch_deleted_after_its_merge_is_kept_when_it_moved_on_since() {
    let fixture = Fixture::new();
    fixture.git(&["branch", "base"]);
    fixture.git(&["checkout", "-q", "-b", "topic"]);
    fixture.write("t.txt", "topic\n");
    fixture.commit_all("topic work");
    fixture.git(&["checkout", "-q", "main"]);
    let repo = Repo::discover(&fixture.root).unwrap();
    let merged = repo
        .merge_into(&request("base", "topic", MergeMode::NoFastForward))
        .unwrap();
    assert!(matches!(merged, MergeOutcome::Merged { .. }), "{merged:?}");

    // New work on the branch after the merge is in no other branch: deleting would lose it.
    fixture.git(&["checkout", "-q", "topic"]);
    fixture.write("t.txt", "more\n");
    let moved = fixture.commit_all("after the merge");
    fixture.git(&["checkout", "-q", "main"]);
    let err = repo.delete_branch_after("topic", &merged).unwrap_err();
    assert!(
        matches!(err, git_conflux::git::branch::Error::Unmerged { .. }),
        "{err}"
    );
    assert_eq!(fixture.rev_parse("topic"), moved);

    // Back where it was merged: deleted, with no other branch holding it but base.
    fixture.git(&["branch", "-f", "topic", "topic~1"]);
    repo.delete_branch_after("topic", &merged).unwrap();
    assert!(repo.branch_tip("topic").unwrap().is_none());
    fixture.assert_fsck();
}
