//! A scratch git repository for the change-discovery tests.

#[path = "hermetic.rs"]
mod hermetic;

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// `git init` in a fresh temporary folder.
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut git = Command::new("git");
        git.args(["init", "-q"]).current_dir(dir.path());
        hermetic::git_env(&mut git, dir.path(), &dir.path().join("no-global-config"));
        let status = git.status().expect("git runs");
        assert!(status.success(), "git init failed");
        Repo { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` to `rel`, creating folders.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, contents).expect("write");
        path
    }

    /// An OpenSpec change with the given proposal and tasks.
    pub fn openspec(&self, id: &str, proposal: &str, tasks: &str) {
        self.write(&format!("openspec/changes/{id}/proposal.md"), proposal);
        self.write(&format!("openspec/changes/{id}/tasks.md"), tasks);
    }
}
