//! The agent's process tree, and the one way to end it.
//!
//! Every agent runs as the leader of its own process group, so `killpg` reaches it and all
//! the children it did not move elsewhere (a pipeline, a test runner, a language server).
//!
//! Children that leave the group with `setsid`/`setpgid` are found two ways, both from
//! `/proc`, without touching the orchestrator's process-wide state:
//! - **descendants recorded while running**: every [`SCAN_EVERY`] (and before every signal)
//!   the ppid chains in `/proc/*/stat` are walked from the agent and from every process
//!   recorded earlier, so a recorded escapee's own children are found after it was
//!   reparented. Each process is recorded with its start time, so a reused pid is never
//!   signalled.
//! - **holders of the agent's stdout/stderr pipes**: when the agent has exited but its pipes
//!   stay open, whoever holds them (from `/proc/*/fd`) is ended too.
//!
//! Limits: a process that escapes with `setsid`, loses its parent to exit, and closes or
//! redirects its stdout and stderr, all within one scan interval (plus the age of the shared
//! snapshot the periodic scan may use), is not found. The
//! alternative, `PR_SET_CHILD_SUBREAPER`, catches every orphan but is process-wide: it would
//! make every orphan of every agent (and of anything else the orchestrator runs) our child,
//! to reap and attribute to the right agent; it was not chosen for that reason. On systems
//! without `/proc` only the process group is ended.

use std::os::fd::AsFd;
use std::process::ExitStatus;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

/// How often descendants are recorded while the agent runs.
pub(super) const SCAN_EVERY: Duration = Duration::from_millis(500);
/// How old a `/proc` snapshot a periodic scan may use: many agents share one walk of
/// `/proc`, and the window of the limit below grows by this much.
const SHARED_SCAN_AGE: Duration = Duration::from_millis(100);
/// How long to wait for processes to vanish after SIGKILL before reporting them as stuck.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How often to look whether the tree is gone while waiting (non-children cannot be awaited).
const POLL_EVERY: Duration = Duration::from_millis(10);

/// A process identity that survives pid reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Proc {
    pid: i32,
    start: u64,
}

/// The agent's process group and recorded descendants. Dropping it while armed SIGKILLs
/// everything it knows of, so a dropped or panicking supervisor leaves no processes behind.
pub(super) struct ProcessTree {
    pgid: i32,
    recorded: Vec<Proc>,
    /// Inodes of the agent's stdout/stderr pipes.
    pipes: Vec<u64>,
    /// The directory the run owns (a change's worktree), and when its leader started.
    confine: Option<(std::path::PathBuf, u64)>,
    /// The leader is a sandbox (bubblewrap) whose own processes get no SIGTERM.
    term_inside: bool,
    armed: bool,
}

/// How [`terminate`] ended the tree.
pub(super) struct Terminated {
    pub status: Option<ExitStatus>,
    /// Something was still alive after SIGKILL and [`KILL_WAIT`].
    pub stuck: bool,
}

impl ProcessTree {
    /// `leader` is the agent's pid, which is also its process group id.
    /// With `confine`, processes started since that run in that directory, detached from
    /// any terminal and orphaned, count as the tree's too ([`Self::scan_confined`]).
    pub fn new(leader: u32, pipes: &[&dyn AsFd], confine: Option<&std::path::Path>) -> Self {
        let pipes = pipes
            .iter()
            .filter_map(|p| nix::sys::stat::fstat(p.as_fd()).ok())
            .map(|st| st.st_ino)
            .collect();
        let pgid = i32::try_from(leader).unwrap_or(i32::MAX);
        // No scan yet: the agent has had no time to start children, and the first line
        // should not wait on a walk of /proc.
        let confine = confine.and_then(|dir| {
            let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
            Some((dir, crate::proc::start_ticks(leader)?))
        });
        ProcessTree {
            pgid,
            recorded: Vec::new(),
            pipes,
            confine,
            term_inside: false,
            armed: true,
        }
    }

    /// The leader is a sandbox: SIGTERM goes to the group's processes but the leader and its
    /// own children (bubblewrap's init in the namespace), SIGKILL to the whole group.
    pub fn term_inside(mut self) -> Self {
        self.term_inside = true;
        self
    }

    /// Records the processes that escaped the tree (`setsid`, a double fork, closed stdio)
    /// but took the run's directory with them: started since the run's leader, working in
    /// the directory the run owns, with no controlling terminal, and orphaned (their parent
    /// is pid 1). A person's shell, editor or language server in that worktree has a
    /// terminal or a live parent, and is left alone.
    pub fn scan_confined(&mut self) {
        let Some((dir, since)) = &self.confine else {
            return;
        };
        let me = std::process::id() as i32;
        for (&pid, st) in &crate::proc::all() {
            if pid == me
                || st.zombie
                || st.tty != 0
                || st.ppid != 1
                || st.start < *since
                || self.recorded.iter().any(|p| p.pid == pid)
            {
                continue;
            }
            let in_dir = std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| cwd.starts_with(dir));
            if in_dir {
                self.recorded.push(Proc {
                    pid,
                    start: st.start,
                });
            }
        }
    }

    /// `pid N (command)` for each live process of the tree that is not in the group: what
    /// escaped, for the change's log.
    pub fn escaped(&self) -> Vec<String> {
        let procs = crate::proc::all();
        self.recorded
            .iter()
            .filter(|p| {
                procs
                    .get(&p.pid)
                    .is_some_and(|s| s.start == p.start && !s.zombie && s.pgrp != self.pgid)
            })
            .map(|p| {
                let cmdline = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
                let command: String = String::from_utf8_lossy(&cmdline)
                    .split('\0')
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(80)
                    .collect();
                format!("pid {} ({command})", p.pid)
            })
            .collect()
    }

    /// Records the current descendants and group members; forgets processes that are gone.
    pub fn scan(&mut self) {
        self.scan_in(&crate::proc::all());
    }

    /// [`Self::scan`] on a `/proc` snapshot at most [`SHARED_SCAN_AGE`] old, shared with the
    /// other agents' periodic scans: what runs every [`SCAN_EVERY`] while the agent works.
    pub fn scan_periodic(&mut self) {
        self.scan_in(&crate::proc::all_recent(SHARED_SCAN_AGE));
    }

    fn scan_in(&mut self, procs: &crate::proc::Processes) {
        if procs.is_empty() {
            return;
        }
        self.recorded.retain(|p| {
            procs
                .get(&p.pid)
                .is_some_and(|s| s.start == p.start && !s.zombie)
        });
        let mut roots: Vec<i32> = self.recorded.iter().map(|p| p.pid).collect();
        roots.push(self.pgid);
        let mut grew = true;
        while grew {
            grew = false;
            for (&pid, st) in procs {
                if st.zombie || roots.contains(&pid) {
                    continue;
                }
                if roots.contains(&st.ppid) || st.pgrp == self.pgid {
                    roots.push(pid);
                    self.recorded.push(Proc {
                        pid,
                        start: st.start,
                    });
                    grew = true;
                }
            }
        }
    }

    /// Records the processes that hold the agent's stdout or stderr pipe.
    pub fn scan_pipe_holders(&mut self) {
        if self.pipes.is_empty() {
            return;
        }
        let me = std::process::id() as i32;
        let procs = crate::proc::all();
        for (&pid, st) in &procs {
            if pid == me || st.zombie || self.recorded.iter().any(|p| p.pid == pid) {
                continue;
            }
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            let holds = fds.flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|target| {
                    let t = target.to_string_lossy();
                    self.pipes.iter().any(|ino| t == format!("pipe:[{ino}]"))
                })
            });
            if holds {
                self.recorded.push(Proc {
                    pid,
                    start: st.start,
                });
            }
        }
    }

    /// Sends `sig` once to every process of the tree: the group with one `killpg`, and each
    /// recorded process that left the group on its own. A second SIGTERM is a force-quit for
    /// many CLIs, so nothing gets two.
    fn signal(&self, sig: Signal) {
        let procs = crate::proc::all();
        if self.term_inside && sig == Signal::SIGTERM {
            for (&pid, st) in &procs {
                if st.pgrp == self.pgid && pid != self.pgid && st.ppid != self.pgid && !st.zombie {
                    let _ = kill(Pid::from_raw(pid), sig);
                }
            }
            return;
        }
        // ESRCH only means the group is already empty.
        let _ = killpg(Pid::from_raw(self.pgid), sig);
        for p in &self.recorded {
            if procs
                .get(&p.pid)
                .is_some_and(|s| s.start == p.start && s.pgrp != self.pgid)
            {
                let _ = kill(Pid::from_raw(p.pid), sig);
            }
        }
    }

    /// Whether any process of the group or any recorded descendant still runs (zombies,
    /// which only wait to be reaped, do not count).
    pub fn alive(&self) -> bool {
        // The common end: the group is empty and nothing left it. Only when something might
        // remain is /proc walked (zombie members still answer `killpg`).
        let group_empty = killpg(Pid::from_raw(self.pgid), None) == Err(Errno::ESRCH);
        if group_empty && self.recorded.is_empty() {
            return false;
        }
        let procs = crate::proc::all();
        if procs.is_empty() {
            return !group_empty;
        }
        procs.iter().any(|(pid, st)| {
            !st.zombie
                && (st.pgrp == self.pgid
                    || self
                        .recorded
                        .iter()
                        .any(|p| p.pid == *pid && p.start == st.start))
        })
    }

    /// Everything is gone; dropping need not signal anything.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ProcessTree {
    fn drop(&mut self) {
        if self.armed {
            self.scan();
            self.signal(Signal::SIGKILL);
        }
    }
}

/// Ends the agent's whole tree: SIGTERM, then the child's exit (and the rest of the tree's)
/// against `grace`, then SIGKILL if anything is left. `kill_now` skips what remains of the
/// grace. Cancel, timeouts, leaks and ordinary exits all end through here.
pub(super) async fn terminate(
    child: &mut Child,
    tree: &mut ProcessTree,
    grace: Duration,
    kill_now: &CancellationToken,
) -> Terminated {
    let span = tracing::info_span!("terminate", pgid = tree.pgid);
    let _enter = span.enter();
    tree.scan();
    tree.scan_pipe_holders();
    tree.scan_confined();
    tree.signal(Signal::SIGTERM);
    let mut status = None;
    let killed = tokio::select! {
        s = gone(child, tree) => { status = s; false }
        _ = tokio::time::sleep(grace) => true,
        _ = kill_now.cancelled() => true,
    };
    let mut stuck = false;
    if killed {
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "agent still running after SIGTERM, sending SIGKILL"
        );
        tree.scan();
        tree.signal(Signal::SIGKILL);
        match tokio::time::timeout(KILL_WAIT, gone(child, tree)).await {
            Ok(s) => status = s,
            Err(_) => {
                tracing::warn!("agent processes survived SIGKILL");
                stuck = true;
            }
        }
    }
    if !stuck {
        tree.disarm();
    }
    Terminated { status, stuck }
}

/// Resolves once the child has been reaped and nothing of the tree runs.
async fn gone(child: &mut Child, tree: &ProcessTree) -> Option<ExitStatus> {
    let status = child.wait().await.ok();
    while tree.alive() {
        tokio::time::sleep(POLL_EVERY).await;
    }
    status
}

/// Marks the tree as ended without signalling: the caller saw it exit and found nothing left.
pub(super) fn finished(tree: &mut ProcessTree) {
    tree.disarm();
}
