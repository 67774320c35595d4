//! One change's life: prepare its worktree, loop agent iterations until every task is ticked,
//! verify, and report each step as an [`Event`]. It owns no terminal and no state file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::agent::presets::{self, Invocation, Vars};
use crate::agent::prompt::{self, PromptInput};
use crate::agent::runner::{
    self, AgentEvent, Cancel, Limits, RetryPolicy, RunOutcome, RunRequest, RunResult, Stagger,
};
use crate::agent::stream::StreamFormat;
use crate::change::{self, Change, Task};
use crate::config::Config;
use crate::git::{self, Repo, WorktreeSpec};
use crate::run::event::{ChangeEvent, Event, Role};
use crate::run::hooks::{self, HookVars};
use crate::run::state::{ChangeState, Phase, RunDir};

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

/// Lines of verify output handed back to the agent.
const VERIFY_TAIL_BYTES: usize = 4000;

struct Pipeline<'a> {
    shared: &'a Shared,
    plan: &'a Plan,
    id: &'a str,
    /// The iteration running now, for hooks.
    iteration: AtomicU32,
}

/// Runs one change from its start commit to done (or a failure), resuming what exists.
pub async fn run(shared: Arc<Shared>, plan: Plan, start: gix::ObjectId) -> Outcome {
    let p = Pipeline {
        shared: &shared,
        plan: &plan,
        id: &plan.change.id,
        iteration: AtomicU32::new(0),
    };
    let outcome = p.drive(start).await;
    p.phase(outcome.phase, outcome.reason.clone());
    let hook = if outcome.phase == Phase::Done {
        "on_change_done"
    } else {
        "on_change_failed"
    };
    if outcome.phase != Phase::Cancelled {
        p.hook(hook, outcome.phase).await.ok();
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
            Err(reason) => return Outcome::new(Phase::Failed, reason),
        };
        self.hook("on_change_start", Phase::Preparing).await.ok();
        let tasks_path = worktree.join(&self.plan.change.tasks_file);
        let mut tasks = match self.read_tasks(&tasks_path) {
            Ok(t) => t,
            Err(reason) => return Outcome::new(Phase::Failed, reason),
        };
        let mut iteration = self.plan.prior.as_ref().map_or(0, |s| s.iteration);
        let mut session_iterations = 0u32;
        let mut stalled_for = 0u32;
        let mut verify_failure: Option<String> = self
            .plan
            .prior
            .as_ref()
            .and_then(|s| s.last_verify_failure.clone());
        loop {
            if self.shared.cancel.is_cancelled() {
                return self.cancelled(&worktree, iteration).await;
            }
            let done = tasks.iter().filter(|t| t.done).count();
            if done == tasks.len() && !tasks.is_empty() {
                // Every task ticked: verify, or finish.
                let Some(verify) = config.verify.clone() else {
                    return Outcome::new(Phase::Done, None);
                };
                self.phase(Phase::Verifying, None);
                let outcome = self
                    .run_command(Role::Verify, &verify, &worktree, iteration)
                    .await;
                match outcome.result {
                    RunResult::Success => {
                        self.commit(&worktree, &format!("conflux({}): verified", self.id))
                            .await
                            .ok();
                        return Outcome::new(Phase::Done, None);
                    }
                    RunResult::Cancelled => return self.cancelled(&worktree, iteration).await,
                    _ => {
                        let tail = tail(&outcome.output_tail, VERIFY_TAIL_BYTES);
                        self.emit(ChangeEvent::VerifyFailed {
                            output_tail: tail.clone(),
                        });
                        verify_failure = Some(tail);
                    }
                }
            } else if tasks.is_empty() {
                return Outcome::new(
                    Phase::Failed,
                    format!(
                        "{} has no tasks: write `- [ ] …` lines for the agent to work through",
                        self.plan.change.tasks_file.display()
                    ),
                );
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
                max: config.max_iterations,
            });
            if let Err(reason) = self.hook("pre_iteration", Phase::Applying).await {
                return Outcome::new(
                    Phase::Failed,
                    format!("iteration {iteration} not run: {reason}"),
                );
            }
            let before = done;
            let result = self
                .run_agent(&worktree, &tasks, iteration, verify_failure.as_deref())
                .await;
            let committed = self
                .commit_iteration(&worktree, &tasks_path, iteration)
                .await;
            self.hook("post_iteration", Phase::Applying).await.ok();
            match (result, committed) {
                (Err(outcome), _) => return outcome,
                (Ok(()), Err(reason)) => return Outcome::new(Phase::Failed, reason),
                (Ok(()), Ok(now)) => tasks = now,
            }
            let done = tasks.iter().filter(|t| t.done).count();
            if done > before {
                stalled_for = 0;
                verify_failure = if done == tasks.len() {
                    verify_failure
                } else {
                    None
                };
            } else if verify_failure.is_none() || done < tasks.len() {
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
        }
    }

    /// Runs a configured hook in the worktree (the repository root before it exists);
    /// its lines go to the log. `Err` carries the reason when it failed.
    async fn hook(&self, event: &str, phase: Phase) -> Result<(), String> {
        let worktree = self.plan.worktree.clone();
        let tasks =
            change::read_tasks(&worktree.join(&self.plan.change.tasks_file)).unwrap_or_default();
        let vars = HookVars {
            change_id: Some(self.id.to_owned()),
            worktree: Some(worktree.clone()),
            branch: Some(self.plan.branch.clone()),
            iteration: Some(self.iteration.load(Ordering::Relaxed)),
            state: Some(phase.to_string()),
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
            &self.shared.cancel,
            &mut on_line,
        )
        .await;
        match result {
            None => Ok(()),
            Some(Ok(())) => {
                self.note(format!("hook {event} ran"));
                Ok(())
            }
            Some(Err(reason)) => {
                self.note(reason.clone());
                Err(reason)
            }
        }
    }

    /// The worktree, created or reused, with `copy` files and `setup` on creation.
    async fn prepare(&self, start: gix::ObjectId) -> Result<PathBuf, String> {
        let spec = WorktreeSpec {
            id: self.id.to_owned(),
            branch: self.plan.branch.clone(),
            path: self.plan.worktree.clone(),
            start,
        };
        let repo = self.shared.repo.clone();
        let prepared = tokio::task::spawn_blocking(move || repo.prepare_worktree(&spec))
            .await
            .map_err(|e| format!("preparing the worktree panicked: {e}"))?
            .map_err(|e| e.to_string())?;
        self.emit(ChangeEvent::WorktreeReady {
            path: prepared.path.clone(),
            branch: self.plan.branch.clone(),
            created: prepared.created,
            start_commit: prepared.head.to_string(),
        });
        if prepared.created {
            for file in &self.plan.config.copy {
                copy_into(&self.shared.root, &prepared.path, file)
                    .map_err(|e| format!("copy {file}: {e}"))?;
            }
            if let Some(setup) = self.plan.config.setup.clone() {
                let outcome = self
                    .run_command(Role::Setup, &setup, &prepared.path, 0)
                    .await;
                match outcome.result {
                    RunResult::Success => {}
                    RunResult::Cancelled => return Err("cancelled during setup".into()),
                    _ => {
                        return Err(format!(
                            "setup command `{setup}` failed; fix it in .conflux.yaml (it runs again when the worktree is recreated): {}",
                            tail(&outcome.output_tail, 400)
                        ));
                    }
                }
            }
        } else {
            self.note(format!("reusing worktree {}", prepared.path.display()));
        }
        Ok(prepared.path)
    }

    fn read_tasks(&self, path: &Path) -> Result<Vec<Task>, String> {
        let tasks = change::read_tasks(path).map_err(|e| e.to_string())?;
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
        verify_failure: Option<&str>,
    ) -> Result<(), Outcome> {
        let config = &self.plan.config;
        let Some(spec) = config.agent.as_ref() else {
            return Err(Outcome::new(
                Phase::Failed,
                "no agent configured".to_owned(),
            ));
        };
        let documents = documents(worktree, &self.plan.change);
        let verify = config.verify.as_deref().unwrap_or_default();
        let text = prompt::render(
            config.prompt.as_deref(),
            &PromptInput {
                change: &self.plan.change,
                tasks,
                iteration,
                verify_failure: verify_failure.map(|tail| (verify, tail)),
                documents: &documents,
            },
        );
        let vars = Vars {
            change_id: self.id.to_owned(),
            worktree: worktree.to_owned(),
            base: self.shared.base.clone(),
            prompt: text,
            prompt_file: self.shared.run_dir.prompt_path(self.id),
            iteration,
        };
        let mut invocation =
            presets::build(spec, &vars).map_err(|e| Outcome::new(Phase::Failed, e.to_string()))?;
        invocation
            .env
            .extend(config.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let retry = config.retry.clone();
        let limits = Limits {
            inactivity_timeout: config.inactivity_timeout,
            timeout: config.timeout,
            kill_grace: config.kill_grace,
        };
        let outcome = self
            .supervise(Role::Agent, invocation, worktree, limits, retry, true)
            .await;
        if let Some(cost) = outcome.usage.cost_usd {
            self.emit(ChangeEvent::Cost { usd: cost });
        }
        match outcome.result {
            RunResult::Success => Ok(()),
            RunResult::Cancelled => Err(self.cancelled(worktree, iteration).await),
            RunResult::TimedOut { after } => Err(Outcome::new(
                Phase::Failed,
                format!(
                    "the agent printed nothing for {}s (inactivity_timeout), also after retries",
                    after.as_secs()
                ),
            )),
            RunResult::Failed { reason } => Err(Outcome::new(
                Phase::Failed,
                format!("the agent failed: {reason}"),
            )),
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
        let invocation = Invocation {
            command: command.to_owned(),
            stdin: None,
            format: StreamFormat::Text,
            env: vec![
                ("CONFLUX_CHANGE_ID".into(), self.id.to_owned()),
                ("CONFLUX_WORKTREE".into(), worktree.display().to_string()),
                ("CONFLUX_ITERATION".into(), iteration.to_string()),
            ],
        };
        let limits = Limits {
            inactivity_timeout: None,
            timeout: self.plan.config.timeout,
            kill_grace: self.plan.config.kill_grace,
        };
        let retry = RetryPolicy {
            max: 0,
            timeout_retries: 0,
            ..RetryPolicy::default()
        };
        self.supervise(role, invocation, worktree, limits, retry, false)
            .await
    }

    async fn supervise(
        &self,
        role: Role,
        invocation: Invocation,
        cwd: &Path,
        limits: Limits,
        retry: RetryPolicy,
        staggered: bool,
    ) -> RunOutcome {
        let request = RunRequest {
            invocation,
            cwd: cwd.to_owned(),
            env: Vec::new(),
            limits,
            retry,
        };
        let unstaggered = Stagger::new(Duration::ZERO);
        let stagger = if staggered {
            &self.shared.stagger
        } else {
            &unstaggered
        };
        let mut on_event = |event: AgentEvent| {
            let kind = match event {
                AgentEvent::Spawned { attempt, pid } => {
                    ChangeEvent::ProcessStarted { role, pid, attempt }
                }
                AgentEvent::Line { text, .. } => ChangeEvent::Output { role, line: text },
                // A run's cost is reported once, from its outcome.
                AgentEvent::Usage(_) => return,
                AgentEvent::Retrying {
                    attempt,
                    max,
                    reason,
                    delay,
                } => ChangeEvent::Retrying {
                    attempt,
                    max,
                    reason,
                    delay,
                },
                AgentEvent::InactivityTimeout { after } => ChangeEvent::InactivityTimeout { after },
                AgentEvent::Exited { .. } => return,
            };
            self.emit(kind);
        };
        runner::run(request, stagger, &self.shared.cancel, &mut on_event).await
    }

    /// Commits what the worktree holds after an iteration and re-reads the tasks.
    async fn commit_iteration(
        &self,
        worktree: &Path,
        tasks_path: &Path,
        iteration: u32,
    ) -> Result<Vec<Task>, String> {
        let tasks = self.read_tasks(tasks_path)?;
        let done = tasks.iter().filter(|t| t.done).count();
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
        let committed = tokio::task::spawn_blocking(move || git::commit_all(&wt, &msg))
            .await
            .map_err(|e| format!("committing panicked: {e}"))?
            .map_err(|e| format!("cannot commit the work in {}: {e}", worktree.display()))?;
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
        Outcome::new(
            Phase::Cancelled,
            "interrupted; run `git conflux start` to resume".to_owned(),
        )
    }
}

/// The change's documents that exist in the worktree, as paths relative to it.
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

/// Copies one configured file (or directory) from the main worktree into a new worktree.
fn copy_into(root: &Path, worktree: &Path, rel: &str) -> std::io::Result<()> {
    let rel_path = Path::new(rel);
    if rel_path.is_absolute()
        || rel_path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(std::io::Error::other(
            "must be a path inside the repository",
        ));
    }
    let from = root.join(rel_path);
    if !from.exists() {
        return Ok(());
    }
    let to = worktree.join(rel_path);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if from.is_dir() {
        for entry in std::fs::read_dir(&from)? {
            let entry = entry?;
            let name = entry.file_name();
            copy_into(root, worktree, &rel_path.join(&name).to_string_lossy())?;
        }
        Ok(())
    } else {
        std::fs::copy(&from, &to).map(|_| ())
    }
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
