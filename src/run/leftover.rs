//! What an orchestrator that died without cleaning up (`kill -9`, a crash, a power loss)
//! leaves behind: agents still running, found from the pids the state files recorded, and
//! the lock files of an index or branch write it was in the middle of. They are dealt with
//! before the change's worktree and branch are used again.

use std::path::Path;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::proc::{Recorded, still_running};
use crate::run::state::{ChangeState, pid_alive};

/// Deals with what an orchestrator that died left for one change (its agent, its index lock)
/// and says what was done, one line each: `start` runs this before reusing a worktree, and
/// `stop` when the `start` it was asked to stop is already gone.
pub fn sweep(state: &ChangeState) -> Vec<String> {
    let mut done = Vec::new();
    if let Some(pid) = end_leftover_agent(state) {
        done.push(format!(
            "{}: ended the agent (pid {pid}) left running by an earlier git conflux start",
            state.id
        ));
    }
    if let Some(lock) = clear_stale_index_lock(state) {
        done.push(format!(
            "{}: removed {}, left by an earlier git conflux start that was killed",
            state.id,
            lock.display()
        ));
    }
    done
}

/// Ends the process group of the agent `state` recorded, when that very process still runs
/// (same pid and start time: a reused pid is never signalled) in the change's worktree.
/// Returns the pid when it ended one.
fn end_leftover_agent(state: &ChangeState) -> Option<u32> {
    let pid = state.pid?;
    let recorded = Recorded {
        pid,
        start: state.pid_start,
        seen_at: state.updated_at,
    };
    if !still_running(recorded) || !runs_in(pid, &state.worktree) {
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
fn clear_stale_index_lock(state: &ChangeState) -> Option<std::path::PathBuf> {
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

/// Removes the lock file of branch `branch` (`refs/heads/<branch>.lock` under `common_dir`)
/// when it is older than `since`, the start of this orchestrator: one killed while creating
/// or moving the branch left it, and every later update of the branch would fail on it.
/// Called only while holding the run lock, so no other git conflux writes the branch; a lock
/// made since this start (someone's own git command) is left alone. Says what it removed.
pub fn clear_stale_ref_lock(
    common_dir: &Path,
    branch: &str,
    since: std::time::SystemTime,
) -> Option<String> {
    let lock = common_dir.join(format!("refs/heads/{branch}.lock"));
    let modified = std::fs::symlink_metadata(&lock)
        .ok()
        .filter(std::fs::Metadata::is_file)?
        .modified()
        .ok()?;
    if modified >= since {
        return None;
    }
    std::fs::remove_file(&lock).ok()?;
    Some(format!(
        "removed {}, the lock of branch {branch} left by an earlier git conflux start that was killed",
        lock.display()
    ))
}
