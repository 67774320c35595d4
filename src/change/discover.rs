//! Finding every change of a repository and putting them in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use super::proposal::{Meta, parse_proposal};
use super::{Change, Discovery, Problem, Source, Task, deps, openspec, read_tasks, speckit};

/// Discovery could not produce a list of changes to work on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the repository folder {}: {source}", path.display())]
    Root { path: PathBuf, source: io::Error },
    #[error("cannot list {}: {source}", path.display())]
    ReadDir { path: PathBuf, source: io::Error },
    #[error(
        "change id `{id}` is used twice, by {} and {}: rename one of the folders",
        first.display(),
        second.display()
    )]
    DuplicateId {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error(transparent)]
    Dependencies(#[from] deps::Error),
}

/// Finds the changes of the repository whose top level is `root` (a worktree), reads their
/// tasks and dependencies, and orders them. Finding none is not an error.
pub fn discover(root: &Path) -> Result<Discovery, Error> {
    let repo = Repo::open(root)?;
    let mut found = Found::default();
    openspec::find(&repo, &mut found)?;
    speckit::find(&repo, &mut found)?;
    found.finish()
}

/// The repository root, as given and resolved, so that nothing outside it is read.
pub(super) struct Repo {
    root: PathBuf,
    canonical: PathBuf,
}

/// A folder entry that may hold a change.
pub(super) struct Entry {
    pub name: String,
    /// Relative to the repository root.
    pub path: PathBuf,
}

impl Repo {
    fn open(root: &Path) -> Result<Repo, Error> {
        let canonical = std::fs::canonicalize(root).map_err(|source| Error::Root {
            path: root.to_owned(),
            source,
        })?;
        Ok(Repo {
            root: root.to_owned(),
            canonical,
        })
    }

    /// Where a relative path resolves to, when it leads outside the repository.
    fn outside(&self, rel: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(self.root.join(rel))
            .ok()
            .filter(|target| !target.starts_with(&self.canonical))
    }

    /// The sub-folders of `dir` (relative), sorted by name. A missing `dir` (or a file) has none. Folders
    /// whose name is not UTF-8 and links leading outside the repository are reported.
    pub(super) fn folders(
        &self,
        dir: &Path,
        problems: &mut Vec<Problem>,
    ) -> Result<Vec<Entry>, Error> {
        let abs = self.root.join(dir);
        let read = match std::fs::read_dir(&abs) {
            Ok(read) => read,
            // A missing folder, or a file where a folder would be, holds no changes.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(Vec::new());
            }
            Err(source) => {
                return Err(Error::ReadDir {
                    path: dir.to_owned(),
                    source,
                });
            }
        };
        let mut entries = Vec::new();
        for entry in read {
            let entry = entry.map_err(|source| Error::ReadDir {
                path: dir.to_owned(),
                source,
            })?;
            let path = dir.join(entry.file_name());
            // Follows links: a link to a folder is a folder, a dangling link is skipped.
            if !entry.path().is_dir() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                problems.push(Problem::new(
                    path,
                    "the folder name is not UTF-8, so it cannot be a change id: rename it",
                ));
                continue;
            };
            if let Some(target) = self.outside(&path) {
                problems.push(Problem::new(
                    path,
                    format!(
                        "leads outside the repository (to {}); not followed: move the change into the repository",
                        target.display()
                    ),
                ));
                continue;
            }
            entries.push(Entry { name, path });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Reads and parses a change's description (proposal.md, spec.md); `None` when missing.
    pub(super) fn meta(&self, file: &Path) -> Result<Option<Meta>, Problem> {
        let problem = |message: String| Problem::new(file.to_owned(), message);
        let bytes = match crate::files::read(&self.root.join(file), Some(&self.canonical)) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(None),
            Err(e) => return Err(problem(e.reason.to_string())),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| problem("not valid UTF-8: save it as UTF-8".into()))?;
        parse_proposal(&text).map(Some).map_err(|e| {
            let (line, column) = e.position();
            Problem {
                path: file.to_owned(),
                line: Some(line),
                column,
                message: e.to_string(),
            }
        })
    }

    /// Reads a change's tasks; a file that cannot be read counts as no tasks, with the reason.
    pub(super) fn tasks(&self, file: &Path) -> (Vec<Task>, Option<String>) {
        match read_tasks(&self.root, file) {
            Ok(tasks) => (tasks, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    }

    pub(super) fn exists(&self, file: &Path) -> bool {
        self.root.join(file).exists()
    }
}

/// Changes and problems gathered from every source, before the dependency checks.
#[derive(Default)]
pub(super) struct Found {
    changes: Vec<Change>,
    pub problems: Vec<Problem>,
    /// Ids of folders that exist but could not be read, to tell their dependents why.
    failed: BTreeMap<String, PathBuf>,
    /// Ids of archived OpenSpec changes: finished work, so depending on them is satisfied.
    pub archived: BTreeSet<String>,
}

impl Found {
    pub(super) fn add(&mut self, id: &str, read: Result<Change, Problem>) {
        match read {
            Ok(change) => self.changes.push(change),
            Err(problem) => {
                self.failed.insert(id.to_owned(), problem.path.clone());
                self.problems.push(problem);
            }
        }
    }

    fn finish(mut self) -> Result<Discovery, Error> {
        let mut by_id: BTreeMap<&str, &Path> = BTreeMap::new();
        for change in &self.changes {
            if let Some(first) = by_id.insert(&change.id, &change.dir) {
                return Err(Error::DuplicateId {
                    id: change.id.clone(),
                    first: first.to_owned(),
                    second: change.dir.clone(),
                });
            }
        }
        let active: BTreeSet<String> = self.changes.iter().map(|c| c.id.clone()).collect();
        for change in &mut self.changes {
            change
                .dependencies
                .retain(|d| active.contains(d) || !self.archived.contains(d));
        }
        self.drop_dependents_of_failed();
        let nodes: Vec<(&str, &[String])> = self
            .changes
            .iter()
            .map(|c| (c.id.as_str(), c.dependencies.as_slice()))
            .collect();
        let order = deps::order(&nodes)?;
        let mut slots: Vec<Option<Change>> = self.changes.into_iter().map(Some).collect();
        let changes = order.into_iter().filter_map(|i| slots[i].take()).collect();
        self.problems.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Discovery {
            changes,
            problems: self.problems,
        })
    }

    /// A change that depends on a folder that could not be read cannot be scheduled either:
    /// it becomes a problem naming that folder, and so on for its own dependents.
    fn drop_dependents_of_failed(&mut self) {
        loop {
            let Some(at) = self
                .changes
                .iter()
                .position(|c| c.dependencies.iter().any(|d| self.failed.contains_key(d)))
            else {
                return;
            };
            let change = self.changes.remove(at);
            let (dep, path) = change
                .dependencies
                .iter()
                .find_map(|d| self.failed.get_key_value(d))
                .map(|(d, p)| (d.clone(), p.clone()))
                .unwrap_or_default();
            self.problems.push(Problem::new(
                change.dir.clone(),
                format!(
                    "depends on `{dep}`, which could not be read (see {}): fix that change first",
                    path.display()
                ),
            ));
            self.failed.insert(change.id, change.dir);
        }
    }
}

/// Fills in the parts every source shares once its files are known.
pub(super) fn change(
    repo: &Repo,
    id: String,
    source: Source,
    dir: PathBuf,
    meta: Meta,
    title: Option<String>,
) -> Change {
    let tasks_file = dir.join("tasks.md");
    let (tasks, tasks_problem) = repo.tasks(&tasks_file);
    Change {
        id,
        source,
        dir,
        title,
        tasks_file,
        tasks,
        tasks_problem,
        dependencies: meta.dependencies,
        config: meta.config,
    }
}
