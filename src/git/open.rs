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
}
