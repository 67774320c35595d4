//! What an orchestrator that died without cleaning up (`kill -9`, a crash, a power loss)
//! leaves behind: agents still running, found from the pids the state files recorded, and
//! the lock file of an index write it was in the middle of. Both are dealt with before the
//! change's worktree is used again.

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

/// Removes the `index.lock` of `state`'s worktree when the orchestrator that recorded the
/// state is dead: it was that orchestrator's (or its agents', now ended) and would make every
/// later commit there fail. The index itself is untouched. Returns the path it removed.
pub fn clear_stale_index_lock(state: &ChangeState) -> Option<std::path::PathBuf> {
    if state.orchestrator_pid.is_some_and(pid_alive) {
        return None;
    }
    let link = std::fs::read_to_string(state.worktree.join(".git")).ok()?;
    let admin = std::path::PathBuf::from(link.strip_prefix("gitdir:")?.trim());
    let admin = if admin.is_relative() {
        state.worktree.join(admin)
    } else {
        admin
    };
    let lock = admin.join("index.lock");
    std::fs::remove_file(&lock).ok().map(|()| lock)
}
