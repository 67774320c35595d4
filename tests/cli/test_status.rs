use crate::support::TestEnv;

#[test]
fn no_changes_is_success_with_a_message() {
    let env = TestEnv::new();
    let out = env.conflux(&["status"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("No changes found"), "{out}");
    let out = env.conflux(&["status", "--json"]);
    assert_eq!(out.stdout.trim(), "[]", "{out}");
}

#[test]
fn outside_a_repository_is_exit_2_naming_the_path() {
    let env = TestEnv::new();
    let out = env.run(env.outside_a_repository(&["status"]));
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("$TEST/elsewhere"), "{out}");
    assert!(out.stderr.contains("hint:"), "{out}");
}

#[test]
fn lists_changes_in_dependency_order_with_counts() {
    let env = TestEnv::new();
    env.add_change("b-feature", &["one", "two"], &["a-base"], "");
    env.add_change("a-base", &["x"], &[], "");
    env.write(
        "openspec/changes/a-base/tasks.md",
        "- [x] done\n- [ ] open\n  - [x] nested done\n",
    );
    env.commit_all("changes");
    let out = env.conflux(&["status", "--json"]);
    assert_eq!(out.code, 0, "{out}");
    let rows: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], "a-base");
    assert_eq!(rows[0]["tasks_done"], 2);
    assert_eq!(rows[0]["tasks_total"], 3);
    assert_eq!(rows[0]["state"], "pending");
    assert_eq!(rows[0]["source"], "openspec");
    assert_eq!(rows[1]["id"], "b-feature");
    assert_eq!(rows[1]["dependencies"], serde_json::json!(["a-base"]));
    for key in ["branch", "worktree", "running", "cost_usd"] {
        assert!(rows[1].get(key).is_some(), "schema lacks {key}");
    }
    let text = env.conflux(&["status"]);
    assert_eq!(text.code, 0, "{text}");
    let a = text.stdout.find("a-base").unwrap();
    let b = text.stdout.find("b-feature").unwrap();
    assert!(a < b, "{text}");
    assert!(text.stdout.contains("2/3"), "{text}");
    let ids = env.conflux(&["status", "--ids"]);
    assert_eq!(ids.stdout, "a-base\nb-feature\n");
}

#[test]
fn verbose_lists_tasks_with_line_numbers() {
    let env = TestEnv::new();
    env.add_change("a", &["first", "second"], &[], "");
    let out = env.conflux(&["status", "-v"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("[ ]    2 first"), "{out}");
}

#[test]
fn works_from_a_subdirectory_and_with_dash_c() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    let mut cmd = env.conflux_cmd(&["status", "--ids"]);
    cmd.current_dir(env.root.join("openspec/changes"));
    assert_eq!(env.run(cmd).stdout, "a\n");
    let mut cmd = env.conflux_cmd(&["-C", "repo", "status", "--ids"]);
    cmd.current_dir(env.path());
    assert_eq!(env.run(cmd).stdout, "a\n");
}

#[test]
fn works_from_inside_a_linked_worktree() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    env.commit_all("change a");
    let wt = env.path().join("linked");
    env.git(&["worktree", "add", "-q", wt.to_str().unwrap(), "-b", "other"]);
    let mut cmd = env.conflux_cmd(&["status", "--ids"]);
    cmd.current_dir(&wt);
    let out = env.run(cmd);
    assert_eq!(out.stdout, "a\n", "{out}");
}

#[test]
fn unknown_id_is_exit_2_listing_known_ids() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    let out = env.conflux(&["status", "nope"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("no such change: nope") && out.stderr.contains("known changes: a"),
        "{out}"
    );
}

#[test]
fn malformed_config_names_file_and_line() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &[], "");
    env.write(".conflux.yaml", "jobs: 2\nagent: [unclosed\n");
    let out = env.conflux(&["start", "--dry-run"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains(".conflux.yaml:2:8: "), "{out}");
    env.write(".conflux.yaml", "jobs: 2\nveriffy: make\n");
    let out = env.conflux(&["start", "--dry-run"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains(".conflux.yaml:2:1: unknown key `veriffy`"),
        "{out}"
    );
}

#[test]
fn dependency_cycle_is_exit_2_naming_members() {
    let env = TestEnv::new();
    env.add_change("a", &["t"], &["b"], "");
    env.add_change("b", &["t"], &["a"], "");
    let out = env.conflux(&["status"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("a") && out.stderr.contains("b") && out.stderr.contains("cycle"),
        "{out}"
    );
}

#[test]
fn init_writes_config_and_refuses_to_overwrite() {
    let env = TestEnv::new();
    let out = env.conflux(&["init", "--agent", "codex"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(env.read(".conflux.yaml").contains("\nagent: codex\n"));
    let out = env.conflux(&["init"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("--force"), "{out}");
    let out = env.conflux(&["init", "--force", "--agent", "nope"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("unknown agent preset `nope`"), "{out}");
}

/// A `claude` whose login expired prints its error as a result event and exits 1: the
/// reason of the failed change carries that line, in `status` (no `-v`) and `status --json`.
#[test]
fn the_reason_of_a_failed_change_carries_the_agents_own_error() {
    let env = TestEnv::new();
    env.write(
        "fake-claude.sh",
        "echo '{\"type\":\"system\",\"subtype\":\"init\",\"model\":\"m\"}'\n\
         echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Invalid API key · Please run /login\"}'\n\
         exit 1\n",
    );
    env.write(
        ".conflux.yaml",
        &format!(
            "agent: {{command: \"sh {}\", format: claude, prompt: stdin}}\nstagger: 0s\nkill_grace: 1s\nretry: {{delay: 0s}}\n",
            env.root.join("fake-claude.sh").display()
        ),
    );
    env.add_change("a", &["one"], &[], "");
    env.commit_all("change");
    let out = env.conflux(&["start"]);
    assert_eq!(out.code, 1, "{out}");
    let wanted = "Invalid API key · Please run /login";
    let status = env.conflux(&["status"]);
    assert!(status.stdout.contains(wanted), "{status}");
    let json = env.conflux(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let reason = rows[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(wanted), "{json}");
}

/// A repository with SHA-256 object ids is named as such, not as "not a repository".
#[test]
fn a_sha256_repository_is_refused_for_what_it_is() {
    let env = TestEnv::new();
    let repo = env.path().join("sha256");
    std::fs::create_dir_all(&repo).unwrap();
    env.git_in(&repo, &["init", "-q", "--object-format=sha256"]);
    for args in [&["status"][..], &["start"]] {
        let mut cmd = env.conflux_cmd(args);
        cmd.current_dir(&repo);
        let out = env.run(cmd);
        assert_eq!(out.code, 2, "{out}");
        assert!(
            out.stderr
                .contains("uses SHA-256 object ids, which git conflux does not support yet"),
            "{out}"
        );
        assert!(!out.stderr.contains("not inside a git repository"), "{out}");
    }
}
