//! The review stage: a second agent's verdict decides whether a change is done.

use crate::support::TestEnv;

/// A reviewer that answers, run after run, with the given outputs (the last one repeats),
/// and optionally runs a shell snippet in the worktree first.
fn reviewer(env: &TestEnv, answers: &[&str], snippet: &str) -> String {
    let dir = env.path().join("reviewer");
    std::fs::create_dir_all(&dir).unwrap();
    for (i, answer) in answers.iter().enumerate() {
        std::fs::write(dir.join(format!("{}.txt", i + 1)), answer).unwrap();
    }
    let script = format!(
        "cat > {dir}/prompt.txt\nn=$(( $(cat {dir}/runs 2>/dev/null || echo 0) + 1 ))\necho $n > {dir}/runs\n{snippet}\nf={dir}/$n.txt\n[ -f $f ] || f={dir}/{last}.txt\ncat $f\n",
        dir = dir.display(),
        last = answers.len()
    );
    std::fs::write(dir.join("review.sh"), script).unwrap();
    format!(
        "review: {{agent: {{command: \"sh {}\", prompt: stdin}}, max_rounds: 2}}\n",
        dir.join("review.sh").display()
    )
}

fn setup(env: &TestEnv, review: &str) {
    env.use_demo_agent(&format!("env: {{DEMO_TICK: all}}\n{review}"));
    env.add_change("a", &["one", "two"], &[], "");
    env.commit_all("change");
}

fn runs(env: &TestEnv) -> u32 {
    std::fs::read_to_string(env.path().join("reviewer/runs"))
        .map_or(0, |s| s.trim().parse().unwrap())
}

#[test]
fn pass_on_the_first_round() {
    let env = TestEnv::new();
    let r = reviewer(
        &env,
        &["Looks right.\n{\"verdict\": \"pass\", \"findings\": []}\n"],
        "",
    );
    let hook = format!(
        "hooks: {{on_review: \"echo $CONFLUX_STATE >> {}\"}}\n",
        env.path().join("verdicts").display()
    );
    setup(&env, &format!("{r}{hook}"));
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(env.state("a")["review"]["verdict"], "pass");
    assert_eq!(env.state("a")["review"]["rounds"], 1);
    assert_eq!(runs(&env), 1);
    let prompt = std::fs::read_to_string(env.path().join("reviewer/prompt.txt")).unwrap();
    assert!(
        prompt.contains("git diff") && prompt.contains("openspec/changes/a/proposal.md"),
        "{prompt}"
    );
    let status = env.conflux(&["status", "--json"]);
    assert!(status.stdout.contains("\"verdict\": \"pass\""), "{status}");
    assert_eq!(
        std::fs::read_to_string(env.path().join("verdicts")).unwrap(),
        "pass\n"
    );
}

#[test]
fn findings_go_to_the_coder_then_pass() {
    let env = TestEnv::new();
    let r = reviewer(
        &env,
        &[
            "**VERDICT: FAIL**\n- the login form lacks a label\n",
            "VERDICT: PASS\n",
        ],
        "",
    );
    setup(&env, &r);
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(runs(&env), 2);
    let coder_prompt = std::fs::read_to_string(env.path().join("demo-agent-a.prompt")).unwrap();
    assert!(
        coder_prompt.contains("the login form lacks a label"),
        "{coder_prompt}"
    );
    assert!(
        env.log("a")
            .contains("review round 1: fail: the login form lacks a label"),
        "{}",
        env.log("a")
    );
    assert_eq!(env.state("a")["review"]["rounds"], 2);
}

#[test]
fn failing_every_round_ends_failed_with_the_findings() {
    let env = TestEnv::new();
    let r = reviewer(
        &env,
        &["{\"verdict\": \"fail\", \"findings\": [\"still broken\"]}\n"],
        "",
    );
    setup(&env, &r);
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let st = env.state("a");
    assert_eq!(st["phase"], "failed");
    assert!(
        st["reason"].as_str().unwrap().contains("still broken"),
        "{st}"
    );
    assert_eq!(runs(&env), 2, "max_rounds is 2");
    let status = env.conflux(&["status", "-v"]);
    assert!(status.stdout.contains("still broken"), "{status}");
}

#[test]
fn blocked_stops_without_further_rounds() {
    let env = TestEnv::new();
    let r = reviewer(
        &env,
        &["{\"verdict\": \"blocked\", \"findings\": [\"which payment provider?\"]}\n"],
        "",
    );
    setup(&env, &r);
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let st = env.state("a");
    assert_eq!(st["phase"], "blocked");
    assert!(
        st["reason"]
            .as_str()
            .unwrap()
            .contains("which payment provider?"),
        "{st}"
    );
    assert_eq!(runs(&env), 1);
    // It waits for a person: a plain `start` leaves it alone, naming it runs it again.
    let again = env.conflux(&["start"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.stderr.contains("a is blocked") && again.stderr.contains("git conflux start a"),
        "{again}"
    );
    assert_eq!(runs(&env), 1);
    let named = env.conflux(&["start", "a"]);
    assert_eq!(named.code, 1, "{named}");
    assert_eq!(runs(&env), 2);
}

#[test]
fn no_verdict_is_asked_once_more_then_fails() {
    let env = TestEnv::new();
    let r = reviewer(&env, &["I think it is fine, mostly.\n"], "");
    setup(&env, &r);
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let st = env.state("a");
    assert_eq!(st["reason"], "review gave no verdict");
    assert_eq!(runs(&env), 2);
}

#[test]
fn a_reviewer_that_edits_files_is_undone_and_its_edit_kept_aside() {
    let env = TestEnv::new();
    let r = reviewer(
        &env,
        &["{\"verdict\": \"pass\"}\n"],
        "echo 'reviewer was here' > REVIEWER.txt; echo x >> README.md",
    );
    setup(&env, &r);
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 0, "{out}");
    let wt = env.worktree("a");
    assert!(
        !wt.join("REVIEWER.txt").exists(),
        "the reviewer's file is still in the worktree"
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("README.md")).unwrap(),
        "# test repository\n"
    );
    assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    assert!(
        env.git(&["show", "refs/conflux/review/a/1:REVIEWER.txt"])
            .contains("reviewer was here")
    );
    assert!(
        !env.git(&["ls-tree", "-r", "--name-only", "conflux/a"])
            .contains("REVIEWER.txt")
    );
    assert!(
        env.log("a").contains("refs/conflux/review/a/1"),
        "{}",
        env.log("a")
    );
    env.git(&["fsck", "--strict"]);
}
