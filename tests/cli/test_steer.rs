//! Steering a running `start` from other terminals: join, tell, stop, watch, and the
//! control socket's refusal of other users.

use std::time::Duration;

use crate::support::{TestEnv, wait_for};

fn phase(env: &TestEnv, id: &str) -> String {
    env.try_state(id)
        .map(|s| s["phase"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

/// `a` (two tasks, one per iteration) waits for `go-a` before each run; `b` waits for a file
/// that never comes; `c` is written later and joins the run.
fn steering_env() -> TestEnv {
    let env = TestEnv::new();
    env.use_demo_agent("jobs: 3\nkill_grace: 2s\n");
    let wait = |name: &str| {
        format!(
            "conflux: {{env: {{DEMO_WAIT_FOR: {}}}}}",
            env.path().join(name).display()
        )
    };
    env.add_change("a", &["one", "two"], &[], &wait("go-a"));
    env.add_change("b", &["one"], &[], &wait("never"));
    env.commit_all("changes");
    env
}

#[test]
fn a_run_is_joined_told_stopped_and_watched_from_other_terminals() {
    let env = steering_env();
    let start = env.background(env.conflux_cmd(&["start", "--no-progress"]));
    wait_for("both agents", Duration::from_secs(30), || {
        phase(&env, "a") == "applying" && phase(&env, "b") == "applying"
    });

    // A second terminal follows the run.
    let watch = env.background(env.conflux_cmd(&["status", "--watch", "--json"]));

    // The change just written joins the running run.
    env.add_change("c", &["one"], &[], "");
    env.commit_all("change c");
    let joined = env.conflux(&["start", "c"]);
    assert_eq!(joined.code, 0, "{joined}");
    assert!(joined.stderr.contains("added c"), "{joined}");
    let again = env.conflux(&["start", "a"]);
    assert!(
        again.stderr.contains("a is already part of this run"),
        "{again}"
    );

    // A message for `a` reaches its next iteration's prompt, and no other change's.
    let told = env.conflux(&["tell", "a", "use tabs, not spaces"]);
    assert_eq!(told.code, 0, "{told}");
    let waiting = env.conflux(&["status", "-v", "a"]);
    assert!(
        waiting
            .stdout
            .contains("told (for its next iteration): use tabs, not spaces"),
        "{waiting}"
    );
    std::fs::write(env.path().join("go-a"), "").unwrap();

    // `b` alone is stopped; the others run on.
    let stopped = env.conflux(&["stop", "b"]);
    assert_eq!(stopped.code, 0, "{stopped}");
    assert!(stopped.stderr.contains("stopping b"), "{stopped}");

    let out = env.finish(start);
    let stderr = &out.stderr;
    assert_eq!(out.code, 1, "b was cancelled: {stderr}");
    assert_eq!(phase(&env, "a"), "done", "{stderr}");
    assert_eq!(phase(&env, "c"), "done", "{stderr}");
    assert_eq!(phase(&env, "b"), "cancelled", "{stderr}");
    let reason = env.state("b")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.contains("stopped by `git conflux stop b`"),
        "{reason}"
    );
    // The summary table (on stdout) has a row for the change that joined.
    assert!(
        out.stdout.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.starts_with(&["c", "done"]) && l.contains("conflux/c")
        }),
        "{out}"
    );
    let prompt = std::fs::read_to_string(env.path().join("demo-agent-a.prompt")).unwrap();
    assert!(prompt.contains("use tabs, not spaces"), "{prompt}");
    let other = std::fs::read_to_string(env.path().join("demo-agent-c.prompt")).unwrap();
    assert!(!other.contains("use tabs"), "{other}");
    assert!(
        env.log("a").contains("told: use tabs, not spaces"),
        "{}",
        env.log("a")
    );

    // The watcher saw the run from its start to its end, and ended with it.
    let watched = env.finish(watch);
    assert_eq!(watched.code, 0, "{watched}");
    let events: Vec<serde_json::Value> = watched
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events.first().unwrap()["event"],
        "run_started",
        "{events:?}"
    );
    assert_eq!(
        events.last().unwrap()["event"],
        "run_finished",
        "{events:?}"
    );
    let saw = |id: &str, phase: &str| {
        events
            .iter()
            .any(|e| e["id"] == id && e["kind"] == "phase" && e["phase"] == phase)
    };
    assert!(
        saw("a", "done") && saw("c", "done") && saw("b", "cancelled"),
        "{events:?}"
    );

    // Stopped, not lost: a later start resumes b.
    std::fs::write(env.path().join("never"), "").unwrap();
    let resumed = env.conflux(&["start", "b"]);
    assert_eq!(resumed.code, 0, "{resumed}");
    assert_eq!(phase(&env, "b"), "done");
}

#[test]
fn without_a_run_steering_commands_say_so() {
    let env = steering_env();
    let stop = env.conflux(&["stop", "a"]);
    assert_eq!(stop.code, 1, "{stop}");
    assert!(
        stop.stderr.contains("no git conflux start is running"),
        "{stop}"
    );
    let tell = env.conflux(&["tell", "a", "hello"]);
    assert_eq!(tell.code, 1, "{tell}");
    assert!(
        tell.stderr.contains("no git conflux start is running"),
        "{tell}"
    );
    let watch = env.conflux(&["status", "--watch"]);
    assert_eq!(watch.code, 0, "{watch}");
    assert!(watch.stdout.contains("a "), "the status once: {watch}");
    assert!(
        watch.stderr.contains("No git conflux start is running"),
        "{watch}"
    );
}

#[test]
fn a_request_from_another_user_is_refused() {
    let env = steering_env();
    let start = env.background(env.conflux_cmd(&["start", "--no-progress"]));
    wait_for("both agents", Duration::from_secs(30), || {
        phase(&env, "b") == "applying"
    });
    // Let another user reach the socket file itself, so that what refuses it is the run's
    // check of the peer's uid, not the folder's permissions.
    let socket = env.root.join(".git/conflux/control.sock");
    use std::os::unix::fs::PermissionsExt;
    let mut dir = socket.clone();
    while dir.pop() && dir.starts_with(env.path()) {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode | 0o055)).unwrap();
    }
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = format!(
        "import socket; s = socket.socket(socket.AF_UNIX); s.connect({:?}); \
         s.sendall(b'{{\"v\":1,\"op\":\"stop\",\"ids\":[\"b\"]}}\\n'); \
         print(s.makefile().readline())",
        socket.display().to_string()
    );
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        reply.contains("\"ok\":false") && reply.contains("refused: uid 65534"),
        "{reply} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(phase(&env, "b"), "applying", "b was not stopped");
    let stop = env.conflux(&["stop"]);
    assert_eq!(stop.code, 0, "{stop}");
    assert_eq!(env.finish(start).code, 130);
}

#[test]
fn tell_now_ends_the_iteration_and_starts_the_next_with_the_message() {
    let env = steering_env();
    let start = env.background(env.conflux_cmd(&["start", "a", "--no-progress"]));
    wait_for("a's agent", Duration::from_secs(30), || {
        env.try_state("a").is_some_and(|s| s["pid"].is_i64())
    });
    let told = env.conflux(&["tell", "--now", "a", "switch to plan B"]);
    assert_eq!(told.code, 0, "{told}");
    assert!(
        told.stderr.contains("ending its current iteration now"),
        "{told}"
    );
    wait_for("iteration 2", Duration::from_secs(30), || {
        env.log("a")
            .contains("told for iteration 2: switch to plan B")
    });
    std::fs::write(env.path().join("go-a"), "").unwrap();
    let out = env.finish(start);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(phase(&env, "a"), "done");
    let log = env.log("a");
    assert!(log.contains("iteration 1/"), "{log}");
    assert!(
        !log.contains("cancelled"),
        "only the iteration ended: {log}"
    );
}

#[test]
fn a_change_added_to_a_merging_run_is_run_and_merged() {
    let env = steering_env();
    let start = env.background(env.conflux_cmd(&["start", "a", "--merge", "--no-progress"]));
    wait_for("a's agent", Duration::from_secs(30), || {
        phase(&env, "a") == "applying"
    });
    env.add_change("c", &["one"], &[], "");
    env.commit_all("change c");
    let joined = env.conflux(&["start", "c"]);
    assert_eq!(joined.code, 0, "{joined}");
    wait_for("c to be merged", Duration::from_secs(30), || {
        phase(&env, "c") == "merged"
    });
    std::fs::write(env.path().join("go-a"), "").unwrap();
    let out = env.finish(start);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(phase(&env, "a"), "merged");
    assert!(
        env.read("conflux-demo/c.txt").contains("c: one"),
        "c's work is in main"
    );
}
