//! The one error type every command returns, and the one table of exit codes.
//!
//! Modules keep their own per-operation error enums; they become a [`CommandError`] at the
//! command boundary, where the exit code and the hints are chosen (jj's `CommandError`).

use std::fmt;

use crate::run::{merge, overview, plan, workspace};

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
    /// A budget (a change's or the run's) was spent: changes ended `over-budget`, none failed.
    OverBudget = 4,
    /// An agent CLI refused to work (credentials, login, root, unknown model); the changes
    /// that would meet the same refusal were not started.
    Refused = 5,
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
            Exit::OverBudget,
            "a budget was spent (budget, run_budget, --budget): changes ended over-budget, none failed; start again with a higher budget to continue them",
        ),
        (
            Exit::Refused,
            "an agent CLI refused to work (invalid key, login needed, root, unknown model): the reason says how to fix it; changes with the same agent were not started, and `git conflux start` runs them once it is fixed",
        ),
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

/// A configuration error: exit 2, with a hint naming what to fix.
impl From<crate::config::Error> for CommandError {
    fn from(e: crate::config::Error) -> Self {
        CommandError::from_error(Exit::Usage, e)
            .hint("fix the file named above; `git help conflux` lists every key")
    }
}

/// No repository to work in: exit 2.
impl From<workspace::Error> for CommandError {
    fn from(e: workspace::Error) -> Self {
        match e {
            // The message says what to do (GIT_WORK_TREE; SHA-256).
            workspace::Error::Locate(
                e @ (crate::git::open::Error::ForeignWorkTree { .. }
                | crate::git::open::Error::Sha256 { .. }),
            ) => CommandError::from_error(Exit::Usage, e),
            workspace::Error::Locate(e) => CommandError::from_error(Exit::Usage, e)
                .hint(
                "change to a repository or point at one with -C <path>, or make this one with `git init`",
            ),
            e @ workspace::Error::Bare { .. } => CommandError::from_error(Exit::Usage, e),
        }
    }
}

/// Changes that cannot be listed, or an unknown id: exit 2.
impl From<overview::Error> for CommandError {
    fn from(e: overview::Error) -> Self {
        let hint = match &e {
            overview::Error::Discover(_) => {
                "fix the dependencies named above in the changes' proposal.md".to_owned()
            }
            overview::Error::Unknown { known, .. } if known.is_empty() => {
                "this repository has no changes under openspec/changes/ or specs/".to_owned()
            }
            overview::Error::Unknown { unknown, known } => {
                let known_list = list_cut(known);
                match unknown.iter().find_map(|id| {
                    crate::suggest::did_you_mean(id, known.iter().map(String::as_str))
                }) {
                    Some(meant) => format!("{meant} Known changes: {known_list}"),
                    None => format!("known changes: {known_list}"),
                }
            }
        };
        CommandError::from_error(Exit::Usage, e).hint(hint)
    }
}

/// A failed preflight check of `start`: exit 2, nothing was changed.
impl From<plan::Error> for CommandError {
    fn from(e: plan::Error) -> Self {
        match e {
            plan::Error::Config(e) => e.into(),
            // The entry's error keeps its own causes.
            plan::Error::Copy { id, error } => CommandError::from_error(Exit::Usage, error).hint(
                format!("fix `copy:` in .conflux.yaml or in the front matter of change {id}"),
            ),
            e => {
                let hint = plan_hint(&e);
                let err = CommandError::from_error(Exit::Usage, e);
                match hint {
                    Some(hint) => err.hint(hint),
                    None => err,
                }
            }
        }
    }
}

/// What to do about a failed preflight check, when the message alone does not say.
fn plan_hint(e: &plan::Error) -> Option<String> {
    use plan::Error as E;
    Some(match e {
        E::DetachedHead { .. } => {
            "check out a branch there, or pass --base <branch> (or set `base:` in .conflux.yaml)"
                .to_owned()
        }
        E::BaseIsChangeBranch { root, .. } => format!(
            "pass --base <branch> (or set `base:` in .conflux.yaml), or check out that branch in the main worktree {}",
            root.display()
        ),
        E::NoBase { .. } => {
            "pass an existing branch with --base, or fix `base:` in .conflux.yaml".to_owned()
        }
        E::NoAgent => {
            "run `git conflux init`, set `agent:` in .conflux.yaml, or pass --agent <preset>"
                .to_owned()
        }
        E::Uncommitted { dir, .. } => {
            format!("commit them first: git add {} && git commit", dir.display())
        }
        // The other ways an agent is missing say what to fix in their message.
        E::AgentMissing(crate::agent::presets::Error::NotFound { .. }) => {
            "install it (or add its folder to PATH), or choose another agent with --agent or `agent:` in .conflux.yaml"
                .to_owned()
        }
        E::AgentPreflight(crate::agent::presets::Error::RootWithoutSandbox { .. }) => {
            "set `env: {IS_SANDBOX: \"1\"}` in .conflux.yaml if this is a sandbox or container, or run git conflux as a normal user"
                .to_owned()
        }
        E::Locked(_) => "wait for it to finish, or stop it with `git conflux stop`".to_owned(),
        E::DependencyNotDone { id, dep } => format!("start both: git conflux start {dep} {id}"),
        E::ForeignBranch { branch, .. } => format!(
            "rename it (git branch -m {branch} <new-name>), or delete it if its commits are not needed (git branch -D {branch}), then run git conflux start again"
        ),
        _ => return None,
    })
}

/// A merge that did not happen: 3 when the branches conflict, 2 when the run directory
/// cannot be read or written, 1 for every refusal.
impl From<merge::Error> for CommandError {
    fn from(e: merge::Error) -> Self {
        let exit = if e.is_conflict() {
            Exit::Conflict
        } else if matches!(e, merge::Error::State(_)) {
            Exit::Usage
        } else {
            Exit::Failed
        };
        CommandError::from_error(exit, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refusal of the plan is exit 2 and its hint says what to do next.
    #[test]
    fn plan_refusals_are_exit_2_and_say_what_to_do() {
        use plan::Error as E;
        let cases = [
            (
                E::DetachedHead { root: "/r".into() },
                "check out a branch there, or pass --base <branch>",
            ),
            (
                E::BaseIsChangeBranch {
                    base: "conflux/x".into(),
                    root: "/r".into(),
                },
                "or check out that branch in the main worktree /r",
            ),
            (
                E::NoBase {
                    base: "nope".into(),
                },
                "pass an existing branch with --base",
            ),
            (E::NoAgent, "run `git conflux init`"),
            (
                E::Uncommitted {
                    id: "a".into(),
                    dir: "changes/a".into(),
                    paths: vec!["changes/a/tasks.md".into()],
                },
                "commit them first: git add changes/a && git commit",
            ),
            (
                E::DependencyNotDone {
                    id: "b".into(),
                    dep: "a".into(),
                },
                "start both: git conflux start a b",
            ),
            (
                E::ForeignBranch {
                    id: "a".into(),
                    branch: "conflux/a".into(),
                },
                "rename it (git branch -m conflux/a <new-name>)",
            ),
        ];
        for (error, hint) in cases {
            let err = CommandError::from(error);
            assert_eq!(err.exit, Exit::Usage, "{err}");
            assert!(err.hints.iter().any(|h| h.contains(hint)), "{err}");
        }
    }

    /// Conflicts are exit 3, refusals exit 1; the merge's message is kept whole.
    #[test]
    fn merge_errors_pick_the_exit_code() {
        let conflict = CommandError::from(merge::Error::Conflicts {
            id: "a".into(),
            base: "main".into(),
            branch: "conflux/a".into(),
            worktree: "/w".into(),
            conflicts: Vec::new(),
        });
        assert_eq!(conflict.exit, Exit::Conflict, "{conflict}");
        let refused = CommandError::from(merge::Error::NoRun { id: "a".into() });
        assert_eq!(refused.exit, Exit::Failed, "{refused}");
        assert!(refused.message.contains("git conflux start a"), "{refused}");
    }

    #[test]
    fn unknown_ids_are_exit_2_and_the_hint_lists_the_known_ones() {
        let err = CommandError::from(overview::Error::Unknown {
            unknown: vec!["zzz".into()],
            known: vec!["a".into(), "b".into()],
        });
        assert_eq!(err.exit, Exit::Usage);
        assert_eq!(
            err.to_string(),
            "no such change: zzz\nhint: known changes: a, b"
        );
    }

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
