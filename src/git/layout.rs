//! Where git keeps what a worktree's own commits write: the worktree's admin directory, the
//! shared object store, and the ref (and reflog) of the branch checked out there. A sandbox
//! opens exactly these for writing.

use std::path::{Path, PathBuf};

use super::open;
use super::repo::{Repo, absolute};

/// The git paths of one worktree, all absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The worktree's top level.
    pub worktree: PathBuf,
    /// Its own git dir: `<common>/worktrees/<name>` for a linked worktree, the common dir
    /// for the main one.
    pub git_dir: PathBuf,
    /// The directory shared by all worktrees (`git rev-parse --git-common-dir`).
    pub common_dir: PathBuf,
    /// The full name of the branch checked out there (`refs/heads/conflux/a`); `None` when
    /// HEAD is detached.
    pub branch_ref: Option<String>,
}

impl Layout {
    /// Whether this is a linked worktree (its git dir is not the common dir).
    pub fn is_linked(&self) -> bool {
        self.git_dir != self.common_dir
    }
}

/// The layout of the worktree whose top level is `worktree`.
pub fn layout(worktree: &Path) -> Result<Layout, open::Error> {
    let repo = Repo::open_at(worktree)?;
    let branch_ref = repo
        .head_name()
        .ok()
        .flatten()
        .filter(|name| name.as_bstr().starts_with(b"refs/heads/"))
        .map(|name| name.as_bstr().to_string());
    Ok(Layout {
        worktree: absolute(worktree),
        git_dir: absolute(repo.git_dir()),
        common_dir: absolute(repo.common_dir()),
        branch_ref,
    })
}
