//! The manners of git, cargo and ripgrep: output cut to the terminal's width, a versioned JSON
//! event stream, the prompt an agent received kept and shown, a true `status`, results on
//! stdout and progress on stderr, and a pager for `logs` on a terminal.

use std::process::Command;

use crate::support::{Output, TestEnv};

/// `git-conflux args` on a pseudo-terminal of `cols` columns (through `script`), with the
/// terminal's own width (no COLUMNS); returns everything the terminal received.
fn on_terminal(env: &TestEnv, cols: u16, args: &str, extra_env: &[(&str, &str)]) -> Output {
    let bin = env!("CARGO_BIN_EXE_git-conflux");
    let mut cmd = Command::new("script");
    env.hermetic(&mut cmd);
    cmd.env_remove("COLUMNS")
        .env("TERM", "xterm")
        .envs(extra_env.iter().copied())
        .current_dir(&env.root)
        .args([
            "-qefc",
            &format!("stty cols {cols} rows 40; exec '{bin}' {args}"),
            "/dev/null",
        ]);
    env.run(cmd)
}

/// Every line the terminal shows that is wider than `cols` display columns: split at
/// newlines and carriage returns, escape codes removed, and before each spinner or result
/// mark (the progress bars pad each row to the width and let the terminal move on, so a row
/// too wide shows as a run of text longer than the width).
fn too_wide(text: &str, cols: usize) -> Vec<String> {
    let starts_row = |c: char| ('\u{2800}'..='\u{28ff}').contains(&c) || "✓✗■".contains(c);
    let mut rows = Vec::new();
    for line in text.split(['\n', '\r']) {
        // The bell a failed change rings moves nothing.
        let line = console::strip_ansi_codes(line).replace('\u{7}', "");
        let mut row = String::new();
        for c in line.chars() {
            if starts_row(c) && !row.is_empty() {
                rows.push(std::mem::take(&mut row));
            }
            row.push(c);
        }
        rows.push(row);
    }
    rows.into_iter()
        .filter(|row| console::measure_text_width(row) > cols)
        .collect()
}

/// Two changes with long ids and a dependency, one done and one failed with a long reason.
fn two_changes_run(env: &TestEnv) {
    env.use_demo_agent("jobs: 1\nenv: {DEMO_TICK: all}\n");
    env.add_change(
        "add-a-rather-long-change-name",
        &["one", "two"],
        &[],
        "conflux: {env: {DEMO_PAUSE: \"0.3\"}}",
    );
    env.add_change(
        "b-fails-with-a-long-reason",
        &["one"],
        &["add-a-rather-long-change-name"],
        "conflux: {env: {DEMO_MODE: crash}}",
    );
    env.commit_all("changes");
}

#[test]
fn status_and_start_fit_a_60_column_terminal() {
    let env = TestEnv::new();
    two_changes_run(&env);
    let start = on_terminal(&env, 60, "start", &[]);
    assert_eq!(start.code, 1, "{start}");
    assert!(start.stdout.contains("RESULT"), "{start}");
    assert_eq!(too_wide(&start.stdout, 60), Vec::<String>::new(), "{start}");
    let status = on_terminal(&env, 60, "status", &[]);
    assert_eq!(status.code, 0, "{status}");
    assert_eq!(
        too_wide(&status.stdout, 60),
        Vec::<String>::new(),
        "{status}"
    );
    insta::with_settings!({filters => crate::support::redactions()}, {
        insta::assert_snapshot!(status.stdout.replace('\r', ""), @"
        ID                             TASKS         STATE
        add-a-rather-long-change-name  ████████ 2/2  done
        b-fails-with-a-long-reason     ░░░░░░░░ 0/1  failed

        b-fails-with-a-long-reason: the agent failed: agent exited …
        ");
    });
}

#[test]
fn a_long_reason_is_cut_at_120_columns_and_kept_whole_in_json() {
    let env = TestEnv::new();
    env.write(
        ".conflux.yaml",
        "agent: {command: \"sh -c 'cat >/dev/null; echo this agent fails with a message long enough to need cutting at one hundred and twenty columns >&2; exit 3'\", prompt: stdin}\nretry: {delay: 0s}\n",
    );
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    let status = env.conflux(&["status"]);
    for text in [&out.stdout, &status.stdout] {
        assert_eq!(too_wide(text, 120), Vec::<String>::new(), "{out}\n{status}");
        assert!(text.contains('…'), "{out}\n{status}");
    }
    let json = env.conflux(&["status", "--json"]);
    assert!(
        json.stdout.contains("one hundred and twenty columns"),
        "{json}"
    );
}

#[test]
fn results_go_to_stdout_and_progress_to_stderr() {
    let env = TestEnv::new();
    env.one_change("a", "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("ID  RESULT"),
        "summary on stdout: {out}"
    );
    assert!(out.stdout.contains("Next: "), "{out}");
    assert!(
        out.stderr.contains("a  agent started"),
        "progress on stderr: {out}"
    );
    assert!(!out.stderr.contains("ID  RESULT"), "{out}");
    // A file of results starts with them, not with the blank line that parts them from the
    // progress on a terminal.
    assert!(out.stdout.starts_with("ID  RESULT"), "{out:?}");
    assert!(!out.to_string().contains("Finished in"), "said once: {out}");
}

#[test]
fn the_prompt_of_every_iteration_is_kept_and_shown() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    env.add_change("a", &["one", "two"], &[], "");
    env.commit_all("change");
    let dry = env.conflux(&["start", "--dry-run", "a"]);
    assert_eq!(dry.code, 0, "{dry}");
    assert!(!dry.stdout.contains("Prompts are written to"), "{dry}");
    assert!(dry.stdout.contains("This is iteration 1."), "{dry}");
    assert!(dry.stdout.contains("- [ ] one (line 2)"), "{dry}");
    assert!(dry.stdout.contains("demo-agent.sh"), "{dry}");
    let run = env.conflux(&["start"]);
    assert_eq!(run.code, 0, "{run}");
    let received = std::fs::read_to_string(env.path().join("demo-agent-a.prompt")).unwrap();
    let second = env.conflux(&["logs", "a", "--prompt", "2"]);
    assert_eq!(second.code, 0, "{second}");
    assert_eq!(second.stdout, received, "the prompt the agent read last");
    let first = env.conflux(&["logs", "a", "--prompt", "1"]);
    assert!(first.stdout.contains("This is iteration 1."), "{first}");
    assert!(first.stdout.contains("- [ ] one (line 2)"), "{first}");
    let latest = env.conflux(&["logs", "a", "--prompt"]);
    assert_eq!(latest.stdout, received, "{latest}");
    let missing = env.conflux(&["logs", "a", "--prompt", "9"]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(missing.stderr.contains("iteration 9"), "{missing}");
}

#[test]
fn status_is_true_after_merge_and_clean_and_its_paths_paste() {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    env.add_change("a", &["one"], &[], "");
    env.add_change("b", &["one"], &[], "");
    env.commit_all("changes");
    assert_eq!(env.conflux(&["start"]).code, 0);
    // From a subdirectory, the WORKTREE column leads to the worktree.
    std::fs::create_dir_all(env.root.join("sub/dir")).unwrap();
    let mut cmd = env.conflux_cmd(&["status", "b"]);
    cmd.current_dir(env.root.join("sub/dir"));
    let out = env.run(cmd);
    let row = out.stdout.lines().nth(1).expect("a row");
    let worktree = row.split_whitespace().last().unwrap();
    let pasted = env
        .root
        .join("sub/dir")
        .join(worktree.replace("$TEST", &env.path().display().to_string()));
    assert!(
        pasted.join("openspec/changes/b/tasks.md").is_file(),
        "{worktree}: {out}"
    );
    assert_eq!(env.conflux(&["merge", "a"]).code, 0);
    assert!(
        env.try_git(&["rev-parse", "--verify", "conflux/a"])
            .is_none()
    );
    let out = env.conflux(&["status", "a"]);
    assert!(
        !out.stdout.contains("conflux/a"),
        "a deleted branch is not shown: {out}"
    );
    assert_eq!(env.conflux(&["clean"]).code, 0);
    let out = env.conflux(&["status", "--json", "a"]);
    assert!(out.stdout.contains("\"state\": \"merged\""), "{out}");
    let out = env.conflux(&["status", "a"]);
    assert!(out.stdout.contains("merged"), "{out}");
    // A damaged state file is a warning: the table is shown and the exit is 0.
    env.write(".git/conflux/state/zz.json", "{not json");
    let out = env.conflux(&["status"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("zz.json"), "{out}");
}

#[test]
fn logs_use_a_pager_on_a_terminal_only() {
    let env = TestEnv::new();
    env.one_change("a", "");
    env.commit_all("change");
    assert_eq!(env.conflux(&["start"]).code, 0);
    let pager = [("PAGER", "sed s/^/PAGED:/")];
    let paged = on_terminal(&env, 80, "logs a", &pager);
    assert_eq!(paged.code, 0, "{paged}");
    assert!(paged.stdout.contains("PAGED:"), "{paged}");
    let asked_not = on_terminal(&env, 80, "logs --no-pager a", &pager);
    assert!(!asked_not.stdout.contains("PAGED:"), "{asked_not}");
    assert!(asked_not.stdout.contains("agent started"), "{asked_not}");
    let mut piped = env.conflux_cmd(&["logs", "a"]);
    piped.env("PAGER", "sed s/^/PAGED:/");
    let piped = env.run(piped);
    assert!(!piped.stdout.contains("PAGED:"), "{piped}");
    assert!(piped.stdout.contains("agent started"), "{piped}");
}
