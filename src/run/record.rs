//! The persisting consumers of run events: the per-change state files and logs.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::time::Instant;

use crate::run::budget::{RunRecord, Spend};
use crate::run::event::{ChangeEvent, Event};
use crate::run::state::{ChangeState, Phase, RunDir, now_secs};

/// Keeps each change's [`ChangeState`] current and saved, and appends to its log.
pub struct Recorder {
    run_dir: RunDir,
    states: HashMap<String, ChangeState>,
    logs: HashMap<String, File>,
    /// When each running change started in this session, for elapsed time.
    since: HashMap<String, Instant>,
    /// The run's budget and spending so far.
    run: RunRecord,
    /// Failures to persist, reported once at the end rather than per event.
    pub errors: Vec<String>,
}

impl Recorder {
    pub fn new(run_dir: RunDir) -> Recorder {
        Recorder {
            run_dir,
            states: HashMap::new(),
            logs: HashMap::new(),
            since: HashMap::new(),
            run: RunRecord::default(),
            errors: Vec::new(),
        }
    }

    /// Starts tracking a change that joins the run: its earlier state (if any) carried on,
    /// queued with its committed task counts.
    fn plan(
        &mut self,
        id: &str,
        branch: &str,
        worktree: &std::path::Path,
        base: &str,
        (done, total): (usize, usize),
    ) {
        let mut state = match self.run_dir.load(id) {
            Ok(Some(prior)) => prior,
            _ => ChangeState::new(id, branch, worktree, base),
        };
        state.phase = Phase::Queued;
        state.reason = None;
        state.pid = None;
        state.finished_at = None;
        state.tasks_done = done;
        state.tasks_total = total;
        self.seed(state);
    }

    /// Starts tracking a change with its state as planned (saved at once).
    fn seed(&mut self, mut state: ChangeState) {
        state.orchestrator_pid = Some(std::process::id());
        state.updated_at = Some(now_secs());
        self.save(&state);
        self.states.insert(state.id.clone(), state);
    }

    /// The run's budget and what it has spent so far.
    pub fn run(&self) -> &RunRecord {
        &self.run
    }

    pub fn state(&self, id: &str) -> Option<&ChangeState> {
        self.states.get(id)
    }

    pub fn record(&mut self, event: &Event) {
        let (id, kind) = match event {
            Event::Change { id, kind } => (id, kind),
            Event::RunStarted { budget, .. } => {
                self.run = RunRecord {
                    budget: *budget,
                    spent: Spend::default(),
                };
                self.save_run();
                return;
            }
            _ => return,
        };
        if let ChangeEvent::Planned {
            branch,
            worktree,
            base,
            tasks_done,
            tasks_total,
            budget,
        } = kind
        {
            self.plan(id, branch, worktree, base, (*tasks_done, *tasks_total));
            if let Some(state) = self.states.get_mut(id) {
                state.budget = *budget;
            }
        }
        self.log(id, kind);
        let Some(state) = self.states.get_mut(id) else {
            return;
        };
        let persist = match kind {
            ChangeEvent::Phase { phase, reason } => {
                state.phase = *phase;
                state.reason = reason.clone();
                // A stopped wait is waited on by the run that resumes the change.
                if *phase != Phase::Cancelled {
                    state.waiting = None;
                }
                if phase.is_failure() {
                    state.last_error = reason.clone().or(state.last_error.take());
                }
                match phase {
                    Phase::Preparing => {
                        self.since.insert(id.clone(), Instant::now());
                        state.started_at.get_or_insert(now_secs());
                    }
                    p if !p.is_active() => {
                        state.pid = None;
                        state.finished_at = Some(now_secs());
                        if let Some(since) = self.since.remove(id) {
                            state.elapsed_secs += since.elapsed().as_secs();
                        }
                    }
                    _ => {}
                }
                true
            }
            ChangeEvent::WorktreeReady {
                path,
                branch,
                created_branch,
                start_commit,
                ..
            } => {
                state.worktree = path.clone();
                state.branch = branch.clone();
                if *created_branch {
                    state.created_branch = Some(true);
                }
                state
                    .start_commit
                    .get_or_insert_with(|| start_commit.clone());
                true
            }
            ChangeEvent::Tasks { done, total } => {
                let changed = (state.tasks_done, state.tasks_total) != (*done, *total);
                (state.tasks_done, state.tasks_total) = (*done, *total);
                changed
            }
            ChangeEvent::IterationStarted { iteration, .. } => {
                state.iteration = *iteration;
                true
            }
            ChangeEvent::ProcessStarted { pid, .. } => {
                state.pid = Some(*pid);
                state.pid_start = crate::proc::start_ticks(*pid);
                true
            }
            ChangeEvent::Retrying { .. } | ChangeEvent::InactivityTimeout { .. } => {
                state.retries += matches!(kind, ChangeEvent::Retrying { .. }) as u32;
                true
            }
            ChangeEvent::Waiting { until, words } => {
                state.phase = Phase::Waiting;
                state.reason = Some(crate::ui::describe(kind));
                state.waiting = Some(crate::run::state::Waiting {
                    until: *until,
                    words: words.clone(),
                });
                true
            }
            ChangeEvent::Cost { spend, .. } => {
                self.run.spent = self.run.spent.plus(spend);
                // Reported per agent run; the state keeps the change's running total.
                let total = state.spend().plus(spend);
                (state.cost_usd, state.tokens) = (total.usd, total.tokens);
                true
            }
            ChangeEvent::VerifyFailed { output_tail } => {
                state.last_verify_failure = Some(output_tail.clone());
                true
            }
            ChangeEvent::Reviewed {
                round,
                verdict,
                findings,
            } => {
                state.review = Some(crate::run::state::ReviewRecord {
                    rounds: *round,
                    verdict: Some(verdict.map_or("none", |v| v.as_str()).to_owned()),
                    findings: findings.clone(),
                });
                true
            }
            ChangeEvent::Committed { .. } => {
                state.last_verify_failure = state
                    .last_verify_failure
                    .take()
                    .filter(|_| state.phase == Phase::Verifying);
                false
            }
            ChangeEvent::Told { message } => {
                state.messages.push(message.clone());
                true
            }
            ChangeEvent::MessagesDelivered { .. } => {
                state.messages.clear();
                true
            }
            ChangeEvent::Output { .. }
            | ChangeEvent::Note { .. }
            | ChangeEvent::Merged { .. }
            | ChangeEvent::Planned { .. } => false,
        };
        if persist {
            state.updated_at = Some(now_secs());
            let snapshot = state.clone();
            self.save(&snapshot);
        }
        if let ChangeEvent::Cost { .. } = kind {
            self.save_run();
        }
    }

    fn save_run(&mut self) {
        if let Err(e) = self.run.save(&self.run_dir) {
            self.errors.push(e.to_string());
        }
    }

    fn save(&mut self, state: &ChangeState) {
        if let Err(e) = self.run_dir.save(state) {
            self.errors.push(e.to_string());
        }
    }

    fn log(&mut self, id: &str, kind: &ChangeEvent) {
        if !self.logs.contains_key(id) {
            let path = self.run_dir.log_path(id);
            let opened = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|_| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                });
            match opened {
                Ok(file) => {
                    self.logs.insert(id.to_owned(), file);
                }
                Err(e) => {
                    self.errors
                        .push(format!("cannot write {}: {e}", path.display()));
                    return;
                }
            }
        }
        if let Some(file) = self.logs.get_mut(id) {
            let line = format!(
                "{} {}\n",
                crate::ui::clock(now_secs()),
                crate::ui::describe(kind)
            );
            if let Err(e) = file.write_all(line.as_bytes()) {
                self.errors
                    .push(format!("cannot append to the log of {id}: {e}"));
            }
        }
    }
}
