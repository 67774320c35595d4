//! Placeholders in `agent.command`: task text reaches the agent as one argument, never as
//! shell, however the user quoted the placeholder.

use std::path::Path;

use crate::support::TestEnv;

const HOSTILE: [&str; 3] = ["$(touch pwned)", "`touch pwned2`", "'; touch pwned3; '"];

/// An agent that records its arguments (one file each) and ticks every task.
fn argv_agent(env: &TestEnv) -> std::path::PathBuf {
    let script = env.path().join("argv-agent.sh");
    std::fs::write(
        &script,
        "n=0\nfor a in \"$@\"; do printf '%s' \"$a\" > \"$DUMP/arg$n\"; n=$((n+1)); done\n\
         echo $# > \"$DUMP/argc\"\n\
         sed -i 's/- \\[ \\]/- [x]/' openspec/changes/$CONFLUX_CHANGE_ID/tasks.md\n",
    )
    .unwrap();
    script
}

/// Every file under `dir` whose name starts with `pwned`.
fn pwned_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(pwned_files(&path));
        } else if entry.file_name().to_string_lossy().starts_with("pwned") {
            found.push(path);
        }
    }
    found
}

#[test]
fn hostile_task_text_reaches_the_agent_as_one_argument_in_every_quoting() {
    for (args, prefix) in [
        ("\\\"{prompt}\\\"", ""),
        ("{prompt}", ""),
        ("--message=\\\"{prompt}\\\"", "--message="),
    ] {
        let env = TestEnv::new();
        let dump = env.path().join("dump");
        std::fs::create_dir_all(&dump).unwrap();
        let agent = argv_agent(&env);
        env.write(
            ".conflux.yaml",
            &format!(
                "agent: {{command: \"sh {} {args}\"}}\nstagger: 0s\nkill_grace: 2s\nenv: {{DUMP: {}}}\n",
                agent.display(),
                dump.display()
            ),
        );
        env.add_change("a", &HOSTILE, &[], "");
        env.commit_all("change");
        let out = env.conflux(&["start", "--no-progress"]);
        assert_eq!(out.code, 0, "{args}: {out}");
        assert_eq!(env.state("a")["phase"], "done", "{args}: {out}");
        assert_eq!(
            pwned_files(env.path()),
            Vec::<std::path::PathBuf>::new(),
            "{args}"
        );
        let argc = std::fs::read_to_string(dump.join("argc")).unwrap();
        assert_eq!(argc.trim(), "1", "{args}: the prompt was split into words");
        let arg = std::fs::read_to_string(dump.join("arg0")).unwrap();
        assert!(arg.starts_with(prefix), "{args}: {arg}");
        assert!(arg.contains("Your working directory is"), "{args}: {arg}");
        for task in HOSTILE {
            assert!(arg.contains(task), "{args}: {task} missing from {arg}");
        }
    }
}

#[test]
fn single_quoted_and_unknown_placeholders_are_refused_up_front() {
    let env = TestEnv::new();
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    let before = env.refs_and_worktrees();
    for (command, says) in [
        ("true '{prompt}'", "remove the single quotes"),
        ("true --design {design}", "{design}"),
    ] {
        env.write(
            ".conflux.yaml",
            &format!("agent: {{command: \"{command}\"}}\n"),
        );
        let out = env.conflux(&["start"]);
        assert_eq!(out.code, 2, "{command}: {out}");
        assert!(out.stderr.contains("agent.command"), "{command}: {out}");
        assert!(out.stderr.contains(says), "{command}: {out}");
        assert_eq!(env.refs_and_worktrees(), before);
    }
}

#[test]
fn a_prompt_placeholder_that_does_not_exist_is_refused_before_anything_runs() {
    let env = TestEnv::new();
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    let before = env.refs_and_worktrees();
    for (yaml, key, says) in [
        (
            "prompt: \"Read {design} and {specs}\"\n",
            "prompt",
            "{design}",
        ),
        (
            "prompt: \"Do {chnage_id}\"\n",
            "prompt",
            "did you mean `change_id`?",
        ),
        (
            "review: {prompt: \"Judge {open_tasks}\"}\n",
            "review.prompt",
            "{open_tasks}",
        ),
    ] {
        env.write(".conflux.yaml", yaml);
        let out = env.conflux(&["start"]);
        assert_eq!(out.code, 2, "{yaml}: {out}");
        assert!(out.stderr.contains(key), "{yaml}: {out}");
        assert!(out.stderr.contains(says), "{yaml}: {out}");
        assert_eq!(env.refs_and_worktrees(), before);
    }
    // Braces that are text, not a placeholder, pass.
    env.write(
        ".conflux.yaml",
        "agent: {command: \"true\"}\nprompt: \"{change_id}: answer {\\\"ok\\\": true} or { x }\"\n",
    );
    let out = env.conflux(&["start", "--dry-run"]);
    assert_eq!(out.code, 0, "{out}");
}
