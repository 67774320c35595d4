//! The one error type every command returns, and the one table of exit codes.
//!
//! Modules keep their own per-operation error enums; they become a [`CommandError`] at the
//! command boundary, where the exit code and the hints are chosen (jj's `CommandError`).

use std::fmt;

/// The documented exit codes (quoted by the man page and the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Ok = 0,
    /// Work ran but some of it failed, stalled, was skipped or was refused.
    Failed = 1,
    /// Bad usage, bad configuration or a failed preflight check; nothing was changed.
    Usage = 2,
    /// A merge found conflicts; nothing was changed.
    Conflict = 3,
    /// Interrupted by Ctrl-C, SIGTERM or `git conflux stop`; the run can be resumed.
    Interrupted = 130,
    /// A bug in git-conflux.
    Internal = 255,
}

impl Exit {
    /// The table printed in the man page and README, one line per code.
    pub const TABLE: &[(Exit, &str)] = &[
        (
            Exit::Ok,
            "success: everything asked for was done (or there was nothing to do)",
        ),
        (
            Exit::Failed,
            "some changes failed, stalled or were skipped, or a merge was refused (not done, unmerged dependencies, local changes)",
        ),
        (
            Exit::Usage,
            "usage, configuration or preflight error; nothing was changed",
        ),
        (Exit::Conflict, "merge conflicts; nothing was changed"),
        (
            Exit::Interrupted,
            "interrupted (Ctrl-C, SIGTERM, git conflux stop); run the command again to resume",
        ),
        (Exit::Internal, "internal error (a bug: please report it)"),
    ];

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A failure a command reports to the user: what happened, why, and what to do next.
#[derive(Debug)]
pub struct CommandError {
    pub exit: Exit,
    pub message: String,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    pub hints: Vec<String>,
}

impl CommandError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CommandError {
            exit,
            message: message.into(),
            source: None,
            hints: Vec::new(),
        }
    }

    /// A usage, configuration or preflight error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// Work was attempted and did not (fully) succeed (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Exit::Failed, message)
    }

    /// Wraps an error of a module, keeping its chain for "caused by" lines.
    pub fn from_error(exit: Exit, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        CommandError {
            exit,
            message: error.to_string(),
            source: error.source().map(source_text),
            hints: Vec::new(),
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }
}

/// Up to ten items joined with ", ", then "and N more": a message stays short however many
/// paths or conflicts it names (20,000 files once made a 243 KB refusal).
pub(crate) fn list_cut<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    const SHOWN: usize = 10;
    let mut shown = Vec::new();
    let mut more = 0usize;
    for item in items {
        if shown.len() < SHOWN {
            shown.push(item.to_string());
        } else {
            more += 1;
        }
    }
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Flattens a source chain into owned text, so errors that borrow stay printable.
fn source_text(e: &(dyn std::error::Error + 'static)) -> Box<dyn std::error::Error + Send + Sync> {
    causes(e).join("\ncaused by: ").into()
}

/// An error and its causes on one line ("could not create branch conflux/a: …: os error"),
/// for reasons recorded in a change's state, where no "caused by" lines follow.
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    causes(e).join(": ")
}

/// The messages of `e` and of its sources, each said once: a message that an earlier one
/// already contains (a wrapper that prints its source with `{source}`) is left out.
fn causes(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut lines: Vec<String> = vec![e.to_string()];
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !lines.iter().any(|l| l.contains(&text)) {
            lines.push(text);
        }
        next = s.source();
    }
    lines
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(source) = &self.source {
            let text = source.to_string();
            if !self.message.contains(&text) {
                write!(f, "\ncaused by: {text}")?;
            }
        }
        for hint in &self.hints {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CommandError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("could not create branch conflux/a")]
        Plain(#[source] std::io::Error),
        #[error("cannot write state: {0}")]
        Repeats(#[source] std::io::Error),
    }

    fn enospc() -> std::io::Error {
        std::io::Error::from_raw_os_error(28)
    }

    #[test]
    fn each_cause_is_said_once() {
        let plain = with_causes(&Outer::Plain(enospc()));
        assert!(
            plain.starts_with("could not create branch conflux/a: No space left on device"),
            "{plain}"
        );
        let repeats = with_causes(&Outer::Repeats(enospc()));
        assert_eq!(repeats.matches("No space left").count(), 1, "{repeats}");
        let shown = CommandError::from_error(Exit::Failed, Outer::Repeats(enospc())).to_string();
        assert_eq!(shown.matches("No space left").count(), 1, "{shown}");
    }

    #[test]
    fn lists_are_cut_to_ten_and_a_count() {
        assert_eq!(list_cut(["a", "b"]), "a, b");
        let many = list_cut((0..25).map(|i| format!("p{i}")));
        assert!(many.ends_with("p9 and 15 more"), "{many}");
    }
}
