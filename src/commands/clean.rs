//! `git conflux clean`: remove what conflux created (worktrees, branches, state, logs) for
//! the changes its state records, and nothing else.

use crate::cli::CleanArgs;
use crate::commands::Context;
use crate::error::{CommandError, Exit};
use crate::run::state::{ChangeState, Phase, pid_alive};

pub fn cmd_clean(ctx: &Context, args: CleanArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    let mut states = Vec::new();
    for loaded in ws.run_dir.load_all() {
        match loaded {
            Ok(state) => states.push(state),
            Err(e) => ctx.ui.warn(&e.to_string()),
        }
    }
    let unknown: Vec<&String> = args
        .ids
        .iter()
        .filter(|id| !states.iter().any(|s| &s.id == *id))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        return Err(
            CommandError::usage(format!("conflux has no record of {}", names.join(", ")))
                .hint("`git conflux status` shows the changes that have run"),
        );
    }
    let selected: Vec<&ChangeState> = states
        .iter()
        .filter(|s| {
            if !args.ids.is_empty() {
                args.ids.contains(&s.id)
            } else if args.all {
                true
            } else if args.failed {
                s.phase.is_failure()
            } else {
                s.phase == Phase::Merged
            }
        })
        .collect();
    if selected.is_empty() {
        ctx.ui.note("Nothing to clean.");
        return Ok(Exit::Ok);
    }
    let mut exit = Exit::Ok;
    for state in selected {
        if state.phase.is_active() && state.orchestrator_pid.is_some_and(pid_alive) {
            ctx.ui.warn(&format!(
                "{} is running; stop it first with `git conflux stop`",
                state.id
            ));
            exit = Exit::Failed;
            continue;
        }
        if args.dry_run {
            ctx.ui.out(&format!(
                "would remove {}: worktree {}, branch {}, state and log\n",
                state.id,
                state.worktree.display(),
                state.branch
            ));
            continue;
        }
        match clean_one(&ws, state, args.force) {
            Ok(()) => ctx.ui.out(&format!("removed {}\n", state.id)),
            Err(err) => {
                eprintln!("{} {err}", console::style("error:").red().bold());
                exit = Exit::Failed;
            }
        }
    }
    Ok(exit)
}

fn clean_one(
    ws: &crate::commands::Workspace,
    state: &ChangeState,
    force: bool,
) -> Result<(), CommandError> {
    let hint = || {
        format!(
            "commit or merge it first, or pass --force to discard it: git conflux clean --force {}",
            state.id
        )
    };
    if state.worktree.exists() {
        ws.repo
            .remove_worktree(&state.worktree, force)
            .map_err(|e| CommandError::from_error(Exit::Failed, e).hint(hint()))?;
    }
    if ws.repo.branch_tip(&state.branch).ok().flatten().is_some() {
        ws.repo
            .delete_branch(&state.branch, force)
            .map_err(|e| CommandError::from_error(Exit::Failed, e).hint(hint()))?;
    }
    ws.run_dir
        .forget(&state.id)
        .map_err(|e| CommandError::from_error(Exit::Failed, e))?;
    Ok(())
}
