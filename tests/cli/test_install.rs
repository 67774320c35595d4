//! `scripts/install.sh`, the README's install step: run for a user whose HOME and
//! CARGO_HOME are temp dirs, then `man` and `git` find the pages by PATH alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::TestEnv;
use crate::test_completion::{has_program, installed};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Installs the built binary (`--bin`, no cargo build) for a user at `$TEST/user`.
fn install(env: &TestEnv) -> (PathBuf, PathBuf) {
    let home = env.path().join("user");
    let cargo_home = home.join(".cargo");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new("sh");
    env.hermetic(&mut cmd);
    cmd.env("HOME", &home)
        .env("CARGO_HOME", &cargo_home)
        .env_remove("XDG_CONFIG_HOME")
        .arg(root().join("scripts/install.sh"))
        .args(["--bin", env!("CARGO_BIN_EXE_git-conflux")]);
    let out = env.run(cmd);
    assert_eq!(out.code, 0, "{out}");
    (home, cargo_home)
}

/// A user's shell after the install: their PATH, no MANPATH, pagers off.
fn as_user(env: &TestEnv, home: &Path, cargo_home: &Path, program: &str) -> Command {
    let mut cmd = Command::new(program);
    env.hermetic(&mut cmd);
    cmd.env("HOME", home)
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", cargo_home.join("bin").display()),
        )
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "80")
        .env_remove("MANPATH");
    cmd
}

#[test]
fn install_puts_pages_and_completions_where_man_and_the_shells_look() {
    let env = TestEnv::new();
    let (home, cargo_home) = install(&env);
    for path in [
        cargo_home.join("bin/git-conflux"),
        cargo_home.join("share/man/man1/git-conflux.1"),
        cargo_home.join("share/man/man1/git-conflux-start.1"),
        home.join(".local/share/bash-completion/completions/git-conflux"),
        home.join(".config/fish/completions/git-conflux.fish"),
        home.join(".zfunc/_git-conflux"),
    ] {
        assert!(path.is_file(), "{} was not installed", path.display());
    }
    if !installed(has_program("man"), "man") {
        return;
    }
    let mut cmd = as_user(&env, &home, &cargo_home, "man");
    cmd.args(["-w", "git-conflux"]);
    let out = env.run(cmd);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        out.stdout.trim(),
        "$TEST/user/.cargo/share/man/man1/git-conflux.1"
    );
    // `git conflux --help` is `git help conflux`, which runs `man git-conflux`.
    let mut cmd = as_user(&env, &home, &cargo_home, "git");
    cmd.args(["conflux", "--help"]);
    let out = env.run(cmd);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("git-conflux - Run AI coding agents"),
        "{out}"
    );
    assert!(
        out.stdout.contains(
            "SYNOPSIS\n       git conflux [-C <PATH>] [--color <WHEN>] [-v|--verbose]..."
        ),
        "{out}"
    );
}

/// The README's first command installs with the script (and runs the demo).
#[test]
fn the_readme_installs_with_the_script() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("\nscripts/install.sh && scripts/demo.sh\n"),
        "README.md's install step does not run scripts/install.sh"
    );
}
