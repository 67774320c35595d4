//! Finding and opening the repository.

use std::path::PathBuf;

/// Why [`Repo::discover`](super::Repo::discover) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository in `path` or any parent directory.
    #[error("{} is not inside a git repository", path.display())]
    NotARepository { path: PathBuf },
    /// A repository was found but could not be opened.
    #[error("could not open the git repository found from {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    /// The repository's objects are named by SHA-256, which this build of gix cannot read.
    #[error("the repository found from {} uses SHA-256 object ids, which git conflux does not support yet; use it with a SHA-1 repository", path.display())]
    Sha256 { path: PathBuf },
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

impl Error {
    /// The error for a repository at `path` that gix could not open: SHA-256 repositories
    /// (an object format gix is built without) are told apart from other failures.
    pub(crate) fn open(path: PathBuf, source: gix::Error) -> Error {
        let sha256 = source.dominant_class() == Some(gix::error::Class::Unsupported)
            && crate::error::with_causes(&source)
                .to_ascii_lowercase()
                .contains("sha256");
        if sha256 {
            Error::Sha256 { path }
        } else {
            Error::Open { path, source }
        }
    }
}
