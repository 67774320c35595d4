//! The user's lifecycle hooks (`hooks:` in the configuration): shell commands run through the
//! same launcher as agents ([`process::launch`]: own process group, `hooks_timeout`, nothing
//! left behind), with the `CONFLUX_*` variables of the moment.

use std::path::{Path, PathBuf};

use crate::agent::presets::Invocation;
use crate::agent::runner::{Cancel, RunResult};
use crate::agent::template;
use crate::config::Config;
use crate::run::event::{ChangeEvent, Role};
use crate::run::process;

/// Why a hook did not succeed; a warning or a change's note, never the run's end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("hook {event} (`{command}`): {error}")]
    Invalid {
        event: String,
        command: String,
        error: template::Error,
    },
    #[error("hook {event} was cancelled")]
    Cancelled { event: String },
    #[error("hook {event} (`{command}`) {reason}")]
    Failed {
        event: String,
        command: String,
        reason: String,
    },
    #[error("hook {event}: {reason}")]
    Runtime { event: String, reason: String },
}

/// What a hook is told, as `CONFLUX_*` environment variables; unset fields are left out.
#[derive(Clone, Debug, Default)]
pub struct HookVars {
    pub change_id: Option<String>,
    pub worktree: Option<PathBuf>,
    pub branch: Option<String>,
    pub iteration: Option<u32>,
    pub state: Option<String>,
    pub tasks_done: Option<usize>,
    pub tasks_total: Option<usize>,
}

impl HookVars {
    fn env(&self, event: &str) -> Vec<(String, String)> {
        let mut env = vec![("CONFLUX_EVENT".to_owned(), event.to_owned())];
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                env.push((k.to_owned(), v));
            }
        };
        put("CONFLUX_CHANGE_ID", self.change_id.clone());
        put(
            "CONFLUX_WORKTREE",
            self.worktree.as_ref().map(|p| p.display().to_string()),
        );
        put("CONFLUX_BRANCH", self.branch.clone());
        put("CONFLUX_ITERATION", self.iteration.map(|i| i.to_string()));
        put("CONFLUX_STATE", self.state.clone());
        put("CONFLUX_TASKS_DONE", self.tasks_done.map(|n| n.to_string()));
        put(
            "CONFLUX_TASKS_TOTAL",
            self.tasks_total.map(|n| n.to_string()),
        );
        env
    }
}

/// Runs hook `event` if one is configured: `None` when there is none, else whether it
/// succeeded (`Err` names the hook and carries the end of its output). Each output line goes
/// to `on_line`.
pub async fn run(
    config: &Config,
    event: &str,
    vars: &HookVars,
    cwd: &Path,
    cancel: &Cancel,
    on_line: &mut (dyn FnMut(String) + Send),
) -> Option<Result<(), Error>> {
    let command = config.hooks.get(event)?.clone();
    let invocation = match Invocation::shell(&command, template::HOOK, vars.env(event)) {
        Ok(invocation) => invocation,
        Err(error) => {
            return Some(Err(Error::Invalid {
                event: event.to_owned(),
                command,
                error,
            }));
        }
    };
    let mut forward = |event: ChangeEvent| {
        if let ChangeEvent::Output { line, .. } = event {
            on_line(line);
        }
    };
    let outcome = process::launch(
        Role::Hook,
        config,
        invocation,
        cwd,
        None,
        cancel,
        &mut forward,
    )
    .await;
    let event = event.to_owned();
    Some(match outcome.result {
        RunResult::Success => Ok(()),
        RunResult::Cancelled => Err(Error::Cancelled { event }),
        _ => Err(Error::Failed {
            event,
            command,
            reason: process::Ended(Role::Hook, &outcome).to_string(),
        }),
    })
}

/// Runs a hook from code that is not async (merging), on the caller's runtime when it is a
/// blocking task of one, else on a small runtime of its own.
pub fn run_blocking(
    config: &Config,
    event: &str,
    vars: &HookVars,
    cwd: &Path,
) -> Option<Result<(), Error>> {
    config.hooks.get(event)?;
    let cancel = Cancel::new();
    let mut log = |line: String| tracing::info!("hook {event}: {line}");
    let hook = run(config, event, vars, cwd, &cancel, &mut log);
    // A stop ends the hook, not the orchestrator by the default action with the hook left.
    block_on(crate::run::signals::until_done(hook, &cancel))
        .and_then(|r| r.map_err(|e| format!("cannot install the signal handlers: {e}")))
        .map_or_else(
            |reason| {
                Some(Err(Error::Runtime {
                    event: event.to_owned(),
                    reason,
                }))
            },
            |(done, _)| done,
        )
}

/// Drives `future` to completion from synchronous code: inside a `spawn_blocking` task on its
/// runtime, else on a new current-thread runtime.
pub fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(future)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(future))
            .map_err(|e| format!("cannot start an async runtime: {e}")),
    }
}
