//! The man pages and shell completions, generated from the clap definitions.
//!
//! `git conflux completions SHELL` and the committed files under `man/` and `completions/`
//! come from these functions; `tests/docs.rs` fails when the committed files are stale and
//! rewrites them with `UPDATE_DOCS=1` (what `scripts/gen-docs.sh` does).

use clap::CommandFactory;

use crate::cli::{Cli, Shell};

/// The completion script for `shell`, with change-id completion added where the shell allows.
pub fn completion(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "git-conflux", &mut buf);
    let mut script = String::from_utf8_lossy(&buf).into_owned();
    if shell == Shell::Zsh {
        // Positional change ids complete from `git-conflux status --ids`.
        script = script
            .lines()
            .map(|line| {
                let is_id = line.starts_with("'*::ids -- ") || line.starts_with("':id -- ");
                if is_id {
                    line.replace(":_default'", ":_git_conflux_ids'")
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
    }
    match shell {
        Shell::Bash => script.push_str(BASH_EXTRA),
        Shell::Fish => script.push_str(FISH_EXTRA),
        // Defined before the trailing dispatch, which may call the completer at once.
        Shell::Zsh => match script.find("if [ \"$funcstack[1]\" = \"_git-conflux\" ]") {
            Some(at) => script.insert_str(at, ZSH_EXTRA.trim_start()),
            None => script.push_str(ZSH_EXTRA),
        },
    }
    script
}

/// `git conflux <TAB>` goes through git's own bash completion, which calls `_git_conflux`.
const BASH_EXTRA: &str = r#"
# Change ids for start, merge and logs; subcommands for `git conflux <TAB>`.
_git_conflux_ids() {
    git-conflux status --ids 2>/dev/null
}
_git_conflux() {
    local subcommands="init status start merge logs stop clean completions help"
    local subcommand
    subcommand="$(__git_find_on_cmdline "$subcommands" 2>/dev/null)"
    if [ -z "$subcommand" ]; then
        __gitcomp "$subcommands"
        return
    fi
    case "$subcommand,$cur" in
    *,-*) __gitcomp "$(git-conflux "$subcommand" --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]*' | sort -u)" ;;
    start,*|merge,*|logs,*|status,*|clean,*) __gitcomp_nl "$(_git_conflux_ids)" ;;
    esac
}
_git_conflux_direct() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local sub="${COMP_WORDS[1]}"
    case "$sub" in
    start|merge|logs|status|clean)
        if [[ "$cur" != -* ]]; then
            COMPREPLY=($(compgen -W "$(_git_conflux_ids)" -- "$cur"))
            return
        fi ;;
    esac
    _git-conflux "$@"
}
complete -F _git_conflux_direct -o bashdefault -o default git-conflux
"#;

const ZSH_EXTRA: &str = r#"
# Change ids for start, merge and logs.
_git_conflux_ids() {
    local -a ids
    ids=(${(f)"$(git-conflux status --ids 2>/dev/null)"})
    _describe 'change' ids
}
"#;

const FISH_EXTRA: &str = r#"
# Change ids for start, merge, logs, status and clean.
complete -c git-conflux -n "__fish_seen_subcommand_from start merge logs status clean" -f -a "(git-conflux status --ids 2>/dev/null)"
"#;

/// Every man page as (file name, roff text): `git-conflux.1` and one per subcommand.
pub fn man_pages() -> Vec<(String, String)> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    pages.push((
        "git-conflux.1".to_owned(),
        render_man(&cmd, Some(&reference())),
    ));
    for sub in cmd.get_subcommands() {
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
/// The JSON event stream of `start --json`, in git-conflux-start(1).
const START_REFERENCE: &str = include_str!("events.roff");
