//! Everything the user sees: where text goes, colours, and the renderers of run events.

use std::io::{IsTerminal, Write};

use crate::cli::{ColorChoice, GlobalArgs};

/// Where output goes and how it looks, decided once from the flags and the terminal.
#[derive(Clone, Debug)]
pub struct Ui {
    pub color: bool,
    pub quiet: bool,
    pub verbose: u8,
    pub stderr_is_terminal: bool,
}

impl Ui {
    pub fn new(args: &GlobalArgs) -> Ui {
        let stdout_is_terminal = std::io::stdout().is_terminal();
        let stderr_is_terminal = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_is_terminal && !no_color,
        };
        console::set_colors_enabled(color);
        console::set_colors_enabled_stderr(
            color && stderr_is_terminal || args.color == ColorChoice::Always,
        );
        Ui {
            color,
            quiet: args.quiet,
            verbose: args.verbose,
            stderr_is_terminal,
        }
    }

    /// The data the user asked for (tables, JSON, logs): always printed.
    pub fn out(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth a message.
        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    }

    /// A note about what happened, on stderr; silent under --quiet.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    pub fn warn(&self, text: &str) {
        eprintln!("{} {text}", console::style("warning:").yellow().bold());
    }

    /// One of several problems reported before the command fails, in the style of the
    /// final `error:` line.
    pub fn error(&self, text: &str) {
        eprintln!("{} {text}", console::style("error:").red().bold());
    }

    pub fn style(&self) -> Styles {
        Styles { on: self.color }
    }
}

/// Colour helpers that do nothing when colours are off.
#[derive(Clone, Copy, Debug)]
pub struct Styles {
    on: bool,
}

impl Styles {
    fn paint(
        &self,
        text: &str,
        f: impl Fn(console::StyledObject<&str>) -> console::StyledObject<&str>,
    ) -> String {
        if self.on {
            f(console::style(text)).force_styling(true).to_string()
        } else {
            text.to_owned()
        }
    }
    pub fn green(&self, t: &str) -> String {
        self.paint(t, |s| s.green())
    }
    pub fn red(&self, t: &str) -> String {
        self.paint(t, |s| s.red())
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint(t, |s| s.yellow())
    }
    pub fn cyan(&self, t: &str) -> String {
        self.paint(t, |s| s.cyan())
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint(t, |s| s.dim())
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint(t, |s| s.bold())
    }
}

/// Cuts `text` to at most `width` terminal columns, ending in `…` when cut.
pub fn truncate_to_width(text: &str, width: usize) -> String {
    console::truncate_str(text, width, "…").into_owned()
}

/// How many columns a result printed on stdout may take: `COLUMNS` when set, else the
/// terminal's width; None off a terminal (a file gets whole lines).
pub fn stdout_width() -> Option<usize> {
    columns_env().or_else(|| {
        console::Term::stdout()
            .size_checked()
            .map(|(_, c)| c.into())
    })
}

/// The same for what is drawn on stderr (progress rows, their header).
pub fn stderr_width() -> Option<usize> {
    columns_env().or_else(|| {
        console::Term::stderr()
            .size_checked()
            .map(|(_, c)| c.into())
    })
}

/// `COLUMNS`, when it is set to a width.
fn columns_env() -> Option<usize> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
}

/// `text` broken at spaces into lines of at most `width` columns (a word longer than that
/// is cut); prose such as the next steps after a run, which must stay whole to be read.
pub fn wrap(text: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return format!("{text}\n");
    };
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let used = console::measure_text_width(&line);
        if !line.is_empty() && used + 1 + console::measure_text_width(word) > width {
            out.push_str(&truncate_to_width(&line, width));
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&truncate_to_width(&line, width));
    out.push('\n');
    out
}

pub mod display;
pub(crate) mod notify;
pub(crate) mod pager;
pub mod progress;
pub mod table;

use crate::run::event::ChangeEvent;

/// `HH:MM:SS` (UTC) of a time in epoch seconds, for logs and plain output.
pub fn clock(secs: u64) -> String {
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// One line of text for an event: the same words in the log, the plain output and the bars.
pub fn describe(kind: &ChangeEvent) -> String {
    match kind {
        ChangeEvent::Phase {
            phase,
            reason: Some(reason),
        } => format!("{phase}: {reason}"),
        ChangeEvent::Phase {
            phase,
            reason: None,
        } => phase.to_string(),
        ChangeEvent::WorktreeReady {
            path,
            branch,
            created: true,
            start_commit,
            ..
        } => {
            format!(
                "created worktree {} on branch {branch} at {}",
                path.display(),
                short(start_commit)
            )
        }
        ChangeEvent::WorktreeReady {
            path,
            branch,
            created: false,
            ..
        } => {
            format!("reusing worktree {} on branch {branch}", path.display())
        }
        ChangeEvent::Tasks { done, total } => format!("tasks {done}/{total}"),
        ChangeEvent::IterationStarted {
            iteration,
            in_run,
            max,
        } if iteration == in_run => format!("iteration {in_run}/{max}"),
        ChangeEvent::IterationStarted {
            iteration,
            in_run,
            max,
        } => format!("iteration {in_run}/{max} of this run ({iteration} in all)"),
        ChangeEvent::ProcessStarted {
            role,
            pid,
            attempt: 1,
        } => format!("{} started (pid {pid})", role.as_str()),
        ChangeEvent::ProcessStarted { role, pid, attempt } => {
            format!("{} started (pid {pid}, attempt {attempt})", role.as_str())
        }
        ChangeEvent::Output { role, line } => format!("{}│ {line}", role.as_str()),
        ChangeEvent::Retrying {
            attempt,
            max,
            reason,
            delay,
        } => {
            format!(
                "retry {attempt}/{max} in {}: {reason}",
                humantime::format_duration(*delay)
            )
        }
        ChangeEvent::InactivityTimeout { after } => {
            format!("no output for {}s: stopping the agent", after.as_secs())
        }
        ChangeEvent::Cost { usd } => format!("agent run cost ${usd:.4}"),
        ChangeEvent::Committed { commit, message } => {
            format!("committed {} {message}", short(commit))
        }
        ChangeEvent::VerifyFailed { output_tail } => {
            let last = output_tail
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            format!("verify failed: {last}")
        }
        ChangeEvent::Reviewed {
            round,
            verdict: Some(v),
            findings,
        } if findings.is_empty() => {
            format!("review round {round}: {}", v.as_str())
        }
        ChangeEvent::Reviewed {
            round,
            verdict: Some(v),
            findings,
        } => {
            format!(
                "review round {round}: {}: {}",
                v.as_str(),
                findings.join("; ")
            )
        }
        ChangeEvent::Reviewed {
            round,
            verdict: None,
            ..
        } => format!("review round {round}: no verdict"),
        ChangeEvent::Merged { into, commit } => format!("merged into {into} ({})", short(commit)),
        ChangeEvent::Note { text } => text.clone(),
        ChangeEvent::Told { message } => format!("told: {message}"),
        ChangeEvent::MessagesDelivered {
            iteration,
            messages,
        } => format!("told for iteration {iteration}: {}", messages.join("; ")),
        ChangeEvent::Planned {
            branch,
            tasks_done,
            tasks_total,
            ..
        } => format!("planned on branch {branch}, {tasks_done}/{tasks_total} tasks done"),
    }
}

/// The first 8 hex digits of a commit id.
pub fn short(commit: &str) -> &str {
    commit.get(..8).unwrap_or(commit)
}
