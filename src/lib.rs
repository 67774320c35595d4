//! git-conflux: spec-driven changes implemented by AI coding agents in parallel worktrees.
//!
//! The binary (`src/main.rs`) is a thin shell over this library; the module map is in
//! DESIGN.md.

pub mod agent;
pub mod change;
pub mod cli;
pub mod commands;
pub(crate) mod config;
pub mod docs;
pub mod error;
pub(crate) mod files;
pub mod git;
pub(crate) mod proc;
pub(crate) mod run;
pub(crate) mod suggest;
pub(crate) mod ui;
