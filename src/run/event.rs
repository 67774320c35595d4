//! The one event type every part of a run reports through. The UI, the state files and the
//! per-change logs are all consumers of these; nothing reports around them.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::run::state::Phase;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The plan is made; `changes` lists the selected ids in dependency order.
    RunStarted {
        changes: Vec<String>,
        jobs: usize,
        base: String,
    },
    /// Something happened to one change.
    Change {
        id: String,
        #[serde(flatten)]
        kind: ChangeEvent,
    },
    /// Ctrl-C, SIGTERM or `git conflux stop`: `now` when agents are killed without grace.
    Interrupted { now: bool },
    RunFinished {
        elapsed: Duration,
        /// How many changes ended in each phase (`done`, `failed`, …).
        #[serde(default)]
        totals: std::collections::BTreeMap<String, usize>,
    },
    /// Something about the run as a whole worth a warning (a run-wide hook failed).
    Warning { text: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeEvent {
    /// The change joins the run: where it will work, and its tasks as committed.
    Planned {
        branch: String,
        worktree: PathBuf,
        base: String,
        tasks_done: usize,
        tasks_total: usize,
    },
    /// A new phase; `reason` says why for failures, skips and blocks.
    Phase {
        phase: Phase,
        reason: Option<String>,
    },
    WorktreeReady {
        path: PathBuf,
        branch: String,
        created: bool,
        /// The branch was created now (by conflux), at `start_commit`.
        created_branch: bool,
        start_commit: String,
    },
    /// Tasks as ticked in the worktree now.
    Tasks {
        done: usize,
        total: usize,
    },
    /// Iteration `in_run` of at most `max` in this run; `iteration` counts every run's.
    IterationStarted {
        iteration: u32,
        in_run: u32,
        max: u32,
    },
    /// A command of ours (setup, verify, archive) or the agent started.
    ProcessStarted {
        role: Role,
        pid: u32,
        attempt: u32,
    },
    /// A line of output, decoded to readable text.
    Output {
        role: Role,
        line: String,
    },
    Retrying {
        attempt: u32,
        max: u32,
        reason: String,
        delay: Duration,
    },
    InactivityTimeout {
        after: Duration,
    },
    /// The agent hit a usage limit: the change waits until `until` (epoch seconds), then
    /// runs the same iteration again, spending no iteration and no retry.
    Waiting {
        until: u64,
        words: String,
    },
    /// Cost so far of this change's agent runs.
    Cost {
        usd: f64,
    },
    Committed {
        commit: String,
        message: String,
    },
    VerifyFailed {
        output_tail: String,
    },
    /// A review round ended; `verdict` is None when the reviewer gave none.
    Reviewed {
        round: u32,
        verdict: Option<crate::agent::verdict::Decision>,
        findings: Vec<String>,
    },
    Merged {
        into: String,
        commit: String,
    },
    /// A note of ours worth keeping in the log and showing.
    Note {
        text: String,
    },
    /// A message from `git conflux tell`, waiting for the change's next iteration.
    Told {
        message: String,
    },
    /// The waiting messages went into iteration `iteration`'s prompt.
    MessagesDelivered {
        iteration: u32,
        messages: Vec<String>,
    },
}

/// Which process a line or start belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Setup,
    Verify,
    Review,
    Hook,
    /// The agent resolving a merge's conflicts.
    Resolve,
    /// The `archive` command before a merge.
    Archive,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Setup => "setup",
            Role::Verify => "verify",
            Role::Review => "review",
            Role::Hook => "hook",
            Role::Resolve => "resolve",
            Role::Archive => "archive",
        }
    }
}

impl Event {
    pub fn change(id: &str, kind: ChangeEvent) -> Event {
        Event::Change {
            id: id.to_owned(),
            kind,
        }
    }
}
