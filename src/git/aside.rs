//! Undoing what a read-only step did in a worktree, without losing it: the reviewer must not
//! change the change, but whatever it wrote is kept on a side ref for the user to look at.

use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};

use super::{Repo, branch, checkout, commit, merge};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot commit what was left in {}: {source}", .worktree.display())]
    Commit {
        worktree: PathBuf,
        source: commit::Error,
    },
    #[error("{}: {action}: {source}", .worktree.display())]
    Git {
        worktree: PathBuf,
        action: String,
        source: gix::Error,
    },
    #[error(transparent)]
    Branch(#[from] branch::Error),
    #[error(transparent)]
    Merge(#[from] merge::Error),
    #[error(transparent)]
    Checkout(#[from] checkout::Error),
}

impl Repo {
    /// Restores `worktree` (checked out on `branch`) to `kept`: what was written since — new
    /// commits and uncommitted changes alike — is committed and recorded at `side_ref`
    /// (e.g. `refs/conflux/review/<id>/1`), then the branch, index and files go back to
    /// `kept`. Returns the side commit, or `None` when nothing had changed.
    pub fn set_aside(
        &self,
        worktree: &Path,
        branch: &str,
        kept: ObjectId,
        side_ref: &str,
        message: &str,
    ) -> Result<Option<ObjectId>, Error> {
        let err = |action: &str| {
            let worktree = worktree.to_owned();
            let action = action.to_owned();
            move |source| Error::Git {
                worktree,
                action,
                source,
            }
        };
        commit::commit_all(worktree, message).map_err(|source| Error::Commit {
            worktree: worktree.to_owned(),
            source,
        })?;
        let repo = self.local();
        let name = branch::full_name(branch)?;
        let Some(head) = branch::tip(&repo, &name)? else {
            return Ok(None);
        };
        if head == kept {
            return Ok(None);
        }
        let side_name: gix::refs::FullName = side_ref
            .try_into()
            .map_err(|e| err("name the side ref")(gix::Error::from_error(e)))?;
        repo.edit_reference(RefEdit {
            change: Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: message.into(),
                },
                expected: PreviousValue::Any,
                new: gix::refs::Target::Object(head),
            },
            name: side_name,
            deref: false,
        })
        .map_err(|e| err("write the side ref")(gix::Error::from_error(e)))?;
        let head_tree = merge::commit_tree(&repo, head, "the set-aside commit")?;
        let kept_tree = merge::commit_tree(&repo, kept, "the kept commit")?;
        checkout::update_worktree(worktree, head_tree, kept_tree)?;
        merge::move_branch(
            &repo,
            name,
            head,
            kept,
            format!("conflux: set aside as {side_ref}"),
        )?;
        Ok(Some(head))
    }
}
