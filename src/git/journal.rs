//! The record that makes updating a checked-out base all or nothing across a crash.
//!
//! Before the first file of a checked-out base is written, the update is recorded in
//! `<git-common-dir>/conflux/merge-journal.json`; the record goes once the base's ref has
//! moved. A record found later means that a merge was cut short (`kill -9`, a power loss, a
//! full disk): if the ref moved, only the record is left to remove; otherwise the files and
//! the index are brought back to the old tree, and the merge can simply run again.

use std::path::{Path, PathBuf};

use gix::ObjectId;
use serde::{Deserialize, Serialize};

use super::Repo;
use super::branch;
use super::checkout;

/// What a merge into a checked-out base was doing.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Journal {
    /// The worktree whose files and index were being updated.
    worktree: PathBuf,
    /// The full name of the base's ref.
    base: String,
    /// The base's tip before the merge, and the tip it was moving to.
    from: String,
    to: String,
    old_tree: String,
    new_tree: String,
}

/// What [`Repo::recover_interrupted_merge`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// The ref had moved: the merge was complete, only its record was left.
    Completed { base: String },
    /// The ref had not moved: the files and index the merge had written were restored.
    RolledBack {
        base: String,
        worktree: PathBuf,
        paths: usize,
    },
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovered::Completed { base } => {
                write!(f, "an interrupted merge into {base} had completed")
            }
            Recovered::RolledBack {
                base,
                worktree,
                paths,
            } => write!(
                f,
                "an interrupted merge into {base} was undone: {paths} paths in {} restored",
                worktree.display()
            ),
        }
    }
}

/// Why an interrupted merge could not be recovered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {action} the merge journal {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the merge journal {} is not valid; if no `git conflux merge` is running, check `git status` in the base's worktree and delete the file",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "an interrupted merge into {base} was found ({}), but {base} has moved since; check `git status` in {}, keep what you need, then delete that file",
        path.display(), worktree.display()
    )]
    Moved {
        base: String,
        path: PathBuf,
        worktree: PathBuf,
    },
    #[error(transparent)]
    Branch(#[from] branch::Error),
    #[error(transparent)]
    Checkout(#[from] checkout::Error),
}

/// Where the journal of `repo` lives.
pub(crate) fn path(repo: &gix::Repository) -> PathBuf {
    super::repo::absolute(repo.common_dir())
        .join("conflux")
        .join("merge-journal.json")
}

impl Journal {
    pub(crate) fn new(
        worktree: &Path,
        base: &gix::refs::FullName,
        from: ObjectId,
        to: ObjectId,
        old_tree: ObjectId,
        new_tree: ObjectId,
    ) -> Journal {
        Journal {
            worktree: worktree.to_owned(),
            base: base.as_bstr().to_string(),
            from: from.to_string(),
            to: to.to_string(),
            old_tree: old_tree.to_string(),
            new_tree: new_tree.to_string(),
        }
    }

    /// Records the update (durably, before any file of the worktree changes).
    pub(crate) fn write(&self, repo: &gix::Repository) -> Result<(), Error> {
        let path = path(repo);
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Corrupt {
            path: path.clone(),
            source: e,
        })?;
        crate::files::write_atomic(&path, &bytes).map_err(|source| Error::Io {
            action: "write",
            path,
            source,
        })
    }

    /// Forgets the update: it is complete, or undone.
    pub(crate) fn remove(repo: &gix::Repository) -> Result<(), Error> {
        let path = path(repo);
        crate::files::remove_if_present(&path).map_err(|source| Error::Io {
            action: "remove",
            path,
            source,
        })
    }

    fn read(repo: &gix::Repository) -> Result<Option<Journal>, Error> {
        let path = path(repo);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(Error::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Corrupt { path, source })
    }

    fn ids(&self, repo: &gix::Repository) -> Result<[ObjectId; 4], Error> {
        let id = |hex: &str| {
            ObjectId::from_hex(hex.as_bytes()).map_err(|_| Error::Corrupt {
                path: path(repo),
                source: serde::de::Error::custom(format!("`{hex}` is not an object id")),
            })
        };
        Ok([
            id(&self.from)?,
            id(&self.to)?,
            id(&self.old_tree)?,
            id(&self.new_tree)?,
        ])
    }
}

impl Repo {
    /// Finishes what a merge cut short left behind (see the module doc). Run it, under the
    /// merge lock, before merging.
    pub fn recover_interrupted_merge(&self) -> Result<Option<Recovered>, Error> {
        let repo = self.local();
        let Some(journal) = Journal::read(&repo)? else {
            return Ok(None);
        };
        let [from, to, old_tree, new_tree] = journal.ids(&repo)?;
        let name =
            gix::refs::FullName::try_from(journal.base.as_str()).map_err(|_| Error::Corrupt {
                path: path(&repo),
                source: serde::de::Error::custom("the base is not a ref name"),
            })?;
        let base = branch::short_local_name(&name).unwrap_or_else(|| journal.base.clone());
        let tip = branch::tip(&repo, &name)?;
        let recovered = if tip == Some(to) {
            Recovered::Completed { base }
        } else if tip == Some(from) {
            let paths = checkout::roll_back(&journal.worktree, old_tree, new_tree)?;
            Recovered::RolledBack {
                base,
                worktree: journal.worktree.clone(),
                paths,
            }
        } else {
            return Err(Error::Moved {
                base,
                path: path(&repo),
                worktree: journal.worktree,
            });
        };
        Journal::remove(&repo)?;
        Ok(Some(recovered))
    }
}
