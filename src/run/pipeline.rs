//! One change's life: prepare its worktree, loop agent iterations until every task is ticked,
//! verify, and report each step as an [`Event`]. It owns no terminal and no state file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::agent::presets::{self, Invocation, Vars};
use crate::agent::prompt::{self, PromptInput};
use crate::agent::refusal::UsageLimit;
use crate::agent::runner::{Cancel, RunOutcome, RunResult, Stagger};
use crate::agent::verdict::{self, Decision, Verdict};
use crate::change::{self, Change, Task};
use crate::config::{Config, Review};
use crate::error::with_causes;
use crate::files;
use crate::git::{self, Repo, WorktreeSpec};
use crate::run::budget::{RunSpend, Spend};
use crate::run::event::{ChangeEvent, Event, Role};
use crate::run::hooks::{self, HookVars};
use crate::run::memory;
use crate::run::process;
use crate::run::slots::{Go, Ticket};
use crate::run::state::{BranchOwner, ChangeState, Phase, RunDir, branch_owner, now_secs};

/// What every pipeline of one run shares.
pub struct Shared {
    pub repo: Repo,
    /// The main worktree's top level.
    pub root: PathBuf,
    pub run_dir: RunDir,
    pub base: String,
    pub stagger: Stagger,
    pub cancel: Cancel,
    pub events: UnboundedSender<Event>,
    /// The run's spending against its budget.
    pub spend: RunSpend,
    /// Agents that refused in this run (by [`agent_key`]), with the change and reason: no
    /// new run of them starts.
    pub refused: Mutex<std::collections::BTreeMap<String, String>>,
}

/// What makes two changes' agents the same for a refusal: the agent spec and its
/// environment (where keys and models are set).
pub(crate) fn agent_key(config: &Config) -> String {
    serde_json::to_string(&(&config.agent, &config.env)).unwrap_or_default()
}

impl Shared {
    /// Records that the agent of `config` refused in change `id`: every change with the same
    /// agent would hit the same refusal, so none of them starts another run.
    fn refuse(&self, config: &Config, id: &str, reason: &str) {
        if let Ok(mut refused) = self.refused.lock() {
            refused
                .entry(agent_key(config))
                .or_insert_with(|| format!("{reason} (in {id})"));
        }
    }

    /// Why an agent run of `config` is not started: its agent refused in this run.
    pub(crate) fn refusal_of(&self, config: &Config) -> Option<String> {
        let refused = self.refused.lock().ok()?;
        refused.get(&agent_key(config)).map(|reason| {
            format!("not started: {reason}; fix that, then `git conflux start` runs it")
        })
    }

    /// Whether any agent refused in this run.
    pub(crate) fn any_refused(&self) -> bool {
        self.refused.lock().is_ok_and(|r| !r.is_empty())
    }
}

/// One change to run, as the scheduler planned it.
pub struct Plan {
    pub change: Change,
    pub config: Config,
    pub branch: String,
    pub worktree: PathBuf,
    /// The state of an earlier run of this change, if any.
    pub prior: Option<ChangeState>,
}

/// How a pipeline ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub phase: Phase,
    pub reason: Option<String>,
}

impl Outcome {
    fn new(phase: Phase, reason: impl Into<Option<String>>) -> Outcome {
        Outcome {
            phase,
            reason: reason.into(),
        }
    }
}

/// Usage-limit waits in a row for one iteration; an agent that reports a limit again after
/// that many resets fails the change.
const MAX_WAITS: u32 = 3;

/// At most this much of a verify failure or of review findings goes into the next prompt.
const FEEDBACK_BYTES: usize = 4000;

/// At most this much of a reviewer's output is kept to find its verdict in.
const COLLECT_BYTES: usize = 256 * 1024;

/// What the next iteration's prompt asks the agent to fix.
#[derive(Clone, Debug)]
enum Feedback {
    /// The end of a failed verify's output.
    Verify(String),
    /// A failed review's findings.
    Review(Vec<String>),
}

/// The verify step's result.
enum Check {
    Passed,
    Failed(Feedback),
    Cancelled,
    /// Verify passed, but what it wrote could not be committed: the change fails with this.
    Uncommitted(String),
}

/// What another terminal can do to one running change (`git conflux stop ID`, `tell`).
#[derive(Clone)]
pub struct Steer {
    /// Stops this change only (a child of the run's cancel, so a run's stop stops it too).
    pub cancel: Cancel,
    /// Messages for the next iteration's prompt.
    pub inbox: Arc<Mutex<Vec<String>>>,
    /// Ends the current agent run only (`tell --now`): its work is committed and the next
    /// iteration starts, with the message.
    iteration: Arc<Mutex<Cancel>>,
}

impl Steer {
    pub fn new(run: &Cancel) -> Steer {
        let cancel = run.child();
        Steer {
            iteration: Arc::new(Mutex::new(cancel.child())),
            cancel,
            inbox: Arc::default(),
        }
    }

    /// Ends the agent run of the current iteration gracefully.
    pub fn next_iteration(&self) {
        if let Ok(iteration) = self.iteration.lock() {
            iteration.cancel();
        }
    }

    /// A fresh cancel for the iteration that starts now.
    fn new_iteration(&self) {
        if let Ok(mut iteration) = self.iteration.lock() {
            *iteration = self.cancel.child();
        }
    }

    /// The cancel of the agent run of the current iteration.
    fn current_iteration(&self) -> Cancel {
        self.iteration
            .lock()
            .map_or_else(|_| self.cancel.clone(), |c| c.clone())
    }
}

struct Pipeline<'a> {
    shared: &'a Shared,
    plan: &'a Plan,
    steer: &'a Steer,
    /// The change's agent slot, given back once no agent of it will run again.
    ticket: &'a Ticket,
    id: &'a str,
    /// The iteration running now, for hooks.
    iteration: AtomicU32,
    /// What the change's agent runs spent, earlier runs' included.
    spent: Mutex<Spend>,
    /// Prepared ahead, it never got a slot: no hook hears of its end.
    never_started: AtomicBool,
}

/// Runs one change from its start commit to done (or a failure), resuming what exists.
pub async fn run(
    shared: Arc<Shared>,
    plan: Plan,
    start: gix::ObjectId,
    steer: Steer,
    ticket: Ticket,
) -> Outcome {
    let p = Pipeline {
        shared: &shared,
        plan: &plan,
        steer: &steer,
        ticket: &ticket,
        id: &plan.change.id,
        iteration: AtomicU32::new(0),
        spent: Mutex::new(plan.prior.as_ref().map(|s| s.spend()).unwrap_or_default()),
        never_started: AtomicBool::new(false),
    };
    let outcome = p.drive(start).await;
    p.phase(outcome.phase, outcome.reason.clone());
    let hook = if outcome.phase == Phase::Done {
        "on_change_done"
    } else {
        "on_change_failed"
    };
    if outcome.phase != Phase::Cancelled && !p.never_started.load(Ordering::Relaxed) {
        p.hook(hook, outcome.phase.as_str()).await.ok();
    }
    outcome
}

impl Pipeline<'_> {
    fn emit(&self, kind: ChangeEvent) {
        let _ = self.shared.events.send(Event::change(self.id, kind));
    }

    fn phase(&self, phase: Phase, reason: Option<String>) {
        self.emit(ChangeEvent::Phase { phase, reason });
    }

    fn note(&self, text: impl Into<String>) {
        self.emit(ChangeEvent::Note { text: text.into() });
    }

    async fn drive(&self, start: gix::ObjectId) -> Outcome {
        let config = &self.plan.config;
        self.phase(Phase::Preparing, None);
        let worktree = match self.prepare(start).await {
            Ok(wt) => wt,
            Err(outcome) => return outcome,
        };
        if let Err(outcome) = self.slot_taken().await {
            return outcome;
        }
        self.hook("on_change_start", Phase::Preparing.as_str())
            .await
            .ok();
        let mut tasks = match self.read_tasks(&worktree) {
            Ok(t) => t,
            Err(reason) => return Outcome::new(Phase::Failed, reason),
        };
        let prior = self.plan.prior.as_ref();
        let mut iteration = prior.map_or(0, |s| s.iteration);
        // A run killed while it waited for a usage limit waits on until its reset.
        if let Some(waiting) = prior.and_then(|s| s.waiting.as_ref())
            && waiting.until > now_secs()
        {
            let limit = UsageLimit {
                until: waiting.until,
                words: waiting.words.clone(),
            };
            if let Err(outcome) = self.wait_for_reset(&worktree, iteration, &limit).await {
                return outcome;
            }
        }
        let mut review_round = prior
            .and_then(|s| s.review.as_ref())
            .map_or(0, |r| r.rounds);
        let mut session_iterations = 0u32;
        let mut session_reviews = 0u32;
        let mut stalled_for = 0u32;
        // What the agent is told to fix next: a failed verify, or a review's findings.
        let mut feedback: Option<Feedback> = prior
            .and_then(|s| s.last_verify_failure.clone())
            .map(Feedback::Verify);
        loop {
            if self.steer.cancel.is_cancelled() {
                return self.cancelled(&worktree, iteration).await;
            }
            let done = tasks.iter().filter(|t| t.done).count();
            if tasks.is_empty() {
                return Outcome::new(
                    Phase::Failed,
                    format!(
                        "{} has no tasks: write `- [ ] …` lines for the agent to work through",
                        self.plan.change.tasks_file.display()
                    ),
                );
            }
            if done == tasks.len() {
                match self.check(&worktree, iteration).await {
                    Check::Failed(next) => feedback = Some(next),
                    Check::Passed => {
                        let Some(review) = &config.review else {
                            return Outcome::new(Phase::Done, None);
                        };
                        if let Some(outcome) = self.over_budget() {
                            return outcome;
                        }
                        review_round += 1;
                        session_reviews += 1;
                        match self.review(review, &worktree, review_round).await {
                            Ok(Verdict {
                                verdict: Decision::Pass,
                                ..
                            }) => {
                                return Outcome::new(Phase::Done, None);
                            }
                            Ok(Verdict {
                                verdict: Decision::Blocked,
                                findings,
                            }) => {
                                return Outcome::new(
                                    Phase::Blocked,
                                    format!("the reviewer says: {}", findings.join("; ")),
                                );
                            }
                            Ok(Verdict {
                                verdict: Decision::Fail,
                                findings,
                            }) => {
                                if session_reviews >= review.max_rounds {
                                    return Outcome::new(
                                        Phase::Failed,
                                        format!(
                                            "failed review {session_reviews} time(s) (review.max_rounds): {}",
                                            findings.join("; ")
                                        ),
                                    );
                                }
                                feedback = Some(Feedback::Review(findings));
                            }
                            Err(outcome) => return outcome,
                        }
                    }
                    Check::Cancelled => return self.cancelled(&worktree, iteration).await,
                    Check::Uncommitted(reason) => return Outcome::new(Phase::Failed, reason),
                }
            }
            if let Some(outcome) = self.over_budget() {
                return outcome;
            }
            if session_iterations >= config.max_iterations {
                return Outcome::new(
                    Phase::Failed,
                    format!(
                        "{session_iterations} iterations (max_iterations) without finishing; {done}/{} tasks done",
                        tasks.len()
                    ),
                );
            }
            iteration += 1;
            session_iterations += 1;
            self.iteration.store(iteration, Ordering::Relaxed);
            self.phase(Phase::Applying, None);
            self.emit(ChangeEvent::IterationStarted {
                iteration,
                in_run: session_iterations,
                max: config.max_iterations,
            });
            if let Err(reason) = self.hook("pre_iteration", Phase::Applying.as_str()).await {
                return Outcome::new(
                    Phase::Failed,
                    format!("iteration {iteration} not run: {reason}"),
                );
            }
            let before = done;
            let result = self
                .run_agent(&worktree, &tasks, iteration, feedback.as_ref())
                .await;
            let committed = self
                .commit_iteration(&worktree, iteration, result.is_ok())
                .await;
            self.hook("post_iteration", Phase::Applying.as_str())
                .await
                .ok();
            match (result, committed) {
                (Err(outcome), _) => return outcome,
                (Ok(()), Err(reason)) => return Outcome::new(Phase::Failed, reason),
                (Ok(()), Ok(now)) => tasks = now,
            }
            let done = tasks.iter().filter(|t| t.done).count();
            if done > before {
                stalled_for = 0;
            } else if feedback.is_none() || done < tasks.len() {
                // Fixing a verify failure or a review ticks nothing new; that is not a stall.
                stalled_for += 1;
                if stalled_for >= config.stall_iterations {
                    return Outcome::new(
                        Phase::Stalled,
                        format!(
                            "{stalled_for} iterations in a row ticked no new task; {done}/{} tasks done",
                            tasks.len()
                        ),
                    );
                }
            }
            if done < tasks.len() {
                feedback = None;
            }
        }
    }

    /// The verify command, when one is configured, once every task is ticked.
    async fn check(&self, worktree: &Path, iteration: u32) -> Check {
        let Some(verify) = self.plan.config.verify.clone() else {
            return Check::Passed;
        };
        self.phase(Phase::Verifying, None);
        let outcome = self
            .run_command(Role::Verify, &verify, worktree, iteration)
            .await;
        match outcome.result {
            RunResult::Success => {
                self.note("verify passed");
                // Whatever verify wrote that .gitignore does not hide is kept, like agent work.
                match self
                    .commit(worktree, &format!("conflux({}): verified", self.id))
                    .await
                {
                    Ok(()) => Check::Passed,
                    Err(reason) => Check::Uncommitted(reason),
                }
            }
            RunResult::Cancelled => Check::Cancelled,
            _ => {
                let tail = tail(&outcome.output_tail, FEEDBACK_BYTES);
                self.emit(ChangeEvent::VerifyFailed {
                    output_tail: tail.clone(),
                });
                Check::Failed(Feedback::Verify(tail))
            }
        }
    }

    /// One review round: the reviewer judges the committed state; whatever it changes is set
    /// aside on `refs/conflux/review/<id>/<round>`. No verdict: asked once more, then failed.
    async fn review(
        &self,
        review: &Review,
        worktree: &Path,
        round: u32,
    ) -> Result<Verdict, Outcome> {
        let spec = review.agent.as_ref().or(self.plan.config.agent.as_ref());
        let Some(spec) = spec else {
            return Err(Outcome::new(
                Phase::Failed,
                "no agent configured".to_owned(),
            ));
        };
        self.phase(Phase::Reviewing, None);
        let reviewed = self.branch_tip().await?;
        let start_commit = self
            .plan
            .prior
            .as_ref()
            .and_then(|s| s.start_commit.clone());
        let text = prompt::render_review(
            review.prompt.as_deref(),
            &self.plan.change,
            &documents(worktree, &self.plan.change),
            &self.plan.branch,
            start_commit.as_deref().unwrap_or(&self.shared.base),
            round,
        );
        for attempt in 1..=2 {
            let vars = self.vars(
                worktree,
                text.clone(),
                "review",
                self.iteration.load(Ordering::Relaxed),
            );
            let invocation = presets::build(spec, &vars)
                .map_err(|e| Outcome::new(Phase::Failed, e.to_string()))?;
            let mut said = String::new();
            let outcome = self
                .supervise(Role::Review, invocation, worktree, Some(&mut said))
                .await;
            self.charge(
                Role::Review,
                self.iteration.load(Ordering::Relaxed),
                &outcome,
            );
            if let Some(text) = &outcome.usage.final_text {
                said.push('\n');
                said.push_str(text);
            }
            let side_ref = format!("refs/conflux/review/{}/{round}", self.id);
            self.set_aside(worktree, reviewed, &side_ref, round).await?;
            match outcome.result {
                RunResult::Success => {}
                RunResult::Cancelled => return Err(self.cancelled(worktree, round).await),
                _ => {
                    return Err(Outcome::new(
                        Phase::Failed,
                        format!("the reviewer {}", process::Ended(Role::Review, &outcome)),
                    ));
                }
            }
            let found = verdict::find(&said);
            self.emit(ChangeEvent::Reviewed {
                round,
                verdict: found.as_ref().map(|v| v.verdict),
                findings: found
                    .as_ref()
                    .map(|v| v.findings.clone())
                    .unwrap_or_default(),
            });
            let state = found.as_ref().map_or("no verdict", |v| v.verdict.as_str());
            self.hook("on_review", state).await.ok();
            if let Some(found) = found {
                return Ok(found);
            }
            self.note(format!(
                "review round {round} gave no verdict ({state}); attempt {attempt} of 2"
            ));
        }
        Err(Outcome::new(
            Phase::Failed,
            "review gave no verdict".to_owned(),
        ))
    }

    async fn branch_tip(&self) -> Result<gix::ObjectId, Outcome> {
        let repo = self.shared.repo.clone();
        let branch = self.plan.branch.clone();
        let tip = tokio::task::spawn_blocking(move || repo.branch_tip(&branch))
            .await
            .map_err(|e| Outcome::new(Phase::Failed, format!("reading the branch panicked: {e}")))?
            .map_err(|e| Outcome::new(Phase::Failed, with_causes(&e)))?;
        tip.ok_or_else(|| {
            Outcome::new(
                Phase::Failed,
                format!("the branch {} is gone", self.plan.branch),
            )
        })
    }

    /// Puts aside what the reviewer changed, restoring the reviewed commit.
    async fn set_aside(
        &self,
        worktree: &Path,
        reviewed: gix::ObjectId,
        side_ref: &str,
        round: u32,
    ) -> Result<(), Outcome> {
        let (repo, wt, branch, side) = (
            self.shared.repo.clone(),
            worktree.to_owned(),
            self.plan.branch.clone(),
            side_ref.to_owned(),
        );
        let message = format!(
            "conflux({}): left by the reviewer in round {round}",
            self.id
        );
        let aside = tokio::task::spawn_blocking(move || {
            repo.set_aside(&wt, &branch, reviewed, &side, &message)
        })
        .await
        .map_err(|e| {
            Outcome::new(
                Phase::Failed,
                format!("restoring the worktree panicked: {e}"),
            )
        })?
        .map_err(|e| {
            Outcome::new(
                Phase::Failed,
                format!("cannot restore the worktree after the review: {e}"),
            )
        })?;
        if let Some(commit) = aside {
            self.note(format!(
                "the reviewer changed the worktree; its changes are kept at {side_ref} ({}) and the worktree was restored",
                crate::ui::short(&commit.to_string())
            ));
        }
        Ok(())
    }

    /// Runs a configured hook in the worktree (the repository root before it exists);
    /// its lines go to the log. `Err` carries the reason when it failed.
    async fn hook(&self, event: &str, state: &str) -> Result<(), String> {
        let worktree = self.plan.worktree.clone();
        let tasks = change::read_tasks(&worktree, &self.plan.change.tasks_file).unwrap_or_default();
        let vars = HookVars {
            change_id: Some(self.id.to_owned()),
            worktree: Some(worktree.clone()),
            branch: Some(self.plan.branch.clone()),
            iteration: Some(self.iteration.load(Ordering::Relaxed)),
            state: Some(state.to_owned()),
            tasks_done: Some(tasks.iter().filter(|t| t.done).count()),
            tasks_total: Some(tasks.len()),
        };
        let cwd = if worktree.is_dir() {
            worktree
        } else {
            self.shared.root.clone()
        };
        let mut on_line = |line: String| {
            self.emit(ChangeEvent::Output {
                role: Role::Hook,
                line,
            })
        };
        let result = hooks::run(
            &self.plan.config,
            event,
            &vars,
            &cwd,
            &self.steer.cancel,
            &mut on_line,
        )
        .await;
        match result {
            None => Ok(()),
            Some(Ok(())) => {
                self.note(format!("hook {event} ran"));
                Ok(())
            }
            Some(Err(e)) => {
                let reason = e.to_string();
                self.note(reason.clone());
                Err(reason)
            }
        }
    }

    /// The worktree, created or reused, with `copy` files and `setup` on creation. Each step
    /// gives way to a Ctrl-C: the change is then `cancelled`, and a worktree created in this
    /// run whose copy or setup did not finish is removed again, so that resuming creates it
    /// anew and runs them.
    async fn prepare(&self, start: gix::ObjectId) -> Result<PathBuf, Outcome> {
        let failed = |reason: String| Outcome::new(Phase::Failed, reason);
        // Checked in preflight too; a branch made since (a change queued behind its
        // dependencies waits a while) is just as much someone else's.
        let owner = branch_owner(
            &self.shared.repo,
            self.plan.prior.as_ref(),
            &self.plan.branch,
        )
        .map_err(|e| failed(with_causes(&e)))?;
        if owner == BranchOwner::Other {
            return Err(failed(format!(
                "branch {} was created meanwhile, not by git conflux; it is left alone: rename or delete it, then run git conflux start again",
                self.plan.branch
            )));
        }
        let spec = WorktreeSpec {
            id: self.id.to_owned(),
            branch: self.plan.branch.clone(),
            path: self.plan.worktree.clone(),
            start,
        };
        let repo = self.shared.repo.clone();
        let prepared = self
            .blocking("creating the worktree", move || {
                repo.prepare_worktree(&spec)
            })
            .await?
            .map_err(|e| failed(with_causes(&e)))?;
        self.emit(ChangeEvent::WorktreeReady {
            path: prepared.path.clone(),
            branch: self.plan.branch.clone(),
            created: prepared.created,
            created_branch: prepared.created_branch,
            start_commit: prepared.head.to_string(),
        });
        if prepared.created
            && let Err(outcome) = self.furnish(&prepared.path).await
        {
            if outcome.phase == Phase::Cancelled {
                self.remove_unfurnished(&prepared.path).await;
            }
            return Err(outcome);
        }
        Ok(prepared.path)
    }

    /// Waits until the change holds an agent slot: at once, unless it was prepared ahead.
    async fn slot_taken(&self) -> Result<(), Outcome> {
        // Prepared ahead, it is queued again until its slot comes: it runs no agent, and
        // the progress view and `status` count it among the queued, not the running.
        let gated = self.ticket.is_gated();
        if gated {
            self.phase(
                Phase::Queued,
                Some("worktree ready; waits for a free agent slot".into()),
            );
        }
        let go = tokio::select! {
            biased;
            go = self.ticket.taken() => go,
            _ = self.steer.cancel.cancelled() => {
                self.never_started.store(true, Ordering::Relaxed);
                return Err(self.interrupted(" before its agent started"));
            }
        };
        // Its agent may have refused in another change while it waited at its gate.
        let refused = || self.shared.refusal_of(&self.plan.config);
        let not_started = match go {
            Go::Run => refused().map(|reason| (Phase::Pending, reason)),
            Go::NotStarted(phase, reason) => Some((phase, reason)),
        };
        match not_started {
            None => {
                if gated {
                    self.phase(Phase::Preparing, None);
                }
                Ok(())
            }
            Some((phase, reason)) => {
                self.never_started.store(true, Ordering::Relaxed);
                Err(Outcome::new(phase, reason))
            }
        }
    }

    /// A new worktree's `copy` files and `setup` command.
    async fn furnish(&self, worktree: &Path) -> Result<(), Outcome> {
        let (root, dest) = (self.shared.root.clone(), worktree.to_owned());
        let entries = self.plan.config.copy.clone();
        // Not given up on like a checkout: the copy looks at the stop between items and ends
        // before the worktree it writes into is removed.
        let cancel = self.steer.cancel.clone();
        let copied = tokio::task::spawn_blocking(move || -> Result<bool, String> {
            for entry in &entries {
                let items = files::copy_items(&root, entry).map_err(|e| with_causes(&e))?;
                for item in &items {
                    if cancel.is_cancelled() {
                        return Ok(false);
                    }
                    files::copy_into(&root, &dest, std::slice::from_ref(item))
                        .map_err(|e| with_causes(&e))?;
                }
            }
            Ok(true)
        })
        .await
        .map_err(|e| format!("copying files into the worktree panicked: {e}"))
        .and_then(|r| r)
        .map_err(|reason| Outcome::new(Phase::Failed, reason))?;
        if !copied {
            return Err(self.interrupted(" while copying files into the worktree"));
        }
        let Some(setup) = self.plan.config.setup.clone() else {
            return Ok(());
        };
        let outcome = self.run_command(Role::Setup, &setup, worktree, 0).await;
        match outcome.result {
            RunResult::Success => Ok(()),
            RunResult::Cancelled => Err(self.interrupted(" during setup")),
            _ => Err(Outcome::new(
                Phase::Failed,
                format!(
                    "setup command `{setup}` failed; fix it in .conflux.yaml (it runs again when the worktree is recreated): {}",
                    tail(&outcome.output_tail, 400)
                ),
            )),
        }
    }

    /// Removes a worktree this run created whose copy or setup was interrupted; the branch,
    /// which holds no work of the agent yet, stays.
    async fn remove_unfurnished(&self, worktree: &Path) {
        let (repo, path) = (self.shared.repo.clone(), worktree.to_owned());
        let removed = tokio::task::spawn_blocking(move || repo.remove_worktree(&path, true)).await;
        match removed {
            Ok(Ok(())) => self.note(format!(
                "removed the new worktree {}, whose preparation was interrupted; it is created again on resume",
                worktree.display()
            )),
            Ok(Err(e)) => self.note(with_causes(&e)),
            Err(e) => self.note(format!("removing the worktree panicked: {e}")),
        }
    }

    /// Runs `work` on a blocking thread unless the run is stopped first: a step that may
    /// block for good (a checkout through a hung filter) must not hold up a Ctrl-C. A step
    /// given up on is left to end with the process; an interrupted worktree creation is
    /// started over on resume.
    async fn blocking<T: Send + 'static>(
        &self,
        what: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Outcome> {
        let task = memory::spawn_git_step(work);
        tokio::select! {
            joined = task => joined
                .map_err(|e| Outcome::new(Phase::Failed, format!("{what} panicked: {e}"))),
            _ = self.steer.cancel.cancelled() => Err(self.interrupted(&format!(" while {what}"))),
        }
    }

    /// The outcome of a change stopped by Ctrl-C (or another stop); `when` (" during
    /// setup") follows "interrupted".
    fn interrupted(&self, when: &str) -> Outcome {
        let id = self.id;
        let reason = if self.shared.cancel.is_cancelled() {
            format!("interrupted{when}; run `git conflux start` to resume")
        } else {
            format!("stopped{when} by `git conflux stop {id}`; `git conflux start {id}` resumes it")
        };
        Outcome::new(Phase::Cancelled, reason)
    }

    /// The change's tasks as the worktree's tasks file has them now.
    fn read_tasks(&self, worktree: &Path) -> Result<Vec<Task>, String> {
        let tasks = change::read_tasks(worktree, &self.plan.change.tasks_file)
            .map_err(|e| e.to_string())?;
        self.emit(ChangeEvent::Tasks {
            done: tasks.iter().filter(|t| t.done).count(),
            total: tasks.len(),
        });
        Ok(tasks)
    }

    async fn run_agent(
        &self,
        worktree: &Path,
        tasks: &[Task],
        iteration: u32,
        feedback: Option<&Feedback>,
    ) -> Result<(), Outcome> {
        let config = &self.plan.config;
        let Some(spec) = config.agent.as_ref() else {
            return Err(Outcome::new(
                Phase::Failed,
                "no agent configured".to_owned(),
            ));
        };
        let messages: Vec<String> = self
            .steer
            .inbox
            .lock()
            .map(|mut inbox| std::mem::take(&mut *inbox))
            .unwrap_or_default();
        if !messages.is_empty() {
            self.emit(ChangeEvent::MessagesDelivered {
                iteration,
                messages: messages.clone(),
            });
        }
        self.steer.new_iteration();
        let text = iteration_prompt(self.plan, worktree, tasks, iteration, feedback, &messages);
        // Kept with the log whichever way it reaches the agent (`logs --prompt` shows it).
        let kept = self.shared.run_dir.kept_prompt_path(self.id, iteration);
        if let Err(e) = crate::files::write_atomic(&kept, text.as_bytes()) {
            self.note(format!("cannot keep the prompt in {}: {e}", kept.display()));
        }
        let vars = self.vars(worktree, text, "md", iteration);
        let invocation =
            presets::build(spec, &vars).map_err(|e| Outcome::new(Phase::Failed, e.to_string()))?;
        // A usage limit is waited out and the same run started again: no iteration and no
        // retry is spent on it.
        let mut waits = 0;
        let outcome = loop {
            if let Some(reason) = self.shared.refusal_of(config) {
                return Err(Outcome::new(Phase::Pending, reason));
            }
            let outcome = self
                .supervise(Role::Agent, invocation.clone(), worktree, None)
                .await;
            self.charge(Role::Agent, iteration, &outcome);
            match &outcome.result {
                // An agent still at its limit after several resets is not waited for again.
                RunResult::UsageLimit(limit) if waits < MAX_WAITS => {
                    waits += 1;
                    self.wait_for_reset(worktree, iteration, limit).await?
                }
                _ => break outcome,
            }
        };
        match outcome.result {
            RunResult::Success => Ok(()),
            RunResult::UsageLimit(limit) => Err(Outcome::new(
                Phase::Failed,
                format!(
                    "the agent still reports a usage limit after {MAX_WAITS} waits for its reset: {}",
                    limit.words
                ),
            )),
            RunResult::Refused(refusal) => {
                let reason = refusal.to_string();
                self.shared.refuse(config, self.id, &reason);
                Err(Outcome::new(Phase::Failed, reason))
            }
            // `tell --now` ended this iteration only: its work is committed, the next starts.
            RunResult::Cancelled if !self.steer.cancel.is_cancelled() => Ok(()),
            RunResult::Cancelled => Err(self.cancelled(worktree, iteration).await),
            _ => Err(Outcome::new(
                Phase::Failed,
                format!("the agent {}", process::Ended(Role::Agent, &outcome)),
            )),
        }
    }

    /// Counts what an agent run spent (retries included) against the change and the run,
    /// and reports it.
    fn charge(&self, role: Role, iteration: u32, outcome: &RunOutcome) {
        let Some(spend) = Spend::of(&outcome.usage) else {
            return;
        };
        if let Ok(mut spent) = self.spent.lock() {
            *spent = spent.plus(&spend);
        }
        self.shared.spend.charge(&spend);
        self.emit(ChangeEvent::Cost {
            role,
            iteration,
            spend,
        });
    }

    /// The change ends `over-budget` before another agent run when its own budget or the
    /// run's is spent. Its work is committed; a higher budget continues it.
    fn over_budget(&self) -> Option<Outcome> {
        let spent = self.spent.lock().map(|s| *s).unwrap_or_default();
        let id = self.id;
        let reason = match self.plan.config.budget.crossed(&spent) {
            Some(how) => format!(
                "its budget is spent ({how}; budget in .conflux.yaml or its front matter); raise it and run `git conflux start {id}` to continue"
            ),
            None => self.shared.spend.spent_reason()?,
        };
        Some(Outcome::new(Phase::OverBudget, reason))
    }

    /// Waits until the agent's usage limit resets (phase `waiting`, recorded so that a
    /// resumed run waits on), unless the reset is further off than `max_wait` (the change
    /// fails, naming the reset) or the change is stopped meanwhile (at once).
    async fn wait_for_reset(
        &self,
        worktree: &Path,
        iteration: u32,
        limit: &UsageLimit,
    ) -> Result<(), Outcome> {
        let max_wait = self.plan.config.max_wait;
        let left = limit.until.saturating_sub(now_secs());
        if left > max_wait.as_secs() {
            return Err(Outcome::new(
                Phase::Failed,
                format!(
                    "the agent hit a usage limit that resets at {} (in {}), later than max_wait ({}): {}; run `git conflux start` after the reset, or raise max_wait",
                    crate::ui::local_clock(limit.until),
                    humantime::format_duration(Duration::from_secs(left)),
                    humantime::format_duration(max_wait),
                    limit.words
                ),
            ));
        }
        self.emit(ChangeEvent::Waiting {
            until: limit.until,
            words: limit.words.clone(),
        });
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(left)) => {}
            _ = self.steer.cancel.cancelled() => return Err(self.cancelled(worktree, iteration).await),
        }
        self.phase(Phase::Applying, None);
        Ok(())
    }

    fn vars(&self, worktree: &Path, prompt: String, kind: &str, iteration: u32) -> Vars {
        let mut prompt_file = self.shared.run_dir.prompt_path(self.id);
        if kind != "md" {
            prompt_file.set_extension(format!("{kind}.md"));
        }
        Vars {
            change_id: self.id.to_owned(),
            worktree: worktree.to_owned(),
            base: self.shared.base.clone(),
            prompt,
            prompt_file,
            iteration,
        }
    }

    /// Runs a configured shell command (setup, verify) in the worktree through the runner.
    async fn run_command(
        &self,
        role: Role,
        command: &str,
        worktree: &Path,
        iteration: u32,
    ) -> RunOutcome {
        let vars = process::StepVars {
            change_id: self.id,
            worktree,
            base: &self.shared.base,
            iteration,
        };
        match process::step(command, &vars) {
            Ok(invocation) => self.supervise(role, invocation, worktree, None).await,
            // Checked when the configuration was read; kept as a failure, never a panic.
            Err(reason) => RunOutcome::failed(reason),
        }
    }

    /// Runs one process of the change through [`process::launch`], reporting its events as
    /// the change's; the agent's own iteration's stop ends it. With `collect`, its decoded
    /// lines are also gathered (bounded).
    async fn supervise(
        &self,
        role: Role,
        invocation: Invocation,
        cwd: &Path,
        mut collect: Option<&mut String>,
    ) -> RunOutcome {
        let mut on_event = |event: ChangeEvent| {
            if let (ChangeEvent::Output { line, .. }, Some(buf)) = (&event, collect.as_deref_mut())
            {
                if buf.len() > COLLECT_BYTES {
                    let cut = buf.len() - COLLECT_BYTES / 2;
                    let cut = (cut..buf.len())
                        .find(|&i| buf.is_char_boundary(i))
                        .unwrap_or(buf.len());
                    buf.drain(..cut);
                }
                buf.push_str(line);
                buf.push('\n');
            }
            self.emit(event);
        };
        let cancel = if role == Role::Agent {
            self.steer.current_iteration()
        } else {
            self.steer.cancel.clone()
        };
        let config = &self.plan.config;
        let stagger = Some(&self.shared.stagger);
        process::launch(
            role,
            config,
            invocation,
            cwd,
            stagger,
            &cancel,
            &mut on_event,
        )
        .await
    }

    /// Commits what the worktree holds after an iteration and re-reads the tasks. When no
    /// agent of the change will run again (its agent ticked the last task and nothing is
    /// verified or reviewed), the slot goes to the next change before the commit. A failed
    /// agent keeps it to the end: its news (the failure) comes before the next change's.
    async fn commit_iteration(
        &self,
        worktree: &Path,
        iteration: u32,
        agent_ok: bool,
    ) -> Result<Vec<Task>, String> {
        let tasks = self.read_tasks(worktree)?;
        let done = tasks.iter().filter(|t| t.done).count();
        let config = &self.plan.config;
        let finished = !tasks.is_empty()
            && done == tasks.len()
            && config.verify.is_none()
            && config.review.is_none();
        if agent_ok && finished {
            self.ticket.release();
        }
        let message = format!(
            "conflux({}): iteration {iteration} — {done}/{} tasks",
            self.id,
            tasks.len()
        );
        self.commit(worktree, &message).await?;
        Ok(tasks)
    }

    async fn commit(&self, worktree: &Path, message: &str) -> Result<(), String> {
        let wt = worktree.to_owned();
        let msg = message.to_owned();
        let committed = memory::spawn_git_step(move || git::commit_all(&wt, &msg))
            .await
            .map_err(|e| format!("committing panicked: {e}"))?
            .map_err(|e| {
                format!(
                    "cannot commit the work in {}: {}",
                    worktree.display(),
                    with_causes(&e)
                )
            })?;
        if let Some(commit) = committed {
            self.emit(ChangeEvent::Committed {
                commit: commit.to_string(),
                message: message.to_owned(),
            });
        }
        Ok(())
    }

    /// Keeps what an interrupted iteration left, then reports the change cancelled.
    async fn cancelled(&self, worktree: &Path, iteration: u32) -> Outcome {
        let message = format!("conflux({}): iteration {iteration} (interrupted)", self.id);
        if let Err(reason) = self.commit(worktree, &message).await {
            self.note(reason);
        }
        self.interrupted("")
    }
}

/// The change's documents that exist in the worktree, as paths relative to it.
/// The prompt of iteration `iteration`: the template (or the default) filled from the
/// change, its tasks as in `worktree`, the last verify failure or review findings, and the
/// messages told to it.
fn iteration_prompt(
    plan: &Plan,
    worktree: &Path,
    tasks: &[Task],
    iteration: u32,
    feedback: Option<&Feedback>,
    messages: &[String],
) -> String {
    let verify = plan.config.verify.as_deref().unwrap_or_default();
    prompt::render(
        plan.config.prompt.as_deref(),
        &PromptInput {
            change: &plan.change,
            tasks,
            iteration,
            verify_failure: match feedback {
                Some(Feedback::Verify(tail)) => Some((verify, tail.as_str())),
                _ => None,
            },
            messages,
            review_findings: match feedback {
                Some(Feedback::Review(findings)) => findings.as_slice(),
                _ => &[],
            },
            documents: &documents(worktree, &plan.change),
        },
    )
}

/// The prompt the change's next iteration would get, for `start --dry-run`: its number, and
/// the text from what is on disk now (the worktree when it exists, else the checkout at
/// `root`), with the last verify failure and waiting messages of its earlier run.
pub(crate) fn next_prompt(plan: &Plan, root: &Path) -> (u32, String) {
    let prior = plan.prior.as_ref();
    let iteration = prior.map_or(0, |s| s.iteration) + 1;
    let dir = if plan.worktree.is_dir() {
        plan.worktree.as_path()
    } else {
        root
    };
    let tasks = change::read_tasks(dir, &plan.change.tasks_file)
        .unwrap_or_else(|_| plan.change.tasks.clone());
    let feedback = prior
        .and_then(|s| s.last_verify_failure.clone())
        .map(Feedback::Verify);
    let messages = prior.map_or(&[][..], |s| s.messages.as_slice());
    let text = iteration_prompt(plan, dir, &tasks, iteration, feedback.as_ref(), messages);
    (iteration, text)
}

fn documents(worktree: &Path, change: &Change) -> Vec<String> {
    let dir = &change.dir;
    [
        "proposal.md",
        "design.md",
        "spec.md",
        "plan.md",
        "specs",
        "research.md",
        "data-model.md",
        "contracts",
    ]
    .iter()
    .map(|name| dir.join(name))
    .filter(|rel| worktree.join(rel).exists())
    .map(|rel| rel.display().to_string())
    .collect()
}

/// The last `max` bytes of `text`, cut at a character boundary.
fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}
