//! Merging a done change into its base: the one code path of `git conflux merge` and
//! `start --merge`. The in-memory merge and the safe checkout update are the git layer's;
//! this decides whether a change may be merged, and records and cleans up after it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::agent::presets::{self, Invocation, Vars};
use crate::agent::prompt::{self, ResolveInput};
use crate::agent::runner::{Cancel, RunOutcome, RunResult};
use crate::change::{Change, Source};
use crate::config::{Config, Resolve};
use crate::error::{list_cut, with_causes};
use crate::git::{self, Conflict, MergeMode, MergeOutcome, MergeRequest, WorktreeMerge};
use crate::run::event::{ChangeEvent, Event, Role};
use crate::run::hooks::{self, HookVars};
use crate::run::process;
use crate::run::record::Recorder;
use crate::run::scheduler::{Job, MergeFn, MergeVerdict};
use crate::run::signals;
use crate::run::state::{self, ChangeState, Phase, RunDir, now_secs};
use crate::run::workspace::Workspace;

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
    #[error("merging {id} into {base} conflicts in {}; nothing was changed. Resolve with `git conflux merge --resolve {id}` (its agent merges {base} into {branch} and settles the conflicts), or by hand: merge {base} into {branch} in {}, commit, then `git conflux merge {id}`", list(.conflicts), .worktree.display())]
    Conflicts {
        id: String,
        base: String,
        branch: String,
        worktree: PathBuf,
        conflicts: Vec<Conflict>,
    },
    #[error(
        "merging {id} into {base} conflicts in {}, and the base could not be merged into {branch} to resolve them: {source}",
        list(.conflicts)
    )]
    ResolveStart {
        id: String,
        base: String,
        branch: String,
        conflicts: Vec<Conflict>,
        source: Box<git::worktree_merge::Error>,
    },
    #[error(
        "resolving {id}'s conflicts with {base} failed: {reason}. {base} was not changed; the merge of {base} into {branch} is left in progress in {}: finish it there (edit the files, then `git add -A && git commit`) and run `git conflux merge {id}` again, or abort it with `git -C {} merge --abort`",
        .worktree.display(), .worktree.display()
    )]
    Resolve {
        id: String,
        base: String,
        branch: String,
        worktree: PathBuf,
        reason: String,
        /// Conflict markers remain: the change still conflicts (exit 3).
        still_conflicting: bool,
    },
    #[error(
        "change {id} was started on {base}, which is itself a conflux change branch; merging would only move that branch. Merge {branch} by hand (`git merge {branch}` on the branch it belongs on), or run it again from that branch: `git conflux clean --force {id}`, then `git conflux start {id}`"
    )]
    ChangeBranchBase {
        id: String,
        base: String,
        branch: String,
    },
    #[error(
        "change {id} is being run by git conflux start (pid {pid}, {phase}); wait for it to finish, or stop the run with `git conflux stop`, then merge"
    )]
    Running { id: String, pid: u32, phase: Phase },
    #[error("archiving {id} failed, so it was not merged: {reason}")]
    Archive { id: String, reason: String },
    #[error("could not merge {id}")]
    Git {
        id: String,
        source: git::merge::Error,
    },
    #[error("could not settle an interrupted merge")]
    Recover {
        #[source]
        source: git::journal::Error,
    },
    #[error(transparent)]
    State(#[from] state::Error),
}

fn list(conflicts: &[Conflict]) -> String {
    list_cut(
        conflicts
            .iter()
            .map(|c| format!("{} ({})", c.path.display(), c.kind)),
    )
}

impl Error {
    /// The branches still conflict (resolving was not asked for, or did not finish).
    pub(crate) fn is_conflict(&self) -> bool {
        matches!(
            self,
            Error::Conflicts { .. }
                | Error::ResolveStart { .. }
                | Error::Resolve {
                    still_conflicting: true,
                    ..
                }
        )
    }

    /// The phase a change ends in when `start --merge` could not merge it.
    pub fn phase(&self) -> Phase {
        if self.is_conflict() {
            Phase::Conflict
        } else {
            Phase::Failed
        }
    }
}

/// The changes of a run that `start --merge` may merge, by id; a change added to the run
/// from another terminal joins them.
#[derive(Clone, Default)]
pub(crate) struct RunChanges(Arc<Mutex<HashMap<String, (Change, Config)>>>);

impl RunChanges {
    pub(crate) fn add(&self, jobs: &[Job]) {
        if let Ok(mut changes) = self.0.lock() {
            for job in jobs {
                let p = &job.plan;
                changes.insert(p.change.id.clone(), (p.change.clone(), p.config.clone()));
            }
        }
    }

    fn get(&self, id: &str) -> Option<(Change, Config)> {
        self.0.lock().ok().and_then(|c| c.get(id).cloned())
    }
}

/// `start --merge`: each change of the run is merged as soon as it is done, fast-forward
/// when it can, through the one merge path; one that cannot be merged ends in the phase its
/// error names (a conflict stays a conflict, a refusal is a failure).
pub(crate) fn as_you_go(ws: &Workspace, changes: RunChanges) -> MergeFn {
    let ws = ws.clone();
    let options = MergeOptions {
        mode: MergeMode::FastForward,
        keep: false,
        force: false,
    };
    Arc::new(move |id: &str| -> MergeVerdict {
        let Some((change, config)) = changes.get(id) else {
            return MergeVerdict::Failed(Phase::Failed, format!("{id} is not part of this run"));
        };
        match merge_change(&ws, &config, &change, &options) {
            Ok(merged) => {
                let (into, commit) = match merged {
                    Merged::Already => (String::new(), String::new()),
                    Merged::FastForward { base, to } => (base, to),
                    Merged::Commit { base, commit } => (base, commit),
                };
                MergeVerdict::Merged { into, commit }
            }
            Err(e) => MergeVerdict::Failed(e.phase(), e.to_string()),
        }
    })
}

/// Settles what a merge cut short left in the checkout (`git::journal`), under the merge
/// lock; `say` hears what was done. A merge running now settles it itself. Worktrees a
/// killed merge had moved to the trash are deleted in the background.
pub fn recover(ws: &Workspace, mut say: impl FnMut(&str)) -> Result<(), Error> {
    ws.repo.empty_trash();
    let Some(_lock) = ws.run_dir.try_merge_lock()? else {
        return Ok(());
    };
    if let Some(recovered) = ws
        .repo
        .recover_interrupted_merge()
        .map_err(|source| Error::Recover { source })?
    {
        say(&recovered.to_string());
    }
    Ok(())
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
    let (merged, tidy) = merge_leaving_tidy(ws, config, change, options)?;
    if let Some(tidy) = tidy {
        tidy.run(ws);
    }
    Ok(merged)
}

/// What is left to do after a merge that is complete and recorded: removing the change's
/// worktree (unless it holds uncommitted work) and its branch. `merge` of several changes
/// does it beside the next merges; a kill before it leaves them to `clean`.
#[derive(Debug)]
pub struct Tidy {
    worktree: PathBuf,
    branch: String,
    squash: bool,
    outcome: MergeOutcome,
}

impl Tidy {
    /// Removes the worktree, then the branch; failing to tidy up is worth a warning, not a
    /// failed merge.
    pub fn run(self, ws: &Workspace) {
        if self.worktree.exists()
            && let Err(e) = ws.repo.remove_worktree(&self.worktree, false)
        {
            tracing::warn!("kept the worktree {}: {e}", self.worktree.display());
            return;
        }
        let deleted = if self.squash {
            ws.repo.delete_branch(&self.branch, true)
        } else {
            ws.repo.delete_branch_after(&self.branch, &self.outcome)
        };
        if let Err(e) = deleted {
            tracing::warn!("kept the branch {}: {e}", self.branch);
        }
    }
}

/// [`merge_change`] up to its [`Tidy`] (none with `keep`, or when it was merged before),
/// which the caller runs.
pub fn merge_leaving_tidy(
    ws: &Workspace,
    config: &Config,
    change: &Change,
    options: &MergeOptions,
) -> Result<(Merged, Option<Tidy>), Error> {
    let id = change.id.as_str();
    let Some(mut st) = ws.run_dir.load(id)? else {
        return Err(Error::NoRun { id: id.to_owned() });
    };
    let _lock = ws.run_dir.merge_lock(|pid| {
        tracing::warn!(
            "waiting for the merge of git conflux (pid {pid}) to finish before merging {id}"
        );
    })?;
    if st.phase == Phase::Merged {
        return Ok((Merged::Already, None));
    }
    if config.is_change_branch(&st.base) {
        return Err(Error::ChangeBranchBase {
            id: id.to_owned(),
            base: st.base.clone(),
            branch: st.branch.clone(),
        });
    }
    // A change a live `start` drives is its agent's until that run lets go of it: merging
    // (even --force) would pull the worktree from under the agent.
    if st.phase.is_active()
        && let Some(holder) = ws.run_dir.lock_holder()
        && holder.pid != std::process::id()
    {
        return Err(Error::Running {
            id: id.to_owned(),
            pid: holder.pid,
            phase: st.phase,
        });
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
        archive(&ws.run_dir, config, change, &st, command)?;
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
    let mut outcome = ws.repo.merge_into(&request).map_err(git_err)?;
    if let MergeOutcome::Conflicts(conflicts) = &outcome
        && config.merge_resolve == Resolve::Agent
    {
        resolve(ws, config, change, &st, conflicts)?;
        // The branch now contains the base: a fast-forward, or a clean merge.
        outcome = ws.repo.merge_into(&request).map_err(git_err)?;
    }
    let merged = match &outcome {
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
                conflicts: conflicts.clone(),
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
    let tidy = (!options.keep).then(|| Tidy {
        worktree: st.worktree,
        branch: st.branch,
        squash: options.mode == MergeMode::Squash,
        outcome,
    });
    Ok((merged, tidy))
}

/// Resolves `conflicts` inside the change's worktree: merge the base in (markers left in the
/// files), run the change's agent with the resolve prompt, require that no marker remains and
/// that verify passes, and commit the merge on the change branch. The base is not touched.
fn resolve(
    ws: &Workspace,
    config: &Config,
    change: &Change,
    st: &ChangeState,
    conflicts: &[Conflict],
) -> Result<(), Error> {
    let id = change.id.as_str();
    let worktree = &st.worktree;
    let start_err = |source| Error::ResolveStart {
        id: id.to_owned(),
        base: st.base.clone(),
        branch: st.branch.clone(),
        conflicts: conflicts.to_vec(),
        source: Box::new(source),
    };
    let failed = |reason: String, still_conflicting: bool| Error::Resolve {
        id: id.to_owned(),
        base: st.base.clone(),
        branch: st.branch.clone(),
        worktree: worktree.clone(),
        reason,
        still_conflicting,
    };
    let (other, conflicts) = match ws
        .repo
        .merge_base_into_worktree(worktree, &st.branch, &st.base)
        .map_err(start_err)?
    {
        WorktreeMerge::UpToDate => return Ok(()),
        WorktreeMerge::InProgress { other, conflicts } => (other, conflicts),
    };

    if !conflicts.is_empty() {
        let Some(spec) = config.agent.as_ref() else {
            return Err(failed(
                "no agent is configured to resolve them; set `agent` in .conflux.yaml".into(),
                true,
            ));
        };
        let listed: Vec<String> = conflicts
            .iter()
            .map(|c| format!("{} ({})", c.path.display(), c.kind))
            .collect();
        let base_side = base_side(ws, st, worktree);
        let text = prompt::render_resolve(&ResolveInput {
            change,
            branch: &st.branch,
            base: &st.base,
            conflicts: &listed,
            base_side: &base_side,
            verify: config.verify.as_deref(),
        });
        let mut prompt_file = ws.run_dir.prompt_path(id);
        prompt_file.set_extension("resolve.md");
        let vars = Vars {
            change_id: id.to_owned(),
            worktree: worktree.clone(),
            base: st.base.clone(),
            prompt: text,
            prompt_file,
            iteration: st.iteration,
        };
        let invocation = presets::build(spec, &vars).map_err(|e| failed(e.to_string(), true))?;
        let outcome = supervise(
            config,
            invocation,
            worktree,
            (&ws.run_dir, id, Role::Resolve),
        )
        .map_err(|e| failed(e, true))?;
        if !matches!(outcome.result, RunResult::Success) {
            return Err(failed(
                format!(
                    "the agent {}; its last output: {}",
                    process::Ended(Role::Resolve, &outcome),
                    outcome.output_tail.trim()
                ),
                true,
            ));
        }
        let marked: Vec<String> = conflicts
            .iter()
            .filter(|c| has_markers(worktree, &c.path))
            .map(|c| c.path.display().to_string())
            .collect();
        if !marked.is_empty() {
            return Err(failed(
                format!("conflict markers remain in {}", list_cut(&marked)),
                true,
            ));
        }
    }
    if let Some(verify) = &config.verify {
        let outcome = run_command(config, st, verify, (&ws.run_dir, id, Role::Verify))
            .map_err(|e| failed(e, false))?;
        if !matches!(outcome.result, RunResult::Success) {
            return Err(failed(
                format!(
                    "verify (`{verify}`) failed after the resolution: {}",
                    outcome.output_tail.trim()
                ),
                false,
            ));
        }
    }
    let message = format!(
        "Merge branch '{}' into {}\n\nConflicts resolved by the agent of change {id} (git-conflux).\n",
        st.base, st.branch
    );
    // An agent that committed the merge itself has concluded it already.
    let tip = ws
        .repo
        .branch_tip(&st.branch)
        .map_err(|e| failed(with_causes(&e), false))?;
    let concluded = match tip {
        Some(tip) => ws
            .repo
            .is_ancestor(other, tip)
            .map_err(|e| failed(with_causes(&e), false))?,
        None => false,
    };
    let committed = if concluded {
        git::commit_all(worktree, &message).map(|_| ())
    } else {
        git::commit_merge(worktree, &message, other).map(|_| ())
    };
    committed.map_err(|e| {
        failed(
            format!("cannot commit the merge: {}", with_causes(&e)),
            false,
        )
    })
}

/// Whether the file at `path` still holds a conflict marker line (`<<<<<<< `, a lone
/// `=======`, or `>>>>>>> `). A missing or unreadable file (a link out of the worktree, a
/// FIFO) has none.
fn has_markers(worktree: &Path, rel: &Path) -> bool {
    let Ok(Some(bytes)) = crate::files::read(&worktree.join(rel), Some(worktree)) else {
        return false;
    };
    bytes.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.starts_with(b"<<<<<<< ") || line == b"=======" || line.starts_with(b">>>>>>> ")
    })
}

/// The base side's intent for the resolve prompt: the changes merged since this one started,
/// each with its title and the proposal to read (as the merged worktree holds it).
fn base_side(ws: &Workspace, st: &ChangeState, worktree: &Path) -> Vec<String> {
    let mut merged: Vec<ChangeState> = ws
        .run_dir
        .load_all()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|other| {
            other.id != st.id
                && other.phase == Phase::Merged
                && other.base == st.base
                && match (st.started_at, other.updated_at) {
                    (Some(started), Some(merged_at)) => merged_at >= started,
                    _ => true,
                }
        })
        .collect();
    merged.sort_by_key(|other| other.updated_at);
    merged
        .iter()
        .map(|other| {
            let id = &other.id;
            let candidates = [
                Some(PathBuf::from(format!("openspec/changes/{id}/proposal.md"))),
                archived_folder(worktree, id).and_then(|dir| {
                    dir.strip_prefix(worktree)
                        .ok()
                        .map(|rel| rel.join("proposal.md"))
                }),
                Some(PathBuf::from(format!("specs/{id}/spec.md"))),
            ];
            match candidates
                .into_iter()
                .flatten()
                .find(|rel| worktree.join(rel).is_file())
            {
                Some(rel) => match title(worktree, &rel) {
                    Some(title) => format!("change `{id}` ({title}): read {}", rel.display()),
                    None => format!("change `{id}`: read {}", rel.display()),
                },
                None => format!("change `{id}` (its proposal is not in the worktree)"),
            }
        })
        .collect()
}

/// The first `# ` heading of a markdown file of the worktree, without a `Change:` prefix.
fn title(worktree: &Path, rel: &Path) -> Option<String> {
    let bytes = crate::files::read(&worktree.join(rel), Some(worktree)).ok()??;
    let text = String::from_utf8(bytes).ok()?;
    let heading = text
        .lines()
        .find_map(|line| line.strip_prefix("# "))?
        .trim();
    Some(
        heading
            .strip_prefix("Change:")
            .unwrap_or(heading)
            .trim()
            .to_owned(),
    )
}

/// Runs a configured shell command (archive, verify) in the change's worktree.
fn run_command(
    config: &Config,
    st: &ChangeState,
    command: &str,
    log: LogTo<'_>,
) -> Result<RunOutcome, String> {
    let vars = process::StepVars {
        change_id: log.1,
        worktree: &st.worktree,
        base: &st.base,
        iteration: st.iteration,
    };
    let invocation = process::step(command, &vars)?;
    supervise(config, invocation, &st.worktree, log)
}

/// Where a process's lines go: the change's log, as the role's lines.
type LogTo<'a> = (&'a RunDir, &'a str, Role);

/// Runs one process of the change through [`process::launch`] from synchronous code, its
/// lines to the change's log. Ctrl-C or SIGTERM cancels it, so that the whole group ends
/// before `merge` does.
fn supervise(
    config: &Config,
    invocation: Invocation,
    cwd: &Path,
    (run_dir, id, role): LogTo<'_>,
) -> Result<RunOutcome, String> {
    let mut recorder = Recorder::new(run_dir.clone());
    hooks::block_on(async move {
        let cancel = Cancel::new();
        let mut log = |event: ChangeEvent| {
            if let ChangeEvent::Output { .. } = event {
                recorder.record(&Event::change(id, event));
            }
        };
        let run = process::launch(role, config, invocation, cwd, None, &cancel, &mut log);
        signals::until_done(run, &cancel)
            .await
            .map(|(outcome, _)| outcome)
            .map_err(|e| format!("cannot install the signal handlers: {e}"))
    })?
}

/// The `archive` step: run it in the change's worktree, commit what it did, and check that
/// an OpenSpec change's folder moved under `openspec/changes/archive/`.
fn archive(
    run_dir: &RunDir,
    config: &Config,
    change: &Change,
    st: &ChangeState,
    command: &str,
) -> Result<(), Error> {
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
        let outcome =
            run_command(config, st, command, (run_dir, id, Role::Archive)).map_err(&fail)?;
        if !matches!(outcome.result, RunResult::Success) {
            return Err(fail(format!(
                "`{command}` failed: {}",
                outcome.output_tail.trim()
            )));
        }
        git::commit_all(worktree, &format!("conflux({id}): archive")).map_err(|e| {
            fail(format!(
                "cannot commit the archived change: {}",
                with_causes(&e)
            ))
        })?;
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
