//! Agents: presets and commands (`presets`), one supervised agent process (`runner`), and the
//! decoding of agents' JSON event streams into readable lines (`stream`).

mod group;
pub mod presets;
pub mod runner;
pub mod stream;
