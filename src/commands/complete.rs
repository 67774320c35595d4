//! `git-conflux __complete WORD…`: the candidates for the last word of a command line, for
//! the bash, zsh and fish scripts of `completions`. One engine for every shell, reading the
//! clap definitions, so a value completes by its kind: subcommands, options, the values of
//! an option (colours, shells), directories for `-C`, and change ids in the state the
//! command needs.

use clap::{Arg, CommandFactory, ValueHint};

use crate::cli::{Cli, CompleteArgs};
use crate::commands::Context;
use crate::error::{CommandError, Exit};
use crate::run::state::Phase;

/// What the shell should offer for the word under the cursor.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Candidates {
    /// These words (already filtered by the typed prefix).
    Words(Vec<String>),
    /// The shell's own directory completion (`-C`).
    Dirs,
    /// The shell's own file completion (`tell -F`).
    Files,
    /// Ids of the changes that `subcommand` takes, filtered by the typed prefix.
    Ids { subcommand: String, prefix: String },
}

/// The marker lines the shell scripts turn into their own directory and file completion.
pub(crate) const DIRS: &str = ":dirs";
pub(crate) const FILES: &str = ":files";

pub fn cmd_complete(ctx: &Context, args: CompleteArgs) -> Result<Exit, CommandError> {
    let lines = match candidates(&args.words) {
        Candidates::Words(words) => words,
        Candidates::Dirs => vec![DIRS.to_owned()],
        Candidates::Files => vec![FILES.to_owned()],
        Candidates::Ids { subcommand, prefix } => ids(ctx, &args.words, &subcommand, &prefix),
    };
    ctx.ui
        .out(&lines.iter().map(|l| format!("{l}\n")).collect::<String>());
    Ok(Exit::Ok)
}

/// Walks `words` through the clap tree: subcommands descend, an option that takes a value
/// swallows the next word; then decides what the last word may be.
pub(crate) fn candidates(words: &[String]) -> Candidates {
    let mut cmd = Cli::command();
    cmd.build();
    let (current, before) = match words.split_last() {
        Some((current, before)) => (current.as_str(), before),
        None => ("", &[][..]),
    };
    let mut cmd = &cmd;
    let mut positionals = 0usize;
    let mut takes_value: Option<&Arg> = None;
    let mut after_dashes = false;
    for word in before {
        if takes_value.take().is_some() {
            continue;
        }
        if !after_dashes && word == "--" {
            after_dashes = true;
        } else if !after_dashes && word.starts_with('-') && word.len() > 1 {
            takes_value = option(cmd, word).filter(|a| needs_value(a, word));
        } else if let Some(sub) = (positionals == 0 && cmd.has_subcommands())
            .then(|| cmd.find_subcommand(word))
            .flatten()
        {
            cmd = sub;
        } else {
            positionals += 1;
        }
    }
    if let Some(arg) = takes_value {
        return values(arg, current);
    }
    if current.starts_with('-') && !after_dashes {
        return Candidates::Words(matching(option_names(cmd), current));
    }
    if cmd.has_subcommands() && positionals == 0 {
        let names = cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| s.get_name().to_owned());
        return Candidates::Words(matching(names, current));
    }
    match cmd.get_positionals().nth(positionals.min(
        // A multi-valued positional (ID…) takes every later word too.
        cmd.get_positionals().count().saturating_sub(1),
    )) {
        Some(arg) if arg.get_id() == "ids" || arg.get_id() == "id" => {
            if arg.get_id() == "id" && positionals > 0 {
                return Candidates::Words(Vec::new());
            }
            Candidates::Ids {
                subcommand: cmd.get_name().to_owned(),
                prefix: current.to_owned(),
            }
        }
        Some(arg) => values(arg, current),
        None => Candidates::Words(Vec::new()),
    }
}

/// The option `word` names (`--jobs`, `-j`, or `-j4`/`--jobs=4` carrying its value).
fn option<'a>(cmd: &'a clap::Command, word: &str) -> Option<&'a Arg> {
    match word.strip_prefix("--") {
        Some(long) => {
            let name = long.split('=').next().unwrap_or(long);
            cmd.get_arguments().find(|a| a.get_long() == Some(name))
        }
        None => {
            let short = word.chars().nth(1)?;
            cmd.get_arguments().find(|a| a.get_short() == Some(short))
        }
    }
}

/// Whether the option in `word` still waits for its value in the next word.
fn needs_value(arg: &Arg, word: &str) -> bool {
    let attached = word.contains('=') || (!word.starts_with("--") && word.chars().count() > 2);
    arg.get_action().takes_values() && !attached
}

/// The values an option or positional takes: its listed values, a directory or a file, or
/// nothing to offer (a number, a message).
fn values(arg: &Arg, current: &str) -> Candidates {
    let listed: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if !listed.is_empty() {
        return Candidates::Words(matching(listed, current));
    }
    match arg.get_value_hint() {
        ValueHint::DirPath => Candidates::Dirs,
        ValueHint::FilePath | ValueHint::AnyPath => Candidates::Files,
        _ => Candidates::Words(Vec::new()),
    }
}

/// Every long and short option of `cmd`, its globals included.
fn option_names(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .flat_map(|a| {
            let long = a.get_long().map(|l| format!("--{l}"));
            let short = a.get_short().map(|s| format!("-{s}"));
            long.into_iter().chain(short)
        })
        .collect()
}

fn matching(words: impl IntoIterator<Item = String>, prefix: &str) -> Vec<String> {
    words
        .into_iter()
        .filter(|w| w.starts_with(prefix))
        .collect()
}

/// The ids `subcommand` can act on: `merge` the done ones, `start` the ones not merged,
/// `logs`, `stop` and `tell` the ones that have run; `-C DIR` among the words is honoured.
/// Outside a repository, none.
fn ids(ctx: &Context, words: &[String], subcommand: &str, prefix: &str) -> Vec<String> {
    let dir = words
        .iter()
        .position(|w| w == "-C")
        .and_then(|i| words.get(i + 1))
        .map_or_else(|| ctx.cwd.clone(), |d| ctx.cwd.join(d));
    let Ok(ws) = crate::run::workspace::Workspace::open(&dir, &ctx.repo_env) else {
        return Vec::new();
    };
    let Ok(view) = crate::run::overview::overview(&ws) else {
        return Vec::new();
    };
    view.changes
        .iter()
        .filter(|v| match subcommand {
            "merge" => v.phase() == Phase::Done,
            "start" => v.phase() != Phase::Merged,
            "logs" | "stop" | "tell" => v.state.is_some(),
            _ => true,
        })
        .map(|v| v.change.id.clone())
        .filter(|id| id.starts_with(prefix))
        .collect()
}
