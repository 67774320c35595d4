//! Changes written in the repository: OpenSpec `openspec/changes/<id>/` and spec-kit
//! `specs/NNN-name/`, their tasks and their dependencies.

pub mod tasks;

pub use tasks::{Task, parse_tasks, read_tasks};
