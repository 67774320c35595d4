//! Worktrees made by `git_conflux::git` must be worktrees the git CLI accepts as its own.

#[path = "common/git_fixture.rs"]
mod git_fixture;

use std::path::{Path, PathBuf};

use git_conflux::git::{Repo, WorktreeSpec, is_dirty, worktree::create};
use git_fixture::{Fixture, oid, write_file};

fn spec(fixture: &Fixture, id: &str) -> WorktreeSpec {
    WorktreeSpec {
        id: id.to_owned(),
        branch: format!("conflux/{id}"),
        path: fixture.base.join("wt").join(id),
        start: oid(&fixture.rev_parse("HEAD")),
    }
}

fn porcelain_worktrees(fixture: &Fixture) -> String {
    fixture.git(&["worktree", "list", "--porcelain"])
}

#[test]
fn created_worktree_is_seen_by_git_as_its_own() {
    let fixture = Fixture::new();
    fixture.write("src/lib.rs", "pub fn f() {}\n");
    fixture.write(".gitignore", "target/\n");
    let head = fixture.commit_all("second");
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "alpha");

    let prepared = repo.prepare_worktree(&spec).unwrap();

    assert!(prepared.created);
    assert_eq!(prepared.head.to_string(), head);
    assert_eq!(prepared.path, spec.path);
    let list = porcelain_worktrees(&fixture);
    assert!(
        list.contains(&format!(
            "worktree {}\nHEAD {head}\nbranch refs/heads/conflux/alpha",
            spec.path.display()
        )),
        "{list}"
    );
    assert!(!list.contains("prunable"), "{list}");
    assert_eq!(fixture.status_in(&spec.path), "");
    assert_eq!(fixture.rev_parse_in(&spec.path, "HEAD"), head);
    assert_eq!(
        std::fs::read_to_string(spec.path.join("src/lib.rs")).unwrap(),
        "pub fn f() {}\n"
    );
    assert!(!is_dirty(&spec.path).unwrap());
    fixture.assert_fsck();

    let listed = repo.worktrees().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, "alpha");
    assert_eq!(listed[0].path, spec.path);
    assert_eq!(listed[0].branch.as_deref(), Some("conflux/alpha"));
    assert_eq!(listed[0].head.map(|h| h.to_string()), Some(head));
    assert!(!listed[0].locked && !listed[0].prunable);
    assert_eq!(listed[0].dirty, Some(false));

    // git can remove what we made.
    fixture.git(&["worktree", "remove", spec.path.to_str().unwrap()]);
    assert!(!spec.path.exists());
}

#[test]
fn reuse_on_resume_keeps_the_branch_commits() {
    let fixture = Fixture::new();
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "beta");
    let first = repo.prepare_worktree(&spec).unwrap();
    write_file(&spec.path, "work.txt", "agent work\n");
    let committed = fixture.commit_all_in(&spec.path, "agent iteration");

    let second = repo.prepare_worktree(&spec).unwrap();

    assert!(first.created);
    assert!(!second.created);
    assert_eq!(second.head.to_string(), committed);
    assert_eq!(repo.worktrees().unwrap().len(), 1);
}

#[test]
fn stale_registration_whose_folder_is_gone_is_pruned_and_recreated() {
    let fixture = Fixture::new();
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "gamma");
    repo.prepare_worktree(&spec).unwrap();
    write_file(&spec.path, "kept.txt", "committed work\n");
    let committed = fixture.commit_all_in(&spec.path, "work");
    std::fs::remove_dir_all(&spec.path).unwrap();
    assert!(porcelain_worktrees(&fixture).contains("prunable"));
    assert!(repo.worktrees().unwrap()[0].prunable);

    let again = repo.prepare_worktree(&spec).unwrap();

    assert!(again.created);
    assert_eq!(
        again.head.to_string(),
        committed,
        "the branch keeps its commits"
    );
    assert_eq!(
        std::fs::read_to_string(spec.path.join("kept.txt")).unwrap(),
        "committed work\n"
    );
    let list = porcelain_worktrees(&fixture);
    assert!(!list.contains("prunable"), "{list}");
    assert_eq!(
        list.matches("branch refs/heads/conflux/gamma").count(),
        1,
        "{list}"
    );
    assert_eq!(fixture.status_in(&spec.path), "");
    fixture.assert_fsck();
}

#[test]
fn leftover_folder_without_registration_is_reused_when_empty_and_refused_otherwise() {
    let fixture = Fixture::new();
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "delta");
    std::fs::create_dir_all(&spec.path).unwrap();
    std::fs::write(spec.path.join(".git"), "gitdir: /nowhere/worktrees/delta\n").unwrap();
    assert!(repo.prepare_worktree(&spec).unwrap().created);
    assert_eq!(fixture.status_in(&spec.path), "");

    let other = spec_with_path(&fixture, "epsilon", fixture.base.join("occupied"));
    write_file(&other.path, "user-file.txt", "mine\n");
    let err = repo.prepare_worktree(&other).unwrap_err();
    assert!(matches!(err, create::Error::PathInTheWay { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(other.path.join("user-file.txt")).unwrap(),
        "mine\n"
    );
    assert!(repo.branch_tip("conflux/epsilon").unwrap().is_none());
}

fn spec_with_path(fixture: &Fixture, id: &str, path: PathBuf) -> WorktreeSpec {
    WorktreeSpec {
        path,
        ..spec(fixture, id)
    }
}

#[test]
fn branch_checked_out_elsewhere_is_a_clear_error() {
    let fixture = Fixture::new();
    let repo = Repo::discover(&fixture.root).unwrap();
    let elsewhere = fixture.base.join("elsewhere");
    fixture.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "conflux/zeta",
        elsewhere.to_str().unwrap(),
    ]);

    let err = repo.prepare_worktree(&spec(&fixture, "zeta")).unwrap_err();
    match &err {
        create::Error::CheckedOutElsewhere { branch, worktree } => {
            assert_eq!(branch, "conflux/zeta");
            assert_eq!(worktree, &elsewhere);
        }
        other => panic!("unexpected: {other}"),
    }
    assert!(err.to_string().contains("elsewhere"));

    let main_branch = WorktreeSpec {
        branch: "main".into(),
        ..spec(&fixture, "eta")
    };
    let err = repo.prepare_worktree(&main_branch).unwrap_err();
    assert!(
        matches!(err, create::Error::CheckedOutElsewhere { ref worktree, .. } if worktree == &fixture.root),
        "{err}"
    );
}

#[test]
fn crlf_attributes_symlinks_and_executable_bits_are_checked_out_like_git() {
    let fixture = Fixture::new();
    fixture.write(".gitattributes", "* text=auto eol=crlf\n");
    fixture.write("dir/a.txt", "one\ntwo\n");
    fixture.write("run.sh", "#!/bin/sh\necho hi\n");
    std::os::unix::fs::symlink("dir/a.txt", fixture.root.join("link")).unwrap();
    set_executable(&fixture.root.join("run.sh"));
    fixture.commit_all("attributes");
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "crlf");

    repo.prepare_worktree(&spec).unwrap();

    assert_eq!(
        std::fs::read(spec.path.join("dir/a.txt")).unwrap(),
        b"one\r\ntwo\r\n"
    );
    assert_eq!(
        std::fs::read_link(spec.path.join("link")).unwrap(),
        Path::new("dir/a.txt")
    );
    assert!(is_executable(&spec.path.join("run.sh")));
    assert!(!is_executable(&spec.path.join("dir/a.txt")));
    assert_eq!(fixture.status_in(&spec.path), "");
    assert!(!is_dirty(&spec.path).unwrap());
    fixture.assert_fsck();
}

#[test]
fn submodules_are_left_uninitialised_and_reported() {
    let fixture = Fixture::new();
    add_submodule(&fixture);
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "sub");

    let prepared = repo.prepare_worktree(&spec).unwrap();

    assert_eq!(
        prepared.uninitialized_submodules,
        vec![PathBuf::from("vendor/sub")]
    );
    assert_eq!(fixture.status_in(&spec.path), "");
    assert!(!is_dirty(&spec.path).unwrap());
    assert!(spec.path.join(".gitmodules").is_file());
    fixture.assert_fsck();
    fixture.git(&["worktree", "remove", spec.path.to_str().unwrap()]);
}

#[test]
fn a_required_filter_that_cannot_run_fails_cleanly() {
    let fixture = Fixture::new();
    fixture.write(".gitattributes", "*.dat filter=nope\n");
    fixture.write("blob.dat", "payload\n");
    fixture.commit_all("filtered file");
    fixture.git(&["config", "filter.nope.smudge", "no-such-filter-command-xyz"]);
    fixture.git(&["config", "filter.nope.clean", "no-such-filter-command-xyz"]);
    fixture.git(&["config", "filter.nope.required", "true"]);
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "filter");

    let err = repo.prepare_worktree(&spec).unwrap_err();

    assert!(matches!(err, create::Error::Checkout { .. }), "{err}");
    assert!(!spec.path.join("blob.dat").exists());
    assert!(repo.branch_tip("conflux/filter").unwrap().is_none());
    assert!(repo.worktrees().unwrap().is_empty());
}

#[test]
fn discovery_from_subdirectories_linked_worktrees_and_detached_heads() {
    let fixture = Fixture::new();
    fixture.write("a/b/c.txt", "x\n");
    fixture.commit_all("nested");
    let repo = Repo::discover(&fixture.root.join("a/b")).unwrap();
    assert_eq!(repo.main_worktree_root(), Some(fixture.root.clone()));
    assert_eq!(repo.main_branch().unwrap().as_deref(), Some("main"));
    let common = fixture.git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]);
    assert_eq!(repo.common_dir(), PathBuf::from(common.trim()));
    let spec = spec(&fixture, "linked");
    repo.prepare_worktree(&spec).unwrap();

    let linked = Repo::discover(&spec.path.join("a")).unwrap();
    assert_eq!(linked.main_worktree_root(), Some(fixture.root.clone()));
    assert_eq!(linked.common_dir(), repo.common_dir());
    assert_eq!(
        linked.main_branch().unwrap().as_deref(),
        Some("main"),
        "the base is the main worktree's branch, also from a linked worktree"
    );
    assert_eq!(
        linked.branch_tip("main").unwrap().map(|id| id.to_string()),
        Some(fixture.rev_parse("main"))
    );
    assert!(linked.branch_tip("no-such-branch").unwrap().is_none());

    fixture.git(&["checkout", "-q", "--detach"]);
    let detached = Repo::discover(&fixture.root).unwrap();
    assert_eq!(detached.main_branch().unwrap(), None);
    let from_detached = detached
        .prepare_worktree(&spec_with_path(
            &fixture,
            "other",
            fixture.base.join("wt/other"),
        ))
        .unwrap();
    assert!(from_detached.created);
    assert_eq!(fixture.status_in(&from_detached.path), "");

    let outside = tempfile::tempdir().unwrap();
    let err = Repo::discover(outside.path()).unwrap_err();
    assert!(
        matches!(err, git_conflux::git::open::Error::NotARepository { .. }),
        "{err}"
    );
}

#[test]
fn dirty_check_sees_edits_deletions_staged_and_untracked_files_but_not_ignored_ones() {
    let fixture = Fixture::new();
    fixture.write(".gitignore", "*.log\n");
    fixture.write("tracked.txt", "v1\n");
    fixture.commit_all("files");
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "dirty");
    let wt = repo.prepare_worktree(&spec).unwrap().path;
    assert!(!is_dirty(&wt).unwrap());

    write_file(&wt, "debug.log", "ignored\n");
    assert!(!is_dirty(&wt).unwrap(), "ignored files are not changes");

    // Same content, new mtime: stat differs, content does not.
    std::thread::sleep(std::time::Duration::from_millis(20));
    write_file(&wt, "tracked.txt", "v1\n");
    assert!(
        !is_dirty(&wt).unwrap(),
        "a touched file with the same content is clean"
    );

    write_file(&wt, "tracked.txt", "v2\n");
    assert!(is_dirty(&wt).unwrap());
    fixture.git_in(&wt, &["checkout", "--", "tracked.txt"]);
    assert!(!is_dirty(&wt).unwrap());

    write_file(&wt, "new/untracked.txt", "new\n");
    assert!(is_dirty(&wt).unwrap());
    std::fs::remove_dir_all(wt.join("new")).unwrap();

    std::fs::remove_file(wt.join("tracked.txt")).unwrap();
    assert!(is_dirty(&wt).unwrap());
    fixture.git_in(&wt, &["checkout", "--", "tracked.txt"]);

    write_file(&wt, "tracked.txt", "staged\n");
    fixture.git_in(&wt, &["add", "tracked.txt"]);
    write_file(&wt, "tracked.txt", "v1\n");
    assert!(is_dirty(&wt).unwrap(), "staged change differs from HEAD");
    assert_eq!(repo.worktrees().unwrap()[0].dirty, Some(true));
}

#[test]
fn uncommitted_paths_under_a_folder_of_the_main_worktree() {
    let fixture = Fixture::new();
    fixture.write("openspec/changes/a/proposal.md", "# a\n");
    fixture.write("openspec/changes/b/proposal.md", "# b\n");
    fixture.write(".gitignore", "*.tmp\n");
    fixture.commit_all("changes");
    fixture.write("openspec/changes/a/proposal.md", "# a edited\n");
    fixture.write("openspec/changes/a/tasks.md", "- [ ] one\n");
    fixture.write("openspec/changes/a/scratch.tmp", "ignored\n");
    fixture.write("openspec/changes/b/tasks.md", "- [ ] other change\n");
    fixture.write("elsewhere.txt", "unrelated\n");
    let repo = Repo::discover(&fixture.root).unwrap();

    let paths = repo
        .uncommitted_paths(Path::new("openspec/changes/a"))
        .unwrap();
    assert_eq!(
        paths,
        vec![
            PathBuf::from("openspec/changes/a/proposal.md"),
            PathBuf::from("openspec/changes/a/tasks.md")
        ]
    );
    let absolute = repo
        .uncommitted_paths(&fixture.root.join("openspec/changes/b"))
        .unwrap();
    assert_eq!(absolute, vec![PathBuf::from("openspec/changes/b/tasks.md")]);
    fixture.git(&["add", "openspec/changes/b/tasks.md"]);
    fixture.git(&["commit", "-q", "-m", "b tasks"]);
    assert!(
        repo.uncommitted_paths(Path::new("openspec/changes/b"))
            .unwrap()
            .is_empty()
    );
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path).unwrap().permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions).unwrap();
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o111 != 0
}

#[test]
fn remove_refuses_dirty_worktrees_and_delete_refuses_unmerged_branches_unless_forced() {
    let fixture = Fixture::new();
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "rm");
    repo.prepare_worktree(&spec).unwrap();
    write_file(&spec.path, "work.txt", "uncommitted\n");

    assert!(repo.remove_worktree(&spec.path, false).is_err());
    assert!(spec.path.join("work.txt").exists(), "nothing removed");
    let err = repo.delete_branch("conflux/rm", true).unwrap_err();
    assert!(
        matches!(err, git_conflux::git::branch::Error::CheckedOut { .. }),
        "{err}"
    );

    git_conflux::git::commit_all(&spec.path, "work")
        .unwrap()
        .unwrap();
    repo.remove_worktree(&spec.path, false).unwrap();
    assert!(!spec.path.exists());
    assert!(!porcelain_worktrees(&fixture).contains("conflux/rm"));
    assert!(repo.worktrees().unwrap().is_empty());

    let err = repo.delete_branch("conflux/rm", false).unwrap_err();
    assert!(
        matches!(err, git_conflux::git::branch::Error::Unmerged { .. }),
        "{err}"
    );
    assert!(repo.branch_tip("conflux/rm").unwrap().is_some());
    fixture.git(&["merge", "-q", "--no-edit", "conflux/rm"]);
    repo.delete_branch("conflux/rm", false).unwrap();
    assert!(
        fixture
            .output_in(
                &fixture.root,
                &["rev-parse", "--verify", "-q", "refs/heads/conflux/rm"]
            )
            .stdout
            .is_empty()
    );
    repo.delete_branch("conflux/rm", false).unwrap(); // already gone: fine

    // Forced: dirty worktree and unmerged branch both go.
    let spec = spec_with_path(&fixture, "forced", fixture.base.join("wt/forced"));
    repo.prepare_worktree(&spec).unwrap();
    write_file(&spec.path, "a.txt", "a\n");
    git_conflux::git::commit_all(&spec.path, "unmerged")
        .unwrap()
        .unwrap();
    write_file(&spec.path, "b.txt", "dirty\n");
    repo.remove_worktree(&spec.path, true).unwrap();
    repo.delete_branch("conflux/forced", true).unwrap();
    assert!(repo.branch_tip("conflux/forced").unwrap().is_none());
    assert_eq!(
        fixture
            .git(&["worktree", "list", "--porcelain"])
            .matches("worktree ")
            .count(),
        1
    );
    fixture.git(&["worktree", "prune"]);
    fixture.assert_fsck();
}

#[test]
fn dirty_check_sees_an_index_that_differs_from_a_moved_head() {
    let fixture = Fixture::new();
    fixture.write("a.txt", "a\n");
    fixture.commit_all("second");
    // Staged changes with a fully valid cache-tree in the index: git writes it on commit
    // and keeps it across `reset --soft`.
    fixture.git(&["reset", "-q", "--soft", "HEAD~1"]);
    fixture.git(&["write-tree"]);
    assert!(is_dirty(&fixture.root).unwrap());
    fixture.git(&["commit", "-q", "-m", "again"]);
    assert!(!is_dirty(&fixture.root).unwrap());
}

/// Many worktrees created at once from one `Repo` (as `start` does with N slots) all succeed:
/// a registration half-written by one creation must not fail another.
#[test]
fn concurrent_creations_all_succeed() {
    let fixture = Fixture::new();
    for i in 0..40 {
        fixture.write(&format!("dir{}/file{i}.txt", i % 4), "content\n");
    }
    fixture.commit_all("files");
    let repo = Repo::discover(&fixture.root).unwrap();
    let ids: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let (repo, spec) = (repo.clone(), spec(&fixture, id));
                scope.spawn(move || repo.prepare_worktree(&spec))
            })
            .collect();
        for (id, handle) in ids.iter().zip(handles) {
            let prepared = handle
                .join()
                .unwrap()
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(prepared.created, "{id}");
        }
    });
    let list = porcelain_worktrees(&fixture);
    assert_eq!(list.matches("worktree ").count(), 13, "{list}");
    for id in &ids {
        assert_eq!(
            fixture.status_in(&fixture.base.join("wt").join(id)),
            "",
            "{id}"
        );
    }
    fixture.assert_fsck();
}

/// A creation killed mid-checkout leaves its registration locked `initializing` and a
/// half-filled folder; the next prepare starts that worktree over instead of reusing it.
#[test]
fn interrupted_creation_is_started_over() {
    let fixture = Fixture::new();
    fixture.write("a.txt", "a\n");
    fixture.write("b/c.txt", "c\n");
    fixture.commit_all("files");
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "half");
    let first = repo.prepare_worktree(&spec).unwrap();
    assert!(first.created);
    // What a kill during checkout leaves: the lock creation writes first, files missing.
    let admin = fixture.root.join(".git/worktrees/half");
    std::fs::write(admin.join("locked"), "initializing\n").unwrap();
    std::fs::remove_dir_all(spec.path.join("b")).unwrap();
    let again = repo.prepare_worktree(&spec).unwrap();
    assert!(
        again.created,
        "an interrupted creation must be redone, not reused"
    );
    assert_eq!(
        std::fs::read_to_string(spec.path.join("b/c.txt")).unwrap(),
        "c\n"
    );
    assert_eq!(fixture.status_in(&spec.path), "");
    assert!(!porcelain_worktrees(&fixture).contains("locked"));
    // A finished worktree is reused as it is, local work and all.
    std::fs::write(spec.path.join("work.txt"), "mine\n").unwrap();
    let reused = repo.prepare_worktree(&spec).unwrap();
    assert!(!reused.created);
    assert!(spec.path.join("work.txt").exists());
    fixture.assert_fsck();
}

#[test]
fn deleting_a_branch_takes_its_reflog_and_config_and_sees_detached_heads() {
    let fixture = Fixture::new();
    let repo = Repo::discover(&fixture.root).unwrap();
    let head = fixture.rev_parse("HEAD");
    fixture.git(&["branch", "plain"]);
    fixture.git(&["branch", "configured"]);
    fixture.git(&[
        "config",
        "branch.configured.description",
        "kept by a person",
    ]);

    repo.delete_branch("plain", false).unwrap();
    repo.delete_branch("configured", false).unwrap();

    for name in ["plain", "configured"] {
        let exists = fixture.output_in(
            &fixture.root,
            &["reflog", "exists", &format!("refs/heads/{name}")],
        );
        assert!(!exists.status.success(), "the reflog of {name} is gone");
        assert!(repo.branch_tip(name).unwrap().is_none());
    }
    let config = fixture.output_in(
        &fixture.root,
        &["config", "--get-regexp", "^branch\\.configured\\."],
    );
    assert!(
        config.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&config.stdout)
    );

    // A commit only a linked worktree's detached HEAD holds counts as merged there.
    let detached = fixture.base.join("wt/detached");
    fixture.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        detached.to_str().unwrap(),
        &head,
    ]);
    write_file(&detached, "d.txt", "d\n");
    let tip = fixture.commit_all_in(&detached, "detached work");
    fixture.git(&["branch", "held", &tip]);
    repo.delete_branch("held", false).unwrap();
    assert!(repo.branch_tip("held").unwrap().is_none());
    fixture.assert_fsck();
}

/// Without force, a worktree is kept whatever uncommitted work it holds: a modified tracked
/// file, a change only staged, or an initialised submodule (as `git worktree remove`).
#[test]
fn remove_keeps_modified_staged_and_submodule_worktrees() {
    let fixture = Fixture::new();
    fixture.write("a.txt", "a\n");
    fixture.commit_all("a");
    let repo = Repo::discover(&fixture.root).unwrap();
    let kept = |id: &str, dirty: &dyn Fn(&Path)| {
        let spec = spec(&fixture, id);
        repo.prepare_worktree(&spec).unwrap();
        dirty(&spec.path);
        let err = repo.remove_worktree(&spec.path, false).unwrap_err();
        assert!(spec.path.join("a.txt").exists(), "{id}: removed ({err})");
        assert!(porcelain_worktrees(&fixture).contains(&format!("conflux/{id}")));
    };
    kept("modified", &|wt| write_file(wt, "a.txt", "changed\n"));
    kept("staged", &|wt| {
        write_file(wt, "a.txt", "staged\n");
        fixture.git_in(wt, &["add", "a.txt"]);
        write_file(wt, "a.txt", "a\n");
    });

    add_submodule(&fixture);
    kept("submodule", &|wt| {
        fixture.git_in(
            wt,
            &[
                "-c",
                "protocol.file.allow=always",
                "submodule",
                "update",
                "-q",
                "--init",
            ],
        );
        assert!(wt.join("vendor/sub/s.txt").is_file());
    });
}

/// Commits a submodule at vendor/sub (a one-file repository beside the fixture).
fn add_submodule(fixture: &Fixture) {
    let sub = fixture.base.join("subrepo");
    std::fs::create_dir_all(&sub).unwrap();
    fixture.git_in(&sub, &["init", "-q", "-b", "main"]);
    write_file(&sub, "s.txt", "sub\n");
    fixture.git_in(&sub, &["add", "-A"]);
    fixture.git_in(
        &sub,
        &[
            "-c",
            "user.name=S",
            "-c",
            "user.email=s@x",
            "commit",
            "-q",
            "-m",
            "sub",
        ],
    );
    fixture.git(&[
        "submodule",
        "add",
        "-q",
        sub.to_str().unwrap(),
        "vendor/sub",
    ]);
    fixture.git(&["commit", "-q", "-m", "add submodule"]);
}

/// A registration is found at the worktree's path however git recorded the folder: here
/// through a symlink of another name that leads there.
#[test]
fn a_registration_recorded_through_a_symlink_is_found_at_its_path() {
    let fixture = Fixture::new();
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "theta");
    fixture.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "other",
        spec.path.to_str().unwrap(),
    ]);
    let link = fixture.base.join("link-to-theta");
    std::os::unix::fs::symlink(&spec.path, &link).unwrap();
    let gitdir = fixture.root.join(".git/worktrees/theta/gitdir");
    std::fs::write(&gitdir, format!("{}\n", link.join(".git").display())).unwrap();

    let err = repo.prepare_worktree(&spec).unwrap_err();

    assert!(
        matches!(&err, create::Error::OtherBranch { actual, .. } if actual.as_deref() == Some("other")),
        "{err}"
    );
}

/// Removal finds the registration through the folder's `.git` link: a locked worktree is kept
/// even with force, and a folder whose `.git` file leads to another registration (or none)
/// is not this repository's worktree and is left untouched.
#[test]
fn remove_keeps_locked_worktrees_and_folders_that_do_not_link_back() {
    let fixture = Fixture::new();
    let repo = Repo::discover(&fixture.root).unwrap();
    let locked = spec(&fixture, "locked");
    repo.prepare_worktree(&locked).unwrap();
    fixture.git(&["worktree", "lock", locked.path.to_str().unwrap()]);
    let err = repo.remove_worktree(&locked.path, true).unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(
        locked.path.join(".git").is_file(),
        "removed a locked worktree"
    );

    let other = spec(&fixture, "other");
    repo.prepare_worktree(&other).unwrap();
    let impostor = fixture.base.join("impostor");
    std::fs::create_dir_all(&impostor).unwrap();
    write_file(&impostor, "keep.txt", "mine\n");
    let link = std::fs::read_to_string(other.path.join(".git")).unwrap();
    std::fs::write(impostor.join(".git"), link).unwrap();
    let err = repo.remove_worktree(&impostor, true).unwrap_err();
    assert!(err.to_string().contains("not a worktree"), "{err}");
    assert!(
        impostor.join("keep.txt").exists(),
        "removed a folder that is not a worktree"
    );
    assert!(other.path.join(".git").is_file());
    assert!(porcelain_worktrees(&fixture).contains("conflux/other"));

    repo.remove_worktree(&other.path, false).unwrap();
    assert!(!other.path.exists());
    assert!(!porcelain_worktrees(&fixture).contains("conflux/other"));
    fixture.git(&["worktree", "unlock", locked.path.to_str().unwrap()]);
    repo.remove_worktree(&locked.path, false).unwrap();
    fixture.assert_fsck();
}

/// Configuration under `[includeIf "onbranch:conflux/**"]` (a smudge filter, `core.autocrlf`)
/// is in effect for a new worktree's first checkout, as for `git worktree add -b` of the
/// same branch: the files' bytes match git's, and `git status` is clean.
#[test]
fn onbranch_configuration_applies_to_the_first_checkout() {
    let fixture = Fixture::new();
    fixture.write(".gitattributes", "*.dat filter=up\n*.txt text\n");
    fixture.write("blob.dat", "payload\n");
    fixture.write("notes.txt", "one\ntwo\n");
    fixture.commit_all("filtered and text files");
    let included = fixture.base.join("onbranch.gitconfig");
    std::fs::write(
        &included,
        "[filter \"up\"]\n\tsmudge = tr a-z A-Z\n\tclean = tr A-Z a-z\n[core]\n\tautocrlf = true\n",
    )
    .unwrap();
    fixture.git(&[
        "config",
        "includeIf.onbranch:conflux/**.path",
        included.to_str().unwrap(),
    ]);
    let reference = fixture.base.join("by-git");
    fixture.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "conflux/by-git",
        reference.to_str().unwrap(),
    ]);
    let repo = Repo::discover(&fixture.root).unwrap();
    let spec = spec(&fixture, "ours");

    repo.prepare_worktree(&spec).unwrap();

    // What git wrote there: the smudge filter ran, and line ends are CRLF.
    for (file, mark) in [("blob.dat", "PAYLOAD"), ("notes.txt", "\r\n")] {
        let by_git = std::fs::read(reference.join(file)).unwrap();
        assert!(
            String::from_utf8_lossy(&by_git).contains(mark),
            "git applied the onbranch configuration to {file}: {by_git:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&std::fs::read(spec.path.join(file)).unwrap()),
            String::from_utf8_lossy(&by_git),
            "{file}"
        );
    }
    assert_eq!(fixture.status_in(&spec.path), "");
    fixture.assert_fsck();
}
