//! Change discovery on real repositories: layouts, ids, dependencies and every kind of bad
//! input, each reported with one clear message.

#[path = "common/change_repo.rs"]
mod support;

use std::path::{Path, PathBuf};

use git_conflux::change::{self, Change, Discovery, Source, deps, discover};
use support::Repo;

fn found(repo: &Repo) -> Discovery {
    discover(repo.root()).expect("discovery succeeds")
}

fn ids(d: &Discovery) -> Vec<&str> {
    d.changes.iter().map(|c| c.id.as_str()).collect()
}

fn get<'a>(d: &'a Discovery, id: &str) -> &'a Change {
    d.changes
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no change {id} in {:?}", ids(d)))
}

fn problem_text(d: &Discovery) -> Vec<String> {
    d.problems.iter().map(|p| p.to_string()).collect()
}

#[test]
fn a_repository_without_changes_is_an_empty_list() {
    let repo = Repo::new();
    let d = found(&repo);
    assert!(d.changes.is_empty() && d.problems.is_empty());
    // Empty folders are no different.
    std::fs::create_dir_all(repo.root().join("openspec/changes/archive")).unwrap();
    std::fs::create_dir_all(repo.root().join("specs")).unwrap();
    let d = found(&repo);
    assert!(d.changes.is_empty() && d.problems.is_empty());
    // So are files where the folders would be.
    std::fs::remove_dir_all(repo.root().join("specs")).unwrap();
    std::fs::remove_dir_all(repo.root().join("openspec/changes/archive")).unwrap();
    repo.write("specs", "a file\n");
    repo.write("openspec/changes/archive", "a file\n");
    let d = found(&repo);
    assert!(d.changes.is_empty() && d.problems.is_empty());
}

#[test]
fn openspec_changes_with_tasks_title_and_paths() {
    let repo = Repo::new();
    repo.openspec(
        "add-login",
        "# Change: Add login\n\n## Why\nUsers.\n",
        "## 1. Build\n- [x] 1.1 Form\n- [ ] 1.2 Session\n  - [X] 1.2.1 Cookie\n",
    );
    repo.write("openspec/changes/add-login/design.md", "# Design\n");
    repo.write(
        "openspec/changes/add-login/specs/auth/spec.md",
        "- [ ] not a task\n",
    );
    repo.write(
        "openspec/changes/no-tasks/proposal.md",
        "No heading here.\n",
    );
    repo.write("openspec/changes/README.md", "not a change folder\n");
    repo.openspec("archive/2024-01-01-old", "# Old\n", "- [ ] x\n");
    let d = found(&repo);
    assert_eq!(ids(&d), ["add-login", "no-tasks"]);
    assert!(d.problems.is_empty(), "{:?}", problem_text(&d));

    let c = get(&d, "add-login");
    assert_eq!(c.source, Source::Openspec);
    assert_eq!(c.dir, Path::new("openspec/changes/add-login"));
    assert_eq!(
        c.tasks_file,
        Path::new("openspec/changes/add-login/tasks.md")
    );
    assert_eq!(c.title.as_deref(), Some("Add login"));
    assert_eq!((c.tasks_done(), c.tasks_total()), (2, 3));
    let open: Vec<(&str, usize)> = c.open_tasks().map(|t| (t.text.as_str(), t.line)).collect();
    assert_eq!(open, [("1.2 Session", 3)]);
    assert_eq!(c.tasks_problem, None);

    let c = get(&d, "no-tasks");
    assert_eq!(c.title, None);
    assert_eq!(c.tasks_total(), 0);
    assert_eq!(c.tasks_problem, None);
    assert_eq!(serde_json::to_value(Source::Openspec).unwrap(), "openspec");
    assert_eq!(serde_json::to_value(Source::SpecKit).unwrap(), "spec-kit");
}

#[test]
fn an_openspec_folder_without_proposal_is_reported() {
    let repo = Repo::new();
    repo.write("openspec/changes/half/tasks.md", "- [ ] a\n");
    repo.openspec("whole", "# Whole\n", "- [ ] a\n");
    let d = found(&repo);
    assert_eq!(ids(&d), ["whole"]);
    assert_eq!(d.problems.len(), 1);
    assert_eq!(d.problems[0].path, Path::new("openspec/changes/half"));
    assert!(
        d.problems[0].message.contains("no proposal.md"),
        "{}",
        d.problems[0]
    );
}

#[test]
fn speckit_features_keep_task_ids_and_parallel_markers() {
    let repo = Repo::new();
    repo.write(
        "specs/001-user-auth/spec.md",
        "# Feature Specification: User auth\n",
    );
    repo.write(
        "specs/001-user-auth/tasks.md",
        "# Tasks\n\n## Phase 1\n- [X] T001 Create project\n- [ ] T002 [P] Write model in src/user.rs\n- [ ] T003 Wire it\n",
    );
    repo.write("specs/002-search/tasks.md", "- [ ] T001 Index\n");
    repo.write("specs/003-early/spec.md", "# Early\n");
    repo.write("specs/notes/tasks.md", "- [ ] not a feature\n");
    let d = found(&repo);
    assert_eq!(ids(&d), ["001-user-auth", "002-search"]);

    let c = get(&d, "001-user-auth");
    assert_eq!(c.source, Source::SpecKit);
    assert_eq!(c.dir, Path::new("specs/001-user-auth"));
    assert_eq!(c.title.as_deref(), Some("User auth"));
    let tasks: Vec<(Option<&str>, bool, bool, usize)> = c
        .tasks
        .iter()
        .map(|t| (t.id.as_deref(), t.parallel, t.done, t.line))
        .collect();
    assert_eq!(
        tasks,
        [
            (Some("T001"), false, true, 4),
            (Some("T002"), true, false, 5),
            (Some("T003"), false, false, 6)
        ]
    );
    assert_eq!(get(&d, "002-search").title.as_deref(), Some("002-search"));
    assert_eq!(problem_text(&d).len(), 1);
    assert!(
        problem_text(&d)[0].starts_with("specs/003-early: has no tasks.md"),
        "{:?}",
        problem_text(&d)
    );
}

#[test]
fn both_layouts_together_and_a_shared_id_is_an_error() {
    let repo = Repo::new();
    repo.openspec("a", "# A\n", "");
    repo.write("specs/001-b/tasks.md", "- [ ] T001 x\n");
    assert_eq!(ids(&found(&repo)), ["001-b", "a"]);

    repo.openspec("001-b", "# B again\n", "");
    let err = discover(repo.root()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, discover::Error::DuplicateId { id, .. } if id == "001-b"),
        "{text}"
    );
    assert!(
        text.contains("openspec/changes/001-b") && text.contains("specs/001-b"),
        "{text}"
    );
}

#[test]
fn bad_ids_are_reported_naming_the_folder() {
    let repo = Repo::new();
    for name in ["Add-Login", ".hidden", "-rf", "has space", "end.lock"] {
        repo.openspec(name, "# X\n", "");
    }
    repo.openspec("fine", "# Fine\n", "");
    let d = found(&repo);
    assert_eq!(ids(&d), ["fine"]);
    let problems = problem_text(&d);
    assert_eq!(problems.len(), 5, "{problems:?}");
    for name in ["Add-Login", ".hidden", "-rf", "has space", "end.lock"] {
        assert!(
            problems.iter().any(|p| p.starts_with(&format!(
                "openspec/changes/{name}: `{name}` is not a valid change id"
            ))),
            "{name}: {problems:?}"
        );
    }
}

#[test]
fn dependencies_from_front_matter_and_section_order_the_changes() {
    let repo = Repo::new();
    repo.openspec(
        "api",
        "---\ndependencies: [db]\nowner: team-x\nconflux: {max_iterations: 5, verify: \"cargo test\"}\n---\n# Change: API\n",
        "",
    );
    repo.openspec(
        "ui",
        "# UI\n\n## Dependencies\n\n- `api`\n- [db](../db/proposal.md)\n- old-thing: archived already\n",
        "",
    );
    repo.openspec("db", "---\ndepends_on: []\n---\n# DB\n", "");
    repo.openspec("zzz", "# Z\n\n## Dependencies\n- None\n", "");
    repo.openspec("archive/2025-02-03-old-thing", "# Old\n", "");
    repo.write("specs/001-docs/tasks.md", "");
    repo.write(
        "specs/001-docs/spec.md",
        "# Docs\n## Dependencies\n- ui (documents it)\n",
    );
    let d = found(&repo);
    assert!(d.problems.is_empty(), "{:?}", problem_text(&d));
    assert_eq!(ids(&d), ["db", "api", "ui", "001-docs", "zzz"]);
    assert_eq!(get(&d, "ui").dependencies, ["api", "db"]);
    assert_eq!(get(&d, "001-docs").dependencies, ["ui"]);
    assert_eq!(
        get(&d, "api").config,
        Some(serde_json::json!({"max_iterations": 5, "verify": "cargo test"}))
    );
    assert_eq!(get(&d, "db").config, None);
}

#[test]
fn unknown_self_and_cyclic_dependencies_are_errors_naming_the_ids() {
    let repo = Repo::new();
    repo.openspec("a", "---\ndependencies: [ghost]\n---\n", "");
    let err = discover(repo.root()).unwrap_err();
    assert!(
        matches!(&err, discover::Error::Dependencies(deps::Error::Unknown { id, dependency }) if id == "a" && dependency == "ghost"),
        "{err}"
    );
    assert!(err.to_string().contains("`ghost`"), "{err}");

    repo.openspec("a", "## Dependencies\n- a\n", "");
    let err = discover(repo.root()).unwrap_err();
    assert_eq!(
        err.to_string(),
        deps::Error::SelfDependency { id: "a".into() }.to_string()
    );

    repo.openspec("a", "---\ndependencies: [b]\n---\n", "");
    repo.openspec("b", "---\ndependencies: [c]\n---\n", "");
    repo.openspec("c", "## Dependencies\n- a\n", "");
    repo.openspec("d", "## Dependencies\n- b\n", "");
    let err = discover(repo.root()).unwrap_err();
    assert!(
        matches!(&err, discover::Error::Dependencies(deps::Error::Cycle { ids }) if ids == &["a", "b", "c"]),
        "{err}"
    );
    assert!(err.to_string().contains("`a` → `b` → `c` → `a`"), "{err}");
}

#[test]
fn malformed_front_matter_names_file_line_and_column() {
    let repo = Repo::new();
    repo.openspec(
        "yaml",
        "---\ntitle: x\ndependencies: [a, b\nowner: 1\n---\n# Y\n",
        "",
    );
    repo.openspec("unclosed", "---\ndependencies: [a]\n# Never closed\n", "");
    repo.openspec("wrong-type", "---\ndependencies: 5\n---\n", "");
    repo.openspec(
        "bad-bullet",
        "# B\n## Dependencies\n\n- serde for parsing\n",
        "",
    );
    repo.openspec("fine", "# Fine\n", "");
    let d = found(&repo);
    assert_eq!(ids(&d), ["fine"]);
    let problems = problem_text(&d);
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(
        problems[0].starts_with("openspec/changes/bad-bullet/proposal.md:4: `serde for parsing`"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with(
            "openspec/changes/unclosed/proposal.md:1: front matter opened here is never closed"
        ),
        "{problems:?}"
    );
    assert!(
        problems[2].starts_with("openspec/changes/wrong-type/proposal.md:2:15: front matter: "),
        "{problems:?}"
    );
    assert!(
        problems[3].starts_with("openspec/changes/yaml/proposal.md:4:6: front matter: "),
        "{problems:?}"
    );
    let yaml = &d.problems[3];
    assert_eq!((yaml.line, yaml.column), (Some(4), Some(6)));
}

#[test]
fn a_change_depending_on_an_unreadable_one_is_reported_too() {
    let repo = Repo::new();
    repo.openspec("broken", "---\n[\n---\n", "");
    repo.openspec("needs-broken", "---\ndependencies: [broken]\n---\n", "");
    repo.openspec(
        "needs-needs",
        "---\ndependencies: [needs-broken]\n---\n",
        "",
    );
    repo.openspec("free", "", "");
    let d = found(&repo);
    assert_eq!(ids(&d), ["free"]);
    let problems = problem_text(&d);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[1].starts_with("openspec/changes/needs-broken: depends on `broken`, which could not be read (see openspec/changes/broken/proposal.md)"), "{problems:?}");
    assert!(
        problems[2].starts_with("openspec/changes/needs-needs: depends on `needs-broken`"),
        "{problems:?}"
    );
}

#[test]
fn unreadable_text_files() {
    let repo = Repo::new();
    repo.openspec("latin1", "# L\n", "");
    let tasks = repo.write(
        "openspec/changes/latin1/tasks.md",
        b"- [x] caf\xe9\n- [ ] b\n",
    );
    repo.write("openspec/changes/bad-proposal/proposal.md", b"# caf\xe9\n");
    repo.openspec(
        "bom-crlf",
        "\u{feff}---\r\ndependencies: []\r\n---\r\n# Change: Bom\r\n",
        "\u{feff}- [x] a\r\n- [ ] b\r\n\r\n  * [X] c\r\n",
    );
    let d = found(&repo);
    assert_eq!(ids(&d), ["bom-crlf", "latin1"]);
    let c = get(&d, "latin1");
    assert_eq!(c.tasks_total(), 0);
    let problem = c.tasks_problem.as_deref().expect("reported");
    assert!(
        problem.contains("tasks.md: not valid UTF-8 (first bad byte on line 1)"),
        "{problem}"
    );
    assert_eq!(
        problem_text(&d),
        ["openspec/changes/bad-proposal/proposal.md: not valid UTF-8: save it as UTF-8"]
    );

    let c = get(&d, "bom-crlf");
    assert_eq!(c.title.as_deref(), Some("Bom"));
    assert_eq!((c.tasks_done(), c.tasks_total()), (2, 3));
    assert_eq!(
        c.tasks.iter().map(|t| t.line).collect::<Vec<_>>(),
        [1, 2, 4]
    );
    assert_eq!(c.tasks[0].text, "a");

    // The pipeline re-reads tasks with read_tasks: same rules.
    let rel = tasks.strip_prefix(repo.root()).unwrap();
    let err = change::read_tasks(repo.root(), rel).unwrap_err();
    assert!(
        err.to_string().contains(&rel.display().to_string()),
        "{err}"
    );
    assert_eq!(
        change::read_tasks(repo.root(), Path::new("nope/tasks.md")).unwrap(),
        vec![]
    );
}

#[test]
fn ten_thousand_tasks() {
    let repo = Repo::new();
    let mut text = String::from("# Tasks\n");
    for i in 0..10_000 {
        text.push_str(&format!(
            "- [{}] {i}.1 do thing {i}\n",
            if i % 4 == 0 { "x" } else { " " }
        ));
    }
    repo.openspec("big", "# Big\n", &text);
    let d = found(&repo);
    let c = get(&d, "big");
    assert_eq!((c.tasks_done(), c.tasks_total()), (2_500, 10_000));
    assert_eq!(c.tasks[9_999].line, 10_001);
}

#[cfg(unix)]
#[test]
fn symlinks_leading_outside_the_repository_are_not_followed() {
    use std::os::unix::fs::symlink;
    let repo = Repo::new();
    let outside = tempfile::tempdir().unwrap();
    let secret: PathBuf = outside.path().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::fs::write(secret.join("proposal.md"), "# Secret\n").unwrap();
    std::fs::write(secret.join("tasks.md"), "- [ ] leaked\n").unwrap();
    std::fs::create_dir_all(repo.root().join("openspec/changes")).unwrap();
    symlink(&secret, repo.root().join("openspec/changes/escape")).unwrap();
    // A link inside the repository is an ordinary folder.
    repo.openspec("real", "# Real\n", "- [ ] a\n");
    symlink("real", repo.root().join("openspec/changes/alias")).unwrap();
    // A tasks.md linking outside is not read.
    repo.write("openspec/changes/sneaky/proposal.md", "# Sneaky\n");
    symlink(
        secret.join("tasks.md"),
        repo.root().join("openspec/changes/sneaky/tasks.md"),
    )
    .unwrap();

    let d = found(&repo);
    assert_eq!(ids(&d), ["alias", "real", "sneaky"]);
    let problems = problem_text(&d);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("openspec/changes/escape: leads outside the repository"),
        "{problems:?}"
    );
    let sneaky = get(&d, "sneaky");
    assert_eq!(sneaky.tasks_total(), 0);
    assert!(
        sneaky
            .tasks_problem
            .as_deref()
            .unwrap_or("")
            .contains("leads outside the repository")
    );
    assert_eq!(get(&d, "alias").tasks_total(), 1);
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let repo = Repo::new();
    let missing = repo.root().join("not-here");
    let err = discover(&missing).unwrap_err();
    assert!(err.to_string().contains("not-here"), "{err}");
}
