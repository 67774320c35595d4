//! The dispatcher of a run: owns which change runs when (the dependency DAG and N slots),
//! the signals, and the one loop every pipeline event passes through on its way to the
//! reporter.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinSet;

use crate::error::{list_cut, with_causes};
use crate::git::MergedCommit;
use crate::run::event::{ChangeEvent, Event};
use crate::run::pipeline::{self, Outcome, Plan, Shared};
use crate::run::signals::{Stop, StopSignals};
use crate::run::state::Phase;

/// A planned change and what it waits for.
pub struct Job {
    pub plan: Plan,
    /// Selected changes that must be done first, with their branches.
    pub waits_for: Vec<(String, String)>,
    /// Done dependencies (id, branch) the change builds on, besides the base.
    pub builds_on: Vec<(String, String)>,
}

/// What a merge-as-you-go callback says about a done change.
pub enum MergeVerdict {
    /// Merged into `into`, now at `commit`.
    Merged { into: String, commit: String },
    /// Not merged: the change ends in this phase with this reason.
    Failed(Phase, String),
}

/// Merges one done change (`start --merge`); run as a blocking task, one at a time.
pub type MergeFn = Arc<dyn Fn(&str) -> MergeVerdict + Send + Sync>;

/// How the run ended, per change id.
pub struct Summary {
    pub outcomes: BTreeMap<String, Outcome>,
    pub interrupted: bool,
    pub elapsed: std::time::Duration,
    /// Pipelines that panicked (bugs), by change.
    pub internal_errors: Vec<String>,
}

/// The pipelines running now, and which change each task runs, so that a panicked one is
/// still reported by its id.
#[derive(Default)]
struct Running {
    set: JoinSet<(String, Outcome)>,
    ids: HashMap<tokio::task::Id, String>,
}

enum Slot {
    Waiting(Box<Job>),
    Running,
    Finished,
}

/// Runs every job, at most `jobs` at once, in dependency order; `report` sees every event.
pub async fn run(
    shared: Arc<Shared>,
    jobs_in_order: Vec<Job>,
    parallel: usize,
    mut events: UnboundedReceiver<Event>,
    report: &mut dyn FnMut(&Event),
    merge: Option<MergeFn>,
) -> Summary {
    let started = Instant::now();
    let order: Vec<String> = jobs_in_order
        .iter()
        .map(|j| j.plan.change.id.clone())
        .collect();
    let mut slots: BTreeMap<String, Slot> = jobs_in_order
        .into_iter()
        .map(|j| (j.plan.change.id.clone(), Slot::Waiting(Box::new(j))))
        .collect();
    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let mut running = Running::default();
    let mut internal_errors = Vec::new();
    // A stop that came before the run (during the on_start hook) starts nothing.
    let mut interrupts = u32::from(shared.cancel.is_cancelled());
    let mut signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            return Summary {
                outcomes,
                interrupted: true,
                elapsed: started.elapsed(),
                internal_errors,
            };
        }
    };
    for id in &order {
        report(&Event::change(
            id,
            ChangeEvent::Phase {
                phase: Phase::Queued,
                reason: None,
            },
        ));
    }

    loop {
        if interrupts == 0 {
            launch_ready(
                &shared,
                &order,
                &mut slots,
                &mut outcomes,
                &mut running,
                parallel,
                report,
            );
        }
        if running.set.is_empty() {
            // Drain what the finished pipelines sent before saying the run is over.
            while let Ok(event) = events.try_recv() {
                report(&event);
            }
            break;
        }
        tokio::select! {
            Some(event) = events.recv() => report(&event),
            Some(joined) = running.set.join_next_with_id() => {
                while let Ok(event) = events.try_recv() {
                    report(&event);
                }
                let (id, mut outcome) = match joined {
                    Ok((task, done)) => {
                        running.ids.remove(&task);
                        done
                    }
                    Err(e) => {
                        // A pipeline panicked: its runner's guard has already killed its agent.
                        let id = running.ids.remove(&e.id()).unwrap_or_default();
                        let reason = format!("internal error in git-conflux (please report it): {e}");
                        internal_errors.push(format!("{id}: {reason}"));
                        report(&Event::change(&id, ChangeEvent::Phase { phase: Phase::Failed, reason: Some(reason.clone()) }));
                        (id, Outcome { phase: Phase::Failed, reason: Some(reason) })
                    }
                };
                if outcome.phase == Phase::Done && interrupts == 0
                    && let Some(merge) = &merge {
                        let mut serve = Serve { shared: &shared, signals: &mut signals, interrupts: &mut interrupts, events: &mut events };
                        let verdict = serve.merge(merge, &id, report).await;
                        let (phase, reason) = match verdict {
                            MergeVerdict::Merged { into, commit } => {
                                report(&Event::change(&id, ChangeEvent::Merged { into, commit }));
                                (Phase::Merged, None)
                            }
                            MergeVerdict::Failed(phase, reason) => (phase, Some(reason)),
                        };
                        outcome = Outcome { phase, reason: reason.clone() };
                        report(&Event::change(&id, ChangeEvent::Phase { phase, reason }));
                    }
                slots.insert(id.clone(), Slot::Finished);
                outcomes.insert(id, outcome);
            }
            stop = signals.recv() => {
                if stop == Stop::Now {
                    interrupts = interrupts.max(1);
                }
                interrupt(&shared, &mut interrupts, report);
            }
        }
    }
    // Changes never started: skipped (a dependency failed) or left queued by an interrupt.
    for id in &order {
        if let Some(Slot::Waiting(job)) = slots.remove(id) {
            let failed_dep = job
                .waits_for
                .iter()
                .map(|(d, _)| d)
                .find(|d| outcomes.get(*d).is_some_and(|o| !is_success(o.phase)));
            let (phase, reason) = match failed_dep {
                Some(dep)
                    if interrupts == 0
                        || outcomes
                            .get(dep)
                            .is_some_and(|o| o.phase != Phase::Cancelled) =>
                {
                    let dep_phase = outcomes.get(dep).map_or(Phase::Failed, |o| o.phase);
                    (Phase::Skipped, format!("dependency {dep} {dep_phase}"))
                }
                _ => (
                    Phase::Cancelled,
                    "interrupted before it started; run `git conflux start` to resume".to_owned(),
                ),
            };
            report(&Event::change(
                id,
                ChangeEvent::Phase {
                    phase,
                    reason: Some(reason.clone()),
                },
            ));
            outcomes.insert(
                id.clone(),
                Outcome {
                    phase,
                    reason: Some(reason),
                },
            );
        }
    }
    let elapsed = started.elapsed();
    report(&Event::RunFinished { elapsed });
    Summary {
        outcomes,
        interrupted: interrupts > 0,
        elapsed,
        internal_errors,
    }
}

/// What the run's loop serves while it waits for a merge: stops and pipeline events.
struct Serve<'a> {
    shared: &'a Shared,
    signals: &'a mut StopSignals,
    interrupts: &'a mut u32,
    events: &'a mut UnboundedReceiver<Event>,
}

impl Serve<'_> {
    /// Merges done change `id` (`start --merge`) on a blocking thread while the run goes on
    /// being served: events are reported, a stop stops the other changes, and a second stop
    /// gives the merge up (a checkout through a hung filter never ends). A merge is all or
    /// nothing across a crash, so one given up on is settled by the next merge.
    async fn merge(
        &mut self,
        merge: &MergeFn,
        id: &str,
        report: &mut dyn FnMut(&Event),
    ) -> MergeVerdict {
        let (merge, merge_id) = (Arc::clone(merge), id.to_owned());
        let mut task = tokio::task::spawn_blocking(move || merge(&merge_id));
        loop {
            tokio::select! {
                joined = &mut task => {
                    return joined.unwrap_or_else(|e| {
                        MergeVerdict::Failed(Phase::Failed, format!("merging panicked: {e}"))
                    });
                }
                Some(event) = self.events.recv() => report(&event),
                stop = self.signals.recv() => {
                    if stop == Stop::Now {
                        *self.interrupts = (*self.interrupts).max(1);
                    }
                    interrupt(self.shared, self.interrupts, report);
                    if *self.interrupts > 1 {
                        return MergeVerdict::Failed(
                            Phase::Done,
                            format!("interrupted while merging; its branch is ready: run `git conflux merge {id}`"),
                        );
                    }
                }
            }
        }
    }
}

fn is_success(phase: Phase) -> bool {
    matches!(phase, Phase::Done | Phase::Merged)
}

/// Ctrl-C once: start nothing new and stop the agents gracefully; twice: kill them now.
fn interrupt(shared: &Shared, count: &mut u32, report: &mut dyn FnMut(&Event)) {
    *count += 1;
    let now = *count > 1;
    if now {
        shared.cancel.kill_now();
    } else {
        shared.cancel.cancel();
    }
    report(&Event::Interrupted { now });
}

/// Starts every waiting job whose dependencies are done, while slots are free. A job that
/// cannot start (its dependencies' branches conflict) is finished at once in `outcomes`.
fn launch_ready(
    shared: &Arc<Shared>,
    order: &[String],
    slots: &mut BTreeMap<String, Slot>,
    outcomes: &mut BTreeMap<String, Outcome>,
    running: &mut Running,
    parallel: usize,
    report: &mut dyn FnMut(&Event),
) {
    for id in order {
        if running.set.len() >= parallel {
            return;
        }
        let ready = match slots.get(id) {
            Some(Slot::Waiting(job)) => job
                .waits_for
                .iter()
                .all(|(d, _)| outcomes.get(d).is_some_and(|o| is_success(o.phase))),
            _ => false,
        };
        if !ready {
            continue;
        }
        let Some(Slot::Waiting(job)) = slots.insert(id.clone(), Slot::Running) else {
            continue;
        };
        // Merged dependencies are in the base already; done ones are built on by branch.
        let mut dependencies = job.builds_on.clone();
        dependencies.extend(
            job.waits_for
                .iter()
                .filter(|(d, _)| outcomes.get(d).is_some_and(|o| o.phase == Phase::Done))
                .cloned(),
        );
        match start_point(shared, &dependencies, id) {
            Ok(start) => {
                let shared = Arc::clone(shared);
                let id = id.clone();
                let task_id = id.clone();
                let handle = running.set.spawn(async move {
                    let outcome = pipeline::run(shared, job.plan, start).await;
                    (id, outcome)
                });
                running.ids.insert(handle.id(), task_id);
            }
            Err((phase, reason)) => {
                report(&Event::change(
                    id,
                    ChangeEvent::Phase {
                        phase,
                        reason: Some(reason.clone()),
                    },
                ));
                slots.insert(id.clone(), Slot::Finished);
                outcomes.insert(
                    id.clone(),
                    Outcome {
                        phase,
                        reason: Some(reason),
                    },
                );
            }
        }
    }
}

/// The commit a change starts from: the base tip, merged with its dependencies' branches.
/// A dependency merged meanwhile (by `git conflux merge` from another terminal) is in the
/// base tip already, and its branch may be gone.
fn start_point(
    shared: &Shared,
    dependencies: &[(String, String)],
    id: &str,
) -> Result<gix::ObjectId, (Phase, String)> {
    let failed = |reason: String| (Phase::Failed, reason);
    let base_tip = shared
        .repo
        .branch_tip(&shared.base)
        .map_err(|e| failed(with_causes(&e)))?
        .ok_or_else(|| failed(format!("the base branch {} no longer exists", shared.base)))?;
    let mut tips = vec![base_tip];
    let mut branches = Vec::new();
    for (dependency, branch) in dependencies {
        match shared
            .repo
            .branch_tip(branch)
            .map_err(|e| failed(with_causes(&e)))?
        {
            Some(tip) => {
                tips.push(tip);
                branches.push(branch.as_str());
            }
            None if shared
                .run_dir
                .load(dependency)
                .ok()
                .flatten()
                .is_some_and(|st| st.phase == Phase::Merged) => {}
            None => {
                return Err(failed(format!(
                    "the branch {branch} of its dependency {dependency} does not exist; run `git conflux start {dependency}` to make it again"
                )));
            }
        }
    }
    if tips.len() == 1 {
        return Ok(base_tip);
    }
    let message = format!("conflux({id}): start from {}", branches.join(", "));
    match shared.repo.merge_commits_to_commit(&tips, &message) {
        Ok(MergedCommit::Commit(id)) => Ok(id),
        Ok(MergedCommit::Conflicts(conflicts)) => Err((
            Phase::Conflict,
            format!(
                "its dependencies' branches conflict in {}; merge them first (`git conflux merge`), then run start again",
                list_cut(conflicts.iter().map(|c| c.path.display()))
            ),
        )),
        Err(e) => Err(failed(with_causes(&e))),
    }
}
