//! The ways a run is shown: progress bars on a terminal, plain timestamped lines elsewhere,
//! JSON lines for scripts. Each is a consumer of [`Event`]s and nothing else.

use std::io::Write;

use crate::run::event::{Event, json_line};
use crate::run::state::now_secs;
use crate::ui::progress::Progress;
use crate::ui::{Ui, clock, describe};

pub enum Display {
    Progress(Box<Progress>),
    Plain { quiet: bool },
    Json,
}

impl Display {
    /// Bars on a terminal unless `--no-progress`; JSON when asked.
    pub fn choose(ui: &Ui, json: bool, no_progress: bool) -> Display {
        if json {
            Display::Json
        } else if ui.stderr_is_terminal && !no_progress && !ui.quiet {
            Display::Progress(Box::new(Progress::new(ui.style())))
        } else {
            Display::Plain { quiet: ui.quiet }
        }
    }

    pub fn show(&mut self, event: &Event) {
        match self {
            Display::Progress(p) => p.show(event),
            Display::Plain { quiet } => {
                if let Some(line) = plain_line(event)
                    && !*quiet
                {
                    let _ = writeln!(std::io::stderr().lock(), "{} {line}", clock(now_secs()));
                }
            }
            Display::Json => write_json_line(&json_line(event)),
        }
    }

    /// An event that arrived as a line of the JSON stream (`status --watch`): JSON is passed
    /// on as it came, stamped when it happened; the other displays draw the event.
    pub fn show_line(&mut self, event: &Event, line: &str) {
        match self {
            Display::Json => write_json_line(&format!("{}\n", line.trim_end())),
            _ => self.show(event),
        }
    }

    /// Clears the bars before the summary is printed.
    pub fn finish(&mut self) {
        if let Display::Progress(p) = self {
            p.finish();
        }
    }
}

/// The plain-text form of an event (without the time).
pub fn plain_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::RunStarted {
            changes,
            jobs,
            base,
        } => {
            format!(
                "starting {} change(s) on {base}, {jobs} at a time: {}",
                changes.len(),
                changes.join(", ")
            )
        }
        Event::Change { id, kind } => format!("{id}  {}", describe(kind)),
        Event::Interrupted { now: false } => {
            "interrupted: stopping the agents (again to kill them at once), committing their work"
                .to_owned()
        }
        Event::Interrupted { now: true } => "interrupted again: killing every agent now".to_owned(),
        Event::Warning { text } => format!("warning: {text}"),
        Event::RunFinished { elapsed, .. } => format!(
            "finished in {}",
            humantime::format_duration(round_secs(*elapsed))
        ),
    })
}

fn round_secs(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(d.as_secs())
}

/// One line of the JSON stream on stdout, flushed so that a reader sees each event as it
/// happens.
fn write_json_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(line.as_bytes()).and_then(|_| out.flush());
}
