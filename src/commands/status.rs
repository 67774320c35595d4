//! `git conflux status`: every change with its tasks, state, dependencies, branch and worktree.

use serde::Serialize;

use crate::change::Task;
use crate::cli::StatusArgs;
use crate::commands::{Context, display_path};
use crate::error::{CommandError, Exit};
use crate::run::overview::{ChangeView, overview};
use crate::run::state::{Phase, ReviewRecord, pid_alive};
use crate::run::workspace::Workspace;
use crate::ui::display::Display;
use crate::ui::{table, truncate_to_width};

/// One element of `status --json`; the schema is documented in the man page and stable.
#[derive(Serialize)]
struct JsonRow<'a> {
    id: &'a str,
    source: &'a str,
    title: Option<&'a str>,
    tasks_done: usize,
    tasks_total: usize,
    state: &'a str,
    /// True while a live orchestrator drives the change.
    running: bool,
    reason: Option<&'a str>,
    dependencies: &'a [String],
    branch: Option<String>,
    worktree: Option<String>,
    iteration: u32,
    retries: u32,
    cost_usd: Option<f64>,
    /// The agent's pid while it runs, and whether that process is alive now.
    pid: Option<u32>,
    pid_alive: bool,
    last_error: Option<&'a str>,
    /// The review stage: rounds, last verdict and its findings (null when not reviewed).
    review: Option<&'a ReviewRecord>,
    /// Messages from `git conflux tell` waiting for the change's next iteration.
    messages: &'a [String],
    tasks: &'a [Task],
}

pub fn cmd_status(ctx: &Context, args: StatusArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    // A broken configuration is news worth the exit code, before `start` meets it.
    ws.config()?;
    if args.watch {
        return watch(ctx, &ws, args);
    }
    let view = overview(&ws)?;
    view.check_ids(&args.ids)?;
    let selected: Vec<&ChangeView> = view
        .changes
        .iter()
        .filter(|v| args.ids.is_empty() || args.ids.contains(&v.change.id))
        .collect();

    if args.ids_only {
        ctx.ui.out(
            &selected
                .iter()
                .map(|v| format!("{}\n", v.change.id))
                .collect::<String>(),
        );
        return Ok(Exit::Ok);
    }
    if args.json {
        let rows: Vec<JsonRow> = selected
            .iter()
            .map(|v| json_row(&ws, v, ctx.ui.verbose > 0))
            .collect();
        ctx.ui
            .out(&(serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"));
    } else if selected.is_empty() {
        ctx.ui.note("No changes found: write one under openspec/changes/<id>/ (proposal.md + tasks.md) or specs/NNN-name/tasks.md.");
    } else {
        ctx.ui.out(&render_table(ctx, &ws, &selected));
    }
    if !args.json && args.ids.is_empty() && !view.orphans.is_empty() {
        // Merged changes that were archived (or deleted) leave only their run record.
        let gone: Vec<String> = view
            .orphans
            .iter()
            .map(|s| format!("{} ({})", s.id, s.phase))
            .collect();
        ctx.ui.note(&format!(
            "Runs whose change folder is gone (archived or deleted): {}. `git conflux clean` forgets them.",
            gone.join(", ")
        ));
    }
    for problem in &view.problems {
        ctx.ui.warn(&problem.to_string());
    }
    for damaged in &view.damaged {
        ctx.ui.warn(damaged);
    }
    // What could not be read is named above; the status of the rest is still true: 0.
    Ok(Exit::Ok)
}

fn json_row<'a>(ws: &Workspace, v: &'a ChangeView, with_tasks: bool) -> JsonRow<'a> {
    let state = v.state.as_ref();
    let pid = state.and_then(|s| s.pid);
    JsonRow {
        id: &v.change.id,
        source: v.change.source.as_str(),
        title: v.change.title.as_deref(),
        tasks_done: v.tasks_done(),
        tasks_total: v.tasks_total(),
        state: v.phase().as_str(),
        running: v.phase().is_active() && !v.interrupted,
        reason: state.and_then(|s| s.reason.as_deref()),
        dependencies: &v.change.dependencies,
        branch: live_branch(ws, v),
        worktree: v.worktree.as_ref().map(|p| p.display().to_string()),
        iteration: state.map_or(0, |s| s.iteration),
        retries: state.map_or(0, |s| s.retries),
        cost_usd: state.and_then(|s| s.cost_usd),
        pid,
        pid_alive: pid.is_some_and(pid_alive),
        last_error: state.and_then(|s| s.last_error.as_deref()),
        review: state.and_then(|s| s.review.as_ref()),
        messages: state.map_or(&[], |s| s.messages.as_slice()),
        tasks: if with_tasks { &v.tasks } else { &[] },
    }
}

/// The columns of the status table.
const COLUMNS: [&str; 8] = [
    "ID",
    "SOURCE",
    "TASKS",
    "STATE",
    "DEPENDS ON",
    "COST",
    "BRANCH",
    "WORKTREE",
];

/// How the table gives way on a narrow terminal (documented in git-conflux-status(1)): SOURCE
/// goes first, then the long columns are cut (DEPENDS ON, BRANCH, WORKTREE), then COST,
/// WORKTREE, BRANCH and DEPENDS ON are left out, then STATE and the id are cut.
const GIVES: &[table::Give] = &[
    table::Give::Drop("SOURCE"),
    table::Give::Shrink("DEPENDS ON", 12),
    table::Give::Shrink("BRANCH", 16),
    table::Give::Shrink("WORKTREE", 16),
    table::Give::Drop("COST"),
    table::Give::Drop("WORKTREE"),
    table::Give::Drop("BRANCH"),
    table::Give::Drop("DEPENDS ON"),
    table::Give::Shrink("STATE", 10),
    table::Give::Shrink("ID", 12),
];

fn render_table(ctx: &Context, ws: &Workspace, views: &[&ChangeView]) -> String {
    let st = ctx.ui.style();
    let mut rows = Vec::new();
    for v in views {
        let state = v.state.as_ref();
        let phase = v.phase();
        let mut label = v.phase_label();
        // A verdict that repeats the state (`blocked`) would only say it twice.
        if let Some(verdict) = state
            .and_then(|s| s.review.as_ref())
            .and_then(|r| r.verdict.as_deref())
            .filter(|verdict| *verdict != label)
        {
            label.push_str(&format!(" (review: {verdict})"));
        }
        let label = match phase {
            Phase::Done | Phase::Merged => st.green(&label),
            _ if phase.is_failure() => st.red(&label),
            _ if v.interrupted => st.yellow(&label),
            _ if phase.is_active() => st.cyan(&label),
            _ => label,
        };
        let deps = if v.change.dependencies.is_empty() {
            "-".to_owned()
        } else {
            v.change.dependencies.join(",")
        };
        let cost = state
            .and_then(|s| s.cost_usd)
            .map_or("-".to_owned(), |c| format!("${c:.2}"));
        let worktree = v
            .worktree
            .as_ref()
            .map_or("-".to_owned(), |p| display_path(p, &ctx.cwd));
        rows.push(vec![
            v.change.id.clone(),
            v.change.source.as_str().to_owned(),
            format!(
                "{} {}/{}",
                table::bar(v.tasks_done(), v.tasks_total(), 8),
                v.tasks_done(),
                v.tasks_total()
            ),
            label,
            deps,
            cost,
            live_branch(ws, v).unwrap_or_else(|| "-".to_owned()),
            worktree,
        ]);
    }
    let mut out = table::render_fit(&COLUMNS, &rows, crate::ui::stdout_width(), GIVES);
    if ctx.ui.verbose == 0 {
        out.push_str(&reasons(ctx, views));
    }
    if ctx.ui.verbose > 0 {
        for v in views {
            out.push_str(&format!("\n{}", st.bold(&v.change.id)));
            if let Some(title) = &v.change.title {
                out.push_str(&format!(": {title}"));
            }
            out.push('\n');
            if let Some(reason) = v
                .state
                .as_ref()
                .and_then(|s| s.reason.as_deref().or(s.last_error.as_deref()))
            {
                out.push_str(&format!("  {} {reason}\n", st.yellow("reason:")));
            }
            if let Some(review) = v.state.as_ref().and_then(|s| s.review.as_ref()) {
                let verdict = review.verdict.as_deref().unwrap_or("none");
                out.push_str(&format!(
                    "  {} round {}: {verdict}\n",
                    st.yellow("review:"),
                    review.rounds
                ));
                for finding in &review.findings {
                    out.push_str(&format!("    - {finding}\n"));
                }
            }
            for message in v.state.iter().flat_map(|s| &s.messages) {
                out.push_str(&format!(
                    "  {} {message}\n",
                    st.yellow("told (for its next iteration):")
                ));
            }
            if let Some(problem) = &v.change.tasks_problem {
                out.push_str(&format!("  {} {problem}\n", st.yellow("tasks:")));
            }
            for task in &v.tasks {
                let mark = if task.done {
                    st.green("[x]")
                } else {
                    "[ ]".to_owned()
                };
                out.push_str(&format!(
                    "  {mark} {} {}\n",
                    st.dim(&format!("{:>4}", task.line)),
                    task.text
                ));
            }
        }
    }
    out
}

/// The change's branch, unless it has none: never run yet, or merged and deleted since.
fn live_branch(ws: &Workspace, v: &ChangeView) -> Option<String> {
    let state = v.state.as_ref()?;
    let gone =
        v.phase() == Phase::Merged && !matches!(ws.repo.branch_tip(&state.branch), Ok(Some(_)));
    (!gone).then(|| state.branch.clone())
}

/// `status --watch`: the running start's events, drawn as `start` draws them, until the run
/// ends; without a run, the status once and a line saying so.
fn watch(ctx: &Context, ws: &Workspace, args: StatusArgs) -> Result<Exit, CommandError> {
    use crate::run::control::{Error, client};
    let mut display = Display::choose(&ctx.ui, args.json, false);
    match client::subscribe(&ws.run_dir, |event, line| display.show_line(&event, line)) {
        Ok(()) => {
            display.finish();
            Ok(Exit::Ok)
        }
        Err(Error::NoRun) => {
            let exit = cmd_status(
                ctx,
                StatusArgs {
                    watch: false,
                    ..args
                },
            )?;
            ctx.ui
                .note("No git conflux start is running in this repository; nothing to follow.");
            Ok(exit)
        }
        Err(e) => Err(CommandError::from_error(Exit::Failed, e)),
    }
}

/// Below the table, why each failed, stalled, blocked or conflicted change ended, one line
/// each, cut to the terminal's width (whole off a terminal); `-v` shows it in full instead.
fn reasons(ctx: &Context, views: &[&ChangeView]) -> String {
    let st = ctx.ui.style();
    let width = crate::ui::stdout_width();
    let mut out = String::new();
    for v in views {
        let phase = v.phase();
        let needs_a_person = matches!(
            phase,
            Phase::Failed | Phase::Stalled | Phase::Blocked | Phase::Conflict
        );
        let Some(reason) = v
            .state
            .as_ref()
            .and_then(|s| s.reason.as_deref().or(s.last_error.as_deref()))
            .filter(|_| needs_a_person)
        else {
            continue;
        };
        let reason: Vec<&str> = reason.lines().filter(|l| !l.trim().is_empty()).collect();
        let line = format!("{}: {}", v.change.id, reason.join("; "));
        let line = match width {
            Some(w) => truncate_to_width(&line, w),
            None => line,
        };
        if out.is_empty() {
            out.push('\n');
        }
        out.push_str(&st.yellow(&line));
        out.push('\n');
    }
    out
}
