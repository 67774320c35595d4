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
        #[serde(rename = "elapsed_ms", with = "millis")]
        elapsed: Duration,
        /// How many changes ended in each phase (`done`, `failed`, …).
        #[serde(default)]
        totals: std::collections::BTreeMap<String, usize>,
        /// What the agents of this run reported they cost, when any did.
        #[serde(default)]
        cost_usd: Option<f64>,
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
        #[serde(with = "json_or_text")]
        line: String,
    },
    Retrying {
        attempt: u32,
        max: u32,
        reason: String,
        #[serde(rename = "delay_ms", with = "millis")]
        delay: Duration,
    },
    InactivityTimeout {
        #[serde(rename = "after_ms", with = "millis")]
        after: Duration,
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

/// The version of the JSON event stream (`start --json`, the control socket's `subscribe`);
/// raised when a field changes meaning or goes away.
pub const STREAM_VERSION: u32 = 1;

/// One line of the JSON event stream: the version, when it happened, and the event.
#[derive(Serialize, Deserialize)]
pub(crate) struct Stamped {
    pub(crate) v: u32,
    /// RFC 3339, UTC, with milliseconds.
    pub(crate) ts: String,
    #[serde(flatten)]
    pub(crate) event: Event,
}

/// The event as one line of the JSON stream, stamped now, with its newline. Every JSON
/// consumer (`start --json`, the control socket) writes these lines and no others.
pub(crate) fn json_line(event: &Event) -> String {
    let stamped = Stamped {
        v: STREAM_VERSION,
        ts: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        event: event.clone(),
    };
    let mut line = serde_json::to_string(&stamped).unwrap_or_default();
    line.push('\n');
    line
}

/// Durations as whole milliseconds (`"elapsed_ms": 6012`), never `{"secs","nanos"}`.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// An output line that is itself JSON (an agent's raw stream) travels as that JSON value,
/// not as an escaped string; any other line as a string.
mod json_or_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub(super) fn serialize<S: Serializer>(line: &str, s: S) -> Result<S::Ok, S::Error> {
        if line.trim_start().starts_with(['{', '['])
            && let Ok(value) = serde_json::from_str::<Value>(line)
        {
            return value.serialize(s);
        }
        s.serialize_str(line)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(line) => line,
            other => other.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind the stream can carry, as serde names them: the top-level `event`s and the
    /// `kind`s of `change` events, taken from the error serde gives for an unknown tag, so
    /// that a new variant shows up here without anyone listing it.
    pub(crate) fn all_kinds() -> Vec<String> {
        fn expected(err: serde_json::Error) -> Vec<String> {
            let text = err.to_string();
            let list = text
                .split("expected one of ")
                .nth(1)
                .expect("serde lists the variants");
            list.split(", ")
                .map(|v| v.trim_matches(|c: char| c == '`' || !c.is_ascii() || c.is_whitespace()))
                .map(|v| v.split('`').next().unwrap_or(v).to_owned())
                .collect()
        }
        let events = expected(serde_json::from_str::<Event>(r#"{"event":"?"}"#).unwrap_err());
        let kinds = expected(serde_json::from_str::<ChangeEvent>(r#"{"kind":"?"}"#).unwrap_err());
        events.into_iter().chain(kinds).collect()
    }

    #[test]
    fn the_man_page_documents_every_kind_of_event_and_no_other() {
        let page = crate::docs::man_pages()
            .into_iter()
            .find(|(name, _)| name == "git-conflux-start.1")
            .expect("a start page")
            .1;
        // Each documented kind is a `.TP` item whose name is set in bold.
        let documented: std::collections::BTreeSet<String> = page
            .split(".SH \"JSON EVENTS\"")
            .nth(1)
            .expect("a JSON EVENTS section")
            .lines()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[0] == ".TP")
            .filter_map(|w| w[1].strip_prefix(".B "))
            .map(|name| name.replace("\\-", "-").replace("\\_", "_"))
            .collect();
        let code: std::collections::BTreeSet<String> = all_kinds().into_iter().collect();
        assert!(code.len() > 15, "{code:?}");
        assert_eq!(documented, code);
    }

    #[test]
    fn stream_lines_carry_version_time_milliseconds_and_json_output() {
        let line = json_line(&Event::change(
            "a",
            ChangeEvent::Retrying {
                attempt: 1,
                max: 3,
                reason: "429".into(),
                delay: Duration::from_millis(1500),
            },
        ));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["v"], 1, "{line}");
        assert_eq!(value["delay_ms"], 1500, "{line}");
        let ts = value["ts"].as_str().unwrap();
        assert!(
            humantime::parse_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 24,
            "{ts}"
        );
        let raw = r#"{"type":"result","n":[1,2]}"#;
        let line = json_line(&Event::change(
            "a",
            ChangeEvent::Output {
                role: Role::Agent,
                line: raw.into(),
            },
        ));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["line"]["n"][1], 2, "{line}");
        let back: Stamped = serde_json::from_str(&line).unwrap();
        let Event::Change {
            kind: ChangeEvent::Output { line, .. },
            ..
        } = back.event
        else {
            panic!("{line}");
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            serde_json::from_str::<serde_json::Value>(raw).unwrap()
        );
    }
}
