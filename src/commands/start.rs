//! `git conflux start`: preflight, plan, then the scheduler with the reporter attached.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use crate::agent::presets::{self, AgentSpec};
use crate::agent::runner::{Cancel, Stagger};
use crate::change::Change;
use crate::cli::StartArgs;
use crate::commands::{Context, Workspace, config_error, display_path};
use crate::config::Config;
use crate::error::{CommandError, Exit, list_cut};
use crate::git::MergeMode;
use crate::run::event::Event;
use crate::run::hooks::{self, HookVars};
use crate::run::leftover;
use crate::run::merge::{self, MergeOptions};
use crate::run::overview::{ChangeView, Overview, overview};
use crate::run::pipeline::{Plan, Shared};
use crate::run::record::Recorder;
use crate::run::scheduler::{self, Job, MergeFn, MergeVerdict};
use crate::run::signals;
use crate::run::state::{BranchOwner, ChangeState, Phase, branch_owner};
use crate::ui::display::{Display, round_secs};
use crate::ui::table;

pub fn cmd_start(ctx: &Context, args: StartArgs) -> Result<Exit, CommandError> {
    let started = std::time::SystemTime::now();
    let ws = ctx.workspace()?;
    let mut config = ws.config()?;
    if let Some(agent) = &args.agent {
        config.agent = Some(AgentSpec::Preset(agent.clone()));
    }
    if let Some(jobs) = args.jobs {
        if jobs == 0 {
            return Err(CommandError::usage("--jobs must be at least 1"));
        }
        config.jobs = jobs;
    }
    if let Some(max) = args.max_iterations {
        if max == 0 {
            return Err(CommandError::usage("--max-iterations must be at least 1"));
        }
        config.max_iterations = max;
    }
    if let Some(base) = &args.base {
        config.base = Some(base.clone());
    }
    let view = overview(&ws)?;
    view.check_ids(&args.ids)?;
    for problem in &view.problems {
        ctx.ui.warn(&format!("{problem} (skipped)"));
    }

    let plan = plan_run(ctx, &ws, &config, &view, &args)?;
    if plan.jobs.is_empty() {
        ctx.ui.note(
            "Nothing to start: every change is done or blocked. `git conflux status` shows them.",
        );
        return Ok(Exit::Ok);
    }
    if args.dry_run {
        ctx.ui.out(&render_plan(&ws, &plan));
        return Ok(Exit::Ok);
    }

    let _lock = ws.run_dir.lock().map_err(|e| {
        CommandError::from_error(Exit::Usage, e)
            .hint("wait for it to finish, or stop it with `git conflux stop`")
    })?;
    let display = Display::choose(&ctx.ui, args.json, args.no_progress);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            CommandError::new(
                Exit::Internal,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    for job in &plan.jobs {
        if let Some(line) =
            leftover::clear_stale_ref_lock(&ws.repo.common_dir(), &job.plan.branch, started)
        {
            ctx.ui.warn(&line);
        }
    }
    let summary = runtime.block_on(execute(ctx, &ws, &config, plan, display, args.merge));
    // A blocking step a stop gave up on (a checkout through a hung filter) may still run on
    // its thread: it ends with the process instead of holding up the exit.
    runtime.shutdown_background();
    Ok(summary)
}

/// What `start` will do, decided before anything is created.
struct RunPlan {
    base: String,
    jobs: Vec<Job>,
    parallel: usize,
    agent_command: String,
}

fn plan_run(
    ctx: &Context,
    ws: &Workspace,
    config: &Config,
    view: &Overview,
    args: &StartArgs,
) -> Result<RunPlan, CommandError> {
    let base = match &config.base {
        Some(base) => base.clone(),
        None => ws.repo.main_branch().map_err(|e| CommandError::from_error(Exit::Usage, e))?.ok_or_else(|| {
            CommandError::usage(format!("HEAD of the main worktree {} is detached, so there is no base branch to start from", ws.root.display()))
                .hint("check out a branch there, or pass --base <branch> (or set `base:` in .conflux.yaml)")
        })?,
    };
    if config.is_change_branch(&base) {
        return Err(CommandError::usage(format!(
            "the base branch `{base}` is a conflux change branch; changes start from, and merge into, the branch they will land on"
        ))
        .hint(format!(
            "pass --base <branch> (or set `base:` in .conflux.yaml), or check out that branch in the main worktree {}",
            ws.root.display()
        )));
    }
    if ws
        .repo
        .branch_tip(&base)
        .map_err(|e| CommandError::from_error(Exit::Usage, e))?
        .is_none()
    {
        return Err(
            CommandError::usage(format!("the base branch `{base}` does not exist"))
                .hint("pass an existing branch with --base, or fix `base:` in .conflux.yaml"),
        );
    }

    let selected: Vec<&ChangeView> = if args.ids.is_empty() {
        for v in view.changes.iter() {
            let id = &v.change.id;
            let reason = v
                .state
                .as_ref()
                .and_then(|s| s.reason.as_deref())
                .unwrap_or("see git conflux status -v");
            match v.phase() {
                Phase::Blocked => ctx.ui.note(&format!(
                    "{id} is blocked ({reason}); run it again by naming it: git conflux start {id}"
                )),
                Phase::Conflict => ctx.ui.note(&format!(
                    "{id} is done but conflicts with its base ({reason}); resolve it with `git conflux merge --resolve {id}`, or run it again by naming it: git conflux start {id}"
                )),
                _ => {}
            }
        }
        view.changes.iter().filter(|v| wants_run(v)).collect()
    } else {
        let mut chosen = Vec::new();
        for v in view
            .changes
            .iter()
            .filter(|v| args.ids.contains(&v.change.id))
        {
            if matches!(v.phase(), Phase::Done | Phase::Merged) {
                ctx.ui.note(&format!(
                    "{} is already {}; skipping it",
                    v.change.id,
                    v.phase()
                ));
            } else {
                chosen.push(v);
            }
        }
        chosen
    };
    if selected.is_empty() {
        return Ok(RunPlan {
            base,
            jobs: Vec::new(),
            parallel: config.jobs,
            agent_command: String::new(),
        });
    }

    let agent = config.agent.clone().ok_or_else(|| {
        CommandError::usage("no agent is configured")
            .hint("run `git conflux init`, set `agent:` in .conflux.yaml, or pass --agent <preset>")
    })?;
    presets::check_available(&agent).map_err(|e| {
        CommandError::from_error(Exit::Usage, e)
            .hint("install the agent, or choose another with --agent or `agent:` in .conflux.yaml")
    })?;
    presets::preflight(&agent, &config.env)
        .map_err(|e| CommandError::from_error(Exit::Usage, e))?;

    for v in &selected {
        let dirty = ws
            .repo
            .uncommitted_paths(&v.change.dir)
            .map_err(|e| CommandError::from_error(Exit::Usage, e))?;
        if !dirty.is_empty() {
            return Err(CommandError::usage(format!(
                "change {} has uncommitted files ({}); its worktree would not contain them",
                v.change.id,
                list_cut(dirty.iter().map(|p| p.display()))
            ))
            .hint(format!(
                "commit them first: git add {} && git commit",
                v.change.dir.display()
            )));
        }
    }

    let selected_ids: BTreeSet<&str> = selected.iter().map(|v| v.change.id.as_str()).collect();
    let worktree_root = worktree_root(ws, config);
    let mut jobs = Vec::new();
    for v in &selected {
        let change_config = config
            .for_change(v.change.config.as_ref(), &v.change.dir.join("proposal.md"))
            .map_err(config_error)?;
        // What `copy:` would copy is checked now, before any worktree exists.
        for entry in &change_config.copy {
            crate::files::copy_items(&ws.root, entry).map_err(|e| {
                CommandError::from_error(Exit::Usage, e).hint(format!(
                    "fix `copy:` in .conflux.yaml or in the front matter of change {}",
                    v.change.id
                ))
            })?;
        }
        let mut waits_for = Vec::new();
        let mut builds_on = Vec::new();
        for dep in &v.change.dependencies {
            let dep_view = view.find(dep);
            let dep_branch = branch_for(config, dep_view.and_then(|d| d.state.as_ref()), dep);
            if selected_ids.contains(dep.as_str()) {
                waits_for.push((dep.clone(), dep_branch));
                continue;
            }
            match dep_view.map(|d| {
                (
                    d.phase(),
                    d.change.tasks_done() == d.change.tasks_total() && d.change.tasks_total() > 0,
                )
            }) {
                Some((Phase::Merged, _)) | Some((_, true)) => {}
                Some((Phase::Done, _)) => builds_on.push((dep.clone(), dep_branch)),
                _ => {
                    return Err(CommandError::usage(format!(
                        "change {} depends on {dep}, which is not done",
                        v.change.id
                    ))
                    .hint(format!(
                        "start both: git conflux start {dep} {}",
                        v.change.id
                    )));
                }
            }
        }
        let state = v.state.as_ref();
        let branch = branch_for(config, state, &v.change.id);
        refuse_foreign_branch(ws, state, &branch, &v.change.id)?;
        jobs.push(Job {
            plan: Plan {
                change: v.change.clone(),
                config: change_config,
                branch,
                worktree: state
                    .map(|s| s.worktree.clone())
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or_else(|| worktree_root.join(&v.change.id)),
                prior: state.cloned(),
            },
            waits_for,
            builds_on,
        });
    }
    let agent_command = match &agent {
        AgentSpec::Preset(name) => {
            presets::preset(name).map_or(name.clone(), |p| p.template.replace("{extra_args}", ""))
        }
        other => format!("{other:?}"),
    };
    Ok(RunPlan {
        base,
        jobs,
        parallel: config.jobs,
        agent_command,
    })
}

/// A branch that conflux did not create for the change is neither built on nor changed:
/// it may hold someone's work, and `clean` would later delete it.
fn refuse_foreign_branch(
    ws: &Workspace,
    state: Option<&ChangeState>,
    branch: &str,
    id: &str,
) -> Result<(), CommandError> {
    let owner = branch_owner(&ws.repo, state, branch)
        .map_err(|e| CommandError::from_error(Exit::Usage, e))?;
    if owner != BranchOwner::Other {
        return Ok(());
    }
    Err(CommandError::usage(format!(
        "branch {branch} already exists and git conflux did not create it, so change {id} cannot use it; nothing was changed"
    ))
    .hint(format!(
        "rename it (git branch -m {branch} <new-name>), or delete it if its commits are not needed (git branch -D {branch}), then run git conflux start again"
    )))
}

/// Without ids, `start` runs every change that is not done, resuming interrupted ones.
/// A change the reviewer marked blocked, or whose merge conflicts, waits for a person: it
/// runs again only when named (its work is done; running it again would only hide the
/// conflict).
fn wants_run(v: &ChangeView) -> bool {
    match v.phase() {
        Phase::Done | Phase::Merged | Phase::Blocked | Phase::Conflict => false,
        Phase::Pending => {
            !(v.change.tasks_total() > 0 && v.change.tasks_done() == v.change.tasks_total())
        }
        _ => true,
    }
}

fn branch_for(config: &Config, state: Option<&ChangeState>, id: &str) -> String {
    state
        .map(|s| s.branch.clone())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| format!("{}{id}", config.branch_prefix))
}

/// `worktree_root` from the configuration (relative to the repository), else
/// `<repository>.conflux/` beside the repository: outside it, so tools that search parent
/// directories (cargo workspaces, node_modules) never mistake the main checkout for the
/// worktree's.
pub fn worktree_root(ws: &Workspace, config: &Config) -> PathBuf {
    match &config.worktree_root {
        Some(root) => ws.root.join(root),
        None => {
            let name = ws
                .root
                .file_name()
                .map_or("repository".into(), |n| n.to_string_lossy().into_owned());
            ws.root
                .parent()
                .unwrap_or(&ws.root)
                .join(format!("{name}.conflux"))
        }
    }
}

/// The plan of `--dry-run`: waves by dependency, each change's branch and worktree.
fn render_plan(ws: &Workspace, plan: &RunPlan) -> String {
    let mut level: std::collections::BTreeMap<&str, usize> = Default::default();
    for job in &plan.jobs {
        let l = job
            .waits_for
            .iter()
            .filter_map(|(d, _)| level.get(d.as_str()))
            .max()
            .map_or(0, |l| l + 1);
        level.insert(&job.plan.change.id, l);
    }
    let mut out = format!(
        "Plan: {} change(s) from {}, {} at a time\nAgent: {}\n",
        plan.jobs.len(),
        plan.base,
        plan.parallel,
        plan.agent_command
    );
    let waves = level.values().max().map_or(0, |m| m + 1);
    for wave in 0..waves {
        out.push_str(&format!("\nWave {}:\n", wave + 1));
        let mut rows = Vec::new();
        for job in plan
            .jobs
            .iter()
            .filter(|j| level.get(j.plan.change.id.as_str()) == Some(&wave))
        {
            let from: Vec<String> = job
                .builds_on
                .iter()
                .chain(&job.waits_for)
                .map(|(_, b)| b.clone())
                .collect();
            rows.push(vec![
                job.plan.change.id.clone(),
                format!(
                    "{}/{}",
                    job.plan.change.tasks_done(),
                    job.plan.change.tasks_total()
                ),
                job.plan.branch.clone(),
                if from.is_empty() {
                    plan.base.clone()
                } else {
                    format!("{} + {}", plan.base, from.join(" + "))
                },
                display_path(&job.plan.worktree, ws.root.parent().unwrap_or(&ws.root)),
            ]);
        }
        out.push_str(&table::render(
            &["  ID", "TASKS", "BRANCH", "STARTS FROM", "WORKTREE"],
            &indent(rows),
        ));
    }
    out.push_str(&format!(
        "\nPrompts are written to {}\nNothing was changed (dry run).\n",
        ws.run_dir.root().join("prompts").display()
    ));
    out
}

fn indent(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    for row in &mut rows {
        if let Some(first) = row.first_mut() {
            *first = format!("  {first}");
        }
    }
    rows
}

async fn execute(
    ctx: &Context,
    ws: &Workspace,
    config: &Config,
    plan: RunPlan,
    mut display: Display,
    merge_done: bool,
) -> Exit {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        repo: ws.repo.clone(),
        root: ws.root.clone(),
        run_dir: ws.run_dir.clone(),
        base: plan.base.clone(),
        stagger: Stagger::new(config.stagger),
        cancel: Cancel::new(),
        events: tx,
    });
    let mut recorder = Recorder::new(ws.run_dir.clone());
    // Agents a killed orchestrator left behind must not keep writing into reused worktrees.
    for prior in plan.jobs.iter().filter_map(|j| j.plan.prior.as_ref()) {
        for line in leftover::sweep(prior) {
            ctx.ui.warn(&line);
        }
    }
    for job in &plan.jobs {
        let p = &job.plan;
        let mut state = p
            .prior
            .clone()
            .unwrap_or_else(|| ChangeState::new(&p.change.id, &p.branch, &p.worktree, &plan.base));
        state.phase = Phase::Queued;
        state.reason = None;
        state.pid = None;
        state.finished_at = None;
        state.tasks_done = p.change.tasks_done();
        state.tasks_total = p.change.tasks_total();
        recorder.seed(state);
    }
    let ids: Vec<String> = plan.jobs.iter().map(|j| j.plan.change.id.clone()).collect();
    let mut report = |event: &Event| {
        recorder.record(event);
        display.show(event);
    };
    report(&Event::RunStarted {
        changes: ids.clone(),
        jobs: plan.parallel,
        base: plan.base.clone(),
    });

    let merge_cb: Option<MergeFn> = merge_done.then(|| {
        let ws = ws.clone();
        let changes: HashMap<String, (Change, Config)> = plan
            .jobs
            .iter()
            .map(|j| {
                (
                    j.plan.change.id.clone(),
                    (j.plan.change.clone(), j.plan.config.clone()),
                )
            })
            .collect();
        let merge_one = move |id: &str| -> MergeVerdict {
            let Some((change, config)) = changes.get(id) else {
                return MergeVerdict::Failed(
                    Phase::Failed,
                    format!("{id} is not part of this run"),
                );
            };
            let options = MergeOptions {
                mode: MergeMode::FastForward,
                keep: false,
                force: false,
            };
            match merge::merge_change(&ws, config, change, &options) {
                Ok(merged) => {
                    let (into, commit) = match merged {
                        merge::Merged::Already => (String::new(), String::new()),
                        merge::Merged::FastForward { base, to } => (base, to),
                        merge::Merged::Commit { base, commit } => (base, commit),
                    };
                    MergeVerdict::Merged { into, commit }
                }
                Err(e) => MergeVerdict::Failed(e.phase(), e.to_string()),
            }
        };
        Arc::new(merge_one) as MergeFn
    });
    let run_hook = |event: &'static str| {
        let vars = HookVars {
            state: Some(event.trim_start_matches("on_").to_owned()),
            ..HookVars::default()
        };
        let (root, cancel) = (ws.root.clone(), Cancel::new());
        // A stop ends the hook (the scheduler's handlers are not listening now) and the run.
        async move {
            let mut log = |line: String| tracing::info!("hook {event}: {line}");
            let hook = hooks::run(config, event, &vars, &root, &cancel, &mut log);
            match signals::until_done(hook, &cancel).await {
                Ok((result, stopped)) => {
                    if let Some(Err(e)) = result {
                        ctx.ui.warn(&e);
                    }
                    stopped
                }
                Err(e) => {
                    ctx.ui.warn(&format!(
                        "hook {event} not run: cannot install the signal handlers: {e}"
                    ));
                    false
                }
            }
        }
    };
    if run_hook("on_start").await {
        // Stopped before any change started: each is recorded as cancelled, resumable.
        shared.cancel.cancel();
    }
    let mut summary = scheduler::run(
        Arc::clone(&shared),
        plan.jobs,
        plan.parallel,
        rx,
        &mut report,
        merge_cb,
    )
    .await;
    summary.interrupted |= run_hook("on_finish").await;
    if !recorder.errors.is_empty() || !summary.internal_errors.is_empty() {
        summary.interrupted |= run_hook("on_error").await;
    }
    display.finish();

    // The summary table, from the recorded states.
    let mut rows = Vec::new();
    let mut any_done = false;
    for id in &ids {
        let outcome = summary.outcomes.get(id);
        let phase = outcome.map_or(Phase::Cancelled, |o| o.phase);
        any_done |= phase == Phase::Done;
        let state = recorder.state(id);
        rows.push(vec![
            id.clone(),
            phase.to_string(),
            state.map_or(0, |s| s.iteration).to_string(),
            humantime::format_duration(std::time::Duration::from_secs(
                state.map_or(0, |s| s.elapsed_secs),
            ))
            .to_string(),
            state
                .and_then(|s| s.cost_usd)
                .map_or("-".into(), |c| format!("${c:.2}")),
            state.map_or(String::new(), |s| s.branch.clone()),
            outcome.and_then(|o| o.reason.clone()).unwrap_or_default(),
        ]);
    }
    if !ctx.ui.quiet && !matches!(display, Display::Json) {
        let text = table::render(
            &[
                "ID",
                "RESULT",
                "ITERATIONS",
                "TIME",
                "COST",
                "BRANCH",
                "REASON",
            ],
            &rows,
        );
        eprint!("\n{text}");
        eprintln!(
            "Finished in {}.",
            humantime::format_duration(round_secs(summary.elapsed))
        );
        if summary.interrupted {
            eprintln!(
                "Interrupted: the agents were stopped and their work committed. Run `git conflux start` to resume."
            );
        } else {
            if any_done {
                eprintln!(
                    "Next: review with `git log {}`, then `git conflux merge --all`.",
                    branch_hint(&rows)
                );
            }
        }
    }
    // What needs a person, by name, even with --quiet.
    if !summary.interrupted && !matches!(display, Display::Json) {
        for line in next_steps(&summary.outcomes) {
            eprintln!("{line}");
        }
    }
    for error in recorder.errors.iter().chain(&summary.internal_errors) {
        ctx.ui.warn(error);
    }
    if summary.interrupted {
        Exit::Interrupted
    } else if summary
        .outcomes
        .values()
        .all(|o| matches!(o.phase, Phase::Done | Phase::Merged))
    {
        Exit::Ok
    } else {
        Exit::Failed
    }
}

/// One line per kind of change that needs a person, naming the ids and the command to run.
fn next_steps(
    outcomes: &std::collections::BTreeMap<String, crate::run::pipeline::Outcome>,
) -> Vec<String> {
    let ids = |wanted: &[Phase]| -> Vec<&str> {
        outcomes
            .iter()
            .filter(|(_, o)| wanted.contains(&o.phase))
            .map(|(id, _)| id.as_str())
            .collect()
    };
    let mut lines = Vec::new();
    let failed = ids(&[Phase::Failed, Phase::Stalled]);
    if let Some(first) = failed.first() {
        lines.push(format!(
            "Failed: {}. See why with `git conflux logs {first}`; `git conflux start` runs them again.",
            failed.join(", ")
        ));
    }
    let conflicts = ids(&[Phase::Conflict]);
    if let Some(first) = conflicts.first() {
        lines.push(format!(
            "Conflicting with the base: {}. Resolve with `git conflux merge --resolve {first}`.",
            conflicts.join(", ")
        ));
    }
    let blocked = ids(&[Phase::Blocked]);
    if let Some(first) = blocked.first() {
        lines.push(format!(
            "Blocked by the reviewer: {}. Read `git conflux logs {first}`, decide, then `git conflux start {first}`.",
            blocked.join(", ")
        ));
    }
    lines
}

fn branch_hint(rows: &[Vec<String>]) -> String {
    rows.iter()
        .find(|r| r[1] == "done")
        .map_or("<branch>".into(), |r| r[5].clone())
}
