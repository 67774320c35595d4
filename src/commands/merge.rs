//! `git conflux merge`: done changes into their base, in dependency order.

use serde_json::json;

use crate::cli::MergeArgs;
use crate::commands::Context;
use crate::config::Resolve;
use crate::error::{CommandError, Exit};
use crate::git::MergeMode;
use crate::run::merge::{self, MergeOptions, Merged};
use crate::run::overview::overview_of_records;
use crate::run::state::Phase;

pub fn cmd_merge(ctx: &Context, args: MergeArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    if !args.dry_run {
        // Worktrees a killed merge moved to the trash go in the background meanwhile.
        ws.repo.empty_trash();
    }
    let config = ws.config()?;
    let view = overview_of_records(&ws, (!args.all).then_some(args.ids.as_slice()))?;
    view.check_ids(&args.ids)?;
    let options = MergeOptions {
        mode: if args.squash {
            MergeMode::Squash
        } else if args.no_ff {
            MergeMode::NoFastForward
        } else {
            MergeMode::FastForward
        },
        keep: args.keep,
        force: args.force,
    };

    // In dependency order (the overview's), with unmerged dependencies first when asked.
    let mut wanted: Vec<String> = if args.all {
        view.changes
            .iter()
            .filter(|v| v.phase() == Phase::Done)
            .map(|v| v.change.id.clone())
            .collect()
    } else {
        args.ids.clone()
    };
    if args.with_deps {
        let mut i = 0;
        while i < wanted.len() {
            if let Some(v) = view.find(&wanted[i]) {
                for dep in &v.change.dependencies {
                    let unmerged = view
                        .find(dep)
                        .is_some_and(|d| d.state.is_some() && d.phase() != Phase::Merged);
                    if unmerged && !wanted.contains(dep) {
                        wanted.push(dep.clone());
                    }
                }
            }
            i += 1;
        }
    }
    let ordered: Vec<&str> = view
        .changes
        .iter()
        .map(|v| v.change.id.as_str())
        .filter(|id| wanted.iter().any(|w| w == id))
        .collect();
    if ordered.is_empty() {
        ctx.ui.note(
            "Nothing to merge: no change is done. `git conflux status` shows where each one is.",
        );
        return Ok(Exit::Ok);
    }

    let mut results = Vec::new();
    let mut exit = Exit::Ok;
    // Each merged change's worktree and branch are removed by a second thread, beside the
    // next merges; the scope waits for it before the command returns.
    let (tidy_queue, tidied) = std::sync::mpsc::channel::<merge::Tidy>();
    std::thread::scope(|scope| -> Result<(), CommandError> {
        let ws = &ws;
        scope.spawn(move || tidied.into_iter().for_each(|tidy| tidy.run(ws)));
        let tidy_queue = tidy_queue;
        for id in &ordered {
            let Some(v) = view.find(id) else { continue };
            // A dependency must be merged first (or merged in this same call, earlier).
            let missing: Vec<&String> = v
                .change
                .dependencies
                .iter()
                .filter(|d| {
                    let merged_now = results
                        .iter()
                        .any(|(r, ok): &(String, bool)| r == *d && *ok);
                    let merged_before = view.find(d).is_none_or(|dv| {
                        dv.phase() == Phase::Merged
                            || (dv.state.is_none()
                                && dv.change.tasks_total() > 0
                                && dv.change.tasks_done() == dv.change.tasks_total())
                    });
                    !merged_now && !merged_before
                })
                .collect();
            if !missing.is_empty() {
                let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                let err = CommandError::failed(format!(
                    "{id} depends on {}, not merged yet",
                    names.join(", ")
                ))
                .hint(format!(
                    "merge them first, or pass --with-deps: git conflux merge --with-deps {id}"
                ));
                report_error(ctx, &err, args.json, id);
                results.push((id.to_string(), false));
                exit = worst(exit, Exit::Failed);
                continue;
            }
            if args.dry_run {
                let phase = v.phase();
                let can = phase == Phase::Done || args.force;
                ctx.ui.out(&format!(
                    "{id}: {} ({phase})\n",
                    if phase == Phase::Merged {
                        "already merged"
                    } else if can {
                        "would merge"
                    } else {
                        "would refuse: not done"
                    }
                ));
                results.push((id.to_string(), can));
                continue;
            }
            let mut change_config =
                config.for_change(v.change.config.as_ref(), &v.change.dir.join("proposal.md"))?;
            // The flag is the command-line layer of `merge.resolve`.
            if args.resolve {
                change_config.merge_resolve = Resolve::Agent;
            }
            match merge::merge_leaving_tidy(ws, &change_config, &v.change, &options) {
                Ok((merged, tidy)) => {
                    if let Some(tidy) = tidy {
                        // Only ends when the worker is gone, which the scope prevents.
                        let _ = tidy_queue.send(tidy);
                    }
                    let text = match &merged {
                        Merged::Already => format!("{id}: already merged"),
                        Merged::FastForward { base, to } => {
                            format!("{id}: fast-forwarded {base} to {}", crate::ui::short(to))
                        }
                        Merged::Commit { base, commit } => {
                            format!("{id}: merged into {base} as {}", crate::ui::short(commit))
                        }
                    };
                    if args.json {
                        ctx.ui.out(&format!(
                            "{}\n",
                            json!({"id": id, "merged": true, "result": text})
                        ));
                    } else {
                        ctx.ui.out(&format!("{text}\n"));
                    }
                    results.push((id.to_string(), true));
                }
                Err(e) => {
                    let err = CommandError::from(e);
                    report_error(ctx, &err, args.json, id);
                    results.push((id.to_string(), false));
                    exit = worst(exit, err.exit);
                }
            }
        }
        Ok(())
    })?;
    Ok(exit)
}

fn report_error(ctx: &Context, err: &CommandError, json: bool, id: &str) {
    if json {
        ctx.ui.out(&format!(
            "{}\n",
            json!({"id": id, "merged": false, "error": err.to_string(), "exit": err.exit.code()})
        ));
    } else {
        ctx.ui.error(&err.to_string());
    }
}

/// Conflicts outrank refusals in the exit code.
fn worst(a: Exit, b: Exit) -> Exit {
    let rank = |e: Exit| match e {
        Exit::Ok => 0,
        Exit::Failed => 1,
        Exit::Conflict => 2,
        _ => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}
