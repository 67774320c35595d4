//! Integration tests of the `git-conflux` binary, linked into one test binary so the crate is
//! linked once.

mod agent_cli;
mod model_server;
#[path = "../common/cli_env.rs"]
mod support;

mod test_aider;
mod test_base;
mod test_branches;
mod test_budget;
mod test_claude;
mod test_codex;
mod test_completion;
mod test_config_words;
mod test_docs;
mod test_gemini;
mod test_git_env;
mod test_hooks;
mod test_install;
mod test_limits;
mod test_manners;
mod test_merge;
mod test_opencode;
mod test_quoting;
mod test_resolve;
mod test_review;
mod test_safety;
mod test_sandbox;
mod test_snapshots;
mod test_start;
mod test_status;
mod test_steer;
mod test_stop;
