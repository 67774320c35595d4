//! Agents: presets and commands (`presets`), one supervised agent process (`runner`), the
//! decoding of agents' JSON event streams into readable lines (`stream`), and the prompt
//! of one iteration (`prompt`).

mod group;
pub mod presets;
pub mod prompt;
pub mod runner;
mod shell;
pub mod stream;
pub mod template;
pub mod verdict;
