//! `git conflux start` end to end: real repositories, the real binary, the demo agent.

use std::time::Duration;

use crate::support::{TestEnv, group_alive, interrupt_and_wait, wait_for};

fn tasks(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("task {i}")).collect()
}

fn add(env: &TestEnv, id: &str, n: usize, deps: &[&str], fm: &str) {
    let t = tasks(n);
    let t: Vec<&str> = t.iter().map(String::as_str).collect();
    env.add_change(id, &t, deps, fm);
}

#[test]
fn six_changes_with_dependencies_on_two_slots_all_complete() {
    let env = TestEnv::new();
    env.use_demo_agent("jobs: 2\nenv: {DEMO_TICK: \"2\"}\n");
    add(&env, "a", 3, &[], "");
    add(&env, "b", 2, &["a"], "");
    add(&env, "c", 2, &["a"], "");
    add(&env, "d", 4, &[], "");
    add(&env, "e", 1, &["b", "c"], "");
    add(&env, "f", 2, &[], "");
    env.commit_all("six changes");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    for id in ["a", "b", "c", "d", "e", "f"] {
        let st = env.state(id);
        assert_eq!(st["phase"], "done", "{id}: {st}");
        let branch = format!("conflux/{id}");
        // Every task ticked on the branch, the work committed there, the base untouched.
        let tasks = env.git(&["show", &format!("{branch}:openspec/changes/{id}/tasks.md")]);
        assert!(!tasks.contains("[ ]"), "{id}: {tasks}");
        let work = env.git(&["show", &format!("{branch}:conflux-demo/{id}.txt")]);
        assert!(work.contains(&format!("{id}: task 1")), "{work}");
        assert!(
            env.git(&["log", "--format=%s", &branch])
                .contains(&format!("conflux({id}): iteration 1"))
        );
    }
    assert!(
        !env.root.join("conflux-demo").exists(),
        "the main checkout was modified"
    );
    // The dependent built on its dependencies' work: e's branch contains b's and c's commits.
    for dep in ["a", "b", "c"] {
        env.git(&[
            "merge-base",
            "--is-ancestor",
            &format!("conflux/{dep}"),
            "conflux/e",
        ]);
    }
    let listed = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 7, "{listed}");
    env.git(&["fsck", "--strict"]);
    // Plain output off a terminal: timestamped lines, no escape codes.
    assert!(!out.stderr.contains('\x1b'), "{out}");
    assert!(
        out.stderr
            .lines()
            .any(|l| l.len() > 9 && l.as_bytes()[2] == b':' && l.contains("a  iteration 1")),
        "{out}"
    );
    // Status agrees.
    let status = env.conflux(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "done"),
        "{status}"
    );
    // Nothing left to do.
    let again = env.conflux(&["start"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(again.stderr.contains("Nothing to start"), "{again}");
}

#[test]
fn stall_and_max_iterations_fail_with_reasons() {
    let env = TestEnv::new();
    env.use_demo_agent("stall_iterations: 2\n");
    add(&env, "stuck", 2, &[], "conflux: {env: {DEMO_MODE: noop}}");
    add(&env, "slow", 5, &[], "conflux: {max_iterations: 2}");
    env.commit_all("changes");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let stuck = env.state("stuck");
    assert_eq!(stuck["phase"], "stalled", "{stuck}");
    assert!(
        stuck["reason"]
            .as_str()
            .unwrap()
            .contains("2 iterations in a row"),
        "{stuck}"
    );
    let slow = env.state("slow");
    assert_eq!(slow["phase"], "failed", "{slow}");
    assert!(
        slow["reason"].as_str().unwrap().contains("max_iterations"),
        "{slow}"
    );
    assert_eq!(slow["tasks_done"], 2);
    // Its partial work is committed on its branch.
    assert!(
        env.git(&["log", "--format=%s", "conflux/slow"])
            .contains("iteration 2 — 2/5 tasks")
    );
}

#[test]
fn verify_failure_goes_back_to_the_agent_then_passes() {
    let env = TestEnv::new();
    env.use_demo_agent(
        "verify: \"test -f VERIFY_OK || { echo 'tests failed: VERIFY_OK missing'; exit 1; }\"\n",
    );
    add(
        &env,
        "v",
        2,
        &[],
        "conflux: {env: {DEMO_MODE: verify-fix, DEMO_TICK: all}}",
    );
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.state("v")["phase"], "done");
    let log = env.log("v");
    assert!(
        log.contains("verify failed: tests failed: VERIFY_OK missing"),
        "{log}"
    );
    assert!(log.contains("iteration 2"), "{log}");
    // The second prompt carried the failure.
    let prompt =
        std::fs::read_to_string(env.root.join(".git/conflux/prompts/v.md")).unwrap_or_default();
    assert!(
        prompt.is_empty() || prompt.contains("VERIFY_OK missing"),
        "{prompt}"
    );
}

#[test]
fn rate_limited_run_is_retried() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    add(&env, "r", 1, &[], "conflux: {env: {DEMO_MODE: ratelimit}}");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let log = env.log("r");
    assert!(log.contains("retry 1/3"), "{log}");
    assert_eq!(env.state("r")["retries"], 1);
}

#[test]
fn inactivity_timeout_stops_a_silent_agent_and_names_its_seconds() {
    let env = TestEnv::new();
    env.use_demo_agent(
        "inactivity_timeout: 1s\nkill_grace: 1s\nretry: {delay: 0s, timeout_retries: 1}\n",
    );
    add(&env, "h", 1, &[], "conflux: {env: {DEMO_MODE: hang}}");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let log = env.log("h");
    assert!(log.contains("no output for 1s"), "{log}");
    assert_eq!(
        log.matches("agent started").count(),
        2,
        "one retry after the timeout: {log}"
    );
    let st = env.state("h");
    assert_eq!(st["phase"], "failed");
    assert!(
        st["reason"].as_str().unwrap().contains("inactivity"),
        "{st}"
    );
}

/// The overall `timeout:` is named as itself, not as the inactivity timeout.
#[test]
fn overall_timeout_is_reported_as_the_timeout() {
    let env = TestEnv::new();
    env.use_demo_agent("timeout: 1s\ninactivity_timeout: 1h\nkill_grace: 1s\n");
    add(&env, "h", 1, &[], "conflux: {env: {DEMO_MODE: hang}}");
    env.commit_all("change");
    let out = env.conflux_bounded(&["start"], Duration::from_secs(60));
    assert_eq!(out.code, 1, "{out}");
    let st = env.state("h");
    let reason = st["reason"].as_str().unwrap();
    assert!(
        reason.contains("ran longer than the timeout of 1s (timeout)"),
        "{st}"
    );
    assert!(!reason.contains("inactivity"), "{st}");
}

#[test]
fn dry_run_changes_nothing() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    add(&env, "a", 1, &[], "");
    add(&env, "b", 1, &["a"], "");
    env.commit_all("changes");
    let before = env.refs_and_worktrees();
    let out = env.conflux(&["start", "--dry-run"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("Wave 1") && out.stdout.contains("Wave 2"),
        "{out}"
    );
    assert!(
        out.stdout.contains("conflux/b") && out.stdout.contains("main + conflux/a"),
        "{out}"
    );
    assert_eq!(env.refs_and_worktrees(), before);
    assert!(!env.root.join(".git/conflux/state").exists());
}

#[test]
fn uncommitted_change_folder_is_a_preflight_error() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    add(&env, "a", 1, &[], "");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("change a has uncommitted files"),
        "{out}"
    );
    assert!(!env.worktree("a").exists());
}

/// Many uncommitted files are listed as the first ten and a count, like every path list.
#[test]
fn many_uncommitted_files_are_cut_to_ten_and_a_count() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    add(&env, "a", 1, &[], "");
    env.commit_all("change");
    for i in 0..25 {
        env.write(&format!("openspec/changes/a/notes/n{i:02}.md"), "x\n");
    }
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("change a has uncommitted files"),
        "{out}"
    );
    assert_eq!(out.stderr.matches("notes/n").count(), 10, "{out}");
    assert!(out.stderr.contains("and 15 more"), "{out}");
}

/// With many changes, the preflight's one status names the change whose folder holds the
/// uncommitted file, and only its paths (a sibling folder whose name it starts with is not it).
#[test]
fn an_uncommitted_file_is_blamed_on_its_own_change_only() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    for id in ["a", "ab", "b"] {
        add(&env, id, 1, &[], "");
    }
    env.commit_all("changes");
    env.write("openspec/changes/ab/notes.md", "x\n");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("change ab has uncommitted files"),
        "{out}"
    );
    assert!(out.stderr.contains("openspec/changes/ab/notes.md"), "{out}");
    assert!(!env.worktree("a").exists(), "{out}");
}

#[test]
fn missing_agent_binary_is_a_preflight_error() {
    let env = TestEnv::new();
    env.write(
        ".conflux.yaml",
        "agent: {command: \"no-such-agent-xyz {prompt_file}\"}\n",
    );
    add(&env, "a", 1, &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("no-such-agent-xyz"), "{out}");
    assert!(!env.worktree("a").exists());
}

#[test]
fn preflight_finds_the_binary_the_way_sh_would() {
    let agent = crate::support::demo_agent();
    // `cd` is a builtin and `$VAR` unknown before the run: not judged, so not refused.
    for command in [
        format!("exec sh {}", agent.display()),
        "DEMO_TICK=all env -u NOTHING ~/agent.sh".to_owned(),
        "cd . && $CONFLUX_NO_SUCH_VAR ~/agent.sh".to_owned(),
    ] {
        let env = TestEnv::new();
        let script = env.home.join("agent.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\nexec sh {} \"$@\"\n", agent.display()),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        env.use_demo_agent("env: {DEMO_TICK: all}\n");
        let config =
            env.read(".conflux.yaml")
                .replacen(&format!("sh {}", agent.display()), &command, 1);
        env.write(".conflux.yaml", &config);
        add(&env, "a", 1, &[], "");
        env.commit_all("change");
        let out = env.conflux(&["start", "--no-progress"]);
        assert_eq!(out.code, 0, "{command}: {out}");
        assert_eq!(env.state("a")["phase"], "done", "{command}: {out}");
    }
}

/// Starts `git conflux start` in the background.
fn spawn_start(env: &TestEnv, args: &[&str]) -> std::process::Child {
    let mut cmd = env.conflux_cmd(&[&["start"], args].concat());
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd.spawn().unwrap()
}

fn agent_pid(env: &TestEnv, id: &str) -> Option<i32> {
    env.try_state(id)?["pid"].as_i64().map(|p| p as i32)
}

/// `start` in the background on one change `h` whose agent hangs (after printing once);
/// returns the orchestrator and the agent's process group.
pub(crate) fn start_hanging(env: &TestEnv, tasks: usize) -> (std::process::Child, i32) {
    add(env, "h", tasks, &[], "conflux: {env: {DEMO_MODE: hang}}");
    env.commit_all("change");
    let child = spawn_start(env, &[]);
    wait_for("the agent to start", Duration::from_secs(20), || {
        agent_pid(env, "h").is_some()
    });
    (child, agent_pid(env, "h").unwrap())
}

#[test]
fn ctrl_c_stops_agents_commits_work_and_resumes() {
    let env = TestEnv::new();
    env.use_demo_agent("kill_grace: 1s\n");
    let (mut child, pgid) = start_hanging(&env, 2);
    // Work the agent left uncommitted must survive the interrupt.
    wait_for("the worktree", Duration::from_secs(10), || {
        env.worktree("h").is_dir()
    });
    std::fs::write(
        env.worktree("h").join("half-done.txt"),
        "work in progress\n",
    )
    .unwrap();
    // A second start refuses while this one runs, naming its pid.
    let second = env.conflux(&["start"]);
    assert_eq!(second.code, 2, "{second}");
    assert!(
        second.stderr.contains(&format!("pid {}", child.id())),
        "{second}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    if group_alive(pgid) {
        let ps = std::process::Command::new("ps")
            .args(["-eo", "pid,pgid,ppid,stat,cmd"])
            .output()
            .unwrap();
        panic!(
            "the agent's process group {pgid} survived Ctrl-C:\n{}",
            String::from_utf8_lossy(&ps.stdout)
        );
    }
    assert_eq!(env.state("h")["phase"], "cancelled");
    let files = env.git(&["show", "--stat", "--format=%s", "conflux/h"]);
    assert!(
        files.contains("half-done.txt") && files.contains("(interrupted)"),
        "{files}"
    );
    // Resume: the same worktree and branch, the work kept, the change finished.
    env.write(
        "openspec/changes/h/proposal.md",
        &env.read("openspec/changes/h/proposal.md")
            .replace("DEMO_MODE: hang", "DEMO_TICK: all"),
    );
    env.commit_all("no longer hangs");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        env.log("h").contains("reusing worktree"),
        "{}",
        env.log("h")
    );
    assert!(
        env.git(&["show", "conflux/h:half-done.txt"])
            .contains("work in progress")
    );
    let listed = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 2, "{listed}");
}

/// Sends SIGINT to `start` once `marker` exists; see [`interrupt_and_wait`].
fn interrupt_when(
    child: &mut std::process::Child,
    marker: &std::path::Path,
) -> Result<Option<i32>, String> {
    wait_for(
        "the blocking step to begin",
        Duration::from_secs(30),
        || marker.exists(),
    );
    interrupt_and_wait(child)
}

/// Ctrl-C while `setup` runs ends the run, and the change is `cancelled` (resumable), not
/// failed.
#[test]
fn ctrl_c_during_setup_cancels_the_change() {
    let env = TestEnv::new();
    let marker = env.path().join("setup-started");
    env.one_change(
        "a",
        &format!(
            "kill_grace: 1s\nsetup: \"touch {}; sleep 1000\"\n",
            marker.display()
        ),
    );
    env.commit_all("change");
    let mut child = spawn_start(&env, &[]);
    assert_eq!(interrupt_when(&mut child, &marker), Ok(Some(130)));
    let st = env.state("a");
    assert_eq!(st["phase"], "cancelled", "{st}");
    // The new worktree whose setup never finished is gone, so resuming runs setup again.
    assert!(!env.worktree("a").exists());
    let listed = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 1, "{listed}");
    env.one_change("a", "setup: \"touch setup-ran\"\n");
    env.commit_all("quick setup");
    let out = env.conflux_bounded(&["start"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    assert!(env.worktree("a").join("setup-ran").exists(), "{out}");
}

/// Configures filter `slow`, whose smudge never ends (as a network filter that hangs): it
/// writes its pid to the returned file first.
fn hanging_filter(env: &TestEnv) -> std::path::PathBuf {
    let marker = env.path().join("smudge.pid");
    env.git(&["config", "filter.slow.clean", "cat"]);
    env.git(&[
        "config",
        "filter.slow.smudge",
        &format!("sh -c 'echo $$ > {}; exec sleep 1000'", marker.display()),
    ]);
    marker
}

/// Ends the smudge process of [`hanging_filter`]: git conflux gives up on it, and it is not
/// the agent's, so nothing of conflux ends it.
fn end_filter(marker: &std::path::Path) {
    let pid = std::fs::read_to_string(marker).unwrap_or_default();
    if let Ok(pid) = pid.trim().parse::<i32>() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Ctrl-C while the worktree is being checked out (here a smudge filter that never ends)
/// ends the run promptly, and the change is `cancelled`.
#[test]
fn ctrl_c_during_worktree_creation_cancels_the_change() {
    let env = TestEnv::new();
    let marker = hanging_filter(&env);
    env.write(".gitattributes", "*.dat filter=slow\n");
    env.write("data.dat", "payload\n");
    env.one_change("a", "kill_grace: 1s\n");
    env.commit_all("change");
    let mut child = spawn_start(&env, &[]);
    let code = interrupt_when(&mut child, &marker);
    end_filter(&marker);
    assert_eq!(code, Ok(Some(130)));
    let st = env.state("a");
    assert_eq!(st["phase"], "cancelled", "{st}");
}

/// `start --merge` whose merge hangs (updating the checkout through a smudge filter that
/// never ends) still ends on Ctrl-C: the first stops the run, the second gives the merge up.
#[test]
fn ctrl_c_twice_during_a_hung_merge_ends_start() {
    let env = TestEnv::new();
    let marker = hanging_filter(&env);
    env.write(".gitattributes", "conflux-demo/* filter=slow\n");
    env.one_change("a", "kill_grace: 1s\n");
    env.commit_all("change");
    let stderr = env.path().join("start.err");
    let mut cmd = env.conflux_cmd(&["start", "--merge"]);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    let mut child = cmd.spawn().unwrap();
    wait_for("the merge to begin", Duration::from_secs(30), || {
        std::fs::read_to_string(&marker).is_ok_and(|p| p.ends_with('\n'))
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    // Two signals in a row may reach the process as one: the second follows the first's news.
    wait_for(
        "the first Ctrl-C to be seen",
        Duration::from_secs(20),
        || std::fs::read_to_string(&stderr).is_ok_and(|e| e.contains("interrupted: stopping")),
    );
    let code = interrupt_and_wait(&mut child);
    end_filter(&marker);
    assert_eq!(code, Ok(Some(130)));
    // The change's work is on its branch, and the merge given up on is settled by the next.
    env.git(&["show", "conflux/a:conflux-demo/a.txt"]);
    env.git(&["config", "--unset", "filter.slow.smudge"]);
    let out = env.conflux_bounded(&["merge", "a"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    assert!(env.root.join("conflux-demo/a.txt").is_file(), "{out}");
    env.git(&["fsck", "--strict"]);
}

#[test]
fn kill_9_at_several_moments_then_start_again_loses_nothing() {
    for delay_ms in [50u64, 400, 900] {
        let env = TestEnv::new();
        env.use_demo_agent("jobs: 2\nenv: {DEMO_PAUSE: \"0.2\"}\n");
        add(&env, "a", 3, &[], "");
        add(&env, "b", 3, &["a"], "");
        env.commit_all("changes");
        let mut child = spawn_start(&env, &[]);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // A power loss takes the agents too.
        for id in ["a", "b"] {
            if let Some(pgid) = agent_pid(&env, id) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let before: Vec<(&str, String)> = ["a", "b"]
            .into_iter()
            .filter_map(|id| {
                Some((
                    id,
                    env.try_git(&["rev-parse", "--verify", "-q", &format!("conflux/{id}")])?,
                ))
            })
            .collect();
        let out = env.conflux(&["start"]);
        assert_eq!(out.code, 0, "after kill at {delay_ms} ms: {out}");
        for id in ["a", "b"] {
            assert_eq!(
                env.state(id)["phase"],
                "done",
                "{id} after kill at {delay_ms} ms"
            );
        }
        // No commit made before the kill was lost.
        for (id, old) in before {
            env.git(&[
                "merge-base",
                "--is-ancestor",
                old.trim(),
                &format!("conflux/{id}"),
            ]);
        }
        let listed = env.git(&["worktree", "list", "--porcelain"]);
        assert_eq!(
            listed.matches("worktree ").count(),
            3,
            "after kill at {delay_ms} ms: {listed}"
        );
        env.git(&["fsck", "--strict"]);
    }
}

/// A `kill -9` while a branch was being created can leave its ref lock; the next `start`
/// (holding the run lock) removes a lock older than itself instead of failing on it.
#[test]
fn a_stale_ref_lock_of_a_change_branch_is_removed_on_start() {
    let env = TestEnv::new();
    env.one_change("a", "");
    env.commit_all("change");
    let lock = env.root.join(".git/refs/heads/conflux/a.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    let earlier = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(earlier)
        .unwrap();
    let out = env.conflux_bounded(&["start"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.state("a")["phase"], "done", "{out}");
    assert!(!lock.exists(), "{out}");
    assert!(out.stderr.contains("refs/heads/conflux/a.lock"), "{out}");
    env.git(&["fsck", "--strict"]);
}

#[test]
fn logs_prints_and_follows_a_change_log() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_PAUSE: \"0.3\"}\n");
    add(&env, "a", 3, &[], "");
    env.commit_all("change");
    let missing = env.conflux(&["logs", "a"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(missing.stderr.contains("has no log yet"), "{missing}");
    let mut child = spawn_start(&env, &[]);
    wait_for("the log", Duration::from_secs(20), || {
        !env.log("a").is_empty()
    });
    // Following ends by itself when the change finishes, with everything printed.
    let followed = env.conflux(&["logs", "-f", "a"]);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(followed.code, 0, "{followed}");
    assert!(
        followed.stdout.contains("agent│ Working on: task 3"),
        "{followed}"
    );
    assert!(followed.stdout.trim_end().ends_with("done"), "{followed}");
    let printed = env.conflux(&["logs", "a"]);
    assert_eq!(
        printed.stdout,
        env.log("a")
            .replace(&env.path().display().to_string(), "$TEST")
    );
}

#[test]
fn stop_from_another_terminal_ends_the_run_and_its_agents() {
    let env = TestEnv::new();
    env.use_demo_agent("kill_grace: 1s\n");
    let nothing = env.conflux(&["stop"]);
    assert_eq!(nothing.code, 0, "{nothing}");
    assert!(
        nothing.stderr.contains("No git conflux start is running"),
        "{nothing}"
    );
    let (mut child, pgid) = start_hanging(&env, 1);
    let status = env.conflux(&["status", "--json"]);
    assert!(
        status.stdout.contains("\"running\": true")
            && status.stdout.contains("\"pid_alive\": true"),
        "{status}"
    );
    let out = env.conflux(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(!group_alive(pgid));
    assert_eq!(env.state("h")["phase"], "cancelled");
}

/// A `start` on the hanging change `h`, SIGKILLed once its agent has printed: the lock and
/// the agent stay behind. Returns the agent's process group.
fn killed_start_leaving_its_agent(env: &TestEnv) -> i32 {
    let (mut child, pgid) = start_hanging(env, 1);
    // Once it has printed, it sleeps without writing, so a closed pipe cannot end it either.
    wait_for("the agent to print", Duration::from_secs(20), || {
        env.log("h").contains("thinking about h")
    });
    child.kill().unwrap(); // SIGKILL: no cleanup at all
    child.wait().unwrap();
    assert!(
        group_alive(pgid),
        "the agent should outlive a SIGKILLed orchestrator"
    );
    pgid
}

#[test]
fn stop_after_a_killed_start_ends_the_agents_it_left() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    let pgid = killed_start_leaving_its_agent(&env);
    let out = env.conflux(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains(&format!("h: ended the agent (pid {pgid}) left running")),
        "{out}"
    );
    assert!(out.stderr.contains("stale lock"), "{out}");
    assert!(!group_alive(pgid));
    assert!(!env.root.join(".git/conflux/lock").exists());
}

#[test]
fn stop_needs_no_valid_configuration() {
    let env = TestEnv::new();
    env.use_demo_agent("kill_grace: 1s\n");
    let (mut child, pgid) = start_hanging(&env, 1);
    env.write(".conflux.yaml", "jobs: [\n");
    let out = env.conflux(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(!group_alive(pgid));
}

#[test]
fn agents_left_by_a_killed_start_are_ended_before_the_worktree_is_reused() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    let pgid = killed_start_leaving_its_agent(&env);
    env.write(
        "openspec/changes/h/proposal.md",
        &env.read("openspec/changes/h/proposal.md")
            .replace("DEMO_MODE: hang", "DEMO_TICK: all"),
    );
    env.commit_all("no longer hangs");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stderr
            .contains(&format!("ended the agent (pid {pgid})")),
        "{out}"
    );
    assert!(!group_alive(pgid));
    assert_eq!(env.state("h")["phase"], "done");
}

#[test]
fn json_prints_one_event_object_per_line() {
    let env = TestEnv::new();
    // The agent prints Claude Code's stream-json, passed through as text lines.
    env.use_demo_agent("env: {DEMO_TICK: all, DEMO_MODE: json}\n");
    add(&env, "a", 2, &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start", "--json"]);
    assert_eq!(out.code, 0, "{out}");
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_started");
    assert_eq!(events.last().unwrap()["event"], "run_finished");
    assert!(events.iter().any(|e| e["event"] == "change"
        && e["kind"] == "phase"
        && e["phase"] == "done"
        && e["id"] == "a"));
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "output" && e["role"] == "agent")
    );
    assert!(
        !out.to_string().contains("RESULT"),
        "no summary table in JSON mode: {out}"
    ); // Versioned and stamped (RFC 3339, UTC, ms), durations in ms, totals at the end, and
    // an agent's JSON line as a JSON value.
    for event in &events {
        assert_eq!(event["v"], 1, "{event}");
        let ts = event["ts"].as_str().unwrap_or_default();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{event}");
    }
    assert!(!out.stdout.contains("\"secs\""), "{out}");
    let finished = events.last().unwrap();
    assert!(finished["elapsed_ms"].is_u64(), "{finished}");
    assert_eq!(finished["totals"]["done"], 1, "{finished}");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "output" && e["line"]["type"] == "assistant"),
        "agent JSON as a JSON value: {out}"
    );
}

#[test]
fn an_index_lock_left_by_a_killed_start_is_removed_on_resume() {
    let env = TestEnv::new();
    env.use_demo_agent("max_iterations: 1\n");
    add(&env, "a", 2, &[], "");
    env.commit_all("change");
    assert_eq!(
        env.conflux(&["start"]).code,
        1,
        "one iteration leaves a task open"
    );
    // What a kill during an index write leaves: the lock, and no process holding it.
    let lock = env.root.join(".git/worktrees/a/index.lock");
    std::fs::write(&lock, "").unwrap();
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "the second start finishes the change: {out}");
    assert!(
        out.stderr.contains("index.lock") && out.stderr.contains("removed"),
        "{out}"
    );
    assert!(!lock.exists());
    assert_eq!(env.state("a")["phase"], "done");
}

#[test]
fn a_closed_terminal_and_the_other_ending_signals_stop_the_run_like_sigterm() {
    use nix::sys::signal::Signal;
    for signal in [
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGALRM,
    ] {
        let env = TestEnv::new();
        env.use_demo_agent("kill_grace: 1s\n");
        let (mut child, pgid) = start_hanging(&env, 1);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{signal}: {status:?}");
        assert!(!group_alive(pgid), "{signal}: the agent survived");
        assert_eq!(env.state("h")["phase"], "cancelled", "{signal}");
        assert!(
            !env.root.join(".git/conflux/lock").exists(),
            "{signal}: the lock is released"
        );
    }
}

/// Live (not zombie) processes whose working directory is under `dir`.
fn processes_in(dir: &std::path::Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter(|e| {
            std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&dir))
                && std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| {
                    s.rsplit_once(") ")
                        .is_some_and(|(_, r)| !r.starts_with('Z'))
                })
        })
        .map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            format!(
                "{:?} {}",
                e.file_name(),
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            )
        })
        .collect()
}

#[test]
fn setsid_escapees_with_closed_stdio_do_not_outlive_their_change() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all, DEMO_MODE: escape}\n");
    add(&env, "a", 1, &[], "");
    add(&env, "b", 1, &[], "");
    env.commit_all("changes");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let worktrees = env.path().join("repo.conflux");
    let left = processes_in(&worktrees);
    assert!(left.is_empty(), "still running in the worktrees: {left:?}");
    for id in ["a", "b"] {
        assert!(
            env.log(id)
                .contains("ended what the agent left running: pid"),
            "{id}: {}",
            env.log(id)
        );
    }
}

#[test]
fn durations_past_any_sane_range_are_config_errors_not_panics() {
    for key in [
        "timeout",
        "inactivity_timeout",
        "hooks_timeout",
        "stagger",
        "kill_grace",
    ] {
        for value in ["18446744073709551615", "18446744073709551615s", "400d"] {
            let env = TestEnv::new();
            env.use_demo_agent(&format!("{key}: {value}\n"));
            add(&env, "a", 1, &[], "");
            env.commit_all("change");
            let out = env.conflux(&["start"]);
            assert_eq!(out.code, 2, "{key}: {value}: {out}");
            // A bare number is refused for its missing unit before its size is looked at.
            let why = if value.ends_with(|c: char| c.is_ascii_digit()) {
                "has no unit"
            } else {
                "7 days"
            };
            assert!(
                out.stderr.contains(".conflux.yaml") && out.stderr.contains(why),
                "{key}: {value}: {out}"
            );
        }
    }
}

#[test]
fn a_verify_whose_work_cannot_be_committed_fails_the_change_instead_of_dropping_it() {
    let env = TestEnv::new();
    // verify writes a file, then holds the worktree's index lock, so the commit after it fails.
    env.use_demo_agent(
        "env: {DEMO_TICK: all}\nverify: \"echo report > verify-report.txt && touch \\\"$(git rev-parse --git-dir)/index.lock\\\"\"\n",
    );
    add(&env, "a", 1, &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let state = env.state("a");
    assert_eq!(state["phase"], "failed", "{state}");
    assert!(
        state["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot commit"),
        "{state}"
    );
}

#[test]
fn the_iteration_counter_counts_this_run_against_its_maximum() {
    let env = TestEnv::new();
    env.use_demo_agent("max_iterations: 1\n");
    add(&env, "a", 3, &[], "");
    env.commit_all("change");
    let first = env.conflux(&["start"]);
    assert!(first.stderr.contains("iteration 1/1"), "{first}");
    let second = env.conflux(&["start"]);
    assert!(
        second
            .stderr
            .contains("iteration 1/1 of this run (2 in all)"),
        "{second}"
    );
    assert!(!second.stderr.contains("iteration 2/1"), "{second}");
}

/// Setup, verify and archive are launched alike: each is given the configuration's `env:` and
/// the same `CONFLUX_*` variables, in `start` as in its merge.
#[test]
fn every_command_of_a_change_gets_the_configured_env() {
    let env = TestEnv::new();
    let dumps = env.path().join("dumps");
    std::fs::create_dir_all(&dumps).unwrap();
    let d = dumps.display();
    env.use_demo_agent(&format!(
        "env: {{DEMO_TICK: all, CONFLUX_PROBE: seen}}\nsetup: \"env > {d}/setup.env\"\n\
         verify: \"env > {d}/verify.env\"\n\
         archive: \"env > {d}/archive.env && mkdir -p openspec/changes/archive && mv openspec/changes/{{change_id}} openspec/changes/archive/{{change_id}}\"\n"
    ));
    add(&env, "a", 1, &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start", "--merge"]);
    assert_eq!(out.code, 0, "{out}");
    for step in ["setup", "verify", "archive"] {
        let seen = std::fs::read_to_string(dumps.join(format!("{step}.env"))).unwrap_or_default();
        for var in [
            "CONFLUX_PROBE=seen",
            "CONFLUX_CHANGE_ID=a",
            "CONFLUX_ITERATION=",
        ] {
            assert!(
                seen.lines().any(|l| l.starts_with(var)),
                "{step} was not given {var}: {seen}"
            );
        }
    }
}

#[test]
fn notify_tells_the_desktop_when_a_change_needs_a_person() {
    let env = TestEnv::new();
    env.use_demo_agent("notify: true\nenv: {DEMO_MODE: crash}\n");
    add(&env, "a", 1, &[], "");
    add(
        &env,
        "b",
        1,
        &[],
        "conflux: {env: {DEMO_MODE: normal, DEMO_TICK: all}}",
    );
    env.commit_all("changes");
    // A stand-in notifier first on PATH records what it was asked to show.
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let notified = env.path().join("notified");
    std::fs::write(
        bin.join("notify-send"),
        format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" >> '{}'\necho >> '{}'\n",
            notified.display(),
            notified.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        bin.join("notify-send"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut cmd = env.conflux_cmd(&["start"]);
    cmd.env(
        "PATH",
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    let out = env.run(cmd);
    assert_eq!(out.code, 1, "{out}");
    wait_for("the notification", Duration::from_secs(20), || {
        notified.exists()
    });
    let shown = std::fs::read_to_string(&notified).unwrap();
    assert!(shown.contains("git conflux: a failed|"), "{shown}");
    assert!(
        !shown.contains("git conflux: b"),
        "a change that is done needs nobody: {shown}"
    );
}

/// Polls (bounded) until `cond` holds while the run is held up; when it never does, creates
/// `release` so that the held-up run can end, and says what was not seen.
fn seen_while_held(
    what: &str,
    release: &std::path::Path,
    mut cond: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !cond() {
        if std::time::Instant::now() > deadline {
            std::fs::write(release, "").unwrap();
            return Err(format!("never saw {what}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(release, "").unwrap();
    Ok(())
}

/// The index of the first event of change `id` of `kind` that `also` accepts.
fn first_event(
    events: &[serde_json::Value],
    id: &str,
    kind: &str,
    also: impl Fn(&serde_json::Value) -> bool,
) -> usize {
    events
        .iter()
        .position(|e| e["id"] == id && e["kind"] == kind && also(e))
        .unwrap_or_else(|| panic!("no {kind} event of {id}"))
}

fn json_events(out: &crate::support::Output) -> Vec<serde_json::Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// `a`, whose agent waits for the file `go`, and `others` queued behind it, one task each,
/// committed; `agent_env` adds to each change's agent environment (`DEMO_MODE: json, `).
fn a_waiting_for(env: &TestEnv, go: &std::path::Path, agent_env: &str, others: &[&str]) {
    let wait = format!(
        "conflux: {{env: {{DEMO_TICK: all, {agent_env}DEMO_WAIT_FOR: {}}}}}",
        go.display()
    );
    add(env, "a", 1, &[], &wait);
    for id in others {
        add(env, id, 1, &[], "");
    }
    env.commit_all("changes");
}

/// Whether change `id` has been prepared: its worktree checked out, its branch recorded.
fn prepared(env: &TestEnv, id: &str) -> bool {
    env.worktree(id)
        .join(format!("openspec/changes/{id}/tasks.md"))
        .is_file()
        && env
            .try_state(id)
            .is_some_and(|st| st["created_branch"] == true && st["phase"] == "queued")
}

/// `start` again (a budget given in `args`): every change of `ids` ends done.
fn start_again_all_done(env: &TestEnv, args: &[&str], ids: &[&str]) {
    let out = env.conflux_bounded(&[&["start"], args].concat(), Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    for id in ids {
        assert_eq!(env.state(id)["phase"], "done", "{id}: {out}");
    }
}

/// With one slot, a change whose agent has finished gives the slot to the next change at
/// once: b's agent starts while a's last commit still runs (held up in a clean filter).
#[test]
fn a_finished_agent_frees_its_slot_before_its_commit() {
    let env = TestEnv::new();
    let go = env.path().join("commit-may-end");
    env.git(&[
        "config",
        "filter.held.clean",
        &format!(
            "sh -c 'i=0; while [ ! -e {} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; cat'",
            go.display()
        ),
    ]);
    env.write(".gitattributes", "conflux-demo/a.txt filter=held\n");
    env.use_demo_agent("jobs: 1\nenv: {DEMO_TICK: all}\n");
    add(&env, "a", 1, &[], "");
    add(&env, "b", 1, &[], "");
    env.commit_all("changes");
    let run = env.background(env.conflux_cmd(&["start", "--json"]));
    let seen = seen_while_held("b's agent start while a's commit is held up", &go, || {
        env.try_state("b").is_some_and(|b| b["pid"].is_u64())
    });
    let out = env.finish(run);
    assert_eq!(out.code, 0, "{out}");
    seen.unwrap();
    let events = json_events(&out);
    let b_agent = first_event(&events, "b", "process_started", |e| e["role"] == "agent");
    let a_committed = first_event(&events, "a", "committed", |_| true);
    assert!(b_agent < a_committed, "{out}");
    for id in ["a", "b"] {
        assert_eq!(env.state(id)["phase"], "done", "{out}");
    }
}

/// With every slot busy, the next queued change's worktree and branch are made meanwhile
/// (its state says so), and its agent starts only once the slot frees.
#[test]
fn the_next_change_is_prepared_while_the_slots_are_busy() {
    let env = TestEnv::new();
    let go = env.path().join("a-may-work");
    env.use_demo_agent("jobs: 1\nenv: {DEMO_TICK: all}\n");
    a_waiting_for(&env, &go, "", &["b"]);
    let run = env.background(env.conflux_cmd(&["start", "--json"]));
    let mut b_then = serde_json::Value::Null;
    let seen = seen_while_held("b's worktree made while a's agent runs", &go, || {
        let ready = prepared(&env, "b") && agent_pid(&env, "a").is_some();
        if ready {
            b_then = env.state("b");
        }
        ready
    });
    let out = env.finish(run);
    assert_eq!(out.code, 0, "{out}");
    seen.unwrap();
    // What exists is recorded before the agent starts: a resume or `clean` finds it.
    // Queued again until its slot comes: it runs no agent yet.
    assert_eq!(b_then["phase"], "queued", "{b_then}");
    assert_eq!(
        b_then["reason"], "worktree ready; waits for a free agent slot",
        "{b_then}"
    );
    assert_eq!(b_then["created_branch"], true, "{b_then}");
    assert!(b_then["start_commit"].is_string(), "{b_then}");
    assert!(b_then["pid"].is_null(), "{b_then}");
    let events = json_events(&out);
    let b_ready = first_event(&events, "b", "worktree_ready", |_| true);
    let a_tasks_after_agent = events
        .iter()
        .rposition(|e| e["id"] == "a" && e["kind"] == "tasks")
        .unwrap();
    let b_agent = first_event(&events, "b", "process_started", |e| e["role"] == "agent");
    assert!(
        b_ready < a_tasks_after_agent && a_tasks_after_agent < b_agent,
        "{out}"
    );
    let b_queued = first_event(&events, "b", "phase", |e| {
        e["phase"] == "queued" && e["reason"] == "worktree ready; waits for a free agent slot"
    });
    let b_preparing_again = events
        .iter()
        .rposition(|e| e["id"] == "b" && e["kind"] == "phase" && e["phase"] == "preparing")
        .unwrap();
    assert!(
        b_ready < b_queued && b_queued < b_preparing_again && b_preparing_again < b_agent,
        "{out}"
    );
    for id in ["a", "b"] {
        assert_eq!(env.state(id)["phase"], "done", "{out}");
    }
    let listed = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 3, "{listed}");
}

/// One slot; `a`'s agent waits for the file `wait_for`, and `b` and `c` queue behind it.
/// Returns once `b` has been prepared ahead (its worktree checked out, recorded in its state).
fn b_prepared_ahead(env: &TestEnv, marker: &str) -> std::process::Child {
    env.use_demo_agent("jobs: 1\nkill_grace: 1s\nenv: {DEMO_TICK: all}\n");
    a_waiting_for(env, &env.path().join(marker), "", &["b", "c"]);
    let child = spawn_start(env, &[]);
    wait_for("b prepared ahead", Duration::from_secs(30), || {
        prepared(env, "b") && agent_pid(env, "a").is_some()
    });
    child
}

/// `kill -9` while a change waits prepared ahead of its slot: the next `start` reuses its
/// worktree and branch, and every change finishes.
#[test]
fn kill_9_while_a_change_waits_prepared_ahead_loses_nothing() {
    let env = TestEnv::new();
    let mut child = b_prepared_ahead(&env, "go");
    let _ = child.kill();
    let _ = child.wait();
    if let Some(pgid) = agent_pid(&env, "a") {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(env.state("b")["phase"], "queued");
    std::fs::write(env.path().join("go"), "").unwrap();
    start_again_all_done(&env, &[], &["a", "b", "c"]);
    assert!(
        env.log("b").contains("reusing worktree"),
        "{}",
        env.log("b")
    );
    let listed = env.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(listed.matches("worktree ").count(), 4, "{listed}");
    env.git(&["fsck", "--strict"]);
}

/// A change prepared ahead and then not run (`stop` of it, then Ctrl-C of the run) ends
/// `cancelled` with its worktree recorded; `clean` removes it, and a new start runs the rest.
#[test]
fn a_change_prepared_ahead_then_stopped_is_cancelled_and_cleaned() {
    let env = TestEnv::new();
    let mut child = b_prepared_ahead(&env, "never");
    let stop = env.conflux_bounded(&["stop", "b"], Duration::from_secs(30));
    assert_eq!(stop.code, 0, "{stop}");
    assert!(
        stop.to_string().contains("stopped b before it started"),
        "{stop}"
    );
    assert_eq!(interrupt_and_wait(&mut child), Ok(Some(130)));
    let b = env.state("b");
    assert_eq!(b["phase"], "cancelled", "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("before it started"),
        "{b}"
    );
    assert_eq!(env.state("c")["phase"], "cancelled");
    let clean = env.conflux_bounded(&["clean", "b"], Duration::from_secs(30));
    assert_eq!(clean.code, 0, "{clean}");
    assert!(!env.worktree("b").exists(), "{clean}");
    assert!(
        env.try_git(&["rev-parse", "--verify", "-q", "conflux/b"])
            .is_none()
    );
    std::fs::write(env.path().join("never"), "").unwrap();
    start_again_all_done(&env, &[], &["a", "b", "c"]);
    env.git(&["fsck", "--strict"]);
}

/// The run's budget spent while a change waits prepared ahead: it ends `over-budget`
/// without starting, the run ends, and a higher budget runs it from its worktree.
#[test]
fn a_change_prepared_ahead_when_the_budget_is_spent_ends_over_budget_unstarted() {
    let env = TestEnv::new();
    let go = env.path().join("go");
    // The demo agent in json mode reports $0.0125 per run: one run spends $0.01.
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", format: claude, prompt: stdin}}\nstagger: 0s\njobs: 1\nrun_budget: {{usd: 0.01}}\nenv: {{DEMO_TICK: all, DEMO_MODE: json}}\n",
            crate::support::demo_agent().display()
        ),
    );
    a_waiting_for(&env, &go, "DEMO_MODE: json, ", &["b"]);
    let run = env.background(env.conflux_cmd(&["start", "--no-progress"]));
    let seen = seen_while_held("b prepared ahead", &go, || prepared(&env, "b"));
    let out = env.finish(run);
    seen.unwrap();
    assert_eq!(out.code, 4, "{out}");
    assert_eq!(env.state("a")["phase"], "done", "{out}");
    let b = env.state("b");
    assert_eq!(b["phase"], "over-budget", "{b}");
    assert!(
        b["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("not started: the run's budget is spent"),
        "{b}"
    );
    assert!(b["pid"].is_null(), "{b}");
    start_again_all_done(&env, &["--budget", "1"], &["b"]);
    assert!(
        env.log("b").contains("reusing worktree"),
        "{}",
        env.log("b")
    );
}

/// A change prepared ahead whose agent refused meanwhile (in the change before it) is not
/// started when its slot comes: `pending`, no iteration spent.
#[test]
fn a_change_prepared_ahead_is_not_started_after_its_agent_refused() {
    let env = TestEnv::new();
    let go = env.path().join("go");
    env.write(
        "refuse.sh",
        &format!(
            "cat >/dev/null\nwhile [ ! -e {} ]; do sleep 0.05; done\necho '{{\"type\":\"result\",\"is_error\":true,\"result\":\"Invalid API key · Please run /login\"}}'\nexit 1\n",
            go.display()
        ),
    );
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", format: claude, prompt: stdin}}\njobs: 1\nstagger: 0s\n",
            env.root.join("refuse.sh").display()
        ),
    );
    add(&env, "a", 1, &[], "");
    add(&env, "b", 1, &[], "");
    env.commit_all("changes");
    let run = env.background(env.conflux_cmd(&["start", "--no-progress"]));
    let seen = seen_while_held("b prepared ahead", &go, || prepared(&env, "b"));
    let out = env.finish(run);
    seen.unwrap();
    let b = env.state("b");
    assert_eq!(
        (&b["phase"], &b["iteration"]),
        (&"pending".into(), &0.into()),
        "{out}"
    );
    assert!(
        b["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("not started: claude refused"),
        "{b}"
    );
}
