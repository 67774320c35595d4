//! Placeholders in the user's shell commands (`agent.command`, `verify`, `setup`, `archive`,
//! hooks).
//!
//! A value never becomes shell text: each placeholder's value travels in the child's
//! environment (`CONFLUX_PROMPT`, …) and the placeholder becomes a reference to that variable,
//! quoted for where it stands, found by scanning the command like `sh` does. Task text such
//! as `$(touch pwned)` then reaches the agent as one argument, never as a command.

/// A placeholder and the environment variable that carries its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placeholder {
    pub(crate) name: &'static str,
    pub(crate) var: &'static str,
}

const CHANGE_ID: Placeholder = Placeholder {
    name: "change_id",
    var: "CONFLUX_CHANGE_ID",
};
const WORKTREE: Placeholder = Placeholder {
    name: "worktree",
    var: "CONFLUX_WORKTREE",
};
const BASE: Placeholder = Placeholder {
    name: "base",
    var: "CONFLUX_BASE",
};
pub(crate) const PROMPT: Placeholder = Placeholder {
    name: "prompt",
    var: "CONFLUX_PROMPT",
};
pub(crate) const PROMPT_FILE: Placeholder = Placeholder {
    name: "prompt_file",
    var: "CONFLUX_PROMPT_FILE",
};

/// What an agent command (`agent.command`, `review.agent.command`) may use.
pub(crate) const AGENT: &[Placeholder] = &[CHANGE_ID, PROMPT, PROMPT_FILE, WORKTREE, BASE];
/// What `setup`, `verify` and `archive` may use.
pub(crate) const STEP: &[Placeholder] = &[CHANGE_ID, WORKTREE, BASE];
/// What a hook may use (a run's `on_start`/`on_finish` have no change: they expand empty).
pub(crate) const HOOK: &[Placeholder] = &[CHANGE_ID, WORKTREE];

/// Why a command's placeholders cannot be expanded.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(
        "{{{name}}} is inside single quotes, where the shell cannot expand it; remove the single quotes around it (conflux quotes every placeholder itself): write {{{name}}} or \"{{{name}}}\", not '{{{name}}}'"
    )]
    SingleQuoted { name: String },
    #[error("unknown placeholder {{{name}}}; known here: {known}")]
    Unknown { name: String, known: String },
}

/// Where the scanner is in the shell's quoting.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// A command ready for `sh -c`, and the placeholders it uses (whose variables it needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expanded {
    pub(crate) command: String,
    pub(crate) used: Vec<Placeholder>,
}

impl Expanded {
    pub(crate) fn uses(&self, p: Placeholder) -> bool {
        self.used.contains(&p)
    }
}

/// `template` with every placeholder of `known` replaced by a reference to its variable:
/// `"${VAR}"` outside quotes, `${VAR}` inside double quotes; refused inside single quotes.
/// `${word}` is the shell's own and stays; an unknown `{word}` outside single quotes is an
/// error (inside them it is literal text, as in `jq '{name}'`).
pub(crate) fn expand(template: &str, known: &[Placeholder]) -> Result<Expanded, Error> {
    let mut out = String::with_capacity(template.len());
    let mut used = Vec::new();
    let mut quote = Quote::None;
    let mut chars = template.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Quote::None | Quote::Double, '\\') => {
                out.push(c);
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
                continue;
            }
            (Quote::None, '\'') => quote = Quote::Single,
            (Quote::Single, '\'') | (Quote::Double, '"') => quote = Quote::None,
            (Quote::None, '"') => quote = Quote::Double,
            (_, '{') if !template[..i].ends_with('$') => {
                if let Some(name) = word_at(&template[i..]) {
                    match known.iter().find(|p| p.name == name) {
                        Some(_) if quote == Quote::Single => {
                            return Err(Error::SingleQuoted { name: name.into() });
                        }
                        Some(p) if quote == Quote::Double => {
                            out.push_str(&format!("${{{}}}", p.var))
                        }
                        Some(p) => out.push_str(&format!("\"${{{}}}\"", p.var)),
                        None if quote == Quote::Single => {
                            out.push_str(&template[i..i + name.len() + 2])
                        }
                        None => return Err(unknown(name, known)),
                    }
                    used.extend(known.iter().filter(|p| p.name == name));
                    for _ in 0..name.len() + 1 {
                        chars.next();
                    }
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
    }
    Ok(Expanded { command: out, used })
}

fn unknown(name: &str, known: &[Placeholder]) -> Error {
    let known: Vec<String> = known.iter().map(|p| format!("{{{}}}", p.name)).collect();
    Error::Unknown {
        name: name.into(),
        known: known.join(" "),
    }
}

/// The placeholder word in `{word}` at the start of `s`: lowercase letters, digits and `_`.
fn word_at(s: &str) -> Option<&str> {
    let end = s.find('}')?;
    let word = &s[1..end];
    let valid = word.starts_with(|c: char| c.is_ascii_lowercase())
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    valid.then_some(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_variable_references_quoted_for_where_they_stand() {
        let cases = [
            ("a {prompt}", "a \"${CONFLUX_PROMPT}\""),
            ("a \"{prompt}\"", "a \"${CONFLUX_PROMPT}\""),
            ("a --m=\"{prompt}\"", "a --m=\"${CONFLUX_PROMPT}\""),
            (
                "a \"x {base} \\\" {worktree}\"",
                "a \"x ${CONFLUX_BASE} \\\" ${CONFLUX_WORKTREE}\"",
            ),
            ("a \\'{change_id}", "a \\'\"${CONFLUX_CHANGE_ID}\""),
            (
                "a ${HOME} '{x}' {} {a,b} \"$x\"",
                "a ${HOME} '{x}' {} {a,b} \"$x\"",
            ),
            ("jq '{name}' f", "jq '{name}' f"),
        ];
        for (template, want) in cases {
            assert_eq!(expand(template, AGENT).unwrap().command, want, "{template}");
        }
    }

    #[test]
    fn single_quotes_and_unknown_words_are_refused_with_the_fix() {
        let err = expand("my-agent '{prompt}'", AGENT).unwrap_err();
        assert_eq!(
            err,
            Error::SingleQuoted {
                name: "prompt".into()
            }
        );
        assert!(
            err.to_string().contains("remove the single quotes"),
            "{err}"
        );
        let err = expand("a \"it's\" '--m={prompt}'", AGENT).unwrap_err();
        assert!(matches!(err, Error::SingleQuoted { .. }), "{err}");
        let err = expand("a {design}", AGENT).unwrap_err();
        assert!(err.to_string().contains("{design}"), "{err}");
        assert!(err.to_string().contains("{prompt_file}"), "{err}");
        let err = expand("make check {prompt}", STEP).unwrap_err();
        assert!(matches!(err, Error::Unknown { .. }), "{err}");
    }
}
