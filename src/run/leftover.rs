//! Agents left running by an orchestrator that died without cleaning up (`kill -9`, a crash):
//! found from the pids the state files recorded, and ended before their worktree is reused.

use std::path::Path;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::run::state::{ChangeState, pid_alive};

/// Ends the process group of the agent `state` recorded, when that process still runs in the
/// change's worktree (its cwd is there, so a reused pid is never signalled). Returns the pid
/// when it ended one.
pub fn end_leftover_agent(state: &ChangeState) -> Option<u32> {
    let pid = state.pid?;
    if !pid_alive(pid) || !runs_in(pid, &state.worktree) {
        return None;
    }
    let group = Pid::from_raw(i32::try_from(pid).ok()?);
    // The orchestrator that owned it is gone, so nobody will commit its work mid-write:
    // SIGKILL at once, like the second Ctrl-C.
    killpg(group, Signal::SIGKILL).ok()?;
    Some(pid)
}

/// Whether process `pid` has its working directory in (or under) `dir`.
fn runs_in(pid: u32, dir: &Path) -> bool {
    let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) else {
        return false;
    };
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    cwd.starts_with(&dir)
}
