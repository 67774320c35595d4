//! The agent runner against real processes: shell scripts play the agent.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use git_conflux::agent::presets::Invocation;
use git_conflux::agent::runner::{
    AgentEvent, Cancel, Limits, RetryPolicy, RunOutcome, RunRequest, RunResult, Stagger, Stream,
    run,
};
use git_conflux::agent::stream::StreamFormat;
use nix::errno::Errno;
use nix::sys::signal::{kill, killpg};
use nix::unistd::Pid;
use tokio::sync::mpsc;

/// A request running `script` with `sh -c` in `dir`, with short timings for tests.
fn request(dir: &Path, script: &str) -> RunRequest {
    RunRequest {
        invocation: Invocation {
            command: script.to_owned(),
            stdin: None,
            format: StreamFormat::Text,
            env: vec![("CONFLUX_CHANGE_ID".into(), "add-x".into())],
        },
        cwd: dir.to_owned(),
        env: vec![],
        limits: Limits {
            inactivity_timeout: None,
            timeout: None,
            kill_grace: Duration::from_secs(2),
        },
        retry: RetryPolicy {
            max: 3,
            delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            patterns: RetryPolicy::default().patterns,
            min_runtime: Duration::ZERO,
            timeout_retries: 0,
        },
        owns_cwd: false,
        wrap: None,
    }
}

async fn run_to_end(req: RunRequest) -> (RunOutcome, Vec<AgentEvent>) {
    let mut events = Vec::new();
    let outcome = run(
        req,
        &Stagger::new(Duration::ZERO),
        &Cancel::new(),
        &mut |e| events.push(e),
    )
    .await;
    (outcome, events)
}

/// Runs in a task; events are also sent on the returned channel as they happen.
fn run_in_task(
    req: RunRequest,
    stagger: Stagger,
    cancel: Cancel,
) -> (
    tokio::task::JoinHandle<(RunOutcome, Vec<AgentEvent>)>,
    mpsc::UnboundedReceiver<AgentEvent>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(async move {
        let mut events = Vec::new();
        let outcome = run(req, &stagger, &cancel, &mut |e| {
            let _ = tx.send(e.clone());
            events.push(e);
        })
        .await;
        (outcome, events)
    });
    (handle, rx)
}

async fn wait_for(
    rx: &mut mpsc::UnboundedReceiver<AgentEvent>,
    want: impl Fn(&AgentEvent) -> bool,
) -> AgentEvent {
    loop {
        let e = rx.recv().await.expect("run ended before the awaited event");
        if want(&e) {
            return e;
        }
    }
}

fn lines(events: &[AgentEvent], stream: Stream) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Line { stream: s, text } if *s == stream => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn pids(events: &[AgentEvent]) -> Vec<u32> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Spawned { pid, .. } => Some(*pid),
            _ => None,
        })
        .collect()
}

fn retries(events: &[AgentEvent]) -> Vec<(u32, u32, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Retrying {
                attempt,
                max,
                reason,
                ..
            } => Some((*attempt, *max, reason.clone())),
            _ => None,
        })
        .collect()
}

fn leaked(events: &[AgentEvent]) -> Vec<bool> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Exited { leaked, .. } => Some(*leaked),
            _ => None,
        })
        .collect()
}

/// Polls until no process of group `pgid` exists (zombies are reaped by init shortly).
fn assert_group_gone(pgid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match killpg(Pid::from_raw(pgid as i32), None) {
            Err(Errno::ESRCH) => return,
            _ if Instant::now() > deadline => panic!("process group {pgid} survived"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn assert_pid_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match kill(Pid::from_raw(pid), None) {
            Err(Errno::ESRCH) => return,
            _ if Instant::now() > deadline => panic!("process {pid} survived"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Waits for a pid file the agent writes, and returns the pid.
fn read_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn session_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn success_streams_lines_and_exposes_the_real_pid() {
    let dir = tmp();
    let mut req = request(
        dir.path(),
        "echo $$; echo \"$CONFLUX_CHANGE_ID in $(pwd -P)\"; echo oops >&2",
    );
    req.env.push(("EXTRA".into(), "1".into()));
    let (out, events) = run_to_end(req).await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(out.attempts, 1);
    let stdout = lines(&events, Stream::Stdout);
    let pid = pids(&events)[0];
    assert_eq!(
        stdout[0],
        pid.to_string(),
        "Spawned carries the agent's own pid"
    );
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(stdout[1], format!("add-x in {}", cwd.display()));
    assert_eq!(lines(&events, Stream::Stderr), ["oops"]);
    assert_eq!(leaked(&events), [false]);
    // stdout and stderr are read side by side, so the tail holds both in either order.
    assert!(out.output_tail.contains("oops"), "{}", out.output_tail);
    assert_group_gone(pid);
}

#[tokio::test]
async fn background_child_left_after_success_is_ended_and_reported() {
    let dir = tmp();
    let (out, events) = run_to_end(request(
        dir.path(),
        "sleep 999 >/dev/null 2>&1 & echo $! > bg.pid; echo done",
    ))
    .await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(leaked(&events), [true]);
    assert_pid_gone(read_pid(&dir.path().join("bg.pid")));
    assert_group_gone(pids(&events)[0]);
}

#[tokio::test]
async fn unmatched_failure_goes_back_to_the_caller() {
    let dir = tmp();
    let (out, events) = run_to_end(request(dir.path(), "echo compile error; exit 3")).await;
    assert_eq!(
        out.result,
        RunResult::Failed {
            reason: "agent exited with code 3".into()
        }
    );
    assert_eq!(out.attempts, 1);
    assert!(retries(&events).is_empty());
    assert_group_gone(pids(&events)[0]);
}

/// A plain text agent's last non-empty stderr line is its error, named in the description.
#[tokio::test]
async fn a_text_agents_last_stderr_line_is_its_error() {
    let dir = tmp();
    let script =
        "echo working; echo 'warning: x' >&2; echo 'fatal: no token' >&2; echo >&2; exit 2";
    let (out, _) = run_to_end(request(dir.path(), script)).await;
    assert_eq!(out.last_error.as_deref(), Some("fatal: no token"));
    assert_eq!(
        out.describe("timeout"),
        "failed: agent exited with code 2: fatal: no token"
    );
}

#[tokio::test]
async fn retries_on_a_pattern_with_fresh_groups_each_time() {
    let dir = tmp();
    let script = "n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; \
                  sleep 999 & \
                  if [ $n -lt 3 ]; then echo 'API Error: 429 Rate limit reached' >&2; exit 1; fi; echo finished";
    let (out, events) = run_to_end(request(dir.path(), script)).await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(out.attempts, 3);
    let r = retries(&events);
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].0, r[0].1, r[1].0), (1, 3, 2));
    assert_eq!(
        r[0].2,
        "agent exited with code 1, output matched \"rate limit\""
    );
    // Each attempt's `sleep 999` outlived its shell and was ended.
    assert_eq!(leaked(&events), [true, true, true]);
    let groups = pids(&events);
    assert_eq!(groups.len(), 3);
    for pgid in groups {
        assert_group_gone(pgid);
    }
}

#[tokio::test]
async fn exhausted_retries_say_so() {
    let dir = tmp();
    let mut req = request(dir.path(), "echo 'Error: Overloaded' >&2; exit 1");
    req.retry.max = 2;
    let (out, events) = run_to_end(req).await;
    assert_eq!(
        out.result,
        RunResult::Failed {
            reason:
                "agent exited with code 1, output matched \"overloaded\"; gave up after 2 retries"
                    .into()
        }
    );
    assert_eq!(out.attempts, 3);
    let r = retries(&events);
    assert_eq!(
        r.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [(1, 2), (2, 2)]
    );
    let delays: Vec<Duration> = events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Retrying { delay, .. } => Some(*delay),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays,
        [Duration::from_millis(10), Duration::from_millis(20)]
    );
    for pgid in pids(&events) {
        assert_group_gone(pgid);
    }
}

#[tokio::test]
async fn short_runs_are_retried_but_a_missing_command_is_not() {
    let dir = tmp();
    let mut req = request(dir.path(), "exit 1");
    req.retry.min_runtime = Duration::from_secs(3600);
    req.retry.max = 1;
    let (out, events) = run_to_end(req.clone()).await;
    let r = retries(&events);
    assert_eq!(r.len(), 1);
    assert!(
        r[0].2.starts_with("agent exited with code 1 after "),
        "{}",
        r[0].2
    );
    assert!(
        r[0].2.ends_with("sooner than the minimum run time 3600s"),
        "{}",
        r[0].2
    );
    assert!(
        matches!(out.result, RunResult::Failed { ref reason } if reason.ends_with("gave up after 1 retries"))
    );

    req.invocation.command = "conflux-no-such-agent-xyz".into();
    let (out, events) = run_to_end(req).await;
    assert_eq!(
        out.result,
        RunResult::Failed {
            reason: "agent exited with code 127".into()
        }
    );
    assert!(retries(&events).is_empty());
}

#[tokio::test]
async fn cancel_ends_a_pipeline() {
    let dir = tmp();
    let cancel = Cancel::new();
    let (task, mut rx) = run_in_task(
        request(dir.path(), "echo ready; sleep 999 | cat"),
        Stagger::new(Duration::ZERO),
        cancel.clone(),
    );
    let AgentEvent::Spawned { pid, .. } =
        wait_for(&mut rx, |e| matches!(e, AgentEvent::Spawned { .. })).await
    else {
        unreachable!()
    };
    wait_for(
        &mut rx,
        |e| matches!(e, AgentEvent::Line { text, .. } if text == "ready"),
    )
    .await;
    cancel.cancel();
    let (out, events) = task.await.unwrap();
    assert_eq!(out.result, RunResult::Cancelled);
    assert!(
        matches!(
            events.last(),
            Some(AgentEvent::Exited {
                signal: Some(15),
                ..
            })
        ),
        "{events:?}"
    );
    assert_group_gone(pid);
}

#[tokio::test]
async fn kill_now_skips_the_grace() {
    let dir = tmp();
    let mut req = request(
        dir.path(),
        "trap '' TERM; echo ready; while :; do sleep 1; done",
    );
    req.limits.kill_grace = Duration::from_secs(3600);
    let cancel = Cancel::new();
    let (task, mut rx) = run_in_task(req, Stagger::new(Duration::ZERO), cancel.clone());
    wait_for(&mut rx, |e| matches!(e, AgentEvent::Line { .. })).await;
    cancel.cancel();
    cancel.kill_now();
    let (out, events) = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.result, RunResult::Cancelled);
    assert!(
        matches!(
            events.last(),
            Some(AgentEvent::Exited {
                signal: Some(9),
                ..
            })
        ),
        "{events:?}"
    );
    assert_group_gone(pids(&events)[0]);
}

#[tokio::test]
async fn term_ignoring_agent_is_killed_after_the_grace() {
    let dir = tmp();
    let mut req = request(
        dir.path(),
        "trap '' TERM; echo ready; while :; do sleep 1; done",
    );
    req.limits.kill_grace = Duration::from_millis(200);
    let cancel = Cancel::new();
    let (task, mut rx) = run_in_task(req, Stagger::new(Duration::ZERO), cancel.clone());
    wait_for(&mut rx, |e| matches!(e, AgentEvent::Line { .. })).await;
    cancel.cancel();
    let (out, events) = task.await.unwrap();
    assert_eq!(out.result, RunResult::Cancelled);
    assert!(
        matches!(
            events.last(),
            Some(AgentEvent::Exited {
                signal: Some(9),
                ..
            })
        ),
        "{events:?}"
    );
    assert_group_gone(pids(&events)[0]);
}

#[tokio::test]
async fn dropping_the_run_ends_the_group() {
    let dir = tmp();
    let (task, mut rx) = run_in_task(
        request(dir.path(), "echo ready; sleep 999 | cat"),
        Stagger::new(Duration::ZERO),
        Cancel::new(),
    );
    let AgentEvent::Spawned { pid, .. } =
        wait_for(&mut rx, |e| matches!(e, AgentEvent::Spawned { .. })).await
    else {
        unreachable!()
    };
    wait_for(&mut rx, |e| matches!(e, AgentEvent::Line { .. })).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_group_gone(pid);
}

#[tokio::test]
async fn a_panicking_event_consumer_leaves_no_processes() {
    let dir = tmp();
    let req = request(
        dir.path(),
        "echo $$ > agent.pid; sleep 999 | cat & echo ready; wait",
    );
    let task = tokio::spawn(async move {
        run(
            req,
            &Stagger::new(Duration::ZERO),
            &Cancel::new(),
            &mut |e| {
                if matches!(e, AgentEvent::Line { .. }) {
                    panic!("consumer failed");
                }
            },
        )
        .await
    });
    assert!(task.await.unwrap_err().is_panic());
    assert_group_gone(read_pid(&dir.path().join("agent.pid")) as u32);
}

#[tokio::test]
async fn setsid_grandchild_is_ended_on_cancel() {
    let dir = tmp();
    let script = "setsid sh -c 'echo $$ > gc.pid; exec sleep 999' </dev/null >/dev/null 2>&1 & echo ready; wait";
    let cancel = Cancel::new();
    let (task, mut rx) = run_in_task(
        request(dir.path(), script),
        Stagger::new(Duration::ZERO),
        cancel.clone(),
    );
    let AgentEvent::Spawned { pid, .. } =
        wait_for(&mut rx, |e| matches!(e, AgentEvent::Spawned { .. })).await
    else {
        unreachable!()
    };
    let gc = read_pid(&dir.path().join("gc.pid"));
    assert_ne!(
        session_of(gc),
        pid as i32,
        "the grandchild left the agent's session"
    );
    cancel.cancel();
    let (out, _) = task.await.unwrap();
    assert_eq!(out.result, RunResult::Cancelled);
    assert_pid_gone(gc);
    assert_group_gone(pid);
}

#[tokio::test]
async fn setsid_grandchild_holding_stdout_is_ended_after_success() {
    let dir = tmp();
    // The shell exits at once, so the escapee is orphaned before any scan; it still holds stdout.
    let script = "setsid sh -c 'echo $$ > gc.pid; exec sleep 999' & exit 0";
    let (out, events) = run_to_end(request(dir.path(), script)).await;
    assert_eq!(out.result, RunResult::Success);
    let gc = read_pid(&dir.path().join("gc.pid"));
    assert_eq!(leaked(&events), [true]);
    assert_pid_gone(gc);
}

#[tokio::test]
async fn inactivity_timeout_names_its_seconds_and_retries() {
    let dir = tmp();
    let mut req = request(dir.path(), "echo started; sleep 999");
    req.limits.inactivity_timeout = Some(Duration::from_secs(1));
    req.retry.timeout_retries = 1;
    let (out, events) = run_to_end(req).await;
    assert_eq!(
        out.result,
        RunResult::Inactive {
            after: Duration::from_secs(1)
        }
    );
    assert_eq!(out.attempts, 2);
    let timeouts = events
        .iter()
        .filter(|e| {
            **e == AgentEvent::InactivityTimeout {
                after: Duration::from_secs(1),
            }
        })
        .count();
    assert_eq!(timeouts, 2);
    assert_eq!(retries(&events), [(1, 1, "no output for 1s".to_owned())]);
    for pgid in pids(&events) {
        assert_group_gone(pgid);
    }
}

#[tokio::test]
async fn inactivity_is_measured_on_bytes_not_lines() {
    let dir = tmp();
    let script = "for i in 1 2 3 4 5 6 7 8; do printf x; sleep 0.25; done; echo";
    let mut req = request(dir.path(), script);
    req.limits.inactivity_timeout = Some(Duration::from_millis(1500));
    let (out, events) = run_to_end(req).await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(lines(&events, Stream::Stdout), ["xxxxxxxx"]);
}

#[tokio::test]
async fn overall_timeout_ends_the_run() {
    let dir = tmp();
    let mut req = request(dir.path(), "sleep 999 | cat");
    req.limits.timeout = Some(Duration::from_millis(300));
    let (out, events) = run_to_end(req).await;
    assert_eq!(
        out.result,
        RunResult::TimedOut {
            after: Duration::from_millis(300)
        }
    );
    assert_eq!(out.attempts, 1);
    assert_group_gone(pids(&events)[0]);
}

#[tokio::test]
async fn stagger_spaces_starts_across_concurrent_runs() {
    let dir = tmp();
    let gap = Duration::from_millis(500);
    let stagger = Stagger::new(gap);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (req, stagger, tx) = (request(dir.path(), "echo hi"), stagger.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            run(req, &stagger, &Cancel::new(), &mut |e| {
                if matches!(e, AgentEvent::Spawned { .. }) {
                    let _ = tx.send(Instant::now());
                }
            })
            .await
        }));
    }
    drop(tx);
    for t in tasks {
        assert_eq!(t.await.unwrap().result, RunResult::Success);
    }
    let mut starts = Vec::new();
    while let Some(t) = rx.recv().await {
        starts.push(t);
    }
    starts.sort();
    assert_eq!(starts.len(), 3);
    for w in starts.windows(2) {
        // Measured at the Spawned event, a little after the stagger's own clock.
        assert!(
            w[1] - w[0] >= gap - Duration::from_millis(100),
            "{:?}",
            w[1] - w[0]
        );
    }
}

#[tokio::test]
async fn cancel_while_waiting_for_the_stagger() {
    let dir = tmp();
    let stagger = Stagger::new(Duration::from_secs(3600));
    let (first, _) = run_to_end_with(request(dir.path(), "true"), &stagger).await;
    assert_eq!(first.result, RunResult::Success);
    let cancel = Cancel::new();
    let (task, _rx) = run_in_task(request(dir.path(), "true"), stagger, cancel.clone());
    cancel.cancel();
    let (out, events) = task.await.unwrap();
    assert_eq!(out.result, RunResult::Cancelled);
    assert!(pids(&events).is_empty());
}

async fn run_to_end_with(req: RunRequest, stagger: &Stagger) -> (RunOutcome, Vec<AgentEvent>) {
    let mut events = Vec::new();
    let outcome = run(req, stagger, &Cancel::new(), &mut |e| events.push(e)).await;
    (outcome, events)
}

#[tokio::test]
async fn a_50_mb_line_is_capped_and_noted() {
    let dir = tmp();
    let script = "head -c 52428800 /dev/zero | tr '\\000' x; echo; echo after";
    let (out, events) = run_to_end(request(dir.path(), script)).await;
    assert_eq!(out.result, RunResult::Success);
    let stdout = lines(&events, Stream::Stdout);
    assert_eq!(stdout.len(), 2);
    let cap = git_conflux::agent::runner::MAX_LINE_BYTES;
    assert!(stdout[0].starts_with(&"x".repeat(cap)));
    assert_eq!(
        &stdout[0][cap..],
        " [line truncated: 65536 of 52428800 bytes shown]"
    );
    assert_eq!(stdout[1], "after");
}

#[tokio::test]
async fn invalid_utf8_and_a_last_line_without_newline() {
    let dir = tmp();
    let (out, events) =
        run_to_end(request(dir.path(), "printf 'ok \\377\\376 end\\r\\nlast'")).await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(
        lines(&events, Stream::Stdout),
        ["ok \u{FFFD}\u{FFFD} end", "last"]
    );
}

#[tokio::test]
async fn closing_stdout_early_does_not_end_the_run() {
    let dir = tmp();
    let (out, events) = run_to_end(request(
        dir.path(),
        "echo one; exec 1>&-; sleep 0.3; echo two >&2",
    ))
    .await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(lines(&events, Stream::Stdout), ["one"]);
    assert_eq!(lines(&events, Stream::Stderr), ["two"]);
}

#[tokio::test]
async fn prompt_on_stdin_of_any_size() {
    let dir = tmp();
    let mut req = request(dir.path(), "wc -c");
    req.invocation.stdin = Some(vec![b'p'; 3 * 1024 * 1024]);
    let (out, events) = run_to_end(req.clone()).await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(lines(&events, Stream::Stdout)[0].trim(), "3145728");

    // An agent that never reads stdin neither blocks nor fails the run.
    req.invocation.command = "exec 0<&-; echo ignored".into();
    let (out, _) = run_to_end(req).await;
    assert_eq!(out.result, RunResult::Success);
}

#[tokio::test]
async fn stdin_is_dev_null_without_a_prompt() {
    let dir = tmp();
    let (out, events) = run_to_end(request(dir.path(), "cat; echo end")).await;
    assert_eq!(out.result, RunResult::Success);
    assert_eq!(lines(&events, Stream::Stdout), ["end"]);
}

#[tokio::test]
async fn a_command_that_cannot_start_is_a_failure() {
    let mut req = request(Path::new("/"), "true");
    req.cwd = PathBuf::from("/nonexistent/conflux-dir");
    let (out, events) = run_to_end(req).await;
    assert!(
        matches!(out.result, RunResult::Failed { ref reason } if reason.contains("/nonexistent/conflux-dir")),
        "{:?}",
        out.result
    );
    assert!(events.is_empty());
}

/// Cancels an agent whose SIGTERM handler saves for a second, with a long grace, and returns
/// what its handler wrote: one "got 15" and one "saved" when it got one SIGTERM and its grace.
async fn terminate_a_saving_agent(dir: &Path, command: &str) -> String {
    let mut req = request(dir, command);
    req.limits.kill_grace = Duration::from_secs(30);
    let cancel = Cancel::new();
    let (task, mut rx) = run_in_task(req, Stagger::new(Duration::ZERO), cancel.clone());
    wait_for(
        &mut rx,
        |e| matches!(e, AgentEvent::Line { text, .. } if text == "ready"),
    )
    .await;
    cancel.cancel();
    let (out, events) = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.result, RunResult::Cancelled);
    assert_group_gone(pids(&events)[0]);
    std::fs::read_to_string(dir.join("signals.log")).unwrap_or_default()
}

#[tokio::test]
async fn a_sh_agent_gets_one_sigterm_and_its_grace() {
    let dir = tmp();
    std::fs::write(
        dir.path().join("agent.sh"),
        "trap 'echo \"got 15\" >>signals.log; sleep 1; echo saved >>signals.log; exit 0' TERM\n\
         echo ready\nwhile :; do sleep 0.05; done\n",
    )
    .unwrap();
    let log = terminate_a_saving_agent(dir.path(), "bash agent.sh").await;
    assert_eq!(log, "got 15\nsaved\n");
}

#[tokio::test]
async fn a_python_agent_gets_one_sigterm_and_its_grace() {
    let dir = tmp();
    std::fs::write(
        dir.path().join("agent.py"),
        "import signal, sys, time\n\
         def save(sig, frame):\n\
         \x20   open('signals.log', 'a').write(f'got {sig}\\n')\n\
         \x20   time.sleep(1)\n\
         \x20   open('signals.log', 'a').write('saved\\n')\n\
         \x20   sys.exit(0)\n\
         signal.signal(signal.SIGTERM, save)\n\
         print('ready', flush=True)\n\
         while True:\n\
         \x20   time.sleep(0.05)\n",
    )
    .unwrap();
    let log = terminate_a_saving_agent(dir.path(), "python3 agent.py").await;
    assert_eq!(log, "got 15\nsaved\n");
}
