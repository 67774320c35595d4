//! Shell completion, driven in the real shells: the shipped script is sourced, the shell's
//! completion variables are set as on a <TAB>, and the candidates are read back, in a real
//! repository whose changes are done, merged and new.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::TestEnv;

/// `a-done` is done, `b-merged` merged, `c-new` never ran.
fn three_states() -> TestEnv {
    let env = TestEnv::new();
    env.use_demo_agent("env: {DEMO_TICK: all}\n");
    for id in ["a-done", "b-merged", "c-new"] {
        env.add_change(id, &["one"], &[], "");
    }
    env.commit_all("changes");
    let out = env.conflux(&["start", "a-done", "b-merged"]);
    assert_eq!(out.code, 0, "{out}");
    let out = env.conflux(&["merge", "b-merged"]);
    assert_eq!(out.code, 0, "{out}");
    env
}

/// Whether a tool a test needs is here; off CI a missing one skips the test with a note,
/// on CI (where .ci/run installs it) it fails it.
pub(crate) fn installed(present: bool, what: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is not installed (.ci/run installs it)"
        );
        eprintln!("note: {what} is not installed; not checked");
    }
    present
}

pub(crate) fn has_program(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

fn script(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(file)
}

/// `shell -c code` in the repository, with the built `git-conflux` first on PATH.
fn shell(env: &TestEnv, shell: &str, code: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_git-conflux"))
        .parent()
        .unwrap();
    let mut cmd = Command::new(shell);
    env.hermetic(&mut cmd);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .current_dir(&env.root)
        .arg("-c")
        .arg(code);
    let out = env.run(cmd);
    assert_eq!(out.code, 0, "{out}");
    out.stdout.trim_end().to_owned()
}

/// The candidates bash offers for the command line `words` (the last word under the
/// cursor), after sourcing `setup` and the shipped script; `call` is the function a <TAB>
/// runs.
fn bash_tab(env: &TestEnv, setup: &str, call: &str, words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let code = format!(
        "{setup} source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}; {call}; echo \"${{COMPREPLY[*]}}\"",
        script("git-conflux.bash").display(),
        quoted.join(" "),
        words.len() - 1,
        line.len(),
    );
    shell(env, "bash", &code)
}

#[test]
fn bash_completes_subcommands_values_and_ids_by_state() {
    let env = three_states();
    let tab = |words: &[&str]| bash_tab(&env, "", "_git_conflux_bin", words);
    assert_eq!(
        tab(&["git-conflux", ""]),
        "init status start merge logs stop tell clean config completions help"
    );
    assert_eq!(tab(&["git-conflux", "st"]), "status start stop");
    assert_eq!(tab(&["git-conflux", "completions", ""]), "bash zsh fish");
    assert_eq!(
        tab(&["git-conflux", "start", "--color", ""]),
        "auto always never"
    );
    assert_eq!(tab(&["git-conflux", "start", "-j", ""]), "");
    assert_eq!(tab(&["git-conflux", "-C", "op"]), "openspec");
    assert_eq!(tab(&["git-conflux", "merge", ""]), "a-done");
    assert_eq!(tab(&["git-conflux", "start", ""]), "a-done c-new");
    assert_eq!(tab(&["git-conflux", "start", "-j", "2", "c"]), "c-new");
    assert_eq!(tab(&["git-conflux", "logs", ""]), "a-done b-merged");
    assert_eq!(tab(&["git-conflux", "status", ""]), "a-done b-merged c-new");
    assert_eq!(tab(&["git-conflux", "merge", "--no"]), "--no-ff");
}

/// `git conflux <TAB>` goes through git's own bash completion, which calls `_git_conflux`.
#[test]
fn git_conflux_tab_completes_through_gits_completion() {
    let git_completion = Path::new("/usr/share/bash-completion/completions/git");
    if !installed(git_completion.exists(), "git's bash completion") {
        return;
    }
    let env = three_states();
    let setup = format!("source '{}';", git_completion.display());
    let tab = |words: &[&str]| bash_tab(&env, &setup, "__git_wrap__git_main", words);
    assert_eq!(tab(&["git", "conflux", "me"]), "merge");
    assert_eq!(tab(&["git", "conflux", "merge", ""]), "a-done");
    assert_eq!(tab(&["git", "conflux", "completions", "z"]), "zsh");
}

/// fish asks the same engine: `complete -C` prints what a <TAB> would offer.
#[test]
fn fish_completes_ids_by_state() {
    if !installed(has_program("fish"), "fish") {
        return;
    }
    let env = three_states();
    let code = format!(
        "source '{}'; complete -C'git-conflux merge '; complete -C'git-conflux --color '",
        script("git-conflux.fish").display()
    );
    assert_eq!(
        shell(&env, "fish", &format!("set -g fish_greeting; {code}")),
        "a-done\nalways\nauto\nnever"
    );
}
