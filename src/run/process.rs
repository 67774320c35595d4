//! The one way a change's process is launched (agent, review, verify, setup, hooks, resolve,
//! archive): which environment, limits, retries and stagger it gets is decided per [`Role`] in
//! one table, so that the pipeline, merging and hooks cannot drift apart.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::agent::presets::{AgentSpec, Invocation};
use crate::agent::runner::{
    self, AgentEvent, Cancel, Limits, RetryPolicy, RunOutcome, RunRequest, Stagger,
};
use crate::agent::template;
use crate::config::Config;
use crate::run::event::{ChangeEvent, Role};
use crate::run::sandbox;

/// Which of the configured time limits bound a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// An agent: the inactivity timeout too, since it may hang silently on a model.
    Agent,
    /// A command of ours: only the overall timeout.
    Command,
    /// A user's hook: `hooks_timeout` only.
    Hook,
}

/// How a process of one role is launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// The configuration's `env:` is added to its environment.
    pub(crate) config_env: bool,
    pub(crate) bound: Bound,
    /// Failed attempts are tried again by the configured `retry:` policy.
    pub(crate) retried: bool,
    /// Its start waits its turn in the run's shared stagger (agents starting together).
    pub(crate) staggered: bool,
    /// It owns its cwd (a change's worktree): whatever still runs there is ended with it.
    pub(crate) owns_cwd: bool,
    /// The setting a "ran longer than the timeout" message names.
    pub(crate) timeout_key: &'static str,
    /// Runs in the configured sandbox even without `sandbox.commands` (an agent).
    pub(crate) always_sandboxed: bool,
}

/// The table: every role's policy, in one place.
pub(crate) fn policy(role: Role) -> Policy {
    let agent = Policy {
        config_env: true,
        bound: Bound::Agent,
        retried: true,
        staggered: true,
        owns_cwd: true,
        timeout_key: "timeout",
        always_sandboxed: true,
    };
    let command = Policy {
        bound: Bound::Command,
        retried: false,
        staggered: false,
        always_sandboxed: false,
        ..agent
    };
    match role {
        Role::Agent | Role::Review => agent,
        // Merging runs one change at a time; there is no run's stagger to wait in.
        Role::Resolve => Policy {
            staggered: false,
            ..agent
        },
        Role::Setup | Role::Verify | Role::Archive => command,
        // A hook runs in the main worktree too, which it must not empty of processes.
        Role::Hook => Policy {
            config_env: false,
            bound: Bound::Hook,
            owns_cwd: false,
            timeout_key: "hooks_timeout",
            ..command
        },
    }
}

impl Policy {
    fn limits(&self, config: &Config) -> Limits {
        match self.bound {
            Bound::Agent => config.limits(true),
            Bound::Command => config.limits(false),
            Bound::Hook => Limits {
                inactivity_timeout: None,
                timeout: Some(config.hooks_timeout),
                kill_grace: config.kill_grace,
            },
        }
    }

    fn retry(&self, config: &Config) -> RetryPolicy {
        if self.retried {
            config.retry.clone()
        } else {
            RetryPolicy::none()
        }
    }
}

/// What a configured command of a change (setup, verify, archive) is told, as `CONFLUX_*`
/// variables.
pub(crate) struct StepVars<'a> {
    pub(crate) change_id: &'a str,
    pub(crate) worktree: &'a Path,
    pub(crate) base: &'a str,
    pub(crate) iteration: u32,
}

/// The invocation of a configured command of a change, with its `CONFLUX_*` variables.
pub(crate) fn step(command: &str, vars: &StepVars<'_>) -> Result<Invocation, String> {
    let env = vec![
        ("CONFLUX_CHANGE_ID".into(), vars.change_id.to_owned()),
        (
            "CONFLUX_WORKTREE".into(),
            vars.worktree.display().to_string(),
        ),
        ("CONFLUX_BASE".into(), vars.base.to_owned()),
        ("CONFLUX_ITERATION".into(), vars.iteration.to_string()),
    ];
    Invocation::shell(command, template::STEP, env).map_err(|e| format!("`{command}`: {e}"))
}

/// Runs `invocation` in `cwd` as a process of `role`, until it ends or `cancel` ends it.
/// `stagger` is the run's shared one, waited in only by staggered roles. What it does is
/// reported to `on_event` as the change's events: starts, lines, retries, timeouts, notes.
pub(crate) async fn launch(
    role: Role,
    config: &Config,
    mut invocation: Invocation,
    cwd: &Path,
    stagger: Option<&Stagger>,
    cancel: &Cancel,
    on_event: &mut (dyn FnMut(ChangeEvent) + Send),
) -> RunOutcome {
    let policy = policy(role);
    if policy.config_env {
        invocation
            .env
            .extend(config.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let wrap = if policy.always_sandboxed || config.sandbox.commands {
        let spec = agent_of(role, config);
        match sandbox::wrap(&config.sandbox, spec, &mut invocation, cwd) {
            Ok(wrap) => wrap,
            Err(e) => return RunOutcome::failed(e.to_string()),
        }
    } else {
        None
    };
    let request = RunRequest {
        invocation,
        cwd: cwd.to_owned(),
        env: Vec::new(),
        limits: policy.limits(config),
        retry: policy.retry(config),
        owns_cwd: policy.owns_cwd,
        wrap,
    };
    let unstaggered = Stagger::new(Duration::ZERO);
    let stagger = stagger.filter(|_| policy.staggered).unwrap_or(&unstaggered);
    let mut forward = |event: AgentEvent| {
        if let Some(event) = change_event(role, event) {
            on_event(event);
        }
    };
    runner::run(request, stagger, cancel, &mut forward).await
}

/// The agent a process of `role` belongs to, whose own paths its sandbox shows: the
/// reviewer's for a review, else the change's agent.
fn agent_of(role: Role, config: &Config) -> Option<&AgentSpec> {
    let review = config.review.as_ref().and_then(|r| r.agent.as_ref());
    match role {
        Role::Review => review.or(config.agent.as_ref()),
        _ => config.agent.as_ref(),
    }
}

/// The change's event of a runner's event; `None` for what is reported elsewhere (a run's
/// cost, from its outcome) or not at all.
fn change_event(role: Role, event: AgentEvent) -> Option<ChangeEvent> {
    Some(match event {
        AgentEvent::Spawned { attempt, pid } => ChangeEvent::ProcessStarted { role, pid, attempt },
        AgentEvent::Line { text, .. } => ChangeEvent::Output { role, line: text },
        AgentEvent::Usage(_) => return None,
        AgentEvent::Retrying {
            attempt,
            max,
            reason,
            delay,
        } => ChangeEvent::Retrying {
            attempt,
            max,
            reason,
            delay,
        },
        AgentEvent::InactivityTimeout { after } => ChangeEvent::InactivityTimeout { after },
        AgentEvent::Exited { escaped, .. } if !escaped.is_empty() => ChangeEvent::Note {
            text: format!(
                "ended what the {} left running: {}",
                role.as_str(),
                escaped.join(", ")
            ),
        },
        AgentEvent::Exited { .. } => return None,
    })
}

/// How a process of `role` ended, as the rest of a sentence whose subject is the process
/// ("the agent failed: …"), naming the setting that bounded it.
pub(crate) struct Ended<'a>(pub(crate) Role, pub(crate) &'a RunOutcome);

impl fmt::Display for Ended<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.1.describe(policy(self.0).timeout_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::runner::RunResult;

    const ROLES: [Role; 7] = [
        Role::Agent,
        Role::Setup,
        Role::Verify,
        Role::Review,
        Role::Hook,
        Role::Resolve,
        Role::Archive,
    ];

    fn with(f: impl Fn(Policy) -> bool) -> Vec<Role> {
        ROLES.into_iter().filter(|&r| f(policy(r))).collect()
    }

    #[test]
    fn only_agents_are_retried_and_only_the_runs_agents_staggered() {
        assert_eq!(
            with(|p| p.retried),
            [Role::Agent, Role::Review, Role::Resolve]
        );
        assert_eq!(with(|p| p.staggered), [Role::Agent, Role::Review]);
        assert_eq!(
            with(|p| p.bound == Bound::Agent),
            [Role::Agent, Role::Review, Role::Resolve]
        );
    }

    #[test]
    fn only_agents_run_sandboxed_without_sandbox_commands() {
        assert_eq!(
            with(|p| p.always_sandboxed),
            [Role::Agent, Role::Review, Role::Resolve]
        );
    }

    #[test]
    fn hooks_do_not_own_their_cwd_nor_get_the_agents_env() {
        assert_eq!(with(|p| !p.owns_cwd), [Role::Hook]);
        assert_eq!(with(|p| !p.config_env), [Role::Hook]);
    }

    #[test]
    fn limits_follow_the_role() {
        let config = Config {
            inactivity_timeout: Some(Duration::from_secs(7)),
            timeout: Some(Duration::from_secs(70)),
            hooks_timeout: Duration::from_secs(5),
            ..Config::default()
        };
        let agent = policy(Role::Resolve).limits(&config);
        assert_eq!(agent.inactivity_timeout, Some(Duration::from_secs(7)));
        assert_eq!(agent.timeout, Some(Duration::from_secs(70)));
        let verify = policy(Role::Verify).limits(&config);
        assert_eq!(verify.inactivity_timeout, None);
        assert_eq!(verify.timeout, Some(Duration::from_secs(70)));
        let hook = policy(Role::Hook).limits(&config);
        assert_eq!(hook.inactivity_timeout, None);
        assert_eq!(hook.timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_timeout_names_the_setting_of_its_role() {
        let outcome = RunOutcome {
            result: RunResult::TimedOut {
                after: Duration::from_secs(5),
            },
            attempts: 1,
            duration: Duration::from_secs(5),
            usage: Default::default(),
            output_tail: String::new(),
            last_error: None,
        };
        let hook = Ended(Role::Hook, &outcome);
        assert_eq!(
            hook.to_string(),
            "ran longer than the timeout of 5s (hooks_timeout)"
        );
        let agent = Ended(Role::Agent, &outcome);
        assert_eq!(
            agent.to_string(),
            "ran longer than the timeout of 5s (timeout)"
        );
    }
}
