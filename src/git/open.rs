//! Finding and opening the repository.

use std::path::PathBuf;

/// Why [`Repo::discover`](super::Repo::discover) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository in `path` or any parent directory.
    #[error("{} is not inside a git repository; run `git init` there or change to a repository", path.display())]
    NotARepository { path: PathBuf },
    /// A repository was found but could not be opened.
    #[error("could not open the git repository found from {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    /// `GIT_WORK_TREE` names another directory than the repository's own work tree.
    #[error("GIT_WORK_TREE is {}, but the repository {} has its work tree at {}; git conflux works in the repository's own work tree: unset GIT_WORK_TREE, or run it from that work tree", work_tree.display(), git_dir.display(), shown(worktree))]
    ForeignWorkTree {
        work_tree: PathBuf,
        git_dir: PathBuf,
        worktree: Option<PathBuf>,
    },
}

/// A work tree for a message; a bare repository has none.
fn shown(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or("none (a bare repository)".to_owned(), |p| {
            p.display().to_string()
        })
}
