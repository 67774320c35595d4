//! Git's repository-local variables (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`, …), as
//! `git --git-dir=… conflux`, a git hook, an IDE or a CI runner export them: they choose the
//! repository, like git, and reach no child process.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::TestEnv;

/// The real `git`, hermetic, with the built `git-conflux` first on PATH (so `git conflux`
/// runs it).
fn git_cmd(env: &TestEnv) -> Command {
    let mut cmd = Command::new("git");
    env.hermetic(&mut cmd);
    let bin = Path::new(env!("CARGO_BIN_EXE_git-conflux"))
        .parent()
        .unwrap();
    let mut path = std::ffi::OsString::from(bin);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    cmd.env("PATH", path).current_dir(&env.root);
    cmd
}

/// The repository-local lines of an `env` dump written by a child: the variables
/// `git rev-parse --local-env-vars` lists, and `GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`.
fn local_vars_seen(env: &TestEnv, dump: &Path) -> Vec<String> {
    let local = env.git(&["rev-parse", "--local-env-vars"]);
    let text = std::fs::read_to_string(dump)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", dump.display()));
    assert!(text.contains("CONFLUX_"), "not a child's env dump: {text}");
    text.lines()
        .filter(|l| {
            let name = l.split('=').next().unwrap_or_default();
            local.lines().any(|v| name == v)
                || name.starts_with("GIT_CONFIG_KEY_")
                || name.starts_with("GIT_CONFIG_VALUE_")
        })
        .map(str::to_owned)
        .collect()
}

/// A repository whose agent wipes its checkout (`git checkout -- . ; git clean -fd`) and
/// ticks the task; it, verify and the hooks each dump their environment.
fn destructive_setup(env: &TestEnv) -> PathBuf {
    let dumps = env.path().join("dumps");
    std::fs::create_dir_all(&dumps).unwrap();
    let agent = env.path().join("wipe-agent.sh");
    std::fs::write(
        &agent,
        format!(
            "cat >/dev/null\nenv > {d}/agent.env\ngit checkout -- . ; git clean -fdq\n\
             sed -i 's/- \\[ \\]/- [x]/' openspec/changes/$CONFLUX_CHANGE_ID/tasks.md\n",
            d = dumps.display()
        ),
    )
    .unwrap();
    let d = dumps.display();
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", prompt: stdin}}\nstagger: 0s\nkill_grace: 2s\n\
             verify: \"env > {d}/verify.env\"\n\
             hooks: {{on_change_start: \"env > {d}/hook.env\", on_merged: \"env > {d}/merged.env\"}}\n",
            agent.display()
        ),
    );
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    dumps
}

#[test]
fn git_dir_from_git_reaches_no_child_and_the_checkout_survives() {
    let env = TestEnv::new();
    let dumps = destructive_setup(&env);
    env.write("README.md", "# test repository\nunsaved edit\n");
    env.write("untracked.txt", "not yet added\n");
    let root = env.root.display().to_string();
    let out = env.run({
        let mut cmd = git_cmd(&env);
        cmd.args([
            &format!("--git-dir={root}/.git"),
            &format!("--work-tree={root}"),
            "conflux",
            "start",
            "--merge",
        ])
        .env("GIT_INDEX_FILE", env.root.join(".git/index"))
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "conflux.probe")
        .env("GIT_CONFIG_VALUE_0", "1");
        cmd
    });
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.read("README.md"), "# test repository\nunsaved edit\n");
    assert_eq!(env.read("untracked.txt"), "not yet added\n");
    for child in ["agent", "verify", "hook", "merged"] {
        let seen = local_vars_seen(&env, &dumps.join(format!("{child}.env")));
        assert!(seen.is_empty(), "{child} saw {seen:?}");
    }
    // The change's branch holds the agent's work, not the user's checkout.
    assert_eq!(
        env.git(&["show", "main:README.md"]),
        "# test repository\n",
        "the user's unsaved edit was committed"
    );
    assert!(
        !env.git(&["ls-tree", "-r", "--name-only", "main"])
            .contains("untracked.txt")
    );
    assert!(
        env.git(&["show", "main:openspec/changes/a/tasks.md"])
            .contains("- [x] one")
    );
}

#[test]
fn exported_git_dir_picks_the_repository_for_every_command() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    // The working directory is another repository, with a change of its own.
    let other = env.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    env.git_in(&other, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(other.join("openspec/changes/b")).unwrap();
    std::fs::write(other.join("openspec/changes/b/proposal.md"), "# b\n").unwrap();
    std::fs::write(other.join("openspec/changes/b/tasks.md"), "- [ ] x\n").unwrap();
    env.git_in(&other, &["add", "-A"]);
    env.git_in(&other, &["commit", "-qm", "b"]);
    let in_other = |args: &[&str]| {
        let mut cmd = env.conflux_cmd(args);
        cmd.current_dir(&other)
            .env("GIT_DIR", env.root.join(".git"))
            .env("GIT_WORK_TREE", &env.root);
        env.run(cmd)
    };
    let status = in_other(&["status", "--json"]);
    assert_eq!(status.code, 0, "{status}");
    assert!(status.stdout.contains("\"a\""), "{status}");
    assert!(!status.stdout.contains("\"b\""), "{status}");
    let start = in_other(&["start", "--no-progress"]);
    assert_eq!(start.code, 0, "{start}");
    assert_eq!(env.state("a")["phase"], "done", "{start}");
    assert!(!other.join(".git/conflux").exists(), "{start}");

    // A work tree that is not the repository's is refused, not guessed at.
    let mut cmd = env.conflux_cmd(&["status"]);
    cmd.env("GIT_WORK_TREE", &other);
    let out = env.run(cmd);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("GIT_WORK_TREE"), "{out}");
}
