//! The dispatcher of a run: owns which change runs when (the dependency DAG and N slots),
//! the signals, and the one loop every pipeline event passes through on its way to the
//! reporter.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::task::JoinSet;

use crate::error::{list_cut, with_causes};
use crate::git::MergedCommit;
use crate::run::control::{Incoming, Reply, Request};
use crate::run::event::Role;
use crate::run::event::{ChangeEvent, Event};
use crate::run::pipeline::{self, Outcome, Plan, Shared, Steer};
use crate::run::signals::{Stop, StopSignals};
use crate::run::slots::{Go, Ticket};
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
    /// Pipelines that panicked (bugs), by change.
    pub internal_errors: Vec<String>,
    /// An agent refused in words no retry cures; changes with that agent were not started.
    pub refused: bool,
}

/// The pipelines running now, and which change each task runs, so that a panicked one is
/// still reported by its id.
#[derive(Default)]
struct Running {
    set: JoinSet<(String, Outcome)>,
    ids: HashMap<tokio::task::Id, String>,
    /// What other terminals can do to each running change.
    steer: HashMap<String, Steer>,
}

enum Slot {
    Waiting(Box<Job>),
    Running,
    Finished,
}

/// Plans more changes for a running run (`git conflux start ID…` from another terminal):
/// given the ids asked for and the ids the run has already, the jobs to add.
pub type Planner<'a> =
    Box<dyn FnMut(&[String], &BTreeSet<String>) -> Result<Vec<Job>, String> + 'a>;

/// The run's steering: requests from the control socket, and how to plan added changes.
pub struct Steering<'a> {
    pub requests: UnboundedReceiver<Incoming>,
    pub planner: Planner<'a>,
}

/// Everything the dispatcher's loop waits on, turned into one value each.
enum Input {
    Event(Event),
    Finished(Result<(String, Outcome), tokio::task::JoinError>),
    Signal(Stop),
    Control(Incoming),
    Merged(String, MergeVerdict),
    /// A change gave its agent slot back before its pipeline ended.
    SlotFreed(String),
}

/// The one owner of a run's progress: which change runs when, what ended how, the merge
/// worker, and the requests of other terminals. Its loop only turns inputs into [`Input`]s;
/// [`Dispatcher::handle`] decides, one event at a time, and never awaits a process or a merge.
struct Dispatcher<'r, 'p> {
    shared: Arc<Shared>,
    order: Vec<String>,
    slots: BTreeMap<String, Slot>,
    outcomes: BTreeMap<String, Outcome>,
    running: Running,
    parallel: usize,
    /// Changes holding an agent slot: at most `parallel`.
    holding: BTreeSet<String>,
    /// Where pipelines give their slot back ([`Ticket::release`]).
    freed: UnboundedSender<String>,
    /// Slot holders whose agent has started: each may have one change prepared ahead.
    agents_running: BTreeSet<String>,
    /// Changes that gave their slot back and still work (their last commit): while any
    /// does, and while a slot holder's agent has not started, nothing is prepared ahead, so
    /// that those steps have the CPU to themselves.
    finishing: BTreeSet<String>,
    /// Changes prepared ahead, in order, waiting at their gate for a slot.
    gated: Vec<(String, tokio::sync::oneshot::Sender<Go>)>,
    /// An agent started: the next change may be prepared ahead of its slot.
    prepare_due: bool,
    interrupts: u32,
    internal_errors: Vec<String>,
    report: &'r mut dyn FnMut(&Event),
    merge: Option<MergeFn>,
    /// Done changes waiting for the merge worker, in the order they finished.
    to_merge: std::collections::VecDeque<String>,
    /// The merge in progress, on a blocking thread: one at a time, never awaited inline.
    merging: Option<(String, tokio::task::JoinHandle<MergeVerdict>)>,
    /// Messages for changes that have not started yet.
    inbox: HashMap<String, Vec<String>>,
    planner: Option<Planner<'p>>,
}

/// Runs every job, at most `jobs` at once, in dependency order; `report` sees every event.
pub async fn run(
    shared: Arc<Shared>,
    jobs_in_order: Vec<Job>,
    parallel: usize,
    mut events: UnboundedReceiver<Event>,
    report: &mut dyn FnMut(&Event),
    merge: Option<MergeFn>,
    steering: Option<Steering<'_>>,
) -> Summary {
    let started = Instant::now();
    let mut signals = match StopSignals::install() {
        Ok(signals) => Some(signals),
        Err(e) => {
            tracing::error!("cannot install signal handlers: {e}");
            None
        }
    };
    let (mut requests, planner) = match steering {
        Some(s) => (Some(s.requests), Some(s.planner)),
        None => (None, None),
    };
    // A stop that came before the run (during the on_start hook) starts nothing.
    let stopped_early = signals.is_none() || shared.cancel.is_cancelled();
    let (freed, mut slots_freed) = tokio::sync::mpsc::unbounded_channel();
    let mut d = Dispatcher {
        shared,
        order: Vec::new(),
        slots: BTreeMap::new(),
        outcomes: BTreeMap::new(),
        running: Running::default(),
        parallel,
        holding: BTreeSet::new(),
        freed,
        agents_running: BTreeSet::new(),
        finishing: BTreeSet::new(),
        gated: Vec::new(),
        prepare_due: false,
        interrupts: u32::from(stopped_early),
        internal_errors: Vec::new(),
        report,
        merge,
        to_merge: Default::default(),
        merging: None,
        inbox: HashMap::new(),
        planner,
    };
    d.add_jobs(jobs_in_order);

    // Only an end, a merge, a stop or an added change can free a slot or a dependency: the
    // many events between them (output lines, phases) do not walk the queue again.
    let mut may_launch = true;
    loop {
        if std::mem::take(&mut may_launch) {
            d.launch_ready();
            d.prepare_due = true;
        }
        if std::mem::take(&mut d.prepare_due) {
            d.prepare_ahead();
        }
        d.start_merge();
        if d.running.set.is_empty() && d.merging.is_none() {
            // Drain what the finished pipelines sent before saying the run is over.
            while let Ok(event) = events.try_recv() {
                (d.report)(&event);
            }
            break;
        }
        let input = tokio::select! {
            Some(event) = events.recv() => Input::Event(event),
            Some(joined) = d.running.set.join_next_with_id() => {
                Input::Finished(joined.map(|(task, done)| {
                    d.running.ids.remove(&task);
                    done
                }))
            }
            Some(verdict) = async {
                Some((&mut d.merging.as_mut()?.1).await.unwrap_or_else(|e| {
                    MergeVerdict::Failed(Phase::Failed, format!("merging panicked: {e}"))
                }))
            }, if d.merging.is_some() => {
                let id = d.merging.take().map(|(id, _)| id).unwrap_or_default();
                Input::Merged(id, verdict)
            }
            Some(stop) = async { Some(signals.as_mut()?.recv().await) }, if signals.is_some() => {
                Input::Signal(stop)
            }
            Some(request) = async { requests.as_mut()?.recv().await }, if requests.is_some() => {
                Input::Control(request)
            }
            Some(id) = slots_freed.recv() => Input::SlotFreed(id),
        };
        if let Input::Finished(_) = input {
            // A pipeline's own last events come before its end.
            while let Ok(event) = events.try_recv() {
                (d.report)(&event);
            }
        }
        may_launch = !matches!(input, Input::Event(_));
        d.handle(input);
    }
    d.finish(started)
}

impl Dispatcher<'_, '_> {
    fn handle(&mut self, input: Input) {
        match input {
            Input::Event(event) => {
                if let Event::Change {
                    id,
                    kind:
                        ChangeEvent::ProcessStarted {
                            role: Role::Agent, ..
                        },
                } = &event
                    && self.holding.contains(id)
                {
                    self.prepare_due |= self.agents_running.insert(id.clone());
                }
                (self.report)(&event)
            }
            Input::Finished(Ok((id, outcome))) => self.finished(id, outcome),
            Input::Finished(Err(e)) => {
                // A pipeline panicked: its runner's guard has already killed its agent.
                let id = self.running.ids.remove(&e.id()).unwrap_or_default();
                let reason = format!("internal error in git-conflux (please report it): {e}");
                self.internal_errors.push(format!("{id}: {reason}"));
                self.end(&id, Phase::Failed, Some(reason));
            }
            Input::Merged(id, verdict) => self.merged(id, verdict),
            Input::SlotFreed(id) => {
                if self.holding.contains(&id) {
                    self.finishing.insert(id.clone());
                }
                self.let_go(&id);
            }
            Input::Signal(stop) => {
                if stop == Stop::Now {
                    self.interrupts = self.interrupts.max(1);
                }
                self.interrupt();
            }
            Input::Control(Incoming { request, reply }) => {
                let answer = self.steer(request);
                let _ = reply.send(answer);
            }
        }
    }

    /// Takes jobs into the run, reporting each as queued.
    fn add_jobs(&mut self, jobs: Vec<Job>) {
        for job in jobs {
            let id = job.plan.change.id.clone();
            let plan = &job.plan;
            (self.report)(&Event::change(
                &id,
                ChangeEvent::Planned {
                    branch: plan.branch.clone(),
                    worktree: plan.worktree.clone(),
                    base: self.shared.base.clone(),
                    tasks_done: plan.change.tasks_done(),
                    tasks_total: plan.change.tasks_total(),
                    budget: plan.config.budget,
                },
            ));
            (self.report)(&Event::change(
                &id,
                ChangeEvent::Phase {
                    phase: Phase::Queued,
                    reason: None,
                },
            ));
            self.order.push(id.clone());
            self.slots.insert(id, Slot::Waiting(Box::new(job)));
        }
    }

    fn finished(&mut self, id: String, outcome: Outcome) {
        self.running.steer.remove(&id);
        self.let_go(&id);
        self.finishing.remove(&id);
        if outcome.phase == Phase::Done && self.interrupts == 0 && self.merge.is_some() {
            // Merged by the worker; the change is finished once its merge is.
            self.outcomes.insert(id.clone(), outcome);
            self.to_merge.push_back(id);
            return;
        }
        self.slots.insert(id.clone(), Slot::Finished);
        self.outcomes.insert(id, outcome);
    }

    /// Starts the next queued merge when none runs.
    fn start_merge(&mut self) {
        if self.merging.is_some() {
            return;
        }
        let Some(merge) = &self.merge else {
            return;
        };
        let Some(id) = self.to_merge.pop_front() else {
            return;
        };
        let merge = Arc::clone(merge);
        let merging = id.clone();
        self.merging = Some((id, tokio::task::spawn_blocking(move || merge(&merging))));
    }

    fn merged(&mut self, id: String, verdict: MergeVerdict) {
        let (phase, reason) = match verdict {
            MergeVerdict::Merged { into, commit } => {
                (self.report)(&Event::change(&id, ChangeEvent::Merged { into, commit }));
                (Phase::Merged, None)
            }
            MergeVerdict::Failed(phase, reason) => (phase, Some(reason)),
        };
        (self.report)(&Event::change(
            &id,
            ChangeEvent::Phase {
                phase,
                reason: reason.clone(),
            },
        ));
        self.slots.insert(id.clone(), Slot::Finished);
        self.outcomes.insert(id, Outcome { phase, reason });
    }

    /// Ends a change that never ran (or whose task died) in `phase`.
    fn end(&mut self, id: &str, phase: Phase, reason: Option<String>) {
        (self.report)(&Event::change(
            id,
            ChangeEvent::Phase {
                phase,
                reason: reason.clone(),
            },
        ));
        self.running.steer.remove(id);
        self.let_go(id);
        self.finishing.remove(id);
        self.slots.insert(id.to_owned(), Slot::Finished);
        self.outcomes
            .insert(id.to_owned(), Outcome { phase, reason });
    }

    /// Ctrl-C once: start nothing new and stop the agents gracefully; twice: kill them now,
    /// and give up a merge in progress (a checkout through a hung filter never ends; a merge
    /// is all or nothing across a crash, so the next `git conflux merge` settles it).
    fn interrupt(&mut self) {
        self.interrupts += 1;
        let now = self.interrupts > 1;
        if now {
            self.shared.cancel.kill_now();
        } else {
            self.shared.cancel.cancel();
        }
        (self.report)(&Event::Interrupted { now });
        if now && let Some((id, _)) = self.merging.take() {
            let reason = format!(
                "interrupted while merging; its branch is ready: run `git conflux merge {id}`"
            );
            self.merged(id, MergeVerdict::Failed(Phase::Done, reason));
        }
    }

    /// A request from another terminal.
    fn steer(&mut self, request: Request) -> Reply {
        match request {
            Request::Stop { ids } => Reply::ok(ids.iter().map(|id| self.stop(id)).collect()),
            Request::Tell { id, message, now } => self.tell(&id, message, now),
            Request::Add { ids, jobs } => self.add(&ids, jobs),
            // Subscriptions are served by the socket itself.
            Request::Subscribe => Reply::ok(Vec::new()),
        }
    }

    fn stop(&mut self, id: &str) -> String {
        match self.slots.get(id) {
            None => format!("{id} is not part of this run"),
            Some(Slot::Finished) => format!("{id} has already ended"),
            Some(Slot::Running) if self.gated.iter().any(|(gated, _)| gated == id) => {
                let at = self.gated.iter().position(|(gated, _)| gated == id);
                if let Some((_, gate)) = at.map(|at| self.gated.remove(at)) {
                    let _ = gate.send(Go::NotStarted(
                        Phase::Cancelled,
                        "stopped by `git conflux stop` before it started".into(),
                    ));
                }
                format!("stopped {id} before it started")
            }
            Some(Slot::Running) => match self.running.steer.get(id) {
                Some(steer) => {
                    steer.cancel.cancel();
                    format!("stopping {id}: its agent ends gracefully and its work is committed")
                }
                None => format!("{id} is being merged; it has finished"),
            },
            Some(Slot::Waiting(_)) => {
                self.end(
                    id,
                    Phase::Cancelled,
                    Some("stopped by `git conflux stop` before it started".into()),
                );
                format!("stopped {id} before it started")
            }
        }
    }

    fn tell(&mut self, id: &str, message: String, now: bool) -> Reply {
        let line = format!("message for {id} queued for its next iteration");
        match self.slots.get(id) {
            None => Reply::refused(format!("{id} is not part of this run")),
            Some(Slot::Finished) => Reply::refused(format!("{id} has already ended")),
            Some(Slot::Running) => match self.running.steer.get(id) {
                Some(steer) => {
                    if let Ok(mut inbox) = steer.inbox.lock() {
                        inbox.push(message.clone());
                    }
                    (self.report)(&Event::change(
                        id,
                        ChangeEvent::Told {
                            message: message.clone(),
                        },
                    ));
                    if now {
                        steer.next_iteration();
                        return Reply::ok(vec![format!(
                            "{line}; ending its current iteration now (its work is committed)"
                        )]);
                    }
                    Reply::ok(vec![line])
                }
                None => Reply::refused(format!("{id} is being merged; it has finished")),
            },
            Some(Slot::Waiting(_)) => {
                (self.report)(&Event::change(
                    id,
                    ChangeEvent::Told {
                        message: message.clone(),
                    },
                ));
                self.inbox.entry(id.to_owned()).or_default().push(message);
                Reply::ok(vec![line])
            }
        }
    }

    fn add(&mut self, ids: &[String], jobs: Option<usize>) -> Reply {
        let mut lines = Vec::new();
        if let Some(jobs) = jobs.filter(|&j| j > 0) {
            self.parallel = jobs;
            lines.push(format!("now running at most {jobs} at a time"));
        }
        if self.interrupts > 0 {
            return Reply::refused("the run is stopping; start again when it has ended".into());
        }
        let mut new = Vec::new();
        for id in ids {
            match self.slots.get(id) {
                Some(Slot::Finished) => lines.push(format!(
                    "{id} has already run in this run ({}); start it again once this run ends",
                    self.outcomes.get(id).map_or(Phase::Done, |o| o.phase)
                )),
                Some(_) => lines.push(format!("{id} is already part of this run")),
                None => new.push(id.clone()),
            }
        }
        if new.is_empty() {
            return Reply::ok(lines);
        }
        let Some(planner) = self.planner.as_mut() else {
            return Reply::refused("this run takes no more changes".into());
        };
        let in_run: BTreeSet<String> = self.slots.keys().cloned().collect();
        match planner(&new, &in_run) {
            Ok(jobs) => {
                lines.extend(jobs.iter().map(|j| format!("added {}", j.plan.change.id)));
                self.add_jobs(jobs);
                Reply::ok(lines)
            }
            Err(e) => Reply::refused(e),
        }
    }

    /// Hands free slots out: first to changes prepared ahead (in order), then to waiting
    /// jobs whose dependencies are done. A job that cannot start (its dependencies'
    /// branches conflict) is finished at once. Once the budget is spent, changes prepared
    /// ahead end without starting, like the waiting ones at the end of the run.
    fn launch_ready(&mut self) {
        if self.interrupts > 0 {
            return;
        }
        if let Some(reason) = self.shared.spend.spent_reason() {
            for (_, gate) in std::mem::take(&mut self.gated) {
                let _ = gate.send(Go::NotStarted(
                    Phase::OverBudget,
                    format!("not started: {reason}"),
                ));
            }
            return;
        }
        while self.holding.len() < self.parallel && !self.gated.is_empty() {
            let (id, gate) = self.gated.remove(0);
            if gate.send(Go::Run).is_ok() {
                self.holding.insert(id);
            }
        }
        self.start_waiting(false);
    }

    /// Prepares ahead (worktree and branch, the agent held at its gate) the next waiting
    /// jobs that could start, one per slot whose agent runs: when a slot frees, its next
    /// change's agent starts without waiting for a checkout. Done while the agents run and
    /// no change is between agents, so that it takes no CPU from a change's way to its agent.
    fn prepare_ahead(&mut self) {
        if self.interrupts > 0
            || self.shared.spend.spent_reason().is_some()
            || !self.finishing.is_empty()
            || self.agents_running.len() < self.holding.len()
        {
            return;
        }
        self.start_waiting(true);
    }

    /// Whether there is room for one more change: a free slot, or (`ahead`) a slot whose
    /// agent runs and has no change prepared after it yet.
    fn has_room(&self, ahead: bool) -> bool {
        if ahead {
            self.gated.len() < self.agents_running.len().min(self.parallel)
        } else {
            self.holding.len() < self.parallel
        }
    }

    /// Starts the pipelines of waiting jobs whose dependencies are done while there is room
    /// ([`Dispatcher::has_room`]); `ahead`, held at their gate, and only jobs with nothing
    /// to copy or set up in a new worktree (a kill before their slot comes must leave a
    /// worktree that a resume can simply reuse).
    fn start_waiting(&mut self, ahead: bool) {
        for index in 0..self.order.len() {
            if !self.has_room(ahead) {
                return;
            }
            if !matches!(self.slots.get(&self.order[index]), Some(Slot::Waiting(_))) {
                continue;
            }
            let id = self.order[index].clone();
            let ready = match self.slots.get(&id) {
                Some(Slot::Waiting(job)) => {
                    (!ahead || can_prepare_ahead(&job.plan.config))
                        && job.waits_for.iter().all(|(d, _)| {
                            self.outcomes.get(d).is_some_and(|o| is_success(o.phase))
                                && !self.to_merge.contains(d)
                                && self.merging.as_ref().is_none_or(|(m, _)| m != d)
                        })
                }
                _ => false,
            };
            if !ready {
                continue;
            }
            // Its agent refused in this run: it would refuse this change just the same.
            if let Some(Slot::Waiting(job)) = self.slots.get(&id)
                && let Some(reason) = self.shared.refusal_of(&job.plan.config)
            {
                self.end(&id, Phase::Pending, Some(reason));
                continue;
            }
            let Some(Slot::Waiting(job)) = self.slots.insert(id.clone(), Slot::Running) else {
                continue;
            };
            // Merged dependencies are in the base already; done ones are built on by branch.
            let mut dependencies = job.builds_on.clone();
            dependencies.extend(
                job.waits_for
                    .iter()
                    .filter(|(d, _)| self.outcomes.get(d).is_some_and(|o| o.phase == Phase::Done))
                    .cloned(),
            );
            match start_point(&self.shared, &dependencies, &id) {
                Ok(start) => self.spawn(id, *job, start, ahead),
                Err((phase, reason)) => self.end(&id, phase, Some(reason)),
            }
        }
    }

    /// Runs the pipeline of `job` from `start`: in a slot, or (`ahead`) held at its gate.
    fn spawn(&mut self, id: String, job: Job, start: gix::ObjectId, ahead: bool) {
        let steer = Steer::new(&self.shared.cancel);
        if let Some(messages) = self.inbox.remove(&id)
            && let Ok(mut inbox) = steer.inbox.lock()
        {
            inbox.extend(messages);
        }
        self.running.steer.insert(id.clone(), steer.clone());
        let ticket = if ahead {
            let (ticket, gate) = Ticket::gated(&id, self.freed.clone());
            self.gated.push((id.clone(), gate));
            ticket
        } else {
            self.holding.insert(id.clone());
            Ticket::new(&id, self.freed.clone())
        };
        let shared = Arc::clone(&self.shared);
        let task_id = id.clone();
        let handle = self.running.set.spawn(async move {
            let outcome = pipeline::run(shared, job.plan, start, steer, ticket).await;
            (task_id, outcome)
        });
        self.running.ids.insert(handle.id(), id);
    }

    /// Forgets `id`'s slot, gate and agent: its pipeline ended or gave the slot back.
    fn let_go(&mut self, id: &str) {
        self.holding.remove(id);
        self.agents_running.remove(id);
        self.gated.retain(|(gated, _)| gated != id);
    }

    /// Changes never started: skipped (a dependency failed) or left queued by an interrupt.
    fn finish(mut self, started: Instant) -> Summary {
        for id in self.order.clone() {
            if let Some(Slot::Waiting(job)) = self.slots.remove(&id) {
                let failed_dep = job
                    .waits_for
                    .iter()
                    .map(|(d, _)| d)
                    .find(|d| self.outcomes.get(*d).is_some_and(|o| !is_success(o.phase)));
                let (phase, reason) = match failed_dep {
                    Some(dep)
                        if self.interrupts == 0
                            || self
                                .outcomes
                                .get(dep)
                                .is_some_and(|o| o.phase != Phase::Cancelled) =>
                    {
                        let dep_phase = self.outcomes.get(dep).map_or(Phase::Failed, |o| o.phase);
                        (Phase::Skipped, format!("dependency {dep} {dep_phase}"))
                    }
                    _ => match self.shared.spend.spent_reason() {
                        Some(reason) if self.interrupts == 0 => {
                            (Phase::OverBudget, format!("not started: {reason}"))
                        }
                        _ => (
                            Phase::Cancelled,
                            "interrupted before it started; run `git conflux start` to resume"
                                .to_owned(),
                        ),
                    },
                };
                self.end(&id, phase, Some(reason));
            }
        }
        let elapsed = started.elapsed();
        let mut totals = BTreeMap::new();
        for outcome in self.outcomes.values() {
            *totals.entry(outcome.phase.to_string()).or_insert(0) += 1;
        }
        let spent = self.shared.spend.spent();
        (self.report)(&Event::RunFinished {
            elapsed,
            totals,
            cost_usd: spent.usd,
            tokens: spent.tokens,
        });
        Summary {
            outcomes: self.outcomes,
            interrupted: self.interrupts > 0,
            internal_errors: self.internal_errors,
            refused: self.shared.any_refused(),
        }
    }
}

/// Whether a job may be prepared ahead of its slot: a new worktree of it needs nothing
/// copied or set up, so a worktree left by a kill before its slot came is ready as it is.
fn can_prepare_ahead(config: &crate::config::Config) -> bool {
    config.copy.is_empty() && config.setup.is_none()
}

fn is_success(phase: Phase) -> bool {
    matches!(phase, Phase::Done | Phase::Merged)
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
