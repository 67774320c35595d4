//! Changes written in the repository: OpenSpec `openspec/changes/<id>/` and spec-kit
//! `specs/NNN-name/`, their tasks and their dependencies.
//!
//! [`discover`] reads them all. A change that cannot be read is a [`Problem`] and the others
//! go on; a dependency that cannot be honoured (unknown id, self-dependency, cycle) stops
//! discovery, because no order of work would be right.

pub mod deps;
pub mod discover;
pub mod id;
mod openspec;
pub mod proposal;
mod speckit;
pub mod tasks;

use std::path::PathBuf;

pub use discover::discover;
pub use id::{InvalidId, validate_id};
pub use tasks::{Task, parse_tasks, read_tasks};

/// Which tool wrote the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `openspec/changes/<id>/`
    Openspec,
    /// `specs/NNN-name/`
    SpecKit,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Openspec => "openspec",
            Source::SpecKit => "spec-kit",
        }
    }
}

/// One change to implement.
#[derive(Clone, Debug)]
pub struct Change {
    /// The folder name, validated by [`validate_id`].
    pub id: String,
    pub source: Source,
    /// Relative to the repository root, e.g. `openspec/changes/add-x`.
    pub dir: PathBuf,
    /// The proposal's (spec-kit: `spec.md`'s) first `# ` heading, without a `Change:` prefix.
    /// spec-kit changes without one are titled with their id.
    pub title: Option<String>,
    /// Relative to the repository root; may not exist yet.
    pub tasks_file: PathBuf,
    pub tasks: Vec<Task>,
    /// Why the tasks file could not be read (e.g. not UTF-8); its tasks then count as none.
    pub tasks_problem: Option<String>,
    /// Ids of the changes this one builds on (each present in the same discovery). A
    /// dependency on an archived OpenSpec change is already satisfied and is left out.
    pub dependencies: Vec<String>,
    /// The front matter's `conflux:` value, interpreted by the configuration layer.
    pub config: Option<serde_json::Value>,
}

impl Change {
    pub fn tasks_done(&self) -> usize {
        self.tasks.iter().filter(|t| t.done).count()
    }

    pub fn tasks_total(&self) -> usize {
        self.tasks.len()
    }

    pub fn open_tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| !t.done)
    }
}

/// A change folder that could not be read; it is reported and left out. Displayed as
/// `path[:line[:column]]: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The folder or file at fault, relative to the repository root.
    pub path: PathBuf,
    /// 1-based position in `path`, when the fault is at a place in a file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: PathBuf, message: impl Into<String>) -> Problem {
        Problem {
            path,
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything found in a repository.
#[derive(Clone, Debug, Default)]
pub struct Discovery {
    /// In dependency order: each change after the changes it depends on, ties by id.
    pub changes: Vec<Change>,
    /// Folders that look like changes but could not be read, by path.
    pub problems: Vec<Problem>,
}
