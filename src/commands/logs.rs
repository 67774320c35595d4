//! `git conflux logs`: one change's log, optionally followed while it runs.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

use crate::cli::LogsArgs;
use crate::commands::Context;
use crate::error::{CommandError, Exit};
use crate::run::state::{Phase, pid_alive};
use crate::run::workspace::Workspace;
use crate::ui::pager;

pub fn cmd_logs(ctx: &Context, args: LogsArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    crate::change::validate_id(&args.id).map_err(|e| CommandError::from_error(Exit::Usage, e))?;
    if let Some(iteration) = args.prompt {
        return show_prompt(ctx, &ws, &args, iteration);
    }
    let path = ws.run_dir.log_path(&args.id);
    if !args.follow {
        let text = std::fs::read(&path).map_err(|e| unreadable(&ws, &args.id, &path, e))?;
        pager::page(&ctx.ui, &String::from_utf8_lossy(&text), !args.no_pager);
        return Ok(Exit::Ok);
    }
    let mut file = std::fs::File::open(&path).map_err(|e| unreadable(&ws, &args.id, &path, e))?;
    let mut buf = Vec::new();
    let mut pos = 0u64;
    loop {
        buf.clear();
        let read = file
            .seek(SeekFrom::Start(pos))
            .and_then(|_| file.read_to_end(&mut buf))
            .map_err(|e| CommandError::failed(format!("cannot read {}: {e}", path.display())))?;
        pos += read as u64;
        ctx.ui.out(&String::from_utf8_lossy(&buf));
        if !args.follow || !running(&ws, &args.id) {
            if read == 0 || !args.follow {
                return Ok(Exit::Ok);
            }
            continue; // one last read after it stopped
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Why the log of change `id` at `path` cannot be shown, and what to do.
fn unreadable(ws: &Workspace, id: &str, path: &Path, e: std::io::Error) -> CommandError {
    if e.kind() == std::io::ErrorKind::NotFound {
        // An id that names no change is a typo, not a change yet to run.
        let overview = crate::run::overview::overview(ws).and_then(|o| {
            o.check_ids(std::slice::from_ref(&id.to_string()))
                .map(|()| o)
        });
        let merged = match overview {
            Ok(o) => o.find(id).is_some_and(|v| v.phase() == Phase::Merged),
            Err(e) => return e.into(),
        };
        // A merged change has nothing left to run: `clean` removed its log.
        if merged {
            return CommandError::failed(format!(
                "change {id} is merged and has no log ({} does not exist; `git conflux clean` removes the logs of merged changes)",
                path.display()
            ))
            .hint("its work is on the base branch: `git log` shows it");
        }
        CommandError::failed(format!(
            "change {id} has no log yet ({} does not exist)",
            path.display()
        ))
        .hint(format!("it gets one when it runs: git conflux start {id}"))
    } else {
        CommandError::failed(format!("cannot read {}: {e}", path.display()))
    }
}

/// `logs ID --prompt [N]`: the prompt kept for iteration N, or the latest one.
fn show_prompt(
    ctx: &Context,
    ws: &Workspace,
    args: &LogsArgs,
    iteration: Option<u32>,
) -> Result<Exit, CommandError> {
    let id = &args.id;
    let Some(iteration) = iteration.or_else(|| latest_prompt(ws, id)) else {
        return Err(CommandError::failed(format!(
            "change {id} has no kept prompt ({} holds none)",
            ws.run_dir.kept_prompts_dir(id).display()
        ))
        .hint(format!(
            "a prompt is kept for each iteration its agent runs: git conflux start {id}"
        )));
    };
    let path = ws.run_dir.kept_prompt_path(id, iteration);
    match std::fs::read(&path) {
        Ok(text) => {
            pager::page(&ctx.ui, &String::from_utf8_lossy(&text), !args.no_pager);
            Ok(Exit::Ok)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CommandError::failed(format!(
            "change {id} has no prompt kept for iteration {iteration} ({} does not exist)",
            path.display()
        ))
        .hint(format!(
            "`git conflux logs {id} --prompt` shows the latest one"
        ))),
        Err(e) => Err(CommandError::failed(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The highest iteration with a kept prompt.
fn latest_prompt(ws: &Workspace, id: &str) -> Option<u32> {
    std::fs::read_dir(ws.run_dir.kept_prompts_dir(id))
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            name.to_str()?
                .strip_prefix("prompt-")?
                .strip_suffix(".md")?
                .parse()
                .ok()
        })
        .max()
}

/// Whether a live orchestrator is still driving the change.
fn running(ws: &Workspace, id: &str) -> bool {
    match ws.run_dir.load(id) {
        Ok(Some(state)) => state.phase.is_active() && state.orchestrator_pid.is_some_and(pid_alive),
        _ => false,
    }
}
