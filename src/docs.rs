//! The man pages, generated from the clap definitions, and the shell completion scripts.
//!
//! `git conflux completions SHELL` prints the scripts under `completions/` (the source of
//! those is the scripts themselves); the committed man pages under `man/` come from these
//! functions, and `tests/cli/test_docs.rs` fails when they are stale and rewrites them with
//! `UPDATE_DOCS=1` (what `scripts/gen-docs.sh` does).

use clap::CommandFactory;

use crate::cli::{Cli, Shell};

/// The completion script for `shell`: a thin wrapper that asks `git-conflux __complete`
/// (one engine for every shell, [`crate::commands`]' `complete`) and hands its `:dirs` and
/// `:files` answers to the shell's own path completion.
pub fn completion(shell: Shell) -> String {
    match shell {
        Shell::Bash => BASH,
        Shell::Zsh => ZSH,
        Shell::Fish => FISH,
    }
    .to_owned()
}

/// The scripts are kept as the files shipped under `completions/`: shell code, read and
/// checked (`bash -n`, `zsh -n`, `fish -n`) where it is installed from.
const BASH: &str = include_str!("../completions/git-conflux.bash");
const ZSH: &str = include_str!("../completions/_git-conflux");
const FISH: &str = include_str!("../completions/git-conflux.fish");

/// Every man page as (file name, roff text): `git-conflux.1` and one per subcommand.
pub fn man_pages() -> Vec<(String, String)> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    pages.push((
        "git-conflux.1".to_owned(),
        render_man(&cmd, Some(&reference())),
    ));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("git-conflux-{}", sub.get_name());
        let sub = sub
            .clone()
            .name(name.clone())
            .display_name(name.clone())
            .bin_name(format!("git conflux {}", sub.get_name()));
        let extra = (sub.get_name() == "git-conflux-start").then_some(START_REFERENCE);
        pages.push((format!("{name}.1"), render_man(&sub, extra)));
    }
    pages
}

fn render_man(cmd: &clap::Command, extra: Option<&str>) -> String {
    let man = clap_mangen::Man::new(cmd.clone())
        .date("2026-11-25")
        .source(concat!("git-conflux ", env!("CARGO_PKG_VERSION")))
        .manual("Git Manual");
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = man.render(&mut buf);
    let mut text = synopsis_values(&String::from_utf8_lossy(&buf), cmd);
    if let Some(extra) = extra {
        text.push_str(extra);
    }
    text
}

/// clap_mangen's synopsis leaves out what an option takes (`[-C ]`, `[--color]`); git's
/// pages show it (`[-C <path>]`), so each option that takes a value gets its value name.
fn synopsis_values(page: &str, cmd: &clap::Command) -> String {
    let mut lines: Vec<String> = page.lines().map(str::to_owned).collect();
    let Some(at) = lines.iter().position(|l| l == ".SH SYNOPSIS") else {
        return page.to_owned();
    };
    let Some(line) = lines.get_mut(at + 1) else {
        return page.to_owned();
    };
    let takes_value = |a: &&clap::Arg| !a.is_positional() && a.get_action().takes_values();
    for arg in cmd.get_arguments().filter(takes_value) {
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map_or_else(
                || arg.get_id().to_string().to_uppercase(),
                |n| n.to_string(),
            );
        let name = match (arg.get_short(), arg.get_long()) {
            (_, Some(long)) => format!("\\-\\-{}", long.replace('-', "\\-")),
            (Some(short), None) => format!("\\-{short} "),
            (None, None) => continue,
        };
        let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
        let value = if optional {
            format!("[<{value}>]")
        } else {
            format!("<{value}>")
        };
        let with_value = format!("{}\\fR \\fI{value}\\fR]", name.trim_end());
        *line = line.replacen(&format!("{name}\\fR]"), &with_value, 1);
    }
    lines.join("\n") + "\n"
}

/// The reference sections of the main page that clap does not know: exit codes (from the
/// one table in `error.rs`), then the hand-written reference.
fn reference() -> String {
    let mut text = String::from(".SH \"EXIT STATUS\"\n");
    for (exit, meaning) in crate::error::Exit::TABLE {
        text.push_str(&format!(".TP\n.B {}\n{}\n", exit.code(), meaning));
    }
    text.push_str(REFERENCE);
    text
}

const REFERENCE: &str = include_str!("reference.roff");
/// The JSON event stream of `start --json`, in git-conflux-start(1).
const START_REFERENCE: &str = include_str!("events.roff");
