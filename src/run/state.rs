//! What a run leaves on disk, under `<git-common-dir>/conflux/`: one JSON state file per
//! change, one log per change, and the lock of the running orchestrator.
//!
//! These live in the common git dir, outside every worktree, so they are never committed and
//! survive the worktrees. Every file is written atomically (temp file + rename).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The directory of conflux's runtime files for one repository.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

/// Where a change is in its life (DESIGN.md: one change's life).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Pending,
    Queued,
    /// The reviewer said the change cannot be finished without a person's decision.
    Blocked,
    Preparing,
    Applying,
    Verifying,
    Reviewing,
    Done,
    Merged,
    Failed,
    Stalled,
    Skipped,
    Cancelled,
    Conflict,
}

impl Phase {
    /// A phase that a live orchestrator is driving.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Phase::Queued
                | Phase::Preparing
                | Phase::Applying
                | Phase::Verifying
                | Phase::Reviewing
        )
    }

    /// Ended without success: `start` runs it again.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Phase::Failed
                | Phase::Stalled
                | Phase::Skipped
                | Phase::Cancelled
                | Phase::Conflict
                | Phase::Blocked
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Queued => "queued",
            Phase::Blocked => "blocked",
            Phase::Preparing => "preparing",
            Phase::Applying => "applying",
            Phase::Verifying => "verifying",
            Phase::Reviewing => "reviewing",
            Phase::Done => "done",
            Phase::Merged => "merged",
            Phase::Failed => "failed",
            Phase::Stalled => "stalled",
            Phase::Skipped => "skipped",
            Phase::Cancelled => "cancelled",
            Phase::Conflict => "conflict",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The persisted record of one change's run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ChangeState {
    pub id: String,
    pub phase: Phase,
    #[serde(default)]
    pub reason: Option<String>,
    pub branch: String,
    pub worktree: PathBuf,
    pub base: String,
    /// The commit the branch was created at (the base tip, or a merge of dependencies).
    #[serde(default)]
    pub start_commit: Option<String>,
    /// Whether conflux created the branch (and so its worktree): only then does a resume
    /// build on it and `clean` delete it. Absent in files written before it was recorded.
    #[serde(default)]
    pub created_branch: Option<bool>,
    #[serde(default)]
    pub iteration: u32,
    #[serde(default)]
    pub tasks_done: usize,
    #[serde(default)]
    pub tasks_total: usize,
    /// The agent's pid while it runs (its process group id too).
    #[serde(default)]
    pub pid: Option<u32>,
    /// The agent's start time (clock ticks after boot), so that a reused pid is never taken
    /// for it; absent in files written before it was recorded.
    #[serde(default)]
    pub pid_start: Option<u64>,
    /// The pid of the orchestrator that drives this change.
    #[serde(default)]
    pub orchestrator_pid: Option<u32>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub cost_usd: Option<f64>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_verify_failure: Option<String>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub started_at: Option<u64>,
    #[serde(default)]
    pub updated_at: Option<u64>,
    #[serde(default)]
    pub finished_at: Option<u64>,
    /// Seconds spent running across all sessions.
    #[serde(default)]
    pub elapsed_secs: u64,
    #[serde(default)]
    pub review: Option<ReviewRecord>,
    /// Messages from `git conflux tell` not yet in a prompt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
}

/// The review stage so far: rounds run and the last verdict with its findings.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ReviewRecord {
    pub rounds: u32,
    pub verdict: Option<String>,
    pub findings: Vec<String>,
}

impl ChangeState {
    /// A change about to run for the first time.
    pub fn new(id: &str, branch: &str, worktree: &Path, base: &str) -> ChangeState {
        ChangeState {
            id: id.to_owned(),
            phase: Phase::Queued,
            reason: None,
            branch: branch.to_owned(),
            worktree: worktree.to_owned(),
            base: base.to_owned(),
            start_commit: None,
            created_branch: Some(false),
            iteration: 0,
            tasks_done: 0,
            tasks_total: 0,
            pid: None,
            pid_start: None,
            orchestrator_pid: None,
            retries: 0,
            cost_usd: None,
            last_error: None,
            last_verify_failure: None,
            started_at: None,
            updated_at: None,
            finished_at: None,
            elapsed_secs: 0,
            review: None,
            messages: Vec::new(),
        }
    }
}

/// Who made a change's branch, as far as conflux knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BranchOwner {
    /// The branch does not exist.
    Absent,
    /// Conflux created it for this change: a resume builds on it, `clean` may delete it.
    Conflux,
    /// Someone else did (or conflux has no record of the change): never used or deleted.
    Other,
    /// A state written before conflux recorded this: resumed as before, never deleted.
    Unrecorded,
}

/// Who made the branch `state` (or, without a state, the default name `branch`) names. The
/// state's record decides; the branch's reflog covers a crash between creating the branch
/// and recording that.
pub fn branch_owner(
    repo: &crate::git::Repo,
    state: Option<&ChangeState>,
    branch: &str,
) -> Result<BranchOwner, crate::git::branch::Error> {
    if repo.branch_tip(branch)?.is_none() {
        return Ok(BranchOwner::Absent);
    }
    Ok(match state.map(|s| s.created_branch) {
        None => BranchOwner::Other,
        Some(Some(true)) => BranchOwner::Conflux,
        Some(_) if repo.branch_created_by_conflux(branch) => BranchOwner::Conflux,
        Some(Some(false)) => BranchOwner::Other,
        Some(None) => BranchOwner::Unrecorded,
    })
}

/// The lock file's content: who holds the repository.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockInfo {
    pub pid: u32,
    /// When the lock was taken (epoch seconds).
    pub started_at: u64,
    /// The holder's start time (clock ticks after boot); absent in older lock files.
    #[serde(default)]
    pub start: Option<u64>,
}

impl LockInfo {
    /// Whether the process that wrote this lock still runs: the same pid, start time and
    /// program. A lock naming a reused pid is stale.
    pub fn holder_alive(&self) -> bool {
        crate::proc::still_running(crate::proc::Recorded {
            pid: self.pid,
            start: self.start,
            seen_at: Some(self.started_at),
        }) && crate::proc::is_conflux(self.pid)
    }
}

/// What a lock file says.
#[derive(Clone, Debug)]
pub enum LockState {
    Free,
    /// Held by the live process it names.
    Held(LockInfo),
    /// Left by a process that is gone (its pid may belong to another process by now).
    Stale(LockInfo),
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged ({source}); delete it to forget that change's run state")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "another git conflux {what} (pid {pid}, started {since}) is running in this repository"
    )]
    Locked {
        what: &'static str,
        pid: u32,
        since: String,
    },
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-25 18:32:05 UTC`-style text for a time in epoch seconds.
pub fn format_time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(secs)).to_string()
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    crate::files::write_atomic(path, bytes).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

/// Whether a process with this pid exists (signal 0).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

impl RunDir {
    pub fn new(common_dir: &Path) -> RunDir {
        RunDir {
            root: common_dir.join("conflux"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state_path(&self, id: &str) -> PathBuf {
        self.root.join("state").join(format!("{id}.json"))
    }

    pub fn log_path(&self, id: &str) -> PathBuf {
        self.root.join("logs").join(format!("{id}.log"))
    }

    /// Where a change's prompt is written for agents that read it from a file.
    pub fn prompt_path(&self, id: &str) -> PathBuf {
        self.root.join("prompts").join(format!("{id}.md"))
    }

    /// The prompt iteration `iteration` of a change was sent, kept beside its log.
    pub fn kept_prompt_path(&self, id: &str, iteration: u32) -> PathBuf {
        self.kept_prompts_dir(id)
            .join(format!("prompt-{iteration}.md"))
    }

    /// Where a change's kept prompts are.
    pub fn kept_prompts_dir(&self, id: &str) -> PathBuf {
        self.root.join("logs").join(id)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Held while a merge runs, so merges (from `merge` or `start --merge`) never overlap.
    pub fn merge_lock_path(&self) -> PathBuf {
        self.root.join("merge.lock")
    }

    pub fn load(&self, id: &str) -> Result<Option<ChangeState>, Error> {
        let path = self.state_path(id);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| Error::Corrupt { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Read { path, source }),
        }
    }

    /// Every recorded change state, sorted by id; damaged files are returned as errors.
    pub fn load_all(&self) -> Vec<Result<ChangeState, Error>> {
        let dir = self.root.join("state");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(str::to_owned)
            })
            .collect();
        ids.sort();
        ids.iter()
            .filter_map(|id| self.load(id).transpose())
            .collect()
    }

    pub fn save(&self, state: &ChangeState) -> Result<(), Error> {
        let mut bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
        bytes.push(b'\n');
        write_atomic(&self.state_path(&state.id), &bytes)
    }

    /// Forgets a change: its state, log and prompt files, and its kept prompts.
    pub fn forget(&self, id: &str) -> Result<(), Error> {
        for path in [self.state_path(id), self.log_path(id), self.prompt_path(id)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(Error::Write { path, source }),
            }
        }
        let kept = self.kept_prompts_dir(id);
        match std::fs::remove_dir_all(&kept) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Write { path: kept, source }),
        }
    }

    /// The holder of the run lock, if a live process holds it.
    pub fn lock_holder(&self) -> Option<LockInfo> {
        match self.lock_state() {
            LockState::Held(info) => Some(info),
            LockState::Free | LockState::Stale(_) => None,
        }
    }

    /// The run lock: free, held by a live `start`, or left by one that is gone.
    pub fn lock_state(&self) -> LockState {
        read_lock(&self.lock_path())
    }

    /// Removes a stale run lock, unless another process took the lock meanwhile.
    pub fn remove_stale_lock(&self, stale: &LockInfo) -> Result<(), Error> {
        let path = self.lock_path();
        match read_lock(&path) {
            LockState::Stale(now) if now.pid == stale.pid && now.started_at == stale.started_at => {
                std::fs::remove_file(&path).map_err(|source| Error::Write { path, source })
            }
            _ => Ok(()),
        }
    }

    /// Takes the run lock for this process; a lock left by a dead process is taken over.
    pub fn lock(&self) -> Result<RunLock, Error> {
        take_lock(&self.root, &self.lock_path(), "start")
    }

    /// Takes the merge lock if no other live merge holds it; `None` when one does.
    pub fn try_merge_lock(&self) -> Result<Option<RunLock>, Error> {
        match take_lock(&self.root, &self.merge_lock_path(), "merge") {
            Err(Error::Locked { .. }) => Ok(None),
            taken => taken.map(Some),
        }
    }

    /// Takes the merge lock, waiting while another live merge holds it: merges are short,
    /// and a done change must never fail because another merge was running. `on_wait` hears
    /// once who holds it.
    pub fn merge_lock(&self, mut on_wait: impl FnMut(u32)) -> Result<RunLock, Error> {
        let mut told = false;
        loop {
            match take_lock(&self.root, &self.merge_lock_path(), "merge") {
                Err(Error::Locked { pid, .. }) => {
                    if !std::mem::replace(&mut told, true) {
                        on_wait(pid);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                taken => return taken,
            }
        }
    }
}

/// A lock file that cannot be read or parsed is treated as free: `take_lock` replaces it.
fn read_lock(path: &Path) -> LockState {
    let Some(info) = std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<LockInfo>(&bytes).ok())
    else {
        return LockState::Free;
    };
    if info.holder_alive() {
        LockState::Held(info)
    } else {
        LockState::Stale(info)
    }
}

fn take_lock(root: &Path, path: &Path, what: &'static str) -> Result<RunLock, Error> {
    let path = path.to_owned();
    let err = |source| Error::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(root).map_err(err)?;
    let info = LockInfo {
        pid: std::process::id(),
        started_at: now_secs(),
        start: crate::proc::start_ticks(std::process::id()),
    };
    let bytes = serde_json::to_vec(&info).unwrap_or_default();
    for _ in 0..3 {
        // Write the content first, then publish it with link(2), which fails if the lock
        // exists: no reader ever sees a half-written lock and two starts cannot both win.
        let mut tmp = tempfile::Builder::new()
            .prefix(".lock-")
            .tempfile_in(root)
            .map_err(err)?;
        tmp.write_all(&bytes).map_err(err)?;
        match std::fs::hard_link(tmp.path(), &path) {
            Ok(()) => return Ok(RunLock { path: path.clone() }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let LockState::Held(holder) = read_lock(&path)
                    && holder.pid != std::process::id()
                {
                    return Err(Error::Locked {
                        what,
                        pid: holder.pid,
                        since: format_time(holder.started_at),
                    });
                }
                // Stale: its process is gone (its pid may be another's now). Remove it and
                // try again.
                tracing::info!(path = %path.display(), "taking over a stale lock");
                let _ = std::fs::remove_file(&path);
            }
            Err(source) => return Err(err(source)),
        }
    }
    Err(err(std::io::Error::other("the lock kept changing hands")))
}

/// The held repository lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str) -> ChangeState {
        ChangeState {
            id: id.into(),
            phase: Phase::Applying,
            reason: None,
            branch: format!("conflux/{id}"),
            worktree: PathBuf::from("/tmp/wt"),
            base: "main".into(),
            start_commit: None,
            created_branch: Some(true),
            iteration: 2,
            tasks_done: 1,
            tasks_total: 3,
            pid: Some(1),
            pid_start: None,
            orchestrator_pid: None,
            retries: 0,
            cost_usd: Some(0.5),
            last_error: None,
            last_verify_failure: None,
            started_at: Some(1),
            updated_at: Some(2),
            finished_at: None,
            elapsed_secs: 3,
            review: None,
            messages: Vec::new(),
        }
    }

    #[test]
    fn state_round_trips_and_lists_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        run.save(&sample("b")).unwrap();
        run.save(&sample("a")).unwrap();
        assert_eq!(run.load("a").unwrap(), Some(sample("a")));
        let ids: Vec<_> = run.load_all().into_iter().map(|s| s.unwrap().id).collect();
        assert_eq!(ids, ["a", "b"]);
        run.forget("a").unwrap();
        assert_eq!(run.load("a").unwrap(), None);
    }

    #[test]
    fn corrupt_state_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        write_atomic(&run.state_path("x"), b"{not json").unwrap();
        let err = run.load("x").unwrap_err().to_string();
        assert!(err.contains("x.json") && err.contains("delete it"), "{err}");
    }

    #[test]
    fn lock_is_taken_over_from_a_dead_holder_or_a_reused_pid() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        // A reused pid: pid 1 is alive, but it is not the git conflux that wrote the lock
        // (it started before the lock was written, yet it is another program).
        write_atomic(&run.lock_path(), br#"{"pid":1,"started_at":4000000000}"#).unwrap();
        assert!(matches!(run.lock_state(), LockState::Stale(info) if info.pid == 1));
        // A dead holder: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        write_atomic(
            &run.lock_path(),
            format!(r#"{{"pid":{dead},"started_at":0}}"#).as_bytes(),
        )
        .unwrap();
        assert!(run.lock_holder().is_none());
        let lock = run.lock().unwrap();
        let holder = run.lock_holder().unwrap();
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.start, crate::proc::start_ticks(std::process::id()));
        drop(lock);
        assert!(!run.lock_path().exists());
    }
}
