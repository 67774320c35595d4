//! Everything git, through gix: worktrees, branches, status, commits and merges.
//!
//! No `git` subprocess runs here. Everything written (refs, reflogs, indexes, worktree
//! registrations, commits) is what the git CLI writes itself, so `git worktree list`,
//! `git status`, `git fsck` and `git worktree remove` accept it. gix stays behind this
//! module so that its API churn stays here too.

pub mod aside;
pub mod branch;
mod checkout;
mod index_file;

pub mod commit;
mod dirty;
pub mod env;
pub mod journal;
pub mod layout;
pub mod merge;
pub mod open;
mod repo;
pub mod status;
mod trash;
pub mod worktree;
pub mod worktree_merge;

pub use commit::{commit_all, commit_merge};
pub use gix::ObjectId;
pub use journal::Recovered;
pub use merge::{Conflict, ConflictKind, MergeMode, MergeOutcome, MergeRequest, MergedCommit};

pub use repo::Repo;
pub use status::is_dirty;
pub use worktree::{Prepared, WorktreeInfo, WorktreeSpec};
pub use worktree_merge::WorktreeMerge;
