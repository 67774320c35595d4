//! `git conflux stop`: what Ctrl-C does, sent to the running `start` from another terminal.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cli::StopArgs;
use crate::commands::Context;
use crate::error::{CommandError, Exit};

pub fn cmd_stop(ctx: &Context, args: StopArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    let config = ws.config()?;
    let Some(holder) = ws.run_dir.lock_holder() else {
        ctx.ui
            .note("No git conflux start is running in this repository.");
        return Ok(Exit::Ok);
    };
    // SIGTERM is the graceful stop; SIGQUIT skips the grace and kills the agents.
    let signal = if args.now {
        Signal::SIGQUIT
    } else {
        Signal::SIGTERM
    };
    let pid = Pid::from_raw(i32::try_from(holder.pid).unwrap_or(i32::MAX));
    kill(pid, signal).map_err(|e| {
        CommandError::failed(format!(
            "cannot signal git conflux start (pid {}): {e}",
            holder.pid
        ))
    })?;
    ctx.ui
        .note(&format!("Stopping git conflux start (pid {})…", holder.pid));
    let deadline = Instant::now() + config.kill_grace + Duration::from_secs(60);
    while Instant::now() < deadline {
        if ws.run_dir.lock_holder().is_none_or(|h| h.pid != holder.pid) {
            ctx.ui.note("Stopped. Run `git conflux start` to resume.");
            return Ok(Exit::Ok);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(CommandError::failed(format!(
        "git conflux start (pid {}) is still running",
        holder.pid
    ))
    .hint("run `git conflux stop --now` to kill its agents at once"))
}
