//! A merge left in progress inside a worktree, as `git merge` leaves one that conflicts: the
//! merged files (conflicting ones with conflict markers), the conflict stages in the index,
//! and `MERGE_HEAD`/`MERGE_MSG` in the worktree's admin dir. The branch does not move until
//! [`commit_merge`](super::commit::commit_merge) concludes it; `git status` shows the merge and
//! `git merge --abort` undoes it.

use std::path::{Path, PathBuf};

use gix::ObjectId;

use super::merge::{self, Conflict, commit_tree, merge_outcome, unresolved};
use super::{Repo, branch, checkout, index_file, status};

/// What [`Repo::merge_base_into_worktree`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorktreeMerge {
    /// The branch already contains the base: nothing was written.
    UpToDate,
    /// The merge is in progress in the worktree; `other` (the base tip, recorded as
    /// `MERGE_HEAD`) is the second parent the concluding commit needs. `conflicts` lists the
    /// paths left with markers or conflict stages; empty when the merge was clean.
    InProgress {
        other: ObjectId,
        conflicts: Vec<Conflict>,
    },
}

/// Why the base could not be merged into the worktree.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Branch(#[from] branch::Error),
    #[error(transparent)]
    Merge(#[from] merge::Error),
    #[error(transparent)]
    Open(#[from] super::open::Error),
    #[error(transparent)]
    Status(#[from] status::Error),
    #[error(
        "the worktree {} has {branch} checked out, not {expected}; nothing was changed",
        worktree.display(), branch = found.as_deref().unwrap_or("a detached HEAD")
    )]
    WrongBranch {
        worktree: PathBuf,
        expected: String,
        found: Option<String>,
    },
    #[error(
        "a {what} is already in progress in {}; finish it (commit) or abort it (`git -C {} merge --abort`), then try again",
        worktree.display(), worktree.display()
    )]
    InProgress { worktree: PathBuf, what: String },
    #[error(
        "the worktree {} has uncommitted changes; commit or stash them first (nothing was changed)",
        worktree.display()
    )]
    Dirty { worktree: PathBuf },
    #[error("could not update the files of {}", worktree.display())]
    Checkout {
        worktree: PathBuf,
        #[source]
        source: checkout::Error,
    },
    #[error("could not {action} in {}", worktree.display())]
    Io {
        action: &'static str,
        worktree: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not {action} in {}", worktree.display())]
    Git {
        action: &'static str,
        worktree: PathBuf,
        #[source]
        source: gix::Error,
    },
}

impl Repo {
    /// Merge the local branch `base` into `branch`, checked out (and clean) in `worktree`,
    /// and leave the result there for someone to resolve: like `git merge <base>` run in that
    /// worktree when it conflicts. The branch ref does not move; conclude with
    /// [`commit_merge`](super::commit::commit_merge), or undo with `git merge --abort`.
    /// Conflict markers are labelled `<<<<<<< <branch>` and `>>>>>>> <base>`.
    pub fn merge_base_into_worktree(
        &self,
        worktree: &Path,
        branch: &str,
        base: &str,
    ) -> Result<WorktreeMerge, Error> {
        let mut repo = Repo::open_at(worktree)?;
        repo.object_cache_size_if_unset(64 * 1024 * 1024);
        let io = |action: &'static str| {
            move |source| Error::Io {
                action,
                worktree: worktree.to_owned(),
                source,
            }
        };
        let git = |action: &'static str| {
            move |source| Error::Git {
                action,
                worktree: worktree.to_owned(),
                source,
            }
        };

        let expected = branch::full_name(branch)?;
        let head = repo.head_name().map_err(|source| branch::Error::ReadHead {
            worktree: worktree.to_owned(),
            source,
        })?;
        if head.as_ref() != Some(&expected) {
            return Err(Error::WrongBranch {
                worktree: worktree.to_owned(),
                expected: branch.to_owned(),
                found: head.as_ref().and_then(branch::short_local_name),
            });
        }
        if let Some(state) = repo.state() {
            return Err(Error::InProgress {
                worktree: worktree.to_owned(),
                what: format!("{state:?}").to_lowercase(),
            });
        }
        if status::is_dirty(worktree)? {
            return Err(Error::Dirty {
                worktree: worktree.to_owned(),
            });
        }
        let ours = branch::tip(&repo, &expected)?.ok_or_else(|| merge::Error::NoSuchBranch {
            branch: branch.to_owned(),
        })?;
        let theirs = branch::tip(&repo, &branch::full_name(base)?)?.ok_or_else(|| {
            merge::Error::NoSuchBranch {
                branch: base.to_owned(),
            }
        })?;
        if branch::is_ancestor(&repo, theirs, ours)? {
            return Ok(WorktreeMerge::UpToDate);
        }

        let mut outcome = merge_outcome(&repo, ours, theirs, branch, base)?;
        let conflicts = unresolved(&outcome.tree_merge);
        let merged_tree = outcome
            .tree_merge
            .tree
            .write()
            .map_err(|e| git("write the merged tree")(gix::Error::from_error(e)))?
            .detach();
        let ours_tree = commit_tree(&repo, ours, "the branch tip")?;

        // MERGE_HEAD first: files changed without it would look like stray edits.
        let admin = repo.git_dir().to_owned();
        crate::files::write_atomic(&admin.join("MERGE_HEAD"), format!("{theirs}\n").as_bytes())
            .map_err(io("write MERGE_HEAD"))?;
        crate::files::write_atomic(
            &admin.join("MERGE_MSG"),
            format!("Merge branch '{base}' into {branch}\n").as_bytes(),
        )
        .map_err(io("write MERGE_MSG"))?;
        let written = checkout::update_worktree(worktree, ours_tree, merged_tree)
            .map_err(|source| Error::Checkout {
                worktree: worktree.to_owned(),
                source,
            })
            .and_then(|()| {
                if conflicts.is_empty() {
                    return Ok(());
                }
                // The merged tree's entries are in the index now; conflicting paths get
                // their stages instead, as `git merge` leaves them.
                let mut index = index_file::read(&repo).map_err(git("read the index"))?;
                let how = gix::merge::tree::TreatAsUnresolved::git();
                if outcome.tree_merge.index_changed_after_applying_conflicts(
                    &mut index,
                    how,
                    gix::merge::tree::apply_index_entries::RemovalMode::Prune,
                ) {
                    // Unmerged stages make no tree: no cached tree is written.
                    index_file::write(index, None).map_err(git("write the index"))?;
                }
                Ok(())
            });
        if let Err(err) = written {
            // Nothing of the merge may stay half-recorded (best effort: the error says more).
            let _ = clear_merge_state(&repo);
            return Err(err);
        }
        Ok(WorktreeMerge::InProgress {
            other: theirs,
            conflicts,
        })
    }
}

/// Forget a merge in progress: remove `MERGE_HEAD`, `MERGE_MSG` and `MERGE_MODE` from the
/// worktree's admin dir (absent ones are fine).
pub(crate) fn clear_merge_state(repo: &gix::Repository) -> std::io::Result<()> {
    for name in ["MERGE_HEAD", "MERGE_MSG", "MERGE_MODE"] {
        match std::fs::remove_file(repo.git_dir().join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
