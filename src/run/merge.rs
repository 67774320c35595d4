//! Merging a done change into its base: the one code path of `git conflux merge` and
//! `start --merge`. The in-memory merge and the safe checkout update are the git layer's;
//! this decides whether a change may be merged, and records and cleans up after it.

use std::path::PathBuf;

use crate::commands::Workspace;
use crate::error::Exit;
use crate::git::{self, Conflict, MergeMode, MergeOutcome, MergeRequest};
use crate::run::state::{self, Phase, now_secs};

#[derive(Clone, Debug)]
pub struct MergeOptions {
    pub mode: MergeMode,
    /// Keep the worktree and branch after merging.
    pub keep: bool,
    /// Merge even when the change is not done.
    pub force: bool,
}

/// What a successful merge did.
#[derive(Clone, Debug)]
pub enum Merged {
    Already,
    FastForward { base: String, to: String },
    Commit { base: String, commit: String },
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "change {id} has never run, so there is nothing to merge; start it with `git conflux start {id}`"
    )]
    NoRun { id: String },
    #[error(
        "change {id} is not done ({why}); finish it with `git conflux start {id}`, or merge anyway with --force"
    )]
    NotDone { id: String, why: String },
    #[error("merging {id} into {base} conflicts in {}; nothing was changed. Resolve by merging {base} into {branch} in {}, or re-run the change", list(.conflicts), .worktree.display())]
    Conflicts {
        id: String,
        base: String,
        branch: String,
        worktree: PathBuf,
        conflicts: Vec<Conflict>,
    },
    #[error("merging {id}: {source}")]
    Git {
        id: String,
        source: git::merge::Error,
    },
    #[error(transparent)]
    State(#[from] state::Error),
}

fn list(conflicts: &[Conflict]) -> String {
    conflicts
        .iter()
        .map(|c| format!("{} ({})", c.path.display(), c.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    /// The phase a change ends in when `start --merge` could not merge it.
    pub fn phase(&self) -> Phase {
        match self {
            Error::Conflicts { .. } => Phase::Conflict,
            _ => Phase::Failed,
        }
    }

    /// The documented exit code: 3 for conflicts, 1 for refusals.
    pub fn exit(&self) -> Exit {
        match self {
            Error::Conflicts { .. } => Exit::Conflict,
            Error::State(_) => Exit::Usage,
            _ => Exit::Failed,
        }
    }
}

/// Merges change `id` into the base it ran from, then records it merged and (unless
/// `keep`) removes its worktree and branch. Never changes anything when it fails.
pub fn merge_change(
    ws: &Workspace,
    id: &str,
    title: Option<&str>,
    options: &MergeOptions,
) -> Result<Merged, Error> {
    let Some(mut st) = ws.run_dir.load(id)? else {
        return Err(Error::NoRun { id: id.to_owned() });
    };
    let _lock = ws.run_dir.merge_lock()?;
    if st.phase == Phase::Merged {
        return Ok(Merged::Already);
    }
    if st.phase != Phase::Done && !options.force {
        let why = match &st.reason {
            Some(reason) => format!("{}: {reason}", st.phase),
            None => format!("{}, {}/{} tasks", st.phase, st.tasks_done, st.tasks_total),
        };
        return Err(Error::NotDone {
            id: id.to_owned(),
            why,
        });
    }
    let mut message = format!("Merge change {id}");
    if let Some(title) = title {
        message.push_str(&format!(": {title}"));
    }
    message.push_str(&format!(
        "\n\n{}/{} tasks done by git-conflux on branch {}.\n",
        st.tasks_done, st.tasks_total, st.branch
    ));
    let request = MergeRequest {
        base: st.base.clone(),
        branch: st.branch.clone(),
        mode: options.mode,
        message,
    };
    let git_err = |source| Error::Git {
        id: id.to_owned(),
        source,
    };
    let merged = match ws.repo.merge_into(&request).map_err(git_err)? {
        MergeOutcome::AlreadyMerged => Merged::Already,
        MergeOutcome::FastForward { to, .. } => Merged::FastForward {
            base: st.base.clone(),
            to: to.to_string(),
        },
        MergeOutcome::Merged { commit } => Merged::Commit {
            base: st.base.clone(),
            commit: commit.to_string(),
        },
        MergeOutcome::Conflicts(conflicts) => {
            return Err(Error::Conflicts {
                id: id.to_owned(),
                base: st.base.clone(),
                branch: st.branch.clone(),
                worktree: st.worktree.clone(),
                conflicts,
            });
        }
    };
    st.phase = Phase::Merged;
    st.reason = None;
    st.updated_at = Some(now_secs());
    ws.run_dir.save(&st)?;
    if !options.keep {
        // The merge is done; failing to tidy up is worth a warning, not a failed merge.
        if st.worktree.exists() {
            if let Err(e) = ws.repo.remove_worktree(&st.worktree, false) {
                tracing::warn!("kept the worktree {}: {e}", st.worktree.display());
                return Ok(merged);
            }
        }
        let squashed = options.mode == MergeMode::Squash;
        if let Err(e) = ws.repo.delete_branch(&st.branch, squashed) {
            tracing::warn!("kept the branch {}: {e}", st.branch);
        }
    }
    Ok(merged)
}
