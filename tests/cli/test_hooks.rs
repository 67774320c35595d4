//! Lifecycle hooks and the archive step of merges.

use std::time::Duration;

use crate::support::{TestEnv, group_alive, interrupt_and_wait, wait_for};

#[test]
fn each_hook_fires_once_per_event_in_order_with_its_variables() {
    let env = TestEnv::new();
    let log = env.path().join("hooks.log");
    let line = format!(
        "echo \\\"$CONFLUX_EVENT ${{CONFLUX_CHANGE_ID:--}} ${{CONFLUX_ITERATION:--}} ${{CONFLUX_TASKS_DONE:--}}/${{CONFLUX_TASKS_TOTAL:--}}\\\" >> {}",
        log.display()
    );
    let hooks: String = [
        "on_start",
        "on_change_start",
        "pre_iteration",
        "post_iteration",
        "on_change_done",
        "on_merged",
        "on_finish",
    ]
    .iter()
    .map(|h| format!("  {h}: \"{line}\"\n"))
    .collect();
    env.use_demo_agent(&format!("env: {{DEMO_TICK: all}}\nhooks:\n{hooks}"));
    env.add_change("a", &["one", "two"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start", "--merge"]);
    assert_eq!(out.code, 0, "{out}");
    let got = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        got,
        "on_start - - -/-\non_change_start a 0 0/2\npre_iteration a 1 0/2\npost_iteration a 1 2/2\non_change_done a 1 2/2\non_merged a 1 2/2\non_finish - - -/-\n"
    );
}

#[test]
fn a_failing_pre_iteration_hook_fails_the_iteration_and_others_only_warn() {
    let env = TestEnv::new();
    env.use_demo_agent(
        "hooks: {pre_iteration: \"echo not today; exit 4\", post_iteration: \"exit 1\"}\n",
    );
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let st = env.state("a");
    assert_eq!(st["phase"], "failed");
    assert!(
        st["reason"]
            .as_str()
            .unwrap()
            .contains("hook pre_iteration"),
        "{st}"
    );
    assert!(env.log("a").contains("hook│ not today"), "{}", env.log("a"));
    // The agent never ran.
    assert!(!env.log("a").contains("agent started"));
}

#[test]
fn a_hanging_hook_is_ended_at_its_timeout_with_nothing_left() {
    let env = TestEnv::new();
    let pidfile = env.path().join("hook.pid");
    env.use_demo_agent(&format!(
        "env: {{DEMO_TICK: all}}\nhooks_timeout: 1s\nkill_grace: 1s\nhooks: {{on_change_done: \"sleep 1000 & echo $! > {}; wait\"}}\n",
        pidfile.display()
    ));
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "a hook's failure is not the change's: {out}");
    assert!(env.log("a").contains("hooks_timeout"), "{}", env.log("a"));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for(
        "the hook's child to be gone",
        Duration::from_secs(5),
        || !group_alive(pid) || !pid_alive(pid),
    );
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn archive_step_runs_in_the_worktree_before_merging() {
    let env = TestEnv::new();
    env.use_demo_agent(
        "env: {DEMO_TICK: all}\narchive: \"mkdir -p openspec/changes/archive && mv openspec/changes/{change_id} openspec/changes/archive/2026-01-01-{change_id}\"\n",
    );
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    assert_eq!(env.conflux(&["start"]).code, 0);
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        env.root
            .join("openspec/changes/archive/2026-01-01-a/tasks.md")
            .exists()
    );
    assert!(!env.root.join("openspec/changes/a").exists());
    assert!(
        env.git(&["log", "--format=%s", "main"])
            .contains("conflux(a): archive")
    );
}

#[test]
fn archive_that_does_not_move_the_folder_refuses_the_merge() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\narchive: \"true\"\n");
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    assert_eq!(env.conflux(&["start"]).code, 0);
    let main = env.git(&["rev-parse", "main"]);
    let out = env.conflux(&["merge", "a"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("archiving a failed") && out.stderr.contains("still there"),
        "{out}"
    );
    assert_eq!(env.git(&["rev-parse", "main"]), main);
}

/// The real OpenSpec CLI as the archive step (scripts/test.sh installs it).
#[test]
fn archive_with_the_real_openspec_cli() {
    let Some(openspec) = which_openspec() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "openspec is not installed: run scripts/test.sh, which installs it"
        );
        eprintln!(
            "note: openspec not found on PATH; skipping the real archive step (scripts/test.sh installs it)"
        );
        return;
    };
    let env = TestEnv::new();
    env.use_demo_agent(&format!(
        "env: {{DEMO_TICK: all}}\narchive: \"{} archive {{change_id}} --yes --skip-specs\"\n",
        openspec.display()
    ));
    env.add_change("add-thing", &["one"], &[], "");
    env.commit_all("change");
    assert_eq!(env.conflux(&["start"]).code, 0);
    let out = env.conflux(&["merge", "add-thing"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!env.root.join("openspec/changes/add-thing").exists());
    let archived = std::fs::read_dir(env.root.join("openspec/changes/archive"))
        .unwrap()
        .count();
    assert_eq!(archived, 1);
}

fn which_openspec() -> Option<std::path::PathBuf> {
    if let Some(bin) = std::env::var_os("OPENSPEC_BIN") {
        return Some(bin.into());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("openspec"))
        .find(|p| p.is_file())
}

/// Ctrl-C while a run-wide hook hangs (before the changes start, or after they ended) ends
/// `start` promptly with 130, and the hook's process with it.
#[test]
fn ctrl_c_during_a_run_wide_hook_ends_it() {
    for hook in ["on_start", "on_finish"] {
        let env = TestEnv::new();
        let pidfile = env.path().join("hook.pid");
        env.use_demo_agent(&format!(
            "env: {{DEMO_TICK: all}}\nhooks_timeout: 1h\nkill_grace: 1s\nhooks: {{{hook}: \"echo $$ > {}; exec sleep 1000\"}}\n",
            pidfile.display()
        ));
        env.add_change("a", &["one"], &[], "");
        env.commit_all("change");
        let (code, survived) = interrupt_hook(&env, &["start"], &pidfile);
        assert_eq!(code, Some(130), "{hook}: start's exit (-1: did not end)");
        assert!(!survived, "{hook}: the hook outlived start");
        // Stopped before it began, the change is resumable; after it ended, it stays done.
        let phase = if hook == "on_start" {
            "cancelled"
        } else {
            "done"
        };
        assert_eq!(env.state("a")["phase"], phase, "{hook}");
    }
}

/// Runs `git conflux <args>` and sends it SIGINT once its hook has written its pid to
/// `pidfile`: its exit code (`Some(-1)` when it did not end within 20 s, then it is killed)
/// and whether the hook outlived it (then it is killed).
fn interrupt_hook(env: &TestEnv, args: &[&str], pidfile: &std::path::Path) -> (Option<i32>, bool) {
    let mut cmd = env.conflux_cmd(args);
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    wait_for("the hook to run", Duration::from_secs(30), || {
        std::fs::read_to_string(pidfile).is_ok_and(|p| p.ends_with('\n'))
    });
    let hook: i32 = std::fs::read_to_string(pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let code = interrupt_and_wait(&mut child).unwrap_or(Some(-1));
    let survived = pid_alive(hook);
    if survived {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(hook),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    (code, survived)
}

/// Ctrl-C while `merge`'s on_merged hook hangs ends the hook and `merge`.
#[test]
fn ctrl_c_during_the_on_merged_hook_ends_it() {
    let env = TestEnv::new();
    let pidfile = env.path().join("hook.pid");
    env.use_demo_agent(&format!(
        "env: {{DEMO_TICK: all}}\nhooks_timeout: 1h\nkill_grace: 1s\nhooks: {{on_merged: \"echo $$ > {}; exec sleep 1000\"}}\n",
        pidfile.display()
    ));
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let (code, survived) = interrupt_hook(&env, &["merge", "a"], &pidfile);
    assert!(code.is_some_and(|c| c >= 0), "merge did not end: {code:?}");
    assert!(!survived, "the hook outlived merge");
    // The merge itself was done before the hook ran.
    env.git(&["show", "main:conflux-demo/a.txt"]);
}
