//! `git conflux logs`: one change's log, optionally followed while it runs.

use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use crate::cli::LogsArgs;
use crate::commands::Context;
use crate::error::{CommandError, Exit};
use crate::run::state::pid_alive;
use crate::run::workspace::Workspace;

pub fn cmd_logs(ctx: &Context, args: LogsArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    crate::change::validate_id(&args.id).map_err(|e| CommandError::from_error(Exit::Usage, e))?;
    let path = ws.run_dir.log_path(&args.id);
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // An id that names no change is a typo, not a change yet to run.
            crate::run::overview::overview(&ws)?.check_ids(std::slice::from_ref(&args.id))?;
            return Err(CommandError::failed(format!(
                "change {} has no log yet ({} does not exist)",
                args.id,
                path.display()
            ))
            .hint(format!(
                "it gets one when it runs: git conflux start {}",
                args.id
            )));
        }
        Err(e) => {
            return Err(CommandError::failed(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
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

/// Whether a live orchestrator is still driving the change.
fn running(ws: &Workspace, id: &str) -> bool {
    match ws.run_dir.load(id) {
        Ok(Some(state)) => state.phase.is_active() && state.orchestrator_pid.is_some_and(pid_alive),
        _ => false,
    }
}
