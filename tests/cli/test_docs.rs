//! The committed man pages match the clap definitions; the completion scripts are shipped
//! as written and parse in their shells.
//! `UPDATE_DOCS=1 cargo test --test cli docs` (scripts/gen-docs.sh) rewrites them.

use std::path::Path;

use git_conflux::cli::Shell;
use git_conflux::docs;

fn check(path: &Path, expected: &str, stale: &mut Vec<String>) {
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, expected).unwrap();
        return;
    }
    if std::fs::read_to_string(path).ok().as_deref() != Some(expected) {
        stale.push(path.display().to_string());
    }
}

#[test]
fn man_pages_and_completions_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    for (name, text) in docs::man_pages() {
        check(&root.join("man/man1").join(name), &text, &mut stale);
    }
    assert!(
        stale.is_empty(),
        "out of date (run scripts/gen-docs.sh and commit): {stale:?}"
    );
}

#[test]
fn completions_subcommand_prints_the_shipped_script() {
    let env = crate::support::TestEnv::new();
    let out = env.conflux(&["completions", "fish"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, docs::completion(Shell::Fish));
    assert!(out.stdout.contains("git-conflux __complete"), "{out}");
}

#[test]
fn every_subcommand_has_a_man_page_that_man_can_render() {
    let pages = docs::man_pages();
    for sub in [
        "status",
        "start",
        "merge",
        "logs",
        "stop",
        "clean",
        "init",
        "completions",
    ] {
        assert!(
            pages
                .iter()
                .any(|(n, _)| n == &format!("git-conflux-{sub}.1")),
            "no page for {sub}"
        );
    }
    let main = &pages.iter().find(|(n, _)| n == "git-conflux.1").unwrap().1;
    for needle in [
        "EXIT STATUS",
        "130",
        "TASK COUNTING",
        "CONFIGURATION",
        "STATUS JSON",
    ] {
        assert!(main.contains(needle), "git-conflux.1 lacks {needle}");
    }
}

/// Each shipped completion script parses in its shell (`-n`: read, do not run).
#[test]
fn completion_scripts_parse_in_their_shells() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    for (shell, file) in [
        ("bash", "git-conflux.bash"),
        ("zsh", "_git-conflux"),
        ("fish", "git-conflux.fish"),
    ] {
        match std::process::Command::new(shell)
            .arg("-n")
            .arg(root.join(file))
            .output()
        {
            Ok(out) => assert!(
                out.status.success(),
                "{shell} -n {file}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(_) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{shell} is not installed (.ci/run installs it)"
                );
                eprintln!("note: {shell} is not installed; {file} not checked");
            }
        }
    }
}

/// `git conflux --help` shows the page with no troff warning on an 80-column terminal (a
/// long unbreakable line made man print "cannot adjust line" under the page).
#[test]
fn man_renders_every_page_without_a_warning_at_80_columns() {
    if !crate::test_completion::installed(crate::test_completion::has_program("man"), "man") {
        return;
    }
    let env = crate::support::TestEnv::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/man1");
    for page in std::fs::read_dir(&dir).unwrap() {
        let page = page.unwrap().path();
        let mut cmd = std::process::Command::new("man");
        env.hermetic(&mut cmd);
        cmd.env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .arg("-l")
            .arg(&page);
        let out = env.run(cmd);
        assert_eq!(out.code, 0, "{}: {out}", page.display());
        assert_eq!(out.stderr, "", "{}", page.display());
    }
}
