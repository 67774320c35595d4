//! Committing a worktree.
