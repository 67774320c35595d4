//! Local branches: names, tips, ancestry, which worktree has which branch, deletion.

use std::path::PathBuf;

use gix::ObjectId;
use gix::refs::{FullName, Target};

use super::Repo;
use super::repo::absolute;

/// Why a branch query or edit failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{name:?} is not a valid branch name; use letters, digits, '-', '_', '.' and '/'")]
    InvalidName {
        name: String,
        #[source]
        source: gix::validate::reference::name::Error,
    },
    #[error("could not read HEAD of the worktree at {}", worktree.display())]
    ReadHead {
        worktree: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("could not read branch {name}")]
    Read {
        name: String,
        #[source]
        source: gix::Error,
    },
    #[error("could not compare the history of commits {ancestor} and {of}")]
    Ancestry {
        ancestor: ObjectId,
        of: ObjectId,
        #[source]
        source: gix::Error,
    },
    #[error("could not list the worktrees to see where branches are checked out")]
    ListWorktrees {
        #[source]
        source: gix::Error,
    },
    #[error(
        "branch {name} (at {tip}) is not merged into any other branch; merge it first, or force the deletion to lose its commits"
    )]
    Unmerged { name: String, tip: ObjectId },
    #[error("branch {name} is checked out in {}; remove that worktree or switch it to another branch first", worktree.display())]
    CheckedOut { name: String, worktree: PathBuf },
    #[error("could not delete branch {name}")]
    Delete {
        name: String,
        #[source]
        source: gix::Error,
    },
}

/// `refs/heads/<branch>`, validated.
pub(crate) fn full_name(branch: &str) -> Result<FullName, Error> {
    FullName::try_from(format!("refs/heads/{branch}")).map_err(|source| Error::InvalidName {
        name: branch.to_owned(),
        source,
    })
}

/// Checks `branch` by git's rules for ref names (`git check-ref-format --branch`); the error
/// says which rule it breaks.
pub(crate) fn check_name(branch: &str) -> Result<(), Error> {
    full_name(branch).map(drop)
}

/// Ends the reflog message of every branch conflux creates, so that a branch can be known as
/// conflux's even when a crash came between creating it and recording that.
pub(crate) const CREATED_MARK: &str = "by git conflux";

/// Whether the oldest reflog entry of branch `name` is conflux creating it.
pub(crate) fn created_by_conflux(repo: &gix::Repository, name: &FullName) -> bool {
    let Ok(Some(reference)) = repo.try_find_reference(name.as_ref()) else {
        return false;
    };
    let mut log = reference.log_iter();
    let Ok(Some(mut entries)) = log.all() else {
        return false;
    };
    matches!(entries.next(), Some(Ok(line)) if line.message.ends_with(CREATED_MARK.as_bytes()))
}

/// The short name of a local branch reference (`refs/heads/x/y` → `x/y`), `None` for others.
pub(crate) fn short_local_name(name: &FullName) -> Option<String> {
    name.as_bstr()
        .strip_prefix(b"refs/heads/")
        .map(|short| String::from_utf8_lossy(short).into_owned())
}

/// The commit a local branch points to, `None` when the branch does not exist.
pub(crate) fn tip(repo: &gix::Repository, name: &FullName) -> Result<Option<ObjectId>, Error> {
    let read_error = |source| Error::Read {
        name: name.as_bstr().to_string(),
        source,
    };
    let Some(mut reference) = repo.try_find_reference(name.as_ref()).map_err(read_error)? else {
        return Ok(None);
    };
    let id = reference.peel_to_id().map_err(read_error)?;
    Ok(Some(id.detach()))
}

/// Whether `ancestor` is reachable from `of`.
pub(crate) fn is_ancestor(
    repo: &gix::Repository,
    ancestor: ObjectId,
    of: ObjectId,
) -> Result<bool, Error> {
    if ancestor == of {
        return Ok(true);
    }
    match repo.merge_base(ancestor, of) {
        Ok(base) => Ok(base.is_some_and(|base| base.detach() == ancestor)),
        Err(source) => Err(Error::Ancestry {
            ancestor,
            of,
            source,
        }),
    }
}

/// One worktree (main or linked) and the branch its HEAD names, if any.
#[derive(Debug, Clone)]
pub(crate) struct CheckedOut {
    pub branch: Option<FullName>,
    pub head: Option<ObjectId>,
    /// Absolute top level of the worktree (it may be missing for a stale registration).
    pub workdir: Option<PathBuf>,
    /// `true` for the main worktree.
    pub is_main: bool,
}

/// HEAD of every worktree, main first.
pub(crate) fn checked_out(repo: &gix::Repository) -> Result<Vec<CheckedOut>, Error> {
    let list_error = |source| Error::ListWorktrees { source };
    let main_workdir = repo
        .main_repo()
        .map_err(|e| list_error(gix::Error::from_error(e)))?
        .workdir()
        .map(absolute);
    let mut out = Vec::new();
    let (branch, head) = head_in(repo, repo.common_dir(), main_workdir.as_deref())?;
    out.push(CheckedOut {
        branch,
        head,
        workdir: main_workdir,
        is_main: true,
    });
    for proxy in repo
        .worktrees()
        .map_err(|e| list_error(gix::Error::from_error(e)))?
    {
        let workdir = proxy.base().ok().map(|base| absolute(&base));
        let (branch, head) = head_in(repo, proxy.git_dir(), workdir.as_deref())?;
        out.push(CheckedOut {
            branch,
            head,
            workdir,
            is_main: false,
        });
    }
    Ok(out)
}

/// The branch HEAD names (`None` when detached) and the commit it points to (`None` when the
/// branch has no commit yet), read from the HEAD file in a worktree's private git dir (the
/// common dir for the main worktree). Reading the file, rather than opening every worktree as
/// a repository, keeps work over N worktrees linear in N.
pub(crate) fn head_in(
    repo: &gix::Repository,
    git_dir: &std::path::Path,
    workdir: Option<&std::path::Path>,
) -> Result<(Option<FullName>, Option<ObjectId>), Error> {
    let read_error = |source| Error::ReadHead {
        worktree: workdir.unwrap_or(git_dir).to_owned(),
        source,
    };
    let text = std::fs::read_to_string(git_dir.join("HEAD"))
        .map_err(|e| read_error(gix::Error::from_error(e)))?;
    let text = text.trim();
    match text.strip_prefix("ref:") {
        Some(target) => {
            let name = FullName::try_from(target.trim())
                .map_err(|e| read_error(gix::Error::from_error(e)))?;
            let head = tip(repo, &name)?;
            Ok((Some(name), head))
        }
        None => {
            let id = ObjectId::from_hex(text.as_bytes())
                .map_err(|e| read_error(gix::Error::from_error(e)))?;
            Ok((None, Some(id)))
        }
    }
}

impl Repo {
    /// Delete the local branch `branch`.
    ///
    /// Refuses when the branch is checked out in any worktree and, unless `force`, when its
    /// tip is not reachable from any other local branch or from any worktree's HEAD (its
    /// commits would only survive in the reflog). Deleting a branch that does not exist
    /// succeeds: the postcondition "no such branch" holds.
    pub fn delete_branch(&self, branch: &str, force: bool) -> Result<(), Error> {
        let mut repo = self.local();
        let name = full_name(branch)?;
        let Some(tip_id) = tip(&repo, &name)? else {
            return Ok(());
        };
        if let Some(worktree) = checked_out(&repo)?
            .into_iter()
            .find(|w| w.branch.as_ref() == Some(&name))
        {
            return Err(Error::CheckedOut {
                name: branch.to_owned(),
                worktree: worktree.workdir.unwrap_or_default(),
            });
        }
        if !force && !is_merged_elsewhere(&repo, &name, tip_id)? {
            return Err(Error::Unmerged {
                name: branch.to_owned(),
                tip: tip_id,
            });
        }
        repo.delete_local_branches_if_unchanged([(name, Target::Object(tip_id))])
            .map_err(|source| Error::Delete {
                name: branch.to_owned(),
                source,
            })
    }
}

/// Whether `tip` is reachable from another local branch or from a worktree's HEAD.
fn is_merged_elsewhere(
    repo: &gix::Repository,
    name: &FullName,
    tip_id: ObjectId,
) -> Result<bool, Error> {
    let read_error = |source| Error::Read {
        name: name.as_bstr().to_string(),
        source,
    };
    let mut others = Vec::new();
    let references = repo.references().map_err(read_error)?;
    for reference in references.local_branches().map_err(read_error)? {
        let mut reference = reference.map_err(read_error)?;
        if reference.name() == name.as_ref() {
            continue;
        }
        if let Ok(id) = reference.peel_to_id() {
            others.push(id.detach());
        }
    }
    others.extend(checked_out(repo)?.into_iter().filter_map(|w| w.head));
    for other in others {
        if is_ancestor(repo, tip_id, other)? {
            return Ok(true);
        }
    }
    Ok(false)
}
