//! Agents: presets and commands (`presets`), one supervised agent process (`runner`), the
//! decoding of agents' JSON event streams into readable lines (`stream`), and the prompt
//! of one iteration (`prompt`), and what a CLI's own words say about a failed run
//! (`refusal`: a refusal no retry cures, a usage limit to wait out).

mod group;
pub mod presets;
pub mod prompt;
pub mod refusal;
pub mod runner;
mod shell;
pub mod stream;
pub mod template;
pub mod verdict;
