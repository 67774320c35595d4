//! What the agent runner needs to know of a `sh -c` command line, read the way sh reads it.

use std::borrow::Cow;

/// Words that only the shell itself understands: `exec` before them would look for a program
/// of that name.
const SHELL_ONLY: &[&str] = &[
    "!", ".", ":", "[[", "{", "}", "alias", "bg", "builtin", "case", "cd", "command", "do", "done",
    "elif", "else", "esac", "eval", "exec", "exit", "export", "fg", "fi", "for", "function",
    "getopts", "hash", "if", "in", "jobs", "local", "read", "readonly", "return", "select", "set",
    "shift", "source", "then", "time", "trap", "type", "ulimit", "umask", "unset", "until", "wait",
    "while",
];

/// The byte ranges of the words of `command` when it is one simple command (no `;`, `&`,
/// `|`, newline or parenthesis outside quotes); `None` otherwise.
fn simple_command_words(command: &str) -> Option<Vec<std::ops::Range<usize>>> {
    #[derive(PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut quote = Quote::None;
    let mut words = Vec::new();
    let mut start = None;
    let mut chars = command.char_indices();
    while let Some((i, c)) = chars.next() {
        match quote {
            Quote::Single => {
                if c == '\'' {
                    quote = Quote::None;
                }
                continue;
            }
            Quote::Double => {
                match c {
                    '"' => quote = Quote::None,
                    '\\' => {
                        chars.next();
                    }
                    _ => {}
                }
                continue;
            }
            Quote::None => {}
        }
        match c {
            // `>&`, `<&`: a redirection such as `2>&1`, not a control operator.
            '&' if command[..i].ends_with(['>', '<']) => {}
            ';' | '&' | '|' | '\n' | '(' | ')' | '`' => return None,
            '#' if start.is_none() => break,
            ' ' | '\t' => {
                if let Some(s) = start.take() {
                    words.push(s..i);
                }
                continue;
            }
            '\'' => quote = Quote::Single,
            '"' => quote = Quote::Double,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if quote != Quote::None {
        return None;
    }
    if let Some(s) = start {
        words.push(s..command.len());
    }
    Some(words)
}

/// `NAME=value`: a variable assignment before the command word.
fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `command` with `exec` before the program of its one simple command, so that the shell
/// is replaced by the agent: the agent, not a shell waiting for it, is the process that gets
/// the one SIGTERM and its grace. Anything else (pipelines, lists, builtins, keywords) is
/// left as it is, to run under the shell.
pub(crate) fn exec_in_place(command: &str) -> Cow<'_, str> {
    let Some(words) = simple_command_words(command) else {
        return Cow::Borrowed(command);
    };
    let Some(program) = words
        .iter()
        .find(|w| !is_assignment(&command[(*w).clone()]))
    else {
        return Cow::Borrowed(command);
    };
    if SHELL_ONLY.contains(&&command[program.clone()]) {
        return Cow::Borrowed(command);
    }
    Cow::Owned(format!(
        "{}exec {}",
        &command[..program.start],
        &command[program.start..]
    ))
}

/// What `sh -c` starts first, as far as can be told before the run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Program {
    /// A program name to look up on PATH, or an absolute path.
    Named(String),
    /// A builtin or keyword, an expansion (`$VAR`), a compound command, a path relative to
    /// the worktree, or an `env` option not known here.
    Untold,
    /// Nothing but assignments.
    Nothing,
}

/// The program `sh -c` starts for these (already split) words: past `NAME=value`
/// assignments, `exec`, and `env` with its assignments and `-i`/`-u NAME`; `~/` expanded
/// against `home`.
pub(crate) fn program_of(words: &[String], home: Option<&std::path::Path>) -> Program {
    let mut words = words.iter();
    let mut after_env = false;
    while let Some(word) = words.next() {
        match word.as_str() {
            w if is_assignment(w) => {}
            "exec" if !after_env => {}
            "env" if !after_env => after_env = true,
            "-i" | "-" | "--ignore-environment" if after_env => {}
            "-u" | "--unset" if after_env => {
                words.next();
            }
            w if after_env && w.starts_with("--unset=") => {}
            w if after_env && w.starts_with('-') => return Program::Untold,
            w if SHELL_ONLY.contains(&w)
                || w.contains(|c: char| "$`()[]{}*?;|&<>\\".contains(c)) =>
            {
                return Program::Untold;
            }
            w => {
                return match (w.strip_prefix("~/"), home) {
                    (Some(rest), Some(home)) => {
                        Program::Named(home.join(rest).to_string_lossy().into_owned())
                    }
                    _ if w.starts_with('~') || (w.contains('/') && !w.starts_with('/')) => {
                        Program::Untold
                    }
                    _ => Program::Named(w.to_owned()),
                };
            }
        }
    }
    Program::Nothing
}

#[cfg(test)]
mod tests {
    use super::exec_in_place;

    #[test]
    fn a_simple_command_is_execed_after_its_assignments() {
        for (given, want) in [
            ("claude -p --verbose", "exec claude -p --verbose"),
            (
                "FOO=1 BAR='a b' agent \"$X\"",
                "FOO=1 BAR='a b' exec agent \"$X\"",
            ),
            ("python3 agent.py 2>&1", "exec python3 agent.py 2>&1"),
            (
                "agent 'a; b' \"c | d\" e\\;f",
                "exec agent 'a; b' \"c | d\" e\\;f",
            ),
            ("  agent", "  exec agent"),
        ] {
            assert_eq!(exec_in_place(given), want, "{given}");
        }
    }

    #[test]
    fn anything_else_runs_under_the_shell_as_written() {
        for given in [
            "cd sub && agent",
            "agent | tee log",
            "agent; echo done",
            "agent &",
            "exec agent",
            "cd sub",
            "FOO=1",
            "if true; then agent; fi",
            "(agent)",
            "agent $(cat args)",
            "agent 'unterminated",
            "echo a\necho b",
            "",
        ] {
            assert_eq!(exec_in_place(given), given, "{given}");
        }
    }
}
