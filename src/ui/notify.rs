//! Desktop notifications for the person running `start`: a change that failed, stalled, was
//! blocked or conflicts waits for them. Off unless `notify: true`; a missing notifier is no
//! error (the terminal bell and the summary still say it).

use std::process::{Command, Stdio};

use crate::run::event::{ChangeEvent, Event};

/// Sends a notification when `event` is a change that now needs a person.
pub(crate) fn on_event(event: &Event) {
    let Event::Change {
        id,
        kind: ChangeEvent::Phase { phase, reason },
    } = event
    else {
        return;
    };
    if !phase.is_failure() || *phase == crate::run::state::Phase::Cancelled {
        return;
    }
    let title = format!("git conflux: {id} {phase}");
    let body = reason.clone().unwrap_or_default();
    let command = if which::which("notify-send").is_ok() {
        let mut c = Command::new("notify-send");
        c.args(["--app-name=git-conflux", &title, &body]);
        c
    } else if which::which("osascript").is_ok() {
        let script = format!(
            "display notification {} with title {}",
            applescript_string(&body),
            applescript_string(&title)
        );
        let mut c = Command::new("osascript");
        c.args(["-e", &script]);
        c
    } else {
        return;
    };
    spawn_and_reap(command);
}

/// An AppleScript string literal (quotes and backslashes escaped): text never becomes code.
fn applescript_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Runs the notifier without waiting for it, and reaps it on a thread of its own so no
/// zombie is left behind.
fn spawn_and_reap(mut command: Command) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Ok(mut child) = command.spawn() {
        std::thread::spawn(move || child.wait());
    }
}
