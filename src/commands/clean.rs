//! `git conflux clean`: remove what conflux created (worktrees, branches, state, logs) for
//! the changes its state records, and nothing else: a branch its state does not say it
//! created is kept, with or without `--force` (which only allows losing conflux's own
//! unmerged work).

use crate::cli::CleanArgs;
use crate::commands::Context;
use crate::error::{CommandError, Exit};
use crate::run::state::{BranchOwner, ChangeState, Phase, branch_owner, pid_alive};
use crate::run::workspace::Workspace;

pub fn cmd_clean(ctx: &Context, args: CleanArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    if !args.dry_run {
        ws.repo.empty_trash();
    }
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
        let meant = names
            .iter()
            .find_map(|id| crate::suggest::did_you_mean(id, states.iter().map(|s| s.id.as_str())))
            .map_or(String::new(), |meant| format!("{meant} "));
        return Err(
            CommandError::usage(format!("conflux has no record of {}", names.join(", "))).hint(
                format!("{meant}`git conflux status` shows the changes that have run"),
            ),
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
        let owned = match Owned::of(&ws, state) {
            Ok(owned) => owned,
            Err(err) => {
                ctx.ui.error(&err.to_string());
                exit = Exit::Failed;
                continue;
            }
        };
        if !owned.branch && !matches!(owned.owner, BranchOwner::Absent) {
            ctx.ui.warn(&format!(
                "{}: keeping branch {}: git conflux has no record of creating it; if it is not needed, delete it yourself: git branch -D {}",
                state.id, state.branch, state.branch
            ));
        }
        if args.dry_run {
            let mut parts = Vec::new();
            if owned.worktree {
                parts.push(format!("worktree {}", state.worktree.display()));
            }
            if owned.branch {
                parts.push(format!("branch {}", state.branch));
            }
            parts.push("state and log".into());
            ctx.ui.out(&format!(
                "would remove {}: {}\n",
                state.id,
                parts.join(", ")
            ));
            continue;
        }
        match clean_one(&ws, state, owned, args.force) {
            Ok(()) => ctx.ui.out(&format!("removed {}\n", state.id)),
            Err(err) => {
                ctx.ui.error(&err.to_string());
                exit = Exit::Failed;
            }
        }
    }
    Ok(exit)
}

/// What of a change's worktree and branch conflux created, and so may remove.
#[derive(Clone, Copy)]
struct Owned {
    owner: BranchOwner,
    branch: bool,
    worktree: bool,
}

impl Owned {
    fn of(ws: &Workspace, state: &ChangeState) -> Result<Owned, CommandError> {
        let owner = branch_owner(&ws.repo, Some(state), &state.branch)
            .map_err(|e| CommandError::from_error(Exit::Failed, e))?;
        Ok(Owned {
            owner,
            branch: owner == BranchOwner::Conflux,
            // Conflux made the worktree with the branch; older records do not say who made
            // the branch, but conflux always made the worktree.
            worktree: state.worktree.exists()
                && match owner {
                    BranchOwner::Conflux | BranchOwner::Unrecorded => true,
                    BranchOwner::Other => false,
                    BranchOwner::Absent => state.created_branch != Some(false),
                },
        })
    }
}

fn clean_one(
    ws: &Workspace,
    state: &ChangeState,
    owned: Owned,
    force: bool,
) -> Result<(), CommandError> {
    let hint = || {
        format!(
            "commit or merge it first, or pass --force to discard it: git conflux clean --force {}",
            state.id
        )
    };
    if owned.worktree {
        ws.repo
            .remove_worktree(&state.worktree, force)
            .map_err(|e| CommandError::from_error(Exit::Failed, e).hint(hint()))?;
    }
    if owned.branch {
        ws.repo
            .delete_branch(&state.branch, force)
            .map_err(|e| CommandError::from_error(Exit::Failed, e).hint(hint()))?;
    }
    ws.run_dir
        .forget(&state.id)
        .map_err(|e| CommandError::from_error(Exit::Failed, e))?;
    Ok(())
}
