//! Merging the base into a change's worktree and leaving the conflicts there, like `git merge`
//! does, then concluding with a merge commit; the real git is the oracle.

#[path = "common/git_fixture.rs"]
mod git_fixture;

use std::path::PathBuf;

use git_conflux::git::{ConflictKind, Repo, WorktreeMerge, commit_merge, worktree_merge};
use git_fixture::{Fixture, oid, write_file};

/// `main` and a branch `topic` (checked out in a linked worktree) that both changed line 2 of
/// `shared.txt`; `main` also added `from-main.txt`, `topic` added `from-topic.txt`.
fn diverged() -> (Fixture, PathBuf) {
    let fixture = Fixture::new();
    fixture.write("shared.txt", "one\ntwo\nthree\n");
    fixture.commit_all("shared");
    let wt = fixture.base.join("topic-wt");
    fixture.git(&["worktree", "add", "-q", "-b", "topic", wt.to_str().unwrap()]);
    write_file(&wt, "shared.txt", "one\ntwo from topic\nthree\n");
    write_file(&wt, "from-topic.txt", "topic\n");
    fixture.commit_all_in(&wt, "topic side");
    fixture.write("shared.txt", "one\ntwo from main\nthree\n");
    fixture.write("from-main.txt", "main\n");
    fixture.commit_all("main side");
    (fixture, wt)
}

fn in_progress(outcome: WorktreeMerge) -> (gix::ObjectId, Vec<(PathBuf, ConflictKind)>) {
    match outcome {
        WorktreeMerge::InProgress { other, conflicts } => (
            other,
            conflicts.into_iter().map(|c| (c.path, c.kind)).collect(),
        ),
        WorktreeMerge::UpToDate => panic!("expected a merge in progress"),
    }
}

#[test]
fn conflicting_merge_is_left_in_the_worktree_as_git_would_and_commits_with_two_parents() {
    let (fixture, wt) = diverged();
    let repo = Repo::discover(&fixture.root).unwrap();
    let topic_before = fixture.rev_parse("topic");
    let main_tip = fixture.rev_parse("main");

    let outcome = repo.merge_base_into_worktree(&wt, "topic", "main").unwrap();
    let (other, conflicts) = in_progress(outcome);
    assert_eq!(other, oid(&main_tip));
    assert_eq!(
        conflicts,
        vec![(PathBuf::from("shared.txt"), ConflictKind::Content)]
    );

    // The branch has not moved; git sees a merge in progress with one unmerged path.
    assert_eq!(fixture.rev_parse("topic"), topic_before);
    assert_eq!(fixture.rev_parse_in(&wt, "MERGE_HEAD"), main_tip);
    let status = fixture.status_in(&wt);
    assert!(status.contains("UU shared.txt"), "{status}");
    assert!(status.contains("A  from-main.txt"), "{status}");
    assert!(!status.contains("from-topic.txt"), "{status}");
    let long = fixture.git_in(&wt, &["status"]);
    assert!(long.contains("You have unmerged paths"), "{long}");
    let shared = std::fs::read_to_string(wt.join("shared.txt")).unwrap();
    assert!(shared.contains("<<<<<<< topic\n"), "{shared}");
    assert!(
        shared.contains("two from topic\n=======\ntwo from main\n"),
        "{shared}"
    );
    assert!(shared.contains(">>>>>>> main\n"), "{shared}");
    assert_eq!(
        std::fs::read_to_string(wt.join("from-main.txt")).unwrap(),
        "main\n"
    );
    // git's own stages agree: base, ours and theirs.
    let stages = fixture.git_in(&wt, &["ls-files", "--stage", "shared.txt"]);
    assert_eq!(stages.lines().count(), 3, "{stages}");

    // Resolve, then conclude.
    write_file(&wt, "shared.txt", "one\ntwo from both\nthree\n");
    let commit = commit_merge(&wt, "Merge main into topic", other).unwrap();
    assert_eq!(fixture.rev_parse("topic"), commit.to_string());
    let parents = fixture.git(&["log", "-1", "--format=%P", "topic"]);
    assert_eq!(
        parents.split_whitespace().collect::<Vec<_>>(),
        [topic_before.as_str(), main_tip.as_str()]
    );
    assert_eq!(fixture.status_in(&wt), "", "everything committed");
    assert!(
        fixture
            .output_in(&wt, &["rev-parse", "-q", "--verify", "MERGE_HEAD"])
            .stdout
            .is_empty(),
        "MERGE_HEAD removed"
    );
    assert_eq!(
        fixture.git(&["show", "topic:shared.txt"]),
        "one\ntwo from both\nthree\n"
    );
    assert_eq!(fixture.git(&["show", "topic:from-main.txt"]), "main\n");
    assert_eq!(fixture.git(&["show", "topic:from-topic.txt"]), "topic\n");
    // main now merges into topic as a fast-forward in git's eyes too.
    fixture.git(&["merge-base", "--is-ancestor", "main", "topic"]);
    fixture.assert_fsck();
}

#[test]
fn git_merge_abort_undoes_the_merge_in_progress() {
    let (fixture, wt) = diverged();
    let repo = Repo::discover(&fixture.root).unwrap();
    let topic_before = fixture.rev_parse("topic");
    repo.merge_base_into_worktree(&wt, "topic", "main").unwrap();
    fixture.git_in(&wt, &["merge", "--abort"]);
    assert_eq!(fixture.status_in(&wt), "");
    assert_eq!(fixture.rev_parse("topic"), topic_before);
    assert_eq!(
        std::fs::read_to_string(wt.join("shared.txt")).unwrap(),
        "one\ntwo from topic\nthree\n"
    );
    assert!(!wt.join("from-main.txt").exists());
}

#[test]
fn clean_merge_is_written_and_committed_like_git_merge_would() {
    let fixture = Fixture::new();
    let wt = fixture.base.join("topic-wt");
    fixture.git(&["worktree", "add", "-q", "-b", "topic", wt.to_str().unwrap()]);
    write_file(&wt, "topic.txt", "topic\n");
    fixture.commit_all_in(&wt, "topic side");
    fixture.write("main.txt", "main\n");
    fixture.commit_all("main side");
    let repo = Repo::discover(&fixture.root).unwrap();
    let (other, conflicts) =
        in_progress(repo.merge_base_into_worktree(&wt, "topic", "main").unwrap());
    assert!(conflicts.is_empty());
    assert_eq!(fixture.status_in(&wt), "A  main.txt\n");
    let commit = commit_merge(&wt, "Merge main into topic", other).unwrap();
    // git computes the same tree.
    let git_tree = fixture.git(&["merge-tree", "--write-tree", "topic^1", "main"]);
    assert_eq!(
        fixture.rev_parse(&format!("{commit}^{{tree}}")),
        git_tree.trim()
    );
    assert_eq!(fixture.status_in(&wt), "");
    fixture.assert_fsck();
    // Up to date now.
    assert_eq!(
        repo.merge_base_into_worktree(&wt, "topic", "main").unwrap(),
        WorktreeMerge::UpToDate
    );
}

#[test]
fn dirty_worktree_wrong_branch_and_merge_in_progress_are_refused_and_change_nothing() {
    let (fixture, wt) = diverged();
    let repo = Repo::discover(&fixture.root).unwrap();
    write_file(&wt, "scratch.txt", "mine\n");
    let err = repo
        .merge_base_into_worktree(&wt, "topic", "main")
        .unwrap_err();
    assert!(
        matches!(err, worktree_merge::Error::Dirty { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("uncommitted changes"), "{err}");
    assert_eq!(fixture.status_in(&wt), "?? scratch.txt\n");
    std::fs::remove_file(wt.join("scratch.txt")).unwrap();

    let err = repo
        .merge_base_into_worktree(&wt, "other", "main")
        .unwrap_err();
    assert!(
        matches!(err, worktree_merge::Error::WrongBranch { .. }),
        "{err:?}"
    );

    repo.merge_base_into_worktree(&wt, "topic", "main").unwrap();
    let err = repo
        .merge_base_into_worktree(&wt, "topic", "main")
        .unwrap_err();
    assert!(err.to_string().contains("merge --abort"), "{err}");
}
