//! The man pages and shell completions, generated from the clap definitions.
//!
//! `git conflux completions SHELL` and the committed files under `man/` and `completions/`
//! come from these functions; `tests/docs.rs` fails when the committed files are stale and
//! rewrites them with `UPDATE_DOCS=1` (what `scripts/gen-docs.sh` does).

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

/// `git-conflux <TAB>` through `complete -F`, and `git conflux <TAB>` through git's own
/// bash completion, which calls `_git_conflux` for the `conflux` subcommand.
const BASH: &str = r#"# bash completion for git-conflux (`git conflux completions bash`)

# Fills COMPREPLY with the candidates for the words after `git-conflux` / `git conflux`.
_git_conflux_complete() {
    local cur="${!#}" out
    out="$(git-conflux __complete -- "$@" 2>/dev/null)"
    case "$out" in
    :dirs) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    :files) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    *) mapfile -t COMPREPLY <<<"$out"; [ -n "$out" ] || COMPREPLY=() ;;
    esac
}

# `git-conflux <TAB>`
_git_conflux_bin() {
    _git_conflux_complete "${COMP_WORDS[@]:1:COMP_CWORD}"
}

# `git conflux <TAB>`: git's completion calls this with `words` and `cword` set.
_git_conflux() {
    local i=1
    while [ "$i" -lt "$cword" ] && [ "${words[i]}" != conflux ]; do i=$((i + 1)); done
    _git_conflux_complete "${words[@]:i+1:cword-i}"
}

complete -F _git_conflux_bin git-conflux
"#;

/// Loaded from `$fpath` (`#compdef`) or sourced; zsh's `_git` calls `_git-conflux` for
/// `git conflux` with `words` starting at `conflux`.
const ZSH: &str = r#"#compdef git-conflux
# zsh completion for git-conflux (`git conflux completions zsh`)

_git-conflux() {
    local out
    local -a reply
    out="$(git-conflux __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)"
    case "$out" in
    :dirs) _directories ;;
    :files) _files ;;
    *) reply=(${(f)out}); compadd -a reply ;;
    esac
}

if [ "$funcstack[1]" = "_git-conflux" ]; then
    _git-conflux "$@"
else
    compdef _git-conflux git-conflux
fi
"#;

/// `git-conflux <TAB>`, and `git conflux <TAB>` once git's own completion is past `conflux`.
const FISH: &str = r#"# fish completion for git-conflux (`git conflux completions fish`)

function __git_conflux_complete
    set -l words (commandline -opc)
    # Drop everything up to the program: `git-conflux …` or `git … conflux …`.
    if test "$words[1]" = git
        set -l at (contains -i -- conflux $words)
        set words $words[(math $at + 1)..-1]
    else
        set -e words[1]
    end
    set -l cur (commandline -ct)
    set -l out (git-conflux __complete -- $words $cur 2>/dev/null)
    switch "$out"
        case :dirs
            __fish_complete_directories $cur
        case :files
            __fish_complete_path $cur
        case '*'
            printf '%s
' $out
    end
end

complete -c git-conflux -f -a '(__git_conflux_complete)'
complete -c git -n '__fish_seen_subcommand_from conflux' -f -a '(__git_conflux_complete)'
"#;

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
        pages.push((format!("{name}.1"), render_man(&sub, None)));
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
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if let Some(extra) = extra {
        text.push_str(extra);
    }
    text
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
