//! `git conflux stop`: what Ctrl-C does, sent to the running `start` from another terminal.
//!
//! It needs nothing but the lock: a broken `.conflux.yaml` must not keep a run from being
//! stopped. A lock whose process is gone (its pid perhaps reused) is stale: nothing is
//! signalled, the lock is removed, and agents that `start` left running are ended.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::cli::StopArgs;
use crate::commands::{Context, steer};
use crate::config::Config;
use crate::error::{CommandError, Exit};
use crate::run::control::Request;
use crate::run::leftover;
use crate::run::state::{LockInfo, LockState};
use crate::run::workspace::Workspace;

pub fn cmd_stop(ctx: &Context, args: StopArgs) -> Result<Exit, CommandError> {
    let ws = ctx.workspace()?;
    if !args.ids.is_empty() {
        return steer(ctx, &ws, Request::Stop { ids: args.ids });
    }
    let holder = match ws.run_dir.lock_state() {
        LockState::Held(holder) => holder,
        LockState::Free => {
            ctx.ui
                .note("No git conflux start is running in this repository.");
            return Ok(end_leftovers(ctx, &ws));
        }
        LockState::Stale(stale) => {
            ctx.ui.note(&format!(
                "No git conflux start is running: the lock {} names pid {}, which is no longer that git conflux start (a stale lock); nothing was signalled.",
                ws.run_dir.lock_path().display(),
                stale.pid
            ));
            ws.run_dir
                .remove_stale_lock(&stale)
                .map_err(|e| CommandError::from_error(Exit::Failed, e))?;
            ctx.ui.note("Removed the stale lock.");
            return Ok(end_leftovers(ctx, &ws));
        }
    };
    signal_and_wait(ctx, &ws, &holder, args.now)
}

/// Asks the live `start` to stop (SIGTERM is the graceful stop; SIGQUIT skips the grace and
/// kills the agents) and waits until it has released the lock.
fn signal_and_wait(
    ctx: &Context,
    ws: &Workspace,
    holder: &LockInfo,
    now: bool,
) -> Result<Exit, CommandError> {
    let signal = if now {
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
    // The configured grace only sets how long to wait; an unreadable configuration is no
    // reason not to stop.
    let grace = ws
        .config()
        .map_or(Config::default().kill_grace, |c| c.kill_grace);
    let deadline = Instant::now() + grace + Duration::from_secs(60);
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

/// Ends the agents a `start` that died without cleaning up left running, naming each.
fn end_leftovers(ctx: &Context, ws: &Workspace) -> Exit {
    for state in ws.run_dir.load_all().into_iter().flatten() {
        for line in leftover::sweep(&state) {
            ctx.ui.warn(&line);
        }
    }
    Exit::Ok
}
