//! `sandbox: bwrap`: an agent writes its worktree and commits on its own branch, and nothing
//! else; what it leaves running ends with it; the commands around a run see no difference.
//! These tests need bubblewrap (`bwrap`): without it they skip with a message, except in CI
//! (`CI=true`), where they fail.

use std::path::{Path, PathBuf};

use crate::support::TestEnv;

/// Whether bubblewrap is here; in CI its absence fails the test.
pub(crate) fn have_bwrap() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("bwrap").is_file()));
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "bubblewrap (bwrap) is not installed, and CI must run the sandbox tests: install the package bubblewrap"
        );
        eprintln!(
            "\n*** SKIPPED: bubblewrap (bwrap) is not installed; the sandbox tests did not run (apt-get install bubblewrap) ***\n"
        );
    }
    found
}

/// A fake agent script in the test's folder (outside the repository), run with `sh`.
fn agent_script(env: &TestEnv, body: &str) -> PathBuf {
    let path = env.path().join("agent.sh");
    std::fs::write(&path, body).unwrap();
    path
}

/// `.conflux.yaml` with `agent` as the agent and `extra` lines; committed with change `id`.
fn configure(env: &TestEnv, agent: &Path, extra: &str, id: &str) {
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", prompt: stdin}}\nstagger: 0s\nkill_grace: 2s\nretry: {{max: 0, timeout_retries: 0}}\n{extra}",
            agent.display()
        ),
    );
    env.add_change(id, &["one"], &[], "");
    env.commit_all("change");
}

/// Each attempt prints `refused: WHAT` or `WROTE: WHAT`; then the agent ticks its task and
/// commits with git itself.
const CONFINED_AGENT: &str = r#"
try() { if sh -c "$1" >/dev/null 2>&1; then echo "WROTE: $2"; else echo "refused: $2"; fi; }
try 'echo agent >> "$MAIN/README.md"' "the main checkout"
try 'echo agent >> "$OTHER/README.md"' "another worktree"
try 'echo agent >> "$HOME/.ssh/authorized_keys"' "HOME/.ssh"
try 'echo agent > /etc/conflux-sandbox-test' "/etc"
try 'echo agent >> "$OUTSIDE"' "a file in /tmp"
try 'echo agent > /tmp/conflux-sandbox-test-new' "a new file in /tmp"
try 'git branch -f main HEAD' "git branch -f main"
try 'git branch -f conflux/sibling HEAD' "git branch -f conflux/sibling"
try 'git update-ref -d refs/heads/conflux/sibling' "git update-ref -d conflux/sibling"
try 'git -C "$OTHER" commit --allow-empty -m agent' "a commit in another worktree"
sed -i 's/- \[ \]/- [x]/' openspec/changes/walled/tasks.md
echo work > work.txt
git add -A && git commit -q -m "the agent's own commit" && echo "committed"
"#;

#[test]
fn a_sandboxed_agent_commits_its_own_work_and_writes_nothing_else() {
    if !have_bwrap() {
        return;
    }
    let env = TestEnv::new();
    let other = env.path().join("other");
    env.git(&[
        "worktree",
        "add",
        "-q",
        other.to_str().unwrap(),
        "-b",
        "other",
    ]);
    env.git(&["branch", "conflux/sibling"]);
    let outside = env.path().join("outside.txt");
    std::fs::write(&outside, "untouched\n").unwrap();
    std::fs::create_dir_all(env.home.join(".ssh")).unwrap();
    std::fs::write(env.home.join(".ssh/authorized_keys"), "key\n").unwrap();
    let agent = agent_script(&env, CONFINED_AGENT);
    configure(
        &env,
        &agent,
        &format!(
            "sandbox: bwrap\nenv: {{MAIN: \"{}\", OTHER: \"{}\", OUTSIDE: \"{}\"}}\n",
            env.root.display(),
            other.display(),
            outside.display()
        ),
        "walled",
    );
    let main_before = env.git(&["rev-parse", "main"]);
    let sibling_before = env.git(&["rev-parse", "conflux/sibling"]);
    let other_before = env.git(&["rev-parse", "other"]);
    let readme = env.read("README.md");

    let out = env.conflux(&["start", "--no-progress"]);

    let log = env.log("walled");
    let _ = std::fs::remove_file("/etc/conflux-sandbox-test");
    let _ = std::fs::remove_file("/tmp/conflux-sandbox-test-new");
    assert_eq!(out.code, 0, "{out}\n{log}");
    assert!(
        !log.contains("WROTE"),
        "the agent wrote outside its worktree:\n{log}"
    );
    for what in [
        "the main checkout",
        "another worktree",
        "HOME/.ssh",
        "/etc",
        "a file in /tmp",
        "a new file in /tmp",
        "git branch -f main",
        "git branch -f conflux/sibling",
        "git update-ref -d conflux/sibling",
        "a commit in another worktree",
    ] {
        assert!(log.contains(&format!("refused: {what}")), "{what}:\n{log}");
    }
    assert!(
        log.contains("committed"),
        "the agent's commit failed:\n{log}"
    );
    assert_eq!(env.read("README.md"), readme);
    assert_eq!(
        std::fs::read_to_string(other.join("README.md")).unwrap(),
        readme
    );
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "untouched\n");
    assert_eq!(
        std::fs::read_to_string(env.home.join(".ssh/authorized_keys")).unwrap(),
        "key\n"
    );
    assert_eq!(env.git(&["rev-parse", "main"]), main_before);
    assert_eq!(env.git(&["rev-parse", "conflux/sibling"]), sibling_before);
    assert_eq!(env.git(&["rev-parse", "other"]), other_before);
    let history = env.git(&["log", "--format=%s", "conflux/walled"]);
    assert!(history.contains("the agent's own commit"), "{history}");
    assert_eq!(env.state("walled")["phase"], "done", "{out}");
    env.git(&["fsck", "--no-progress"]);
}

/// Processes whose command line contains `marker` and that still run (zombies, which
/// only wait to be reaped, do not count).
fn running_with(marker: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmdline).contains(marker)
        })
        .collect()
}

#[test]
fn what_a_sandboxed_agent_leaves_running_ends_with_it() {
    if !have_bwrap() {
        return;
    }
    let env = TestEnv::new();
    // A sleep no other process runs: its argument is this test's own.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let marker = format!("3000.{nanos:09}{}", std::process::id());
    // Both escape every trace the unsandboxed sweep follows: a new session (or a
    // double fork), the root as working directory, closed standard streams; and the agent
    // is gone before the first periodic scan.
    let agent = agent_script(
        &env,
        &format!(
            "(cd / && exec setsid sleep {marker} </dev/null >/dev/null 2>&1) &\n\
             (cd / && sleep {marker} </dev/null >/dev/null 2>&1 &)\n\
             sed -i 's/- \\[ \\]/- [x]/' openspec/changes/escape/tasks.md\n\
             echo started them\n"
        ),
    );
    configure(&env, &agent, "sandbox: bwrap\n", "escape");

    let out = env.conflux(&["start", "--no-progress"]);

    let left = running_with(&marker);
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(out.code, 0, "{out}\n{}", env.log("escape"));
    assert!(
        env.log("escape").contains("started them"),
        "{}",
        env.log("escape")
    );
    assert!(
        left.is_empty(),
        "still running after the run: pids {left:?}"
    );
}

/// `start` with `args`, a configuration with `sandbox` lines, and on PATH only `sh` (and
/// `fake_bwrap`, when given, as `bwrap`): it must refuse with exit 2 and create nothing.
fn refused_start(sandbox: &str, args: &[&str], fake_bwrap: Option<&str>) -> String {
    let env = TestEnv::new();
    let agent = agent_script(&env, "exit 0\n");
    configure(&env, &agent, sandbox, "a");
    let before = env.refs_and_worktrees();
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    if let Some(script) = fake_bwrap {
        let path = bin.join("bwrap");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = env.conflux_cmd(&[&["start", "--no-progress"], args].concat());
    cmd.env("PATH", bin);

    let out = env.run(cmd);

    assert_eq!(out.code, 2, "{out}");
    assert_eq!(env.refs_and_worktrees(), before, "{out}");
    out.stderr
}

#[test]
fn without_bubblewrap_start_names_the_package_before_any_worktree_exists() {
    let stderr = refused_start("sandbox: bwrap\n", &[], None);
    assert!(
        stderr.contains("install the package `bubblewrap`"),
        "{stderr}"
    );
}

#[test]
fn user_namespaces_refused_names_the_sysctl_before_any_worktree_exists() {
    // What bwrap 0.8 prints where the kernel refuses unprivileged user namespaces.
    let refusing = "echo 'bwrap: No permissions to creating new namespace, likely because the kernel does not allow non-privileged user namespaces.' >&2; exit 1";
    let stderr = refused_start("", &["--sandbox", "bwrap"], Some(refusing));
    for needle in [
        "No permissions to creating new namespace",
        "kernel.unprivileged_userns_clone",
        "user.max_user_namespaces",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}

/// What `status`, `logs` and `merge` print after one change ran with `sandbox`, commit ids
/// and digits (times, pids) masked: the configuration, and so every commit, differs.
fn commands_after_a_run(sandbox: &str) -> Vec<String> {
    let env = TestEnv::new();
    let home = env.home.display().to_string();
    env.one_change(
        "same",
        &format!("sandbox: {sandbox}\nenv: {{DEMO_STATE: \"{home}\"}}\n"),
    );
    env.commit_all("change");
    let start = env.conflux(&["start", "--no-progress"]);
    assert_eq!(start.code, 0, "{start}");
    let mask = |text: String| {
        let text = text.replace(env.path().to_str().unwrap(), "$TEST");
        text.split_inclusive(|c: char| !c.is_ascii_alphanumeric())
            .map(|word| {
                let id = word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
                if id.len() >= 7 && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
                    word.replacen(id, "<commit>", 1)
                } else {
                    word.replace(|c: char| c.is_ascii_digit(), "0")
                }
            })
            .collect::<String>()
    };
    ["status", "logs same", "merge same", "status"]
        .iter()
        .map(|args| {
            let args: Vec<&str> = args.split(' ').collect();
            mask(env.conflux(&args).to_string())
        })
        .chain([mask(env.git(&["log", "--format=%s", "main"]))])
        .collect()
}

#[test]
fn status_logs_and_merge_behave_as_without_a_sandbox() {
    if !have_bwrap() {
        return;
    }
    assert_eq!(commands_after_a_run("bwrap"), commands_after_a_run("none"));
}

/// After one run whose verify command and `on_change_done` hook each try to write a file
/// in the main checkout: which of the two files exist.
fn commands_wrote(extra: &str) -> (bool, bool) {
    let env = TestEnv::new();
    let agent = agent_script(
        &env,
        "sed -i 's/- \\[ \\]/- [x]/' openspec/changes/c/tasks.md\n",
    );
    let main = env.root.display();
    configure(
        &env,
        &agent,
        &format!(
            "verify: \"touch {main}/verify-wrote || true\"\n\
             hooks: {{on_change_done: \"touch {main}/hook-wrote || true\"}}\n{extra}"
        ),
        "c",
    );
    let out = env.conflux(&["start", "--no-progress"]);
    assert_eq!(out.code, 0, "{out}\n{}", env.log("c"));
    (
        env.root.join("verify-wrote").exists(),
        env.root.join("hook-wrote").exists(),
    )
}

#[test]
fn verify_and_hooks_run_in_the_sandbox_only_with_sandbox_commands() {
    if !have_bwrap() {
        return;
    }
    assert_eq!(commands_wrote("sandbox: bwrap\n"), (true, true));
    assert_eq!(
        commands_wrote("sandbox: {runtime: bwrap, commands: true}\n"),
        (false, false)
    );
}

#[test]
fn a_sandboxed_agent_gets_its_sigterm_and_grace() {
    if !have_bwrap() {
        return;
    }
    let env = TestEnv::new();
    // Saves its work when told to stop; a SIGKILL of the whole sandbox would lose it. It
    // is stopped for silence, counted from its last line, so its trap is set by then.
    let agent = agent_script(
        &env,
        "trap 'echo saved > saved.txt; exit 0' TERM\necho started\nsleep 100 &\nwait\n",
    );
    configure(
        &env,
        &agent,
        "sandbox: bwrap\ninactivity_timeout: 2s\n",
        "graceful",
    );

    let out = env.conflux(&["start", "--no-progress"]);

    assert_eq!(out.code, 1, "{out}");
    let log = env.log("graceful");
    assert!(log.contains("printed nothing for 2s"), "{log}");
    assert_eq!(
        std::fs::read_to_string(env.worktree("graceful").join("saved.txt")).ok(),
        Some("saved\n".to_owned()),
        "the agent's SIGTERM handler did not run:\n{log}"
    );
}
