//! Every index conflux writes carries a cached tree (git's TREE extension) when, and only
//! when, its entries equal the tree it claims; git must agree with it: `git status`,
//! `git ls-files -s`, `git fsck`, and `git commit`, which trusts the cached tree.

#[path = "common/git_fixture.rs"]
mod git_fixture;

use std::path::{Path, PathBuf};

use git_conflux::git::{MergeMode, MergeRequest, Repo, commit_all};
use git_fixture::{Fixture, oid, write_file};

/// A fixture with files at several depths, committed on `main`.
fn nested() -> Fixture {
    let fixture = Fixture::new();
    for rel in ["a/b/c.txt", "a/d.txt", "a/b-c.txt", "e/f/g.txt", "top.txt"] {
        fixture.write(rel, &format!("{rel}\n"));
    }
    fixture.commit_all("nested");
    fixture
}

/// A linked worktree on a new branch `conflux/<id>`, made by git.
fn worktree(fixture: &Fixture, id: &str) -> PathBuf {
    let path = fixture.base.join("wt").join(id);
    let branch = format!("conflux/{id}");
    fixture.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        &branch,
        path.to_str().unwrap(),
    ]);
    path
}

/// `conflux/c1` merged into the checked-out `main` (always a merge commit).
fn merge_c1(fixture: &Fixture) {
    Repo::discover(&fixture.root)
        .unwrap()
        .merge_into(&MergeRequest {
            base: "main".into(),
            branch: "conflux/c1".into(),
            mode: MergeMode::NoFastForward,
            message: "merge c1".into(),
        })
        .unwrap();
}

/// The root of the cached tree in the index of the worktree at `dir`: its id and entry count.
fn cached_root(fixture: &Fixture, dir: &Path) -> Option<(String, u32)> {
    let git_dir = fixture.git_in(dir, &["rev-parse", "--absolute-git-dir"]);
    let index = gix::index::File::at(
        Path::new(git_dir.trim()).join("index"),
        gix::hash::Kind::Sha1,
        false,
        Default::default(),
    )
    .expect("the index reads");
    let tree = index.tree()?;
    Some((tree.id.to_string(), tree.num_entries?))
}

/// `git ls-files -s` in the form of `git ls-tree -r`: what the index holds.
fn index_listing(fixture: &Fixture, dir: &Path) -> String {
    fixture
        .git_in(dir, &["ls-files", "-s"])
        .lines()
        .map(|line| {
            let (meta, path) = line.split_once('\t').unwrap();
            let mut parts = meta.split(' ');
            let (mode, id) = (parts.next().unwrap(), parts.next().unwrap());
            let kind = if mode == "160000" { "commit" } else { "blob" };
            format!("{mode} {kind} {id}\t{path}\n")
        })
        .collect()
}

/// git agrees with the index at `dir`: clean status, `ls-files` equal to HEAD's tree, fsck
/// clean; then `git add` of an edit and a new file (with git's own cache-tree check on) and
/// `git commit` record exactly the index, which a wrong cached tree would not.
fn assert_git_trusts_the_index(fixture: &Fixture, dir: &Path) {
    assert_eq!(
        fixture.status_in(dir),
        "",
        "git status in {}",
        dir.display()
    );
    assert_eq!(
        index_listing(fixture, dir),
        fixture.git_in(dir, &["ls-tree", "-r", "HEAD"])
    );
    fixture.assert_fsck();
    write_file(dir, "a/b/c.txt", "edited by git\n");
    write_file(dir, "x/y/new.txt", "new\n");
    let added = fixture
        .command_in(dir, &["add", "-A"])
        .env("GIT_TEST_CHECK_CACHE_TREE", "1")
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "git add with the cache-tree check: {}",
        String::from_utf8_lossy(&added.stderr)
    );
    fixture.git_in(dir, &["commit", "-q", "--no-verify", "-m", "by git"]);
    assert_eq!(
        index_listing(fixture, dir),
        fixture.git_in(dir, &["ls-tree", "-r", "HEAD"]),
        "git committed the tree the index holds"
    );
    assert_eq!(
        fixture.git_in(dir, &["show", "HEAD:a/b/c.txt"]),
        "edited by git\n"
    );
    fixture.assert_fsck();
}

#[test]
fn commit_all_leaves_a_cached_tree_of_the_commit() {
    let fixture = nested();
    let wt = worktree(&fixture, "c1");
    write_file(&wt, "a/b/c.txt", "changed\n");
    write_file(&wt, "e/new/deep.txt", "added\n");
    std::fs::remove_file(wt.join("top.txt")).unwrap();

    let commit = commit_all(&wt, "agent: iteration 1")
        .unwrap()
        .expect("a commit");
    assert_eq!(commit, oid(&fixture.rev_parse_in(&wt, "HEAD")));

    let entries = fixture.git_in(&wt, &["ls-files"]).lines().count() as u32;
    assert_eq!(
        cached_root(&fixture, &wt),
        Some((fixture.rev_parse_in(&wt, "HEAD^{tree}"), entries))
    );
    assert_git_trusts_the_index(&fixture, &wt);
}

#[test]
fn merge_into_a_checked_out_base_leaves_a_cached_tree_of_the_merge() {
    let fixture = nested();
    let wt = worktree(&fixture, "c1");
    write_file(&wt, "a/b/c.txt", "from the change\n");
    write_file(&wt, "n/m.txt", "new from the change\n");
    commit_all(&wt, "change").unwrap().expect("a commit");
    fixture.write("top.txt", "main moved\n");
    fixture.commit_all("main moves");

    merge_c1(&fixture);

    let entries = fixture.git(&["ls-files"]).lines().count() as u32;
    assert_eq!(
        cached_root(&fixture, &fixture.root),
        Some((fixture.rev_parse("HEAD^{tree}"), entries))
    );
    assert_git_trusts_the_index(&fixture, &fixture.root);
}

#[test]
fn a_staged_change_the_merge_keeps_gets_no_cached_tree_claiming_the_merge() {
    let fixture = nested();
    let wt = worktree(&fixture, "c1");
    write_file(&wt, "a/b/c.txt", "from the change\n");
    commit_all(&wt, "change").unwrap().expect("a commit");
    fixture.write("top.txt", "main moved\n");
    fixture.commit_all("main moves");
    fixture.write("e/f/g.txt", "staged, not committed\n");
    fixture.git(&["add", "e/f/g.txt"]);

    merge_c1(&fixture);

    assert_eq!(fixture.status_in(&fixture.root), "M  e/f/g.txt\n");
    fixture.git(&["commit", "-q", "--no-verify", "-m", "the staged change"]);
    assert_eq!(
        fixture.git(&["show", "HEAD:e/f/g.txt"]),
        "staged, not committed\n",
        "git commit recorded the staged change"
    );
    assert_eq!(
        index_listing(&fixture, &fixture.root),
        fixture.git(&["ls-tree", "-r", "HEAD"])
    );
    fixture.assert_fsck();
}
