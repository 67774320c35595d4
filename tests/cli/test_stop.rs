//! A pid recorded in a file (the run lock, a change's agent) may belong to another process by
//! now: `stop` and `start` never signal it unless it is still the process that was recorded.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use crate::support::TestEnv;

/// An unrelated live process, as a reused pid would be, leading its own process group (as
/// an agent did); ended by the test (bounded anyway).
fn unrelated(dir: &std::path::Path) -> Child {
    Command::new("sleep")
        .arg("30")
        .current_dir(dir)
        .process_group(0)
        .spawn()
        .unwrap()
}

/// A pid that belonged to a process that has ended.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Still running and not signalled: not yet exited (so not reaped either).
fn untouched(child: &mut Child) -> bool {
    child.try_wait().unwrap().is_none()
}

#[test]
fn stop_never_signals_the_process_a_stale_lock_names() {
    let env = TestEnv::new();
    let mut other = unrelated(&env.root);
    let lock = env.root.join(".git/conflux/lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    // As a start that crashed long ago would have left it, with the pid since reused; and
    // as an older version wrote it (no start time).
    let locks = [
        format!(
            r#"{{"pid":{},"started_at":{},"start":1}}"#,
            other.id(),
            now()
        ),
        format!(r#"{{"pid":{},"started_at":{}}}"#, other.id(), now() - 3600),
    ];
    for (text, args) in locks.iter().zip([&["stop"][..], &["stop", "--now"]]) {
        std::fs::write(&lock, text).unwrap();
        let out = env.conflux(args);
        assert!(
            untouched(&mut other),
            "{args:?} signalled pid {}: {out}",
            other.id()
        );
        assert_eq!(out.code, 0, "{out}");
        assert!(
            out.stderr.contains(&format!("names pid {}", other.id()))
                && out.stderr.contains("stale lock"),
            "{out}"
        );
        assert!(!lock.exists(), "{out}");
    }
    other.kill().unwrap();
    other.wait().unwrap();
}

#[test]
fn an_agent_pid_reused_by_another_process_is_never_signalled() {
    let env = TestEnv::new();
    env.one_change("a", "");
    env.commit_all("change");
    // The recorded agent's pid now belongs to a process in the same folder, started later.
    let worktree = env.worktree("a");
    std::fs::create_dir_all(&worktree).unwrap();
    let mut other = unrelated(&worktree);
    let state = serde_json::json!({
        "id": "a",
        "phase": "applying",
        "branch": "conflux/a",
        "worktree": worktree,
        "base": "main",
        "pid": other.id(),
        "pid_start": 1,
        "orchestrator_pid": dead_pid(),
        "updated_at": now(),
    });
    let path = env.root.join(".git/conflux/state/a.json");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, state.to_string()).unwrap();
    for args in [&["stop"][..], &["start"]] {
        let out = env.conflux(args);
        assert!(
            untouched(&mut other),
            "{args:?} signalled pid {}: {out}",
            other.id()
        );
        assert!(!out.stderr.contains("ended the agent"), "{out}");
    }
    other.kill().unwrap();
    other.wait().unwrap();
}
