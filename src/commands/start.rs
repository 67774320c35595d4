//! `git conflux start`: parse the flags, plan the run (`run::plan`), run the scheduler with
//! the reporter attached, and render what happened.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use crate::agent::presets::AgentSpec;
use crate::agent::runner::{Cancel, Stagger};
use crate::cli::StartArgs;
use crate::commands::{Context, display_path, steer};
use crate::config::Config;
use crate::error::{CommandError, Exit};
use crate::run::budget::RunSpend;
use crate::run::control::{self, Publisher, Request};
use crate::run::event::{ChangeEvent, Event};
use crate::run::hooks::{self, HookVars};
use crate::run::leftover;
use crate::run::merge::{self, RunChanges};
use crate::run::overview::{Overview, overview};
use crate::run::pipeline::Shared;
use crate::run::plan::{self, Note, RunPlan};
use crate::run::record::Recorder;
use crate::run::sandbox::Kind;
use crate::run::scheduler::{self, Summary};
use crate::run::signals;
use crate::run::state::{LockState, Phase};
use crate::run::workspace::Workspace;
use crate::ui::display::Display;
use crate::ui::table;

/// Threads for blocking steps of a run; see where the runtime is built.
const BLOCKING_THREADS: usize = 4;

pub fn cmd_start(ctx: &Context, args: StartArgs) -> Result<Exit, CommandError> {
    let started = std::time::SystemTime::now();
    let ws = ctx.workspace()?;
    if !args.dry_run
        && let LockState::Held(holder) = ws.run_dir.lock_state()
    {
        return join(ctx, &ws, &args, holder.pid);
    }
    if !args.dry_run {
        // A merge killed half-way left files in the checkout: settle it first, or the
        // preflight would take them for uncommitted work.
        merge::recover(&ws, |line| ctx.ui.warn(line))?;
    }
    let config = with_flags(ws.config()?, &args)?;
    let view = overview(&ws)?;
    view.check_ids(&args.ids)?;
    for problem in &view.problems {
        ctx.ui.warn(&format!("{problem} (skipped)"));
    }

    let plan = plan_changes(ctx, &ws, &config, &view, &args.ids, &BTreeSet::new())?;
    if plan.jobs.is_empty() {
        ctx.ui.note(
            "Nothing to start: every change is done or blocked. `git conflux status` shows them.",
        );
        return Ok(Exit::Ok);
    }
    for warning in crate::run::budget::usd_budgets_that_cannot_act(
        &config.run_budget,
        plan.jobs.iter().map(|j| &j.plan.config),
    ) {
        ctx.ui.warn(&warning);
    }
    if args.dry_run {
        ctx.ui
            .out(&render_plan(ctx, &ws, &plan, !args.ids.is_empty()));
        return Ok(Exit::Ok);
    }

    let _lock = plan::lock(&ws)?;
    let display = Display::choose(&ctx.ui, args.json, args.no_progress);
    // Blocking steps (checkouts, commits, merges) are CPU-bound gix work: more of them at once
    // than a few does not finish sooner, and each one running holds a thread stack, a malloc
    // arena and its inflate buffers. They queue for a thread instead. Measured at 100 changes
    // in 16 slots (scripts/bench/orchestrate.sh, same session, alternated): 4 threads peak at
    // 19.7-20.6 MB, one per slot plus 2 at 24.1-25.5 MB, with no makespan difference beyond
    // the noise (1.00-1.16x against 0.97-1.17x ideal). The price: checkouts hung in a
    // smudge filter that never answers hold the threads until Ctrl-C.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
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
    // A blocking step a stop gave up on (a checkout through a hung filter, a merge) may still
    // run on its thread: it ends with the process instead of holding up the exit.
    runtime.shutdown_background();
    Ok(summary)
}

/// `start` while a run is active: the ids (and `-j`) go to that run, which plans and runs
/// them like its own; settings of a new run are refused, since the running one keeps its own.
fn join(ctx: &Context, ws: &Workspace, args: &StartArgs, pid: u32) -> Result<Exit, CommandError> {
    let running = format!("git conflux start (pid {pid}) is running in this repository");
    if args.ids.is_empty() && args.jobs.is_none() {
        return Err(CommandError::usage(running).hint(
            "name changes to add them to it (`git conflux start <ID>…`), change its slots with -j N, or follow it with `git conflux status --watch`",
        ));
    }
    let own = [
        ("--agent", args.agent.is_some()),
        ("--base", args.base.is_some()),
        ("--max-iterations", args.max_iterations.is_some()),
        ("--budget", args.budget.is_some()),
        ("--budget-tokens", args.budget_tokens.is_some()),
        ("--sandbox", args.sandbox.is_some()),
        ("--merge", args.merge),
        ("--json", args.json),
        ("--no-progress", args.no_progress),
    ];
    if let Some((flag, _)) = own.iter().find(|(_, given)| *given) {
        return Err(CommandError::usage(format!(
            "{flag} applies to a new run; {running}, and changes added to it run with its settings"
        ))
        .hint("leave the flag out to add the changes, or wait for the run to end"));
    }
    if args.jobs == Some(0) {
        return Err(CommandError::usage("--jobs must be at least 1"));
    }
    steer(
        ctx,
        ws,
        Request::Add {
            ids: args.ids.clone(),
            jobs: args.jobs,
        },
    )
}

/// The changes `ids` name (without ids, every change that wants to run), planned after the
/// notes about those left out; `in_run` are the changes the running run has already.
fn plan_changes(
    ctx: &Context,
    ws: &Workspace,
    config: &Config,
    view: &Overview,
    ids: &[String],
    in_run: &BTreeSet<String>,
) -> Result<RunPlan, CommandError> {
    let base = plan::base_branch(ws, config)?;
    let selection = plan::select(view, ids);
    for note in &selection.notes {
        ctx.ui.note(&note_text(note));
    }
    Ok(plan::plan(ws, config, view, base, &selection, in_run)?)
}

/// Changes asked for from another terminal while this run goes on, planned like its own
/// from what the repository says now.
fn plan_added(
    ctx: &Context,
    ws: &Workspace,
    config: &Config,
    ids: &[String],
    in_run: &BTreeSet<String>,
) -> Result<RunPlan, CommandError> {
    let view = overview(ws)?;
    view.check_ids(ids)?;
    plan_changes(ctx, ws, config, &view, ids, in_run)
}

/// The command line is the last configuration layer.
fn with_flags(mut config: Config, args: &StartArgs) -> Result<Config, CommandError> {
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
    if let Some(usd) = args.budget {
        if !usd.is_finite() || usd <= 0.0 {
            return Err(CommandError::usage(format!(
                "--budget {usd}: give US dollars above 0, such as --budget 5"
            )));
        }
        config.run_budget.usd = Some(usd);
    }
    if let Some(tokens) = args.budget_tokens {
        if tokens == 0 {
            return Err(CommandError::usage("--budget-tokens must be at least 1"));
        }
        config.run_budget.tokens = Some(tokens);
    }
    if let Some(kind) = &args.sandbox {
        config.sandbox.kind = if kind == "bwrap" {
            Kind::Bwrap
        } else {
            Kind::None
        };
    }
    Ok(config)
}

/// What the user hears about a change the plan left out.
fn note_text(note: &Note) -> String {
    match note {
        Note::Blocked { id, reason } => {
            format!("{id} is blocked ({reason}); run it again by naming it: git conflux start {id}")
        }
        Note::Conflict { id, reason } => format!(
            "{id} is done but conflicts with its base ({reason}); resolve it with `git conflux merge --resolve {id}`, or run it again by naming it: git conflux start {id}"
        ),
        Note::Finished { id, phase } => format!("{id} is already {phase}; skipping it"),
    }
}

/// The plan of `--dry-run`: waves by dependency, each change's branch and worktree; with
/// `prompts` (ids were named), the prompt each would be sent first.
fn render_plan(ctx: &Context, ws: &Workspace, plan: &RunPlan, prompts: bool) -> String {
    let cwd = &ctx.cwd;
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
                display_path(&job.plan.worktree, cwd),
            ]);
        }
        out.push_str(&table::render_fit(
            &["  ID", "TASKS", "BRANCH", "STARTS FROM", "WORKTREE"],
            &indent(rows),
            crate::ui::stdout_width(),
            PLAN_GIVES,
        ));
    }
    if prompts {
        for job in &plan.jobs {
            let (iteration, text) = crate::run::pipeline::next_prompt(&job.plan, &ws.root);
            out.push_str(&format!(
                "\nPrompt of {}, iteration {iteration}:\n{}",
                job.plan.change.id,
                text.trim_end()
            ));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\nThe prompt of each iteration is kept as {} (`git conflux logs <ID> --prompt` shows it).\nNothing was changed (dry run).\n",
        display_path(&ws.run_dir.kept_prompt_path("<ID>", 0), cwd).replace("prompt-0", "prompt-<N>")
    ));
    out
}

/// How the plan's tables give way on a narrow terminal: the long columns are cut, then
/// WORKTREE and STARTS FROM are left out.
const PLAN_GIVES: &[table::Give] = &[
    table::Give::Shrink("WORKTREE", 16),
    table::Give::Shrink("STARTS FROM", 12),
    table::Give::Shrink("BRANCH", 16),
    table::Give::Drop("WORKTREE"),
    table::Give::Drop("STARTS FROM"),
];

fn indent(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    for row in &mut rows {
        if let Some(first) = row.first_mut() {
            *first = format!("  {first}");
        }
    }
    rows
}

/// Runs the plan: states seeded, hooks around the scheduler, every event to the recorder
/// and the display, then the summary. Returns the run's exit code.
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
        spend: RunSpend::new(config.run_budget),
        refused: Default::default(),
    });
    let mut recorder = Recorder::new(ws.run_dir.clone());
    let ids: Vec<String> = plan.jobs.iter().map(|j| j.plan.change.id.clone()).collect();
    // Other terminals steer this run through the control socket, and follow its events.
    let publisher = Publisher::default();
    let (requests_tx, requests) = tokio::sync::mpsc::unbounded_channel();
    let _server = match control::Server::start(&ws.run_dir, requests_tx, publisher.clone()) {
        Ok(server) => Some(server),
        Err(e) => {
            ctx.ui.warn(&format!(
                "this run cannot be steered from another terminal (no control socket: {e})"
            ));
            None
        }
    };
    let mut report = |event: &Event| {
        recorder.record(event);
        display.show(event);
        publisher.publish(event);
        if config.notify {
            crate::ui::notify::on_event(event);
        }
    };
    report(&Event::RunStarted {
        changes: ids.clone(),
        jobs: plan.parallel,
        base: plan.base.clone(),
        budget: config.run_budget,
    });
    // Agents a killed orchestrator left behind must not keep writing into reused worktrees;
    // what was ended is news of that change, in its log.
    for prior in plan.jobs.iter().filter_map(|j| j.plan.prior.as_ref()) {
        for line in leftover::sweep(prior) {
            let prefix = format!("{}: ", prior.id);
            let text = line.strip_prefix(&prefix).unwrap_or(&line).to_owned();
            report(&Event::change(&prior.id, ChangeEvent::Note { text }));
        }
    }

    // The changes of this run, for the merge worker; a change added mid-run joins them.
    let changes = RunChanges::default();
    changes.add(&plan.jobs);
    let merge_cb = merge_done.then(|| merge::as_you_go(ws, changes.clone()));
    let planner: scheduler::Planner = Box::new(move |ids: &[String], in_run: &BTreeSet<String>| {
        let added = plan_added(ctx, ws, config, ids, in_run).map_err(|e| e.to_string())?;
        changes.add(&added.jobs);
        Ok(added.jobs)
    });
    let (stopped, warning) = run_hook(config, &ws.root, "on_start").await;
    if let Some(text) = warning {
        report(&Event::Warning { text });
    }
    if stopped {
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
        Some(scheduler::Steering { requests, planner }),
    )
    .await;
    let needs_on_error = !recorder.errors.is_empty() || !summary.internal_errors.is_empty();
    let mut warn = |text: String| {
        let event = Event::Warning { text };
        display.show(&event);
        publisher.publish(&event);
    };
    for event in ["on_finish", "on_error"] {
        if event == "on_error" && !needs_on_error {
            continue;
        }
        let (stopped, warning) = run_hook(config, &ws.root, event).await;
        summary.interrupted |= stopped;
        if let Some(text) = warning {
            warn(text);
        }
    }
    publisher.close().await;
    display.finish();
    print_summary(ctx, &display, &recorder, &ids, &summary);
    for error in recorder.errors.iter().chain(&summary.internal_errors) {
        ctx.ui.warn(error);
    }
    exit_code(&summary)
}

/// A run-wide hook (`on_start`, `on_finish`, `on_error`). A stop during it ends the hook
/// (the scheduler's handlers are not listening then). Returns whether the run was stopped,
/// and the warning to report when the hook failed.
async fn run_hook(config: &Config, root: &Path, event: &'static str) -> (bool, Option<String>) {
    let vars = HookVars {
        state: Some(event.trim_start_matches("on_").to_owned()),
        ..HookVars::default()
    };
    let mut log = |line: String| tracing::info!("hook {event}: {line}");
    let cancel = Cancel::new();
    let hook = hooks::run(config, event, &vars, root, &cancel, &mut log);
    match signals::until_done(hook, &cancel).await {
        Ok((Some(Err(e)), stopped)) => (stopped, Some(e.to_string())),
        Ok((_, stopped)) => (stopped, None),
        Err(e) => (
            false,
            Some(format!(
                "hook {event} not run: cannot install the signal handlers: {e}"
            )),
        ),
    }
}

/// The summary table from the recorded states, the next command to run, and what needs a
/// person by name (even with --quiet): the run's result, on stdout, cut to its width.
fn print_summary(
    ctx: &Context,
    display: &Display,
    recorder: &Recorder,
    ids: &[String],
    summary: &Summary,
) {
    let (rows, any_done) = summary_rows(recorder, ids, summary);
    let width = crate::ui::stdout_width();
    let mut out = String::new();
    if !ctx.ui.quiet && !matches!(display, Display::Json) {
        // On a terminal a blank line parts the results from the progress above them.
        if std::io::stdout().is_terminal() {
            out.push('\n');
        }
        out.push_str(&table::render_fit(
            &SUMMARY_COLUMNS,
            &rows,
            width,
            SUMMARY_GIVES,
        ));
        let run = recorder.run();
        let spent = run.budget.against(&run.spent);
        if !spent.is_empty() {
            out.push_str(&crate::ui::wrap(
                &format!("Spent in this run: {spent}."),
                width,
            ));
        }
        if summary.interrupted {
            out.push_str(&crate::ui::wrap(
                "Interrupted: the agents were stopped and their work committed. Run `git conflux start` to resume.",
                width,
            ));
        } else if any_done {
            out.push_str(&crate::ui::wrap(
                &format!(
                    "Next: review with `git log {}`, then `git conflux merge --all`.",
                    branch_hint(&rows)
                ),
                width,
            ));
        }
    }
    if !summary.interrupted && !matches!(display, Display::Json) {
        for line in next_steps(&summary.outcomes) {
            out.push_str(&crate::ui::wrap(&line, width));
        }
    }
    ctx.ui.out(&out);
}

/// The columns of the summary table.
const SUMMARY_COLUMNS: [&str; 8] = [
    "ID",
    "RESULT",
    "ITERATIONS",
    "TIME",
    "COST",
    "TOKENS",
    "BRANCH",
    "REASON",
];

/// How the summary gives way on a narrow terminal (documented in git-conflux-start(1)): the
/// reason is cut first (its whole text is in `logs` and `--json`), then the branch, then
/// TOKENS, COST, ITERATIONS, BRANCH and TIME are left out, then the id is cut.
const SUMMARY_GIVES: &[table::Give] = &[
    table::Give::Shrink("REASON", 20),
    table::Give::Shrink("BRANCH", 16),
    table::Give::Drop("TOKENS"),
    table::Give::Drop("COST"),
    table::Give::Drop("ITERATIONS"),
    table::Give::Drop("BRANCH"),
    table::Give::Shrink("REASON", 12),
    table::Give::Drop("TIME"),
    table::Give::Shrink("ID", 12),
];

/// One row per change of the run (id, result, iterations, time, cost, tokens, branch, reason), those
/// planned first, then those added from other terminals; and whether any of them is done.
fn summary_rows(
    recorder: &Recorder,
    ids: &[String],
    summary: &Summary,
) -> (Vec<Vec<String>>, bool) {
    let added = summary.outcomes.keys().filter(|id| !ids.contains(id));
    let mut rows = Vec::new();
    let mut any_done = false;
    for id in ids.iter().chain(added) {
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
            state.map_or("-".into(), |s| s.budget.usd_column(&s.spend())),
            state.map_or("-".into(), |s| s.budget.tokens_column(&s.spend())),
            state.map_or(String::new(), |s| s.branch.clone()),
            outcome.and_then(|o| o.reason.clone()).unwrap_or_default(),
        ]);
    }
    (rows, any_done)
}

/// 130 when interrupted, 5 when an agent refused, 0 when every change is done or merged,
/// 4 when the others are over budget, else 1.
fn exit_code(summary: &Summary) -> Exit {
    let all = |f: fn(Phase) -> bool| summary.outcomes.values().all(|o| f(o.phase));
    if summary.interrupted {
        Exit::Interrupted
    } else if summary.refused {
        Exit::Refused
    } else if all(|p| matches!(p, Phase::Done | Phase::Merged)) {
        Exit::Ok
    } else if all(|p| matches!(p, Phase::Done | Phase::Merged | Phase::OverBudget)) {
        Exit::OverBudget
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
        let them = if failed.len() == 1 { "it" } else { "them" };
        lines.push(format!(
            "Failed: {}. See why with `git conflux logs {first}`; `git conflux start` runs {them} again.",
            failed.join(", ")
        ));
    }
    let not_started = ids(&[Phase::Pending]);
    if !not_started.is_empty() {
        lines.push(format!(
            "Not started, since their agent refused: {}. Fix what the refusal says, then `git conflux start` runs them.",
            not_started.join(", ")
        ));
    }
    let conflicts = ids(&[Phase::Conflict]);
    if let Some(first) = conflicts.first() {
        lines.push(format!(
            "Conflicting with the base: {}. Resolve with `git conflux merge --resolve {first}`.",
            conflicts.join(", ")
        ));
    }
    let over = ids(&[Phase::OverBudget]);
    if !over.is_empty() {
        lines.push(format!(
            "Over budget: {}. Raise budget or run_budget in .conflux.yaml (or pass --budget), then `git conflux start` continues where they stopped.",
            over.join(", ")
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
        .map_or("<branch>".into(), |r| r[6].clone())
}
