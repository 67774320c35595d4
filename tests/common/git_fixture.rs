//! Real git repositories in temp dirs, and the real `git` CLI as the oracle.
//!
//! Every git command runs hermetically: its own global config file, no system config, HOME
//! in the temp dir. The repository's own `.git/config` carries user.name/email, so that gix
//! (which reads the repository config in-process) and git agree on the identity.

#[path = "hermetic.rs"]
mod hermetic;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Fixture {
    _dir: tempfile::TempDir,
    /// The temp dir holding everything (canonicalized).
    pub base: PathBuf,
    /// Top level of the main worktree.
    pub root: PathBuf,
    home: PathBuf,
}

impl Fixture {
    /// A repository on branch `main` with one commit holding `README.md`.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = dir.path().canonicalize().expect("canonical temp dir");
        let home = base.join("home");
        std::fs::create_dir_all(&home).expect("home dir");
        std::fs::write(
            home.join("gitconfig"),
            "[user]\n\tname = Fixture Global\n\temail = global@example.com\n[protocol \"file\"]\n\tallow = always\n[init]\n\tdefaultBranch = main\n",
        )
        .expect("global config");
        let root = base.join("repo");
        std::fs::create_dir_all(&root).expect("repo dir");
        let fixture = Fixture {
            _dir: dir,
            base,
            root,
            home,
        };
        fixture.git(&["init", "-q", "-b", "main"]);
        fixture.git(&["config", "user.name", "Test User"]);
        fixture.git(&["config", "user.email", "test@example.com"]);
        fixture.write("README.md", "hello\n");
        fixture.commit_all("initial");
        fixture
    }

    /// A `git` command with the hermetic environment, run in `dir`.
    pub fn command_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command.args(args).current_dir(dir);
        hermetic::git_env(&mut command, &self.home, &self.home.join("gitconfig"));
        command
    }

    /// Run git in `dir`; panics with stderr on failure; returns stdout.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let output = self.output_in(dir, args);
        assert!(
            output.status.success(),
            "git {args:?} in {} failed: {}\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Run git in `dir`, whatever its exit status.
    pub fn output_in(&self, dir: &Path, args: &[&str]) -> Output {
        self.command_in(dir, args).output().expect("git runs")
    }

    /// Run git in the main worktree; panics with stderr on failure; returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.root, args)
    }

    /// Write a file relative to the main worktree, creating directories.
    pub fn write(&self, rel: &str, content: &str) {
        write_file(&self.root, rel, content);
    }

    /// `git add -A && git commit -m message` in the main worktree.
    pub fn commit_all(&self, message: &str) -> String {
        self.commit_all_in(&self.root, message)
    }

    /// `git add -A && git commit -m message` in `dir`; returns the new HEAD.
    pub fn commit_all_in(&self, dir: &Path, message: &str) -> String {
        self.git_in(dir, &["add", "-A"]);
        self.git_in(dir, &["commit", "-q", "--no-verify", "-m", message]);
        self.rev_parse_in(dir, "HEAD")
    }

    pub fn rev_parse(&self, rev: &str) -> String {
        self.rev_parse_in(&self.root, rev)
    }

    pub fn rev_parse_in(&self, dir: &Path, rev: &str) -> String {
        self.git_in(dir, &["rev-parse", rev]).trim().to_owned()
    }

    /// `git fsck --strict` must be clean (no output on stderr or stdout besides dangling notes).
    pub fn assert_fsck(&self) {
        let output = self.output_in(&self.root, &["fsck", "--strict", "--no-dangling"]);
        assert!(
            output.status.success() && output.stderr.is_empty() && output.stdout.is_empty(),
            "git fsck --strict: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
    }

    /// `git status --porcelain` in `dir`.
    pub fn status_in(&self, dir: &Path) -> String {
        self.git_in(dir, &["status", "--porcelain"])
    }
}

pub fn write_file(dir: &Path, rel: &str, content: &str) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("parent dirs");
    }
    std::fs::write(path, content).expect("write file");
}

pub fn oid(hex: &str) -> gix::ObjectId {
    gix::ObjectId::from_hex(hex.trim().as_bytes()).expect("object id")
}
