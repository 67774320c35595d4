//! Merging a done change into its base: the one code path of `git conflux merge` and
//! `start --merge`. The in-memory merge and the safe checkout update are the git layer's;
//! this decides whether a change may be merged, and records and cleans up after it.

use std::path::{Path, PathBuf};

use crate::agent::presets::Invocation;
use crate::agent::runner::{self, Cancel, Limits, RetryPolicy, RunRequest, RunResult, Stagger};
use crate::agent::stream::StreamFormat;
use crate::change::{Change, Source};
use crate::commands::Workspace;
use crate::config::Config;
use crate::error::Exit;
use crate::git::{self, Conflict, MergeMode, MergeOutcome, MergeRequest};
use crate::run::hooks::{self, HookVars};
use crate::run::state::{self, ChangeState, Phase, now_secs};

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
    #[error("archiving {id} failed, so it was not merged: {reason}")]
    Archive { id: String, reason: String },
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

/// Merges `change` into the base it ran from, then records it merged, runs the `on_merged`
/// hook and (unless `keep`) removes its worktree and branch. When it fails, the base, the
/// checkout and the branch are as they were (an archive step's commit stays on the branch).
pub fn merge_change(
    ws: &Workspace,
    config: &Config,
    change: &Change,
    options: &MergeOptions,
) -> Result<Merged, Error> {
    let id = change.id.as_str();
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
    if let Some(command) = &config.archive {
        archive(config, change, &st, command)?;
    }
    let mut message = format!("Merge change {id}");
    if let Some(title) = &change.title {
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
    let vars = HookVars {
        change_id: Some(id.to_owned()),
        worktree: Some(st.worktree.clone()),
        branch: Some(st.branch.clone()),
        state: Some("merged".into()),
        tasks_done: Some(st.tasks_done),
        tasks_total: Some(st.tasks_total),
        iteration: Some(st.iteration),
    };
    if let Some(Err(e)) = hooks::run_blocking(config, "on_merged", &vars, &ws.root) {
        tracing::warn!("{e}");
    }
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

/// The `archive` step: run it in the change's worktree, commit what it did, and check that
/// an OpenSpec change's folder moved under `openspec/changes/archive/`.
fn archive(config: &Config, change: &Change, st: &ChangeState, command: &str) -> Result<(), Error> {
    let id = change.id.as_str();
    let fail = |reason: String| Error::Archive {
        id: id.to_owned(),
        reason,
    };
    let worktree = &st.worktree;
    if !worktree.is_dir() {
        return Err(fail(format!("its worktree {} is gone", worktree.display())));
    }
    let already = !worktree.join(&change.dir).exists() && archived_folder(worktree, id).is_some();
    if !already {
        let command = command.replace("{change_id}", &shell_words::quote(id));
        let request = RunRequest {
            invocation: Invocation {
                command: command.clone(),
                stdin: None,
                format: StreamFormat::Text,
                env: vec![
                    ("CONFLUX_CHANGE_ID".into(), id.to_owned()),
                    ("CONFLUX_WORKTREE".into(), worktree.display().to_string()),
                ],
            },
            cwd: worktree.clone(),
            env: config
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            limits: Limits {
                inactivity_timeout: config.inactivity_timeout,
                timeout: config.timeout,
                kill_grace: config.kill_grace,
            },
            retry: RetryPolicy {
                max: 0,
                timeout_retries: 0,
                ..RetryPolicy::default()
            },
        };
        let cancel = Cancel::new();
        let mut quiet = |_| {};
        let outcome = hooks::block_on(runner::run(
            request,
            &Stagger::new(std::time::Duration::ZERO),
            &cancel,
            &mut quiet,
        ))
        .map_err(&fail)?;
        if !matches!(outcome.result, RunResult::Success) {
            return Err(fail(format!(
                "`{command}` failed: {}",
                outcome.output_tail.trim()
            )));
        }
        git::commit_all(worktree, &format!("conflux({id}): archive"))
            .map_err(|e| fail(format!("cannot commit the archived change: {e}")))?;
    }
    if change.source == Source::Openspec {
        if worktree.join(&change.dir).exists() {
            return Err(fail(format!(
                "{} is still there after the archive command",
                change.dir.display()
            )));
        }
        if archived_folder(worktree, id).is_none() {
            return Err(fail(format!(
                "no folder for {id} appeared under openspec/changes/archive/"
            )));
        }
    }
    Ok(())
}

/// `openspec/changes/archive/<date>-<id>` (or `<id>`) in `root`, if there is one.
fn archived_folder(root: &Path, id: &str) -> Option<PathBuf> {
    let dir = root.join("openspec/changes/archive");
    std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == id || (n.get(11..) == Some(id) && n.as_bytes()[10] == b'-'))
        })
}
