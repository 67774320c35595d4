//! `is_dirty` answers from stat data with an early exit; every kind of change `git status`
//! sees must still count, and nothing git calls clean may.

#[path = "common/git_fixture.rs"]
mod git_fixture;
#[path = "common/racy.rs"]
mod racy;

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use git_conflux::git::{Repo, WorktreeSpec, is_dirty};
use git_fixture::{Fixture, oid, write_file};
use racy::same_size_edit_after_the_index;

/// A fresh worktree of a repository with nested files, an executable and an ignore rule.
fn setup() -> (Fixture, PathBuf) {
    let fixture = Fixture::new();
    fixture.write(".gitignore", "*.log\nbuild/\n");
    fixture.write("src/lib.rs", "pub fn f() {}\n");
    fixture.write("src/deep/mod.rs", "mod x;\n");
    fixture.write("run.sh", "#!/bin/sh\n");
    std::fs::set_permissions(
        fixture.root.join("run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fixture.commit_all("base");
    let repo = Repo::discover(&fixture.root).unwrap();
    let wt = repo
        .prepare_worktree(&WorktreeSpec {
            id: "c1".into(),
            branch: "conflux/c1".into(),
            path: fixture.base.join("wt"),
            start: oid(&fixture.rev_parse("HEAD")),
        })
        .unwrap()
        .path;
    (fixture, wt)
}

/// `is_dirty` says `expected`, and so does `git status --porcelain` (asked after us: it may
/// refresh the index).
fn assert_dirty(fixture: &Fixture, wt: &Path, expected: bool) {
    assert_eq!(
        is_dirty(wt).unwrap(),
        expected,
        "is_dirty in {}",
        wt.display()
    );
    let status = fixture.status_in(wt);
    assert_eq!(!status.is_empty(), expected, "git status: {status:?}");
}

#[test]
fn a_fresh_worktree_and_ignored_files_are_clean() {
    let (fixture, wt) = setup();
    assert_dirty(&fixture, &wt, false);
    write_file(&wt, "debug.log", "ignored\n");
    write_file(&wt, "build/out/a.o", "ignored folder\n");
    std::fs::create_dir_all(wt.join("empty/dir")).unwrap();
    write_file(
        &wt,
        "src/junk/only.log",
        "ignored file in an untracked folder\n",
    );
    assert_dirty(&fixture, &wt, false);
    fixture.assert_fsck();
}

#[test]
fn a_same_size_edit_within_the_index_timestamp_is_dirty() {
    let (fixture, wt) = setup();
    // Without ctime the file's stat data matches its entry exactly; only its being as new
    // as the index (racy) makes it worth reading.
    fixture.git_in(&wt, &["config", "core.trustctime", "false"]);
    let file = wt.join("src/lib.rs");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, "pub fn g() {}\n").unwrap();
    File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let git_dir = fixture.git_in(&wt, &["rev-parse", "--absolute-git-dir"]);
    let index = Path::new(git_dir.trim()).join("index");
    File::options()
        .write(true)
        .open(&index)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_dirty(&fixture, &wt, true);
}

#[test]
fn a_touched_file_with_the_same_content_is_clean() {
    let (fixture, wt) = setup();
    let file = wt.join("src/lib.rs");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_dirty(&fixture, &wt, false);
}

#[test]
fn an_executable_bit_change_is_dirty() {
    let (fixture, wt) = setup();
    std::fs::set_permissions(
        wt.join("src/lib.rs"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    assert_dirty(&fixture, &wt, true);
}

#[test]
fn a_deleted_file_is_dirty() {
    let (fixture, wt) = setup();
    std::fs::remove_file(wt.join("src/deep/mod.rs")).unwrap();
    assert_dirty(&fixture, &wt, true);
}

#[test]
fn a_file_replaced_by_a_symlink_is_dirty() {
    let (fixture, wt) = setup();
    std::fs::remove_file(wt.join("run.sh")).unwrap();
    std::os::unix::fs::symlink("#!/bin/sh\n", wt.join("run.sh")).unwrap();
    assert_dirty(&fixture, &wt, true);
}

#[test]
fn a_new_file_in_a_tracked_folder_or_deep_in_a_new_one_is_dirty() {
    let (fixture, wt) = setup();
    write_file(&wt, "src/deep/new.rs", "new\n");
    assert_dirty(&fixture, &wt, true);
    std::fs::remove_file(wt.join("src/deep/new.rs")).unwrap();
    assert_dirty(&fixture, &wt, false);
    write_file(&wt, "new/folder/deep/inside.txt", "new\n");
    assert_dirty(&fixture, &wt, true);
}

#[test]
fn a_staged_change_whose_file_is_back_to_head_is_dirty() {
    let (fixture, wt) = setup();
    write_file(&wt, "src/lib.rs", "staged\n");
    fixture.git_in(&wt, &["add", "src/lib.rs"]);
    write_file(&wt, "src/lib.rs", "pub fn f() {}\n");
    assert_dirty(&fixture, &wt, true);
}

#[test]
fn an_index_with_the_cached_tree_git_wrote_is_read_right() {
    let (fixture, wt) = setup();
    write_file(&wt, "src/lib.rs", "committed by git\n");
    fixture.commit_all_in(&wt, "by git");
    assert_dirty(&fixture, &wt, false);
    fixture.git_in(&wt, &["rm", "-q", "--cached", "src/deep/mod.rs"]);
    write_file(&wt, "debug.log", "ignored\n");
    std::fs::remove_file(wt.join("src/deep/mod.rs")).unwrap();
    assert_dirty(&fixture, &wt, true);
}

#[test]
fn a_folder_replaced_by_a_symlink_to_a_copy_is_dirty() {
    let (fixture, wt) = setup();
    std::fs::rename(wt.join("src/deep"), fixture.base.join("copy")).unwrap();
    std::os::unix::fs::symlink(fixture.base.join("copy"), wt.join("src/deep")).unwrap();
    assert_dirty(&fixture, &wt, true);
}

#[test]
fn a_large_index_is_scanned_whole() {
    let fixture = Fixture::new();
    for dir in 0..90 {
        for file in 0..50 {
            fixture.write(&format!("d{dir:02}/f{file:02}.txt"), "x\n");
        }
    }
    fixture.commit_all("4,500 files");
    assert_dirty(&fixture, &fixture.root, false);
    std::fs::remove_file(fixture.root.join("d89/f49.txt")).unwrap();
    assert_dirty(&fixture, &fixture.root, true);
}

#[test]
fn a_same_size_edit_after_the_index_within_its_second_is_dirty() {
    let (fixture, wt) = setup();
    same_size_edit_after_the_index(&fixture, &wt, "src/lib.rs");
    assert_dirty(&fixture, &wt, true);
}
