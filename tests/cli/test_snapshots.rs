//! The user-facing text pinned word for word: the status table and JSON, the dry-run plan,
//! the summary `start` ends with, and every error a user commonly meets. Clock times,
//! durations, hashes and pids are redacted by `support::redactions`.

use insta::assert_snapshot;

use crate::support::{TestEnv, interrupt_and_wait, redactions};
use crate::test_resolve::conflicting;
use crate::test_start::start_hanging;

/// Asserts `$out` against the inline snapshot, with the run-to-run parts redacted.
macro_rules! snap {
    ($out:expr, @$snapshot:literal) => {
        insta::with_settings!({filters => redactions()}, {
            assert_snapshot!($out, @$snapshot);
        })
    };
}

/// A reviewer that blocks change `c-blocked` and passes every other.
fn review_config(env: &TestEnv) -> String {
    let script = env.path().join("review.sh");
    std::fs::write(
        &script,
        "cat >/dev/null\ncase $CONFLUX_CHANGE_ID in\n  c-blocked) echo '{\"verdict\": \"blocked\", \"findings\": [\"which payment provider?\"]}' ;;\n  *) echo '{\"verdict\": \"pass\", \"findings\": []}' ;;\nesac\n",
    )
    .unwrap();
    format!(
        "review: {{agent: {{command: \"sh {}\", prompt: stdin}}, max_rounds: 1}}\n",
        script.display()
    )
}

/// Changes in every state a user meets: done, failed with a reason, blocked by the
/// reviewer, pending, merged, and in conflict (its two dependencies' branches conflict);
/// with what the `start` that made them printed on stdout (its summary).
fn many_states() -> (TestEnv, String) {
    let env = TestEnv::new();
    let review = review_config(&env);
    env.use_demo_agent(&format!("env: {{DEMO_TICK: all}}\n{review}"));
    env.add_change("a-done", &["one"], &[], "");
    env.add_change(
        "b-failed",
        &["one"],
        &[],
        "conflux: {env: {DEMO_MODE: crash}}",
    );
    env.add_change("c-blocked", &["one"], &[], "");
    env.add_change("d-pending", &["one", "two"], &["a-done"], "");
    let shared = "conflux: {env: {DEMO_FILE: shared.txt}}";
    env.add_change("x-merged", &["one"], &[], shared);
    env.add_change("y-shared", &["one"], &[], shared);
    env.add_change("z-conflict", &["one"], &["x-merged", "y-shared"], "");
    env.commit_all("changes");
    let ids = [
        "a-done",
        "b-failed",
        "c-blocked",
        "x-merged",
        "y-shared",
        "z-conflict",
    ];
    let out = env.conflux(&[&["start"], &ids[..]].concat());
    assert_eq!(env.state("z-conflict")["phase"], "conflict", "{out}");
    assert_eq!(env.conflux(&["merge", "x-merged"]).code, 0);
    // The summary is the run's result: all of stdout.
    let summary = format!("{}[exit status: {}]\n", out.stdout.trim_start(), out.code);
    (env, summary)
}

#[test]
fn status_table_and_json() {
    let (env, summary) = many_states();
    snap!(summary, @"
        ID          RESULT    ITERATIONS  TIME  COST  TOKENS  BRANCH              REASON
        a-done      done      1           [DURATION]    -     -       conflux/a-done
        b-failed    failed    1           [DURATION]    -     -       conflux/b-failed    the agent failed: agent exited with code 3: s…
        c-blocked   blocked   1           [DURATION]    -     -       conflux/c-blocked   the reviewer says: which payment provider?
        x-merged    done      1           [DURATION]    -     -       conflux/x-merged
        y-shared    done      1           [DURATION]    -     -       conflux/y-shared
        z-conflict  conflict  0           [DURATION]    -     -       conflux/z-conflict  its dependencies' branches conflict in shared…
        Next: review with `git log conflux/a-done`, then `git conflux merge --all`.
        Failed: b-failed. See why with `git conflux logs b-failed`; `git conflux start` runs it again.
        Conflicting with the base: z-conflict. Resolve with `git conflux merge --resolve z-conflict`.
        Blocked by the reviewer: c-blocked. Read `git conflux logs c-blocked`, decide, then `git conflux start c-blocked`.
        [exit status: 1]
        ");
    snap!(env.conflux(&["status"]), @"
        ID          TASKS         STATE                  DEPENDS ON    COST  TOKENS  BRANCH            WORKTREE
        a-done      ████████ 1/1  done (review: pass)    -             -     -       conflux/a-done    ../repo.conflux/a-done
        b-failed    ░░░░░░░░ 0/1  failed                 -             -     -       conflux/b-failed  ../repo.conflux/b-failed
        c-blocked   ████████ 1/1  blocked                -             -     -       conflux/c-block…  ../repo.conflux/c-blocked
        d-pending   ░░░░░░░░ 0/2  pending                a-done        -     -       -                 -
        x-merged    ████████ 1/1  merged (review: pass)  -             -     -       -                 -
        y-shared    ████████ 1/1  done (review: pass)    -             -     -       conflux/y-shared  ../repo.conflux/y-shared
        z-conflict  ░░░░░░░░ 0/1  conflict               x-merged,y-…  -     -       conflux/z-confl…  -

        b-failed: the agent failed: agent exited with code 3: something went wrong
        c-blocked: the reviewer says: which payment provider?
        z-conflict: its dependencies' branches conflict in shared.txt; merge them first (`git conflux merge`), then run start a…
        [exit status: 0]
        ");
    snap!(env.conflux(&["status", "--json"]), @r#"
        [
          {
            "id": "a-done",
            "source": "openspec",
            "title": "a-done",
            "tasks_done": 1,
            "tasks_total": 1,
            "state": "done",
            "running": false,
            "reason": null,
            "dependencies": [],
            "branch": "conflux/a-done",
            "worktree": "$TEST/repo.conflux/a-done",
            "iteration": 1,
            "retries": 0,
            "cost_usd": null,
            "tokens": {
              "input": 0,
              "output": 0,
              "cache_read": 0,
              "cache_write": 0
            },
            "budget": {
              "usd": null,
              "tokens": null
            },
            "pid": null,
            "pid_alive": false,
            "last_error": null,
            "review": {
              "rounds": 1,
              "verdict": "pass",
              "findings": []
            },
            "messages": [],
            "waiting": null,
            "tasks": []
          },
          {
            "id": "b-failed",
            "source": "openspec",
            "title": "b-failed",
            "tasks_done": 0,
            "tasks_total": 1,
            "state": "failed",
            "running": false,
            "reason": "the agent failed: agent exited with code 3: something went wrong",
            "dependencies": [],
            "branch": "conflux/b-failed",
            "worktree": "$TEST/repo.conflux/b-failed",
            "iteration": 1,
            "retries": 0,
            "cost_usd": null,
            "tokens": {
              "input": 0,
              "output": 0,
              "cache_read": 0,
              "cache_write": 0
            },
            "budget": {
              "usd": null,
              "tokens": null
            },
            "pid": null,
            "pid_alive": false,
            "last_error": "the agent failed: agent exited with code 3: something went wrong",
            "review": null,
            "messages": [],
            "waiting": null,
            "tasks": []
          },
          {
            "id": "c-blocked",
            "source": "openspec",
            "title": "c-blocked",
            "tasks_done": 1,
            "tasks_total": 1,
            "state": "blocked",
            "running": false,
            "reason": "the reviewer says: which payment provider?",
            "dependencies": [],
            "branch": "conflux/c-blocked",
            "worktree": "$TEST/repo.conflux/c-blocked",
            "iteration": 1,
            "retries": 0,
            "cost_usd": null,
            "tokens": {
              "input": 0,
              "output": 0,
              "cache_read": 0,
              "cache_write": 0
            },
            "budget": {
              "usd": null,
              "tokens": null
            },
            "pid": null,
            "pid_alive": false,
            "last_error": "the reviewer says: which payment provider?",
            "review": {
              "rounds": 1,
              "verdict": "blocked",
              "findings": [
                "which payment provider?"
              ]
            },
            "messages": [],
            "waiting": null,
            "tasks": []
          },
          {
            "id": "d-pending",
            "source": "openspec",
            "title": "d-pending",
            "tasks_done": 0,
            "tasks_total": 2,
            "state": "pending",
            "running": false,
            "reason": null,
            "dependencies": [
              "a-done"
            ],
            "branch": null,
            "worktree": null,
            "iteration": 0,
            "retries": 0,
            "cost_usd": null,
            "tokens": {
              "input": 0,
              "output": 0,
              "cache_read": 0,
              "cache_write": 0
            },
            "budget": {
              "usd": null,
              "tokens": null
            },
            "pid": null,
            "pid_alive": false,
            "last_error": null,
            "review": null,
            "messages": [],
            "waiting": null,
            "tasks": []
          },
          {
            "id": "x-merged",
            "source": "openspec",
            "title": "x-merged",
            "tasks_done": 1,
            "tasks_total": 1,
            "state": "merged",
            "running": false,
            "reason": null,
            "dependencies": [],
            "branch": null,
            "worktree": null,
            "iteration": 1,
            "retries": 0,
            "cost_usd": null,
            "tokens": {
              "input": 0,
              "output": 0,
              "cache_read": 0,
              "cache_write": 0
            },
            "budget": {
              "usd": null,
              "tokens": null
            },
            "pid": null,
            "pid_alive": false,
            "last_error": null,
            "review": {
              "rounds": 1,
              "verdict": "pass",
              "findings": []
            },
            "messages": [],
            "waiting": null,
            "tasks": []
          },
          {
            "id": "y-shared",
            "source": "openspec",
            "title": "y-shared",
            "tasks_done": 1,
            "tasks_total": 1,
            "state": "done",
            "running": false,
            "reason": null,
            "dependencies": [],
            "branch": "conflux/y-shared",
            "worktree": "$TEST/repo.conflux/y-shared",
            "iteration": 1,
            "retries": 0,
            "cost_usd": null,
            "tokens": {
              "input": 0,
              "output": 0,
              "cache_read": 0,
              "cache_write": 0
            },
            "budget": {
              "usd": null,
              "tokens": null
            },
            "pid": null,
            "pid_alive": false,
            "last_error": null,
            "review": {
              "rounds": 1,
              "verdict": "pass",
              "findings": []
            },
            "messages": [],
            "waiting": null,
            "tasks": []
          },
          {
            "id": "z-conflict",
            "source": "openspec",
            "title": "z-conflict",
            "tasks_done": 0,
            "tasks_total": 1,
            "state": "conflict",
            "running": false,
            "reason": "its dependencies' branches conflict in shared.txt; merge them first (`git conflux merge`), then run start again",
            "dependencies": [
              "x-merged",
              "y-shared"
            ],
            "branch": "conflux/z-conflict",
            "worktree": null,
            "iteration": 0,
            "retries": 0,
            "cost_usd": null,
            "tokens": {
              "input": 0,
              "output": 0,
              "cache_read": 0,
              "cache_write": 0
            },
            "budget": {
              "usd": null,
              "tokens": null
            },
            "pid": null,
            "pid_alive": false,
            "last_error": "its dependencies' branches conflict in shared.txt; merge them first (`git conflux merge`), then run start again",
            "review": null,
            "messages": [],
            "waiting": null,
            "tasks": []
          }
        ]
        [exit status: 0]
        "#);
}

#[test]
fn dry_run_plan() {
    let env = TestEnv::new();
    env.use_demo_agent("jobs: 2\n");
    env.add_change("a", &["one", "two"], &[], "");
    env.add_change("b", &["one"], &["a"], "");
    env.add_change("c", &["one"], &[], "");
    env.commit_all("changes");
    snap!(env.conflux(&["start", "--dry-run"]), @r#"
        Plan: 3 change(s) from main, 2 at a time
        Agent: sh $CRATE/scripts/demo-agent.sh  (the prompt on its standard input)

        Wave 1:
          ID  TASKS  BRANCH     STARTS FROM  WORKTREE
          a   0/2    conflux/a  main         ../repo.conflux/a
          c   0/1    conflux/c  main         ../repo.conflux/c

        Wave 2:
          ID  TASKS  BRANCH     STARTS FROM       WORKTREE
          b   0/1    conflux/b  main + conflux/a  ../repo.conflux/b

        The prompt of each iteration is kept as .git/conflux/logs/<ID>/prompt-<N>.md (`git conflux logs <ID> --prompt` shows it).
        Nothing was changed (dry run).
        [exit status: 0]
        "#);
}

/// A CLI that refuses (Claude Code's words for a rejected key): one failure with the fix, and
/// the other change of the same agent not started.
#[test]
fn start_summary_after_a_refusal() {
    let env = TestEnv::new();
    env.write(
        "refuse.sh",
        "cat >/dev/null\necho '{\"type\":\"result\",\"is_error\":true,\"result\":\"Invalid API key · Please run /login\"}'\nexit 1\n",
    );
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", format: claude, prompt: stdin}}\njobs: 1\nstagger: 0s\n{NOT_AHEAD}",
            env.root.join("refuse.sh").display()
        ),
    );
    env.add_change("a", &["one"], &[], "");
    env.add_change("b", &["one"], &[], "");
    env.commit_all("changes");
    snap!(env.conflux(&["start"]), @"

        ID  RESULT   ITERATIONS  TIME  COST  TOKENS  BRANCH     REASON
        a   failed   1           [DURATION]    -     -       conflux/a  claude refused: Invalid API key · Please run /login — run `clau…
        b   pending  0           [DURATION]    -     -       conflux/b  not started: claude refused: Invalid API key · Please run /logi…
        Failed: a. See why with `git conflux logs a`; `git conflux start` runs it again.
        Not started, since their agent refused: b. Fix what the refusal says, then `git conflux start` runs them.
        ------- stderr -------
        [TIME] starting 2 change(s) on main, 1 at a time: a, b
        [TIME] a  planned on branch conflux/a, 0/1 tasks done
        [TIME] a  queued
        [TIME] b  planned on branch conflux/b, 0/1 tasks done
        [TIME] b  queued
        [TIME] a  preparing
        [TIME] a  created worktree $TEST/repo.conflux/a on branch conflux/a at [HASH]
        [TIME] a  tasks 0/1
        [TIME] a  applying
        [TIME] a  iteration 1/10
        [TIME] a  agent started (pid [PID])
        [TIME] a  agent│ error: Invalid API key · Please run /login
        [TIME] a  tasks 0/1
        [TIME] a  failed: claude refused: Invalid API key · Please run /login — run `claude /login`, or set a valid ANTHROPIC_API_KEY in `env:` of .conflux.yaml
        [TIME] b  pending: not started: claude refused: Invalid API key · Please run /login — run `claude /login`, or set a valid ANTHROPIC_API_KEY in `env:` of .conflux.yaml (in a); fix that, then `git conflux start` runs it
        [TIME] finished in [DURATION]
        [exit status: 5]
        ");
}

/// A `copy:` entry, so that no change is prepared ahead of its slot: the lines of the next
/// change's worktree would interleave with the running agent's at random.
const NOT_AHEAD: &str = "copy: [README.md]\n";

#[test]
fn start_summary_and_next_steps() {
    let env = TestEnv::new();
    env.use_demo_agent("jobs: 1\nenv: {DEMO_TICK: all}\n");
    env.add_change("a", &["one", "two"], &[], "");
    // After a, so that its lines do not interleave with a's last ones at random.
    env.add_change("b", &["one"], &["a"], "conflux: {env: {DEMO_MODE: crash}}");
    env.add_change("c", &["one"], &["b"], "");
    env.commit_all("changes");
    snap!(env.conflux(&["start"]), @"

        ID  RESULT   ITERATIONS  TIME  COST  TOKENS  BRANCH     REASON
        a   done     1           [DURATION]    -     -       conflux/a
        b   failed   1           [DURATION]    -     -       conflux/b  the agent failed: agent exited with code 3: something went wrong
        c   skipped  0           [DURATION]    -     -       conflux/c  dependency b failed
        Next: review with `git log conflux/a`, then `git conflux merge --all`.
        Failed: b. See why with `git conflux logs b`; `git conflux start` runs it again.
        ------- stderr -------
        [TIME] starting 3 change(s) on main, 1 at a time: a, b, c
        [TIME] a  planned on branch conflux/a, 0/2 tasks done
        [TIME] a  queued
        [TIME] b  planned on branch conflux/b, 0/1 tasks done
        [TIME] b  queued
        [TIME] c  planned on branch conflux/c, 0/1 tasks done
        [TIME] c  queued
        [TIME] a  preparing
        [TIME] a  created worktree $TEST/repo.conflux/a on branch conflux/a at [HASH]
        [TIME] a  tasks 0/2
        [TIME] a  applying
        [TIME] a  iteration 1/10
        [TIME] a  agent started (pid [PID])
        [TIME] a  agent│ Working on: one
        [TIME] a  agent│ Edit openspec/changes/a/tasks.md (ticked line 2)
        [TIME] a  agent│ Working on: two
        [TIME] a  agent│ Edit openspec/changes/a/tasks.md (ticked line 3)
        [TIME] a  agent│ done: ticked 2 task(s) of a
        [TIME] a  tasks 2/2
        [TIME] a  committed [HASH] conflux(a): iteration 1 — 2/2 tasks
        [TIME] a  done
        [TIME] b  preparing
        [TIME] b  created worktree $TEST/repo.conflux/b on branch conflux/b at [HASH]
        [TIME] b  tasks 0/1
        [TIME] b  applying
        [TIME] b  iteration 1/10
        [TIME] b  agent started (pid [PID])
        [TIME] b  agent│ something went wrong
        [TIME] b  tasks 0/1
        [TIME] b  failed: the agent failed: agent exited with code 3: something went wrong
        [TIME] c  skipped: dependency b failed
        [TIME] finished in [DURATION]
        [exit status: 1]
        ");
}

#[test]
fn error_not_a_repository() {
    let env = TestEnv::new();
    snap!(env.run(env.outside_a_repository(&["status"])), @"
        ------- stderr -------
        error: $TEST/elsewhere is not inside a git repository
        hint: change to a repository or point at one with -C <path>, or make this one with `git init`
        [exit status: 2]
        ");
}

#[test]
fn error_unknown_change_id() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    env.add_change("b", &["t"], &[], "");
    snap!(env.conflux(&["status", "nope"]), @"
        ------- stderr -------
        error: no such change: nope
        hint: known changes: a, b
        [exit status: 2]
        ");
}

#[test]
fn error_malformed_config() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    env.write(".conflux.yaml", "jobs: 2\nagent: [unclosed\n");
    snap!(env.conflux(&["start", "--dry-run"]), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:2:8: unclosed bracket '['
        hint: fix the file named above; `git help conflux` lists every key
        [exit status: 2]
        ");
    env.write(".conflux.yaml", "jobs: 2\nveriffy: make\n");
    snap!(env.conflux(&["start", "--dry-run"]), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:2:1: unknown key `veriffy`; did you mean `verify`?
        hint: fix the file named above; `git help conflux` lists every key
        [exit status: 2]
        ");
    env.write(".conflux.yaml", "agent: codex\nkill_grace: 5 parsecs\n");
    snap!(env.conflux(&["start", "--dry-run"]), @r#"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:2:13: `5 parsecs` is not a duration; write it like 90s, 15m or 1h 30m
        hint: fix the file named above; `git help conflux` lists every key
        [exit status: 2]
        "#);
}

#[test]
fn error_missing_agent_binary() {
    let env = TestEnv::new();
    env.write(
        ".conflux.yaml",
        "agent: {command: \"no-such-agent-binary --go\", prompt: stdin}\n",
    );
    env.add_change("a", &["t"], &[], "");
    env.commit_all("change");
    let mut cmd = env.conflux_cmd(&["start"]);
    cmd.env("PATH", "/usr/bin:/bin");
    snap!(env.run(cmd), @"
        ------- stderr -------
        error: agent binary `no-such-agent-binary` not found on PATH
        hint: install it (or add its folder to PATH), or choose another agent with --agent or `agent:` in .conflux.yaml
        [exit status: 2]
        ");
}

#[test]
fn error_no_agent_configured() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    env.commit_all("change");
    snap!(env.conflux(&["start"]), @"
        ------- stderr -------
        error: no agent is configured
        hint: run `git conflux init`, set `agent:` in .conflux.yaml, or pass --agent <preset>
        [exit status: 2]
        ");
}

#[test]
fn error_dependency_cycle() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &["b"], "");
    env.add_change("b", &["t"], &["a"], "");
    snap!(env.conflux(&["status"]), @"
        ------- stderr -------
        error: changes depend on each other in a cycle: `a` → `b` → `a`: remove one of these dependencies
        hint: fix the dependencies named above in the changes' proposal.md
        [exit status: 2]
        ");
}

#[test]
fn error_uncommitted_change_folder() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    env.add_change("a", &["t"], &[], "");
    snap!(env.conflux(&["start"]), @"
        ------- stderr -------
        error: change a has uncommitted files (openspec/changes/a/proposal.md, openspec/changes/a/tasks.md); its worktree would not contain them
        hint: commit them first: git add openspec/changes/a && git commit
        [exit status: 2]
        ");
}

#[test]
fn error_merge_of_a_change_not_done() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    env.add_change("a", &["t"], &[], "");
    env.commit_all("change");
    snap!(env.conflux(&["merge", "a"]), @"
        ------- stderr -------
        error: change a has never run, so there is nothing to merge; start it with `git conflux start a`
        [exit status: 1]
        ");
}

#[test]
fn error_merge_conflict() {
    let env = conflicting();
    snap!(env.conflux(&["merge", "b"]), @"
        ------- stderr -------
        error: merging b into main conflicts in shared.txt (add/add); nothing was changed. Resolve with `git conflux merge --resolve b` (its agent merges main into conflux/b and settles the conflicts), or by hand: merge main into conflux/b in $TEST/repo.conflux/b, commit, then `git conflux merge b`
        [exit status: 3]
        ");
}

#[test]
fn error_steering_without_a_run() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    env.add_change("a", &["t"], &[], "");
    env.commit_all("change");
    snap!(env.conflux(&["stop", "a"]), @"
        ------- stderr -------
        error: no git conflux start is running in this repository, so nothing was stopped
        hint: `git conflux status` shows where each change stands
        [exit status: 1]
        ");
    snap!(env.conflux(&["tell", "a", "hello"]), @"
        ------- stderr -------
        error: no git conflux start is running in this repository, so the message was not queued
        hint: messages go to a running change: `git conflux start a`, then tell it
        [exit status: 1]
        ");
}

#[test]
fn error_second_start_while_one_runs() {
    let env = TestEnv::new();
    env.use_demo_agent("kill_grace: 1s\n");
    let (mut child, _) = start_hanging(&env, 1);
    let second = env.conflux(&["start"]);
    let ended = interrupt_and_wait(&mut child);
    snap!(second, @"
        ------- stderr -------
        error: git conflux start (pid [PID]) is running in this repository
        hint: name changes to add them to it (`git conflux start <ID>…`), change its slots with -j N, or follow it with `git conflux status --watch`
        [exit status: 2]
        ");
    assert!(ended.is_ok(), "{ended:?}");
}

#[test]
fn over_budget_summary_and_status() {
    let env = TestEnv::new();
    crate::test_budget::fake_agent(&env, "budget: {usd: 0.5, tokens: 100000}\n");
    env.add_change("paid", &["one", "two", "three"], &[], "");
    env.commit_all("change");
    snap!(env.conflux(&["start", "--budget", "20"]), @"

        ID    RESULT       ITERATIONS  TIME  COST         TOKENS   BRANCH        REASON
        paid  over-budget  2           [DURATION]    $0.80/$0.50  3k/100k  conflux/paid  its budget is spent ($0.80 of $0.50; budget in…
        Spent in this run: $0.80/$20.00 · 3k tokens.
        Over budget: paid. Raise budget or run_budget in .conflux.yaml (or pass --budget), then `git conflux start` continues
        where they stopped.
        ------- stderr -------
        [TIME] starting 1 change(s) on main, 4 at a time: paid (run budget $20.00)
        [TIME] paid  planned on branch conflux/paid, 0/3 tasks done
        [TIME] paid  queued
        [TIME] paid  preparing
        [TIME] paid  created worktree $TEST/repo.conflux/paid on branch conflux/paid at [HASH]
        [TIME] paid  tasks 0/3
        [TIME] paid  applying
        [TIME] paid  iteration 1/10
        [TIME] paid  agent started (pid [PID])
        [TIME] paid  agent│ done: 1 turn, $0.4000, 1000 in / 300 out tokens, cache 5000 read / 200 written
        [TIME] paid  tokens: in 1k out 300 cache r 5k w 200 · $0.40
        [TIME] paid  tasks 1/3
        [TIME] paid  committed [HASH] conflux(paid): iteration 1 — 1/3 tasks
        [TIME] paid  applying
        [TIME] paid  iteration 2/10
        [TIME] paid  agent started (pid [PID])
        [TIME] paid  agent│ done: 1 turn, $0.4000, 1000 in / 300 out tokens, cache 5000 read / 200 written
        [TIME] paid  tokens: in 1k out 300 cache r 5k w 200 · $0.40
        [TIME] paid  tasks 2/3
        [TIME] paid  committed [HASH] conflux(paid): iteration 2 — 2/3 tasks
        [TIME] paid  over-budget: its budget is spent ($0.80 of $0.50; budget in .conflux.yaml or its front matter); raise it and run `git conflux start paid` to continue
        [TIME] finished in [DURATION]
        [exit status: 4]
        ");
    snap!(env.conflux(&["status"]), @"
        ID    SOURCE    TASKS         STATE        DEPENDS ON  COST         TOKENS   BRANCH        WORKTREE
        paid  openspec  █████░░░ 2/3  over-budget  -           $0.80/$0.50  3k/100k  conflux/paid  ../repo.conflux/paid

        paid: its budget is spent ($0.80 of $0.50; budget in .conflux.yaml or its front matter); raise it and run `git conflux …
        ------- stderr -------
        Run budget of the latest start: $0.80/$20.00 · 3k tokens
        [exit status: 0]
        ");
}

/// Help and usage say `git conflux …`, as the command is typed; a command's own options
/// come first, the global ones apart.
#[test]
fn help_and_usage_name_git_conflux() {
    let env = TestEnv::new();
    snap!(env.conflux(&["-h"]), @"
        Run AI coding agents on many spec-driven changes at once, each in its own git worktree

        Usage: git conflux [OPTIONS] <COMMAND>

        Commands:
          init         Write a commented .conflux.yaml that uses the first agent found on PATH
          status       Show every change: tasks done, state, dependencies, branch and worktree
          start        Create a worktree per change and run the agent in each until its tasks are done
          merge        Merge done changes into the base branch, in dependency order
          logs         Print one change's log (agent output and conflux's own events)
          stop         Stop a running `git conflux start` of this repository, or some of its changes, from another terminal
          tell         Tell a change of the running `git conflux start` something, for its next iteration
          clean        Remove the worktrees, branches, state and logs that git-conflux created
          config       Inspect the configuration without running anything
          completions  Print a shell completion script (also shipped under completions/)
          help         Print this message or the help of the given subcommand(s)

        Options:
          -h, --help     Print help (see more with '--help')
          -V, --version  Print version

        Global options:
          -C <PATH>           Run as if started in <PATH> (like `git -C`)
              --color <WHEN>  When to use colours: auto (a terminal without NO_COLOR), always or never [default: auto] [possible
                              values: auto, always, never]
          -v, --verbose...    More detail (tasks in `status`, debug logging with -vv)
          -q, --quiet         Only errors and the data asked for
        [exit status: 0]
        ");
    snap!(env.conflux(&["start", "-h"]), @"
        Create a worktree per change and run the agent in each until its tasks are done

        Usage: git conflux start [OPTIONS] [ID]...

        Arguments:
          [ID]...  Only these changes (and nothing else: their dependencies must be done or selected)

        Options:
          -j, --jobs <N>            How many agents run at once [config: jobs, default 4]
              --agent <NAME>        Agent preset (claude, codex, gemini, opencode, aider) [config: agent]
              --base <BRANCH>       Branch the changes start from and merge into [config: base, default: current branch]
              --max-iterations <N>  Give up on a change after N agent iterations [config: max_iterations]
              --budget <USD>        Stop starting agent runs once the run has cost USD dollars, as the agents report it [config:
                                    run_budget.usd]
              --budget-tokens <N>   Stop starting agent runs once the run has used N tokens (input, output and cache writes)
                                    [config: run_budget.tokens]
              --sandbox <KIND>      Run the agents in bubblewrap (writing only their worktree) or not [config: sandbox]
                                    [possible values: bwrap, none]
              --merge               Merge each change into the base as soon as it is done (same as `git conflux merge`)
              --dry-run             Print the plan (waves, branches, worktrees, agent command; with ids, the prompt each would
                                    be sent) and change nothing
              --no-progress         Plain timestamped lines instead of progress bars, even on a terminal
              --json                One JSON object per event on stdout, for scripts (versioned; every kind and field is listed
                                    under JSON EVENTS in git-conflux-start(1))
          -h, --help                Print help (see more with '--help')
          -V, --version             Print version

        Global options:
          -C <PATH>           Run as if started in <PATH> (like `git -C`)
              --color <WHEN>  When to use colours: auto (a terminal without NO_COLOR), always or never [default: auto] [possible
                              values: auto, always, never]
          -v, --verbose...    More detail (tasks in `status`, debug logging with -vv)
          -q, --quiet         Only errors and the data asked for
        [exit status: 0]
        ");
    snap!(env.conflux(&["stat"]), @"
        ------- stderr -------
        error: unrecognized subcommand 'stat'

          tip: some similar subcommands exist: 'status', 'start'

        Usage: git conflux [OPTIONS] <COMMAND>

        For more information, try '--help'.
        [exit status: 2]
        ");
}

/// A mistyped id, preset or key gets the one probably meant; an unknown id is a usage error
/// wherever it is named.
#[test]
fn errors_suggest_what_was_meant() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    env.add_change("add-login", &["t"], &[], "");
    env.add_change("fix-bug", &["t"], &[], "");
    env.commit_all("changes");
    snap!(env.conflux(&["start", "add-logn"]), @"
        ------- stderr -------
        error: no such change: add-logn
        hint: did you mean `add-login`? Known changes: add-login, fix-bug
        [exit status: 2]
        ");
    snap!(env.conflux(&["logs", "add-logn"]), @"
        ------- stderr -------
        error: no such change: add-logn
        hint: did you mean `add-login`? Known changes: add-login, fix-bug
        [exit status: 2]
        ");
    snap!(env.conflux(&["tell", "add-logn", "hello"]), @"
        ------- stderr -------
        error: no such change: add-logn
        hint: did you mean `add-login`? Known changes: add-login, fix-bug
        [exit status: 2]
        ");
    env.write(".conflux.yaml", "agent: claud\n");
    snap!(env.conflux(&["start", "--dry-run"]), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:1:8: unknown agent preset `claud`; did you mean `claude`?
        hint: fix the file named above; `git help conflux` lists every key
        [exit status: 2]
        ");
    env.write(".conflux.yaml", "agent: claude\njob: 2\n");
    snap!(env.conflux(&["status"]), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:2:1: unknown key `job`; did you mean `jobs`?
        hint: fix the file named above; `git help conflux` lists every key
        [exit status: 2]
        ");
    env.write(".conflux.yaml", "agent: claude\ninactivity_timeout: 15\n");
    snap!(env.conflux(&["start", "--dry-run"]), @"
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:2:21: `15` has no unit: write 15s or 15m
        hint: fix the file named above; `git help conflux` lists every key
        [exit status: 2]
        ");
}

/// `config check` reads every layer, runs nothing, and lists every file's problem.
#[test]
fn config_check_lists_every_layer_and_every_problem() {
    let env = TestEnv::new();
    env.use_demo_agent("");
    env.add_change("a-good", &["t"], &[], "conflux: {max_iterations: 2}");
    env.add_change("b-typo", &["t"], &[], "conflux: {veriffy: make}");
    snap!(env.conflux(&["config", "check"]), @"
        ok: .conflux.yaml
        ok: openspec/changes/a-good/proposal.md
        ------- stderr -------
        error: openspec/changes/b-typo/proposal.md: in front matter `conflux:`: unknown key `veriffy`; did you mean `verify`?
        error: 1 problem in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
    env.write(".conflux.yaml", "jobs: many\n");
    snap!(env.conflux(&["config", "check"]), @"
        ok: openspec/changes/a-good/proposal.md
        ------- stderr -------
        error: $TEST/repo/.conflux.yaml:1:7: expected a whole number ≥ 1, not `many`
        error: openspec/changes/b-typo/proposal.md: in front matter `conflux:`: unknown key `veriffy`; did you mean `verify`?
        error: 2 problems in the configuration (listed above)
        hint: fix them, then run `git conflux config check` again
        [exit status: 2]
        ");
}
