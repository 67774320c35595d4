//! What `/proc` says about processes, and the one check that a pid recorded in a file (the
//! run lock, a change's agent) still names the process that was recorded: a pid is reused
//! once its process is gone, and signalling the new owner would hit an unrelated program.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One process's line of `/proc/<pid>/stat`, the fields conflux uses.
pub(crate) struct Stat {
    pub ppid: i32,
    pub pgrp: i32,
    /// The controlling terminal; 0 for none.
    pub tty: i64,
    /// Start time in clock ticks after boot (field 22): with the pid, an identity that
    /// survives pid reuse.
    pub start: u64,
    pub zombie: bool,
}

/// The stat line of one process; `None` when it does not exist (or `/proc` is missing).
pub(crate) fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process by pid, as [`all`] reads them.
pub(crate) type Processes = HashMap<i32, Stat>;

/// [`all`], taken at most `max_age` ago: one walk of `/proc` serves every caller within that
/// time. For the periodic recording of agents' descendants only: N agents scanning on their
/// own ticks would otherwise walk every process of the machine N times per interval. What
/// decides a signal always reads `/proc` afresh.
pub(crate) fn all_recent(max_age: Duration) -> Arc<Processes> {
    static LAST: Mutex<Option<(Instant, Arc<Processes>)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((taken, procs)) = last.as_ref()
        && taken.elapsed() <= max_age
    {
        return procs.clone();
    }
    let procs = Arc::new(all());
    *last = Some((Instant::now(), procs.clone()));
    procs
}

/// Every process in `/proc`, by pid. Empty where `/proc` is missing.
pub(crate) fn all() -> HashMap<i32, Stat> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let (Some(st), Ok(pid)) = (stat(pid), i32::try_from(pid)) {
            out.insert(pid, st);
        }
    }
    out
}

/// Parses `pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
/// utime stime cutime cstime priority nice threads itrealvalue starttime …`; `comm` may
/// contain spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().take(20).collect();
    Some(Stat {
        zombie: matches!(*f.first()?, "Z" | "X"),
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        tty: f.get(4)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// The start time of a live process, to record beside its pid.
pub(crate) fn start_ticks(pid: u32) -> Option<u64> {
    stat(pid).filter(|s| !s.zombie).map(|s| s.start)
}

/// The program name (`/proc/<pid>/comm`) of a process.
fn comm(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(text.trim_end_matches('\n').to_owned())
}

/// Whether `pid` runs the same program as this process (git-conflux), by program name, so
/// that a `start` of an older build (whose binary was since replaced) still counts.
pub(crate) fn is_conflux(pid: u32) -> bool {
    comm(pid).is_some_and(|c| Some(c) == comm(std::process::id()))
}

/// What a file recorded about a process: its pid and, from newer files, its start time in
/// clock ticks after boot; older files have only the time (epoch seconds) they were written,
/// by which the process had started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Recorded {
    pub pid: u32,
    pub start: Option<u64>,
    pub seen_at: Option<u64>,
}

/// Whether the process `recorded` names is still running (not a zombie) under that pid: its
/// start time is the recorded one, or (older records) it had started when the record was
/// written. Every signal to a recorded pid is sent only when this holds.
pub(crate) fn still_running(recorded: Recorded) -> bool {
    let Some(stat) = stat(recorded.pid).filter(|s| !s.zombie) else {
        return false;
    };
    match (recorded.start, recorded.seen_at) {
        (Some(start), _) => stat.start == start,
        (None, Some(seen_at)) => started_at(stat.start).is_some_and(|t| t <= seen_at),
        (None, None) => false,
    }
}

/// A start time in ticks after boot as epoch seconds (rounded down): boot time (`btime` of
/// `/proc/stat`) plus ticks over `sysconf(_SC_CLK_TCK)`.
fn started_at(ticks: u64) -> Option<u64> {
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)?;
    Some(boot + Duration::from_secs(ticks / per_second).as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_name() {
        let st =
            parse_stat("42 (a) b (c)) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0")
                .unwrap();
        assert_eq!(
            (st.ppid, st.pgrp, st.start, st.zombie),
            (7, 42, 12345, false)
        );
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn a_recorded_process_is_recognised_by_its_start_time() {
        let me = std::process::id();
        let start = start_ticks(me).unwrap();
        let now = crate::run::state::now_secs();
        let rec = |start, seen_at| Recorded {
            pid: me,
            start,
            seen_at,
        };
        assert!(still_running(rec(Some(start), None)));
        assert!(!still_running(rec(Some(start + 1), None)));
        // Older records: it must have started by the time the record was written.
        assert!(still_running(rec(None, Some(now))));
        assert!(!still_running(rec(
            None,
            Some(started_at(start).unwrap() - 1)
        )));
        assert!(!still_running(rec(None, None)));
    }
}
