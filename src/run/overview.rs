//! One picture of every change: what the repository says (discovery), what runs recorded
//! (state files) and what is on disk now (worktrees, live pids). `status`, `start`, `merge`
//! and `clean` all read it from here.

use std::path::PathBuf;

use crate::change::{self, Change, Problem, Task};
use crate::run::state::{ChangeState, Phase, pid_alive};
use crate::run::workspace::Workspace;

/// Why the changes could not be listed, or an id named none of them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dependency cannot be honoured, or the change folders cannot be read.
    #[error(transparent)]
    Discover(#[from] change::discover::Error),
    #[error("no such change: {}", unknown.join(", "))]
    Unknown {
        unknown: Vec<String>,
        /// Every change of the repository, for the hint.
        known: Vec<String>,
    },
}

/// A change as the repository, its last run and the disk show it now.
#[derive(Debug)]
pub struct ChangeView {
    pub change: Change,
    pub state: Option<ChangeState>,
    /// Tasks as ticked in the change's worktree when it exists, else in the main worktree.
    pub tasks: Vec<Task>,
    /// The worktree, when it exists on disk.
    pub worktree: Option<PathBuf>,
    /// The recorded phase says running, but no orchestrator is alive to drive it.
    pub interrupted: bool,
}

impl ChangeView {
    /// The recorded phase; without a record (never run, or `clean` forgot it after its merge),
    /// `merged` when every task is ticked in the main worktree (the work is on the base, as
    /// `start` and `merge` already take it), else `pending`.
    pub fn phase(&self) -> Phase {
        match &self.state {
            Some(state) => state.phase,
            None if self.change.tasks_total() > 0
                && self.change.tasks_done() == self.change.tasks_total() =>
            {
                Phase::Merged
            }
            None => Phase::Pending,
        }
    }

    pub fn tasks_done(&self) -> usize {
        self.tasks.iter().filter(|t| t.done).count()
    }

    pub fn tasks_total(&self) -> usize {
        self.tasks.len()
    }

    /// The phase as shown to people: `applying (interrupted)` when nobody drives it.
    pub fn phase_label(&self) -> String {
        let phase = match self.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            Some(w) if self.phase() == Phase::Waiting => {
                format!("waiting until {}", crate::ui::local_clock(w.until))
            }
            _ => self.phase().to_string(),
        };
        if self.interrupted {
            format!("{phase} (interrupted)")
        } else {
            phase
        }
    }
}

#[derive(Debug)]
pub struct Overview {
    /// In dependency order.
    pub changes: Vec<ChangeView>,
    /// Change folders that could not be read.
    pub problems: Vec<Problem>,
    /// Recorded runs whose change folder is gone (archived or deleted since).
    pub orphans: Vec<ChangeState>,
    /// State files that could not be read.
    pub damaged: Vec<String>,
}

impl Overview {
    pub fn find(&self, id: &str) -> Option<&ChangeView> {
        self.changes.iter().find(|v| v.change.id == id)
    }

    /// Errors naming every id in `ids` that is not a change of this repository.
    pub fn check_ids(&self, ids: &[String]) -> Result<(), Error> {
        let unknown: Vec<String> = ids
            .iter()
            .filter(|id| self.find(id).is_none())
            .cloned()
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        Err(Error::Unknown {
            unknown,
            known: self.changes.iter().map(|v| v.change.id.clone()).collect(),
        })
    }
}

/// Reads the changes of the main worktree and joins them with their recorded runs.
pub fn overview(ws: &Workspace) -> Result<Overview, Error> {
    read(ws, true, None)
}

/// [`overview`] for a command that needs only the records and the main worktree's tasks
/// (`merge`): each view's `tasks` are the main worktree's, so that one merge does not read
/// the tasks file in every recorded change's worktree. With `ids`, only the records of
/// those changes and of their dependencies (all the way down) are read, so that merging one
/// change costs the same with 1 or 100 recorded; then no orphans are listed.
pub fn overview_of_records(ws: &Workspace, ids: Option<&[String]>) -> Result<Overview, Error> {
    read(ws, false, ids)
}

/// The overview; with `worktree_tasks`, tasks are read from each change's worktree; with
/// `ids`, only the records of those changes and their dependencies.
fn read(ws: &Workspace, worktree_tasks: bool, ids: Option<&[String]>) -> Result<Overview, Error> {
    let discovery = change::discover(&ws.root)?;
    let mut states = Vec::new();
    let mut damaged = Vec::new();
    let loaded = match ids {
        None => ws.run_dir.load_all(),
        Some(ids) => with_dependencies(&discovery.changes, ids)
            .iter()
            .filter_map(|id| ws.run_dir.load(id).transpose())
            .collect(),
    };
    for loaded in loaded {
        match loaded {
            Ok(state) => states.push(state),
            Err(e) => damaged.push(e.to_string()),
        }
    }
    let mut changes = Vec::new();
    for change in discovery.changes {
        let state = states
            .iter()
            .position(|s| s.id == change.id)
            .map(|i| states.swap_remove(i));
        let worktree = state
            .as_ref()
            .map(|s| s.worktree.clone())
            .filter(|p| p.is_dir());
        let tasks = match &worktree {
            Some(wt) if worktree_tasks => {
                change::read_tasks(wt, &change.tasks_file).unwrap_or_else(|_| change.tasks.clone())
            }
            _ => change.tasks.clone(),
        };
        let interrupted = state
            .as_ref()
            .is_some_and(|s| s.phase.is_active() && !s.orchestrator_pid.is_some_and(pid_alive));
        changes.push(ChangeView {
            change,
            state,
            tasks,
            worktree,
            interrupted,
        });
    }
    Ok(Overview {
        changes,
        problems: discovery.problems,
        orphans: states,
        damaged,
    })
}

/// `ids` and the ids of every change they depend on, directly or not.
fn with_dependencies(changes: &[Change], ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = ids.to_vec();
    let mut i = 0;
    while i < out.len() {
        if let Some(change) = changes.iter().find(|c| c.id == out[i]) {
            for dep in &change.dependencies {
                if !out.contains(dep) {
                    out.push(dep.clone());
                }
            }
        }
        i += 1;
    }
    out
}
