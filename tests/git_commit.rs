//! `commit_all` must commit like `git add -A && git commit`, and git must agree afterwards.

#[path = "common/git_fixture.rs"]
mod git_fixture;
#[path = "common/racy.rs"]
mod racy;

use std::path::Path;

use git_conflux::git::{Repo, WorktreeSpec, commit_all, is_dirty};
use git_fixture::{Fixture, oid, write_file};
use racy::same_size_edit_after_the_index;

fn worktree(fixture: &Fixture, id: &str) -> std::path::PathBuf {
    let repo = Repo::discover(&fixture.root).unwrap();
    repo.prepare_worktree(&WorktreeSpec {
        id: id.into(),
        branch: format!("conflux/{id}"),
        path: fixture.base.join("wt").join(id),
        start: oid(&fixture.rev_parse("HEAD")),
    })
    .unwrap()
    .path
}

fn name_status(fixture: &Fixture, dir: &Path) -> String {
    fixture.git_in(
        dir,
        &["show", "--format=", "--name-status", "--no-renames", "HEAD"],
    )
}

#[test]
fn commits_additions_edits_deletions_modes_and_symlinks_and_nothing_ignored() {
    let fixture = Fixture::new();
    fixture.write(".gitignore", "*.log\n");
    fixture.write("keep.txt", "keep\n");
    fixture.write("edit.txt", "old\n");
    fixture.write("gone.txt", "bye\n");
    fixture.write("tool.sh", "#!/bin/sh\n");
    fixture.commit_all("base");
    let wt = worktree(&fixture, "c1");
    let before = fixture.rev_parse_in(&wt, "HEAD");

    write_file(&wt, "edit.txt", "new\n");
    std::fs::remove_file(wt.join("gone.txt")).unwrap();
    write_file(&wt, "deep/new/file.rs", "fn main() {}\n");
    write_file(&wt, "debug.log", "ignored\n");
    write_file(&wt, ".conflux-prompt.md", "runtime\n");
    std::os::unix::fs::symlink("keep.txt", wt.join("alias")).unwrap();
    set_mode(&wt.join("tool.sh"), 0o755);

    let commit = commit_all(&wt, "agent: iteration 1")
        .unwrap()
        .expect("a commit");

    assert_eq!(fixture.rev_parse_in(&wt, "HEAD"), commit.to_string());
    assert_eq!(fixture.rev_parse_in(&wt, "HEAD^"), before);
    assert_eq!(
        fixture.rev_parse_in(&wt, "conflux/c1"),
        commit.to_string(),
        "the branch moved through HEAD"
    );
    assert_eq!(
        name_status(&fixture, &wt),
        "A\talias\nA\tdeep/new/file.rs\nM\tedit.txt\nD\tgone.txt\nM\ttool.sh\n"
    );
    assert_eq!(
        fixture.git_in(&wt, &["log", "-1", "--format=%s|%an|%ae|%cn"]),
        "agent: iteration 1|Test User|test@example.com|Test User\n"
    );
    assert_eq!(
        fixture
            .git_in(&wt, &["ls-files", "-s", "tool.sh"])
            .split(' ')
            .next(),
        Some("100755")
    );
    assert_eq!(
        fixture
            .git_in(&wt, &["ls-files", "-s", "alias"])
            .split(' ')
            .next(),
        Some("120000")
    );
    // Only the runtime file stays untracked; the index is fresh, so git sees nothing else.
    assert_eq!(fixture.status_in(&wt), "?? .conflux-prompt.md\n");
    let reflog = fixture.git_in(&wt, &["reflog", "-1", "--format=%gs", "conflux/c1"]);
    assert_eq!(reflog, "commit: agent: iteration 1\n");
    fixture.assert_fsck();

    std::fs::remove_file(wt.join(".conflux-prompt.md")).unwrap();
    assert!(!is_dirty(&wt).unwrap());
}

#[test]
fn nothing_changed_means_no_commit() {
    let fixture = Fixture::new();
    let wt = worktree(&fixture, "c2");
    let head = fixture.rev_parse_in(&wt, "HEAD");

    assert_eq!(commit_all(&wt, "nothing").unwrap(), None);
    write_file(&wt, "README.md", "hello\n"); // same content, new stat
    write_file(&wt, "x.log", "");
    std::fs::write(wt.join(".gitignore"), "*.log\n").unwrap();
    assert!(commit_all(&wt, "ignore logs").unwrap().is_some());
    assert_eq!(commit_all(&wt, "again").unwrap(), None);
    assert_eq!(fixture.rev_parse_in(&wt, "HEAD~1"), head);
    assert_eq!(fixture.status_in(&wt), "");
}

#[test]
fn changes_staged_by_the_agent_and_reverted_edits_are_handled() {
    let fixture = Fixture::new();
    let wt = worktree(&fixture, "c3");
    write_file(&wt, "staged.txt", "staged by agent\n");
    fixture.git_in(&wt, &["add", "staged.txt"]);
    write_file(&wt, "README.md", "changed\n");
    fixture.git_in(&wt, &["add", "README.md"]);
    write_file(&wt, "README.md", "hello\n"); // staged edit reverted in the worktree

    commit_all(&wt, "mixed").unwrap().expect("a commit");

    assert_eq!(name_status(&fixture, &wt), "A\tstaged.txt\n");
    assert_eq!(fixture.status_in(&wt), "");
}

#[test]
fn crlf_worktree_files_are_committed_normalised() {
    let fixture = Fixture::new();
    fixture.write(".gitattributes", "* text=auto eol=crlf\n");
    fixture.commit_all("attributes");
    let wt = worktree(&fixture, "c4");
    std::fs::write(wt.join("win.txt"), "a\r\nb\r\n").unwrap();

    commit_all(&wt, "crlf").unwrap().expect("a commit");

    assert_eq!(fixture.git_in(&wt, &["show", "HEAD:win.txt"]), "a\nb\n");
    assert_eq!(fixture.status_in(&wt), "");
    fixture.assert_fsck();
}

#[test]
fn commits_in_the_main_worktree_too() {
    let fixture = Fixture::new();
    fixture.write("main.txt", "m\n");
    let id = commit_all(&fixture.root, "from main")
        .unwrap()
        .expect("a commit");
    assert_eq!(fixture.rev_parse("main"), id.to_string());
    assert_eq!(fixture.status_in(&fixture.root), "");
}

/// Makes the same `edits` in two fresh worktrees, commits one with `commit_all` and stages the
/// other with `git add -A`: the commit's tree must be the tree git would commit, and git must
/// see nothing left to commit after it.
fn assert_commits_like_git(fixture: &Fixture, edits: impl Fn(&Path)) {
    let ours = worktree(fixture, "ours");
    let theirs = worktree(fixture, "git");
    edits(&ours);
    edits(&theirs);
    commit_all(&ours, "ours").unwrap().expect("a commit");
    fixture.git_in(&theirs, &["add", "-A"]);
    let expected = fixture.git_in(&theirs, &["write-tree"]);
    let got = fixture.rev_parse_in(&ours, "HEAD^{tree}");
    let diff = fixture.git_in(
        &ours,
        &["diff-tree", "-r", "--name-status", expected.trim(), &got],
    );
    assert_eq!(got, expected.trim(), "ours against git's tree:\n{diff}");
    assert_eq!(fixture.status_in(&ours), "");
    fixture.assert_fsck();
}

#[test]
fn commits_the_tree_git_add_all_stages() {
    let fixture = Fixture::new();
    fixture.write(".gitignore", "*.log\nbuild/\n");
    fixture.write("src/lib.rs", "pub fn f() {}\n");
    fixture.write("src/deep/mod.rs", "mod x;\n");
    fixture.write("becomes/folder", "a file\n");
    fixture.write("folder/becomes/file.txt", "in a folder\n");
    fixture.write("run.sh", "#!/bin/sh\n");
    fixture.commit_all("base");
    assert_commits_like_git(&fixture, |wt| {
        write_file(wt, "src/lib.rs", "pub fn g() -> u8 { 1 }\n");
        std::fs::remove_file(wt.join("src/deep/mod.rs")).unwrap();
        set_mode(&wt.join("run.sh"), 0o755);
        write_file(wt, "new/folder/deep/inside.txt", "new\n");
        write_file(wt, "src/deep/new.rs", "new\n");
        write_file(wt, "debug.log", "ignored\n");
        write_file(wt, "build/out.o", "ignored folder\n");
        write_file(wt, "only/ignored.log", "a new folder of ignored files\n");
        std::fs::create_dir_all(wt.join("empty/dir")).unwrap();
        std::os::unix::fs::symlink("src/lib.rs", wt.join("link")).unwrap();
        std::fs::remove_file(wt.join("becomes/folder")).unwrap();
        write_file(wt, "becomes/folder/now.txt", "a folder where a file was\n");
        std::fs::remove_dir_all(wt.join("folder/becomes")).unwrap();
        write_file(wt, "folder/becomes", "a file where a folder was\n");
    });
}

#[test]
fn a_racy_same_size_edit_is_committed() {
    let fixture = Fixture::new();
    fixture.write("src/lib.rs", "pub fn f() {}\n");
    fixture.commit_all("base");
    let wt = worktree(&fixture, "c5");
    same_size_edit_after_the_index(&fixture, &wt, "src/lib.rs");

    commit_all(&wt, "racy").unwrap().expect("a commit");

    assert_eq!(name_status(&fixture, &wt), "M\tsrc/lib.rs\n");
    assert_eq!(
        fixture.git_in(&wt, &["show", "HEAD:src/lib.rs"]),
        "pub gn g() {}\n"
    );
    assert_eq!(fixture.status_in(&wt), "");
}

#[test]
fn runtime_files_in_new_folders_and_the_aider_cache_are_never_staged() {
    let fixture = Fixture::new();
    let wt = worktree(&fixture, "c6");
    write_file(&wt, "new/.conflux-prompt.md", "runtime\n");
    write_file(&wt, "new/kept.txt", "kept\n");
    write_file(&wt, ".aider.tags.cache.v4/cache.db", "scratch\n");

    commit_all(&wt, "new folder").unwrap().expect("a commit");

    assert_eq!(name_status(&fixture, &wt), "A\tnew/kept.txt\n");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
