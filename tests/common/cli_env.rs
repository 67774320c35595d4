//! A hermetic environment for driving the real `git-conflux` binary against real git
//! repositories (jj's TestEnvironment): a temp root, a fixed HOME and git config, and the
//! bundled demo agent as the agent.

#[path = "hermetic.rs"]
mod hermetic;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A command running in the background, its output read as it comes.
pub struct Background {
    what: String,
    child: std::process::Child,
    stdout: std::sync::mpsc::Receiver<Vec<u8>>,
    stderr: std::sync::mpsc::Receiver<Vec<u8>>,
}

/// The longest any command of a test may run before it is killed and the test fails.
pub const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

pub struct TestEnv {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub home: PathBuf,
}

/// What a command printed and how it exited, with temp paths replaced by `$TEST`.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.stdout)?;
        if !self.stderr.is_empty() {
            write!(f, "------- stderr -------\n{}", self.stderr)?;
        }
        write!(f, "[exit status: {}]", self.code)
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

pub fn demo_agent() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo-agent.sh")
}

impl TestEnv {
    /// A repository on branch `main` with one commit.
    pub fn new() -> TestEnv {
        let tmp = tempfile::Builder::new()
            .prefix("conflux-test-")
            .tempdir()
            .expect("tempdir");
        let root = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(home.join(".config")).unwrap();
        // gc.auto = 0: a test that commits thousands of files would start git's background
        // `gc --auto`, whose pruning of loose objects raced a later `git fsck` (objects
        // missing in .git/objects/f1..f3) and which outlives the test.
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Test User\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n[gc]\n\tauto = 0\n",
        )
        .unwrap();
        let env = TestEnv { tmp, root, home };
        env.git(&["init", "-q", "-b", "main"]);
        env.write("README.md", "# test repository\n");
        env.commit_all("initial");
        env
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn hermetic(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        hermetic::git_env(cmd, &self.home, &self.home.join(".gitconfig"));
        cmd.env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("TMPDIR", self.tmp.path())
            .env("DEMO_STATE", self.tmp.path())
            .env("LANG", "C.UTF-8")
            .env("NO_COLOR", "1")
            .env("COLUMNS", "120");
    }

    /// Runs the real git in `dir`; panics with its stderr when it fails.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        self.hermetic(&mut cmd);
        let out = cmd.current_dir(dir).args(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the real git; None when it fails.
    pub fn try_git(&self, args: &[&str]) -> Option<String> {
        let mut cmd = Command::new("git");
        self.hermetic(&mut cmd);
        let out = cmd.current_dir(&self.root).args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.root, args)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn commit_all(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    /// An OpenSpec change with these tasks and dependencies (front matter), plus extra
    /// front-matter lines such as `conflux: {env: {DEMO_TICK: all}}`.
    pub fn add_change(&self, id: &str, tasks: &[&str], deps: &[&str], front_matter: &str) {
        let mut proposal = String::new();
        if !deps.is_empty() || !front_matter.is_empty() {
            proposal.push_str("---\n");
            if !deps.is_empty() {
                proposal.push_str(&format!("dependencies: [{}]\n", deps.join(", ")));
            }
            proposal.push_str(front_matter);
            if !front_matter.is_empty() && !front_matter.ends_with('\n') {
                proposal.push('\n');
            }
            proposal.push_str("---\n");
        }
        proposal.push_str(&format!("# Change: {id}\n\n## Why\nBecause.\n"));
        self.write(&format!("openspec/changes/{id}/proposal.md"), &proposal);
        let tasks: String = tasks.iter().map(|t| format!("- [ ] {t}\n")).collect();
        self.write(
            &format!("openspec/changes/{id}/tasks.md"),
            &format!("## 1. Work\n{tasks}"),
        );
    }

    /// The demo agent (with extra YAML lines) and one change `id` whose agent ticks all its
    /// tasks in one run; not committed.
    pub fn one_change(&self, id: &str, extra_config: &str) {
        self.use_demo_agent(extra_config);
        self.add_change(id, &["one"], &[], "conflux: {env: {DEMO_TICK: all}}");
    }

    /// `.conflux.yaml` using the bundled demo agent, with extra YAML lines (which override
    /// the test defaults of the same key).
    pub fn use_demo_agent(&self, extra: &str) {
        let agent = demo_agent();
        let mut text = format!(
            "agent: {{command: \"sh {}\", prompt: stdin}}\n",
            agent.display()
        );
        for default in ["stagger: 0s", "kill_grace: 2s", "retry: {delay: 0s}"] {
            let key = default.split(':').next().unwrap();
            if !extra.lines().any(|l| l.starts_with(&format!("{key}:"))) {
                text.push_str(default);
                text.push('\n');
            }
        }
        text.push_str(extra);
        self.write(".conflux.yaml", &text);
    }

    pub fn conflux_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_git-conflux"));
        self.hermetic(&mut cmd);
        cmd.current_dir(&self.root).args(args);
        cmd
    }

    /// `git-conflux` with `args`, run in `$TEST/elsewhere`: a folder in no repository (git's
    /// search stops at the temp dir, so a repository around it does not count).
    pub fn outside_a_repository(&self, args: &[&str]) -> Command {
        let outside = self.path().join("elsewhere");
        std::fs::create_dir_all(&outside).unwrap();
        let mut cmd = self.conflux_cmd(args);
        cmd.current_dir(&outside)
            .env("GIT_CEILING_DIRECTORIES", self.path());
        cmd
    }

    /// Runs `git-conflux` with `args` in the repository.
    #[must_use]
    pub fn conflux(&self, args: &[&str]) -> Output {
        self.run(self.conflux_cmd(args))
    }

    /// Runs `git-conflux` with `args`, killing it (and failing the test) if it has not
    /// ended after `limit`: for commands that would hang on the unfixed code.
    #[must_use]
    pub fn conflux_bounded(&self, args: &[&str], limit: std::time::Duration) -> Output {
        self.run_within(self.conflux_cmd(args), limit)
    }

    /// Runs `cmd` to its end, within [`RUN_LIMIT`].
    pub fn run(&self, cmd: Command) -> Output {
        self.run_within(cmd, RUN_LIMIT)
    }

    /// Runs `cmd` (standard input closed) and collects its output; a run past `limit` is
    /// killed and fails the test, so that no hang can stall the suite.
    pub fn run_within(&self, cmd: Command, limit: std::time::Duration) -> Output {
        self.finish_within(self.background(cmd), limit)
    }

    /// Starts `cmd` (standard input closed) and reads its output while it runs; end it with
    /// [`TestEnv::finish`].
    pub fn background(&self, mut cmd: Command) -> Background {
        use std::io::Read;
        use std::process::Stdio;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run the command");
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                let _ = tx.send(bytes);
            });
            rx
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        Background {
            what: format!("{cmd:?}"),
            child,
            stdout,
            stderr,
        }
    }

    /// Waits for a command started with [`TestEnv::background`], within [`RUN_LIMIT`].
    pub fn finish(&self, running: Background) -> Output {
        self.finish_within(running, RUN_LIMIT)
    }

    fn finish_within(&self, mut running: Background, limit: std::time::Duration) -> Output {
        let what = &running.what;
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = running.child.try_wait().expect("wait") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = running.child.kill();
                let _ = running.child.wait();
                panic!("{what} did not end within {limit:?}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        // Its output ends with it, unless something it left behind still holds the pipes.
        let collect = |rx: &std::sync::mpsc::Receiver<Vec<u8>>| {
            rx.recv_timeout(std::time::Duration::from_secs(30))
                .unwrap_or_else(|_| {
                    panic!("{what} ended, but a process it left holds its output open")
                })
        };
        self.output(std::process::Output {
            status,
            stdout: collect(&running.stdout),
            stderr: collect(&running.stderr),
        })
    }

    fn output(&self, out: std::process::Output) -> Output {
        let norm = |b: &[u8]| {
            let text = String::from_utf8_lossy(b).into_owned();
            text.replace(&self.path().display().to_string(), "$TEST")
        };
        Output {
            stdout: norm(&out.stdout),
            stderr: norm(&out.stderr),
            code: out.status.code().unwrap_or(-1),
        }
    }
}

impl TestEnv {
    /// The recorded state of a change, as JSON.
    pub fn state(&self, id: &str) -> serde_json::Value {
        let path = self.root.join(format!(".git/conflux/state/{id}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    pub fn try_state(&self, id: &str) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.root.join(format!(".git/conflux/state/{id}.json")))
            .ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn log(&self, id: &str) -> String {
        std::fs::read_to_string(self.root.join(format!(".git/conflux/logs/{id}.log")))
            .unwrap_or_default()
    }

    /// Where a change's worktree goes by default.
    pub fn worktree(&self, id: &str) -> PathBuf {
        self.path().join("repo.conflux").join(id)
    }

    /// `git worktree list --porcelain`, `git for-each-ref`: what a no-op must leave alone.
    pub fn refs_and_worktrees(&self) -> String {
        self.git(&["for-each-ref"]) + &self.git(&["worktree", "list", "--porcelain"])
    }
}

/// Polls `cond` every 20 ms until it holds; panics naming `what` after `limit`.
/// A bounded wait for something asynchronous, never a timing assertion.
pub fn wait_for(what: &str, limit: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends SIGINT to `child` and waits up to 20 s for it to end: its exit code (`None`: ended
/// by a signal), or an error when it did not end (it is killed then).
pub fn interrupt_and_wait(child: &mut std::process::Child) -> Result<Option<i32>, String> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Ok(status.code());
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("it did not end within 20 s of Ctrl-C".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether any live process (not a zombie) is in group `pgid`. Zombies are dead: in a
/// container whose pid 1 never reaps, orphans stay zombies forever, and `killpg(pgid, 0)`
/// still finds them.
pub fn group_alive(pgid: i32) -> bool {
    if nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), None).is_err() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.filter_map(|e| e.ok()).any(|e| {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return false;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

/// The parts of user-facing text that change from run to run or machine to machine (clock
/// times, durations, commit hashes, pids, this checkout's path), as insta regex filters
/// replacing each by a fixed word, so that a snapshot pins the wording and nothing else.
pub fn redactions() -> Vec<(&'static str, &'static str)> {
    static CRATE_DIR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let crate_dir = CRATE_DIR.get_or_init(|| {
        let dir = env!("CARGO_MANIFEST_DIR");
        dir.chars()
            .flat_map(|c| {
                (!c.is_alphanumeric())
                    .then_some('\\')
                    .into_iter()
                    .chain([c])
            })
            .collect()
    });
    let duration = r"(?:\d+h )?(?:\d+m )?\d+s\b";
    static TABLE: std::sync::OnceLock<[String; 2]> = std::sync::OnceLock::new();
    let [finished, table_time] = TABLE.get_or_init(|| {
        [
            format!("([Ff]inished in ){duration}"),
            // The TIME column of the summary table, after ID, RESULT and ITERATIONS.
            format!("(?m)^(\\S+ +\\S+ +\\d+ +){duration}"),
        ]
    });
    vec![
        (crate_dir.as_str(), "$$CRATE"),
        (r"\b\d\d:\d\d:\d\d\b", "[TIME]"),
        (finished.as_str(), "${1}[DURATION]"),
        (table_time.as_str(), "${1}[DURATION]"),
        (r"\b[0-9a-f]{7,40}\b", "[HASH]"),
        (r"\bpid \d+", "pid [PID]"),
    ]
}
