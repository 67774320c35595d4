//! The orchestrator: what to run (overview, plan), when (scheduler), how (pipeline), the one
//! event type everything reports through, and its persisting consumers (record, state).

pub mod budget;
pub mod control;
pub mod event;
pub mod hooks;
pub mod leftover;
pub(crate) mod memory;
pub mod merge;
pub mod overview;
pub mod pipeline;
pub mod plan;
pub(crate) mod process;
pub mod record;
pub mod sandbox;
pub mod scheduler;
pub mod signals;
pub mod slots;
pub mod state;
pub mod workspace;
