//! What changed in a worktree: the fast dirty check and the list of uncommitted paths.
//!
//! Tracked files are compared by the stat data in the index (size, mtime, ctime, inode…);
//! a file is only read and hashed when its stat data differs or is racy, exactly as `git
//! status` does. Untracked files that are not ignored count as changes.

use std::path::{Path, PathBuf};

use gix::bstr::BString;

use super::repo::absolute;
use super::{Repo, open};

/// Why a status query failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Open(#[from] open::Error),
    #[error("could not compute the status of the worktree at {}", worktree.display())]
    Status {
        worktree: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("{} is outside the main worktree {}", path.display(), root.display())]
    OutsideWorktree { path: PathBuf, root: PathBuf },
    #[error("the repository at {} has no main worktree (it is bare)", common_dir.display())]
    Bare { common_dir: PathBuf },
}

/// Whether the worktree at `worktree` differs from its HEAD: staged or unstaged changes,
/// deleted files, or untracked files that are not ignored. Stops at the first change.
pub fn is_dirty(worktree: &Path) -> Result<bool, Error> {
    let repo = Repo::open_at(worktree)?;
    repo_is_dirty(&repo).map_err(|source| Error::Status {
        worktree: worktree.to_owned(),
        source,
    })
}

/// [`is_dirty`] for an open repository: the stat-only scan of [`dirty`](super::dirty), or
/// gix's full status where that scan cannot tell (submodules, a sparse index).
pub(crate) fn repo_is_dirty(repo: &gix::Repository) -> Result<bool, gix::Error> {
    match super::dirty::is_dirty(repo)? {
        Some(dirty) => Ok(dirty),
        None => Ok(!changed_paths(repo, Vec::new(), true)?.is_empty()),
    }
}

impl Repo {
    /// Paths (relative to the main worktree's root, sorted) under `under` that differ from
    /// HEAD in the main worktree: modified, deleted, staged, or untracked and not ignored.
    pub fn uncommitted_paths(&self, under: &Path) -> Result<Vec<PathBuf>, Error> {
        let main = self.local().main_repo().map_err(|source| Error::Status {
            worktree: self.common_dir(),
            source,
        })?;
        let root = main.workdir().map(absolute).ok_or_else(|| Error::Bare {
            common_dir: self.common_dir(),
        })?;
        let under_abs = if under.is_absolute() {
            absolute(under)
        } else {
            absolute(&root.join(under))
        };
        let relative = under_abs
            .strip_prefix(&root)
            .map_err(|_| Error::OutsideWorktree {
                path: under.to_owned(),
                root: root.clone(),
            })?;
        let patterns = if relative.as_os_str().is_empty() {
            Vec::new()
        } else {
            vec![pathspec_literal(relative).map_err(|source| Error::Status {
                worktree: root.clone(),
                source,
            })?]
        };
        let mut paths: Vec<PathBuf> = changed_paths(&main, patterns, false)
            .map_err(|source| Error::Status {
                worktree: root,
                source,
            })?
            .into_iter()
            .map(|path| PathBuf::from(path.to_string()))
            .collect();
        paths.sort();
        paths.dedup();
        Ok(paths)
    }
}

/// A pathspec matching exactly `relative` (and everything below it), from the top of the
/// worktree whatever the process's current directory, with no glob interpretation.
pub(crate) fn pathspec_literal(relative: &Path) -> Result<BString, gix::Error> {
    let mut spec = BString::from(":(top,literal)");
    let path = gix::path::into_bstr(relative).map_err(gix::Error::from_error)?;
    spec.extend_from_slice(path.as_ref());
    Ok(spec)
}

/// Repository-relative paths that differ between HEAD, the index and the worktree.
/// With `first_only`, stops after the first one.
pub(crate) fn changed_paths(
    repo: &gix::Repository,
    patterns: Vec<BString>,
    first_only: bool,
) -> Result<Vec<BString>, gix::Error> {
    let index = super::index_file::read(repo)?;
    let head_tree = repo.head_tree_id_or_empty()?.detach();
    // git keeps a cache of the index's trees; when it is valid and its root is HEAD's tree,
    // the index equals HEAD and comparing them (reading every tree) can be skipped.
    let index_is_head = index.tree().is_some_and(|tree| {
        tree.id == head_tree && tree.num_entries.map(|n| n as usize) == Some(index.entries().len())
    });
    let platform = repo
        .status(gix::progress::Discard)?
        .index(gix::worktree::IndexPersistedOrInMemory::InMemory(index))
        .untracked_files(if first_only {
            gix::status::UntrackedFiles::Collapsed
        } else {
            gix::status::UntrackedFiles::Files
        })
        .dirwalk_options(|options| options.empty_patterns_match_prefix(false))
        .index_worktree_rewrites(None)
        .index_worktree_submodules(gix::status::Submodule::AsConfigured { check_dirty: true });
    let items: Box<dyn Iterator<Item = Result<gix::status::Item, gix::Error>>> = if index_is_head {
        Box::new(
            platform
                .into_index_worktree_iter(patterns)?
                .map(|item| item.map(gix::status::Item::IndexWorktree)),
        )
    } else {
        Box::new(platform.into_iter(patterns)?)
    };
    let mut out = Vec::new();
    for item in items {
        let item = item?;
        if let gix::status::Item::IndexWorktree(change) = &item
            && change.summary().is_none()
        {
            continue;
        }
        out.push(item.location().to_owned());
        if first_only {
            break;
        }
    }
    Ok(out)
}
