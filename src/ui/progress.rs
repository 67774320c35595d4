//! Live multi-progress on a terminal: a header, one line per active change, and a one-line
//! result for each finished change.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::run::budget::{Budget, Spend};
use crate::run::event::{ChangeEvent, Event, Role};
use crate::run::state::Phase;
use crate::ui::display::plain_line;
use crate::ui::{Styles, describe, table, truncate_to_width};

/// Columns kept for the header's elapsed time (`59s`, `1h 5m`).
const ELAPSED_COLUMNS: usize = 8;

/// The width rows are drawn within: the terminal's (or `COLUMNS`).
fn terminal_width() -> usize {
    crate::ui::stderr_width().unwrap_or(80)
}

/// What one change's line shows.
#[derive(Default)]
struct Row {
    phase: Option<Phase>,
    done: usize,
    total: usize,
    iteration: u32,
    in_run: u32,
    max: u32,
    /// A retry or timeout note, shown until the next output.
    note: Option<String>,
    last_line: String,
    /// What the change's agent runs spent in this run.
    spend: Spend,
    bar: Option<ProgressBar>,
}

pub struct Progress {
    multi: MultiProgress,
    header: ProgressBar,
    rows: HashMap<String, Row>,
    order: Vec<String>,
    style: Styles,
    id_width: usize,
    /// The run's budget, shown beside its spending.
    budget: Budget,
}

impl Progress {
    pub fn new(style: Styles) -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg}  {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        header.enable_steady_tick(Duration::from_millis(120));
        Progress {
            multi,
            header,
            rows: HashMap::new(),
            order: Vec::new(),
            style,
            id_width: 8,
            budget: Budget::default(),
        }
    }

    pub fn show(&mut self, event: &Event) {
        match event {
            Event::RunStarted {
                changes, budget, ..
            } => {
                self.budget = *budget;
                self.id_width = changes
                    .iter()
                    .map(|c| console::measure_text_width(c))
                    .max()
                    .unwrap_or(8)
                    .min(32);
                for id in changes {
                    self.rows.entry(id.clone()).or_default();
                    self.order.push(id.clone());
                }
            }
            Event::Change { id, kind } => self.change(id, kind),
            Event::Interrupted { now } => {
                let text = if *now {
                    "killing every agent now"
                } else {
                    "stopping: agents get SIGTERM; Ctrl-C again kills them at once"
                };
                let _ = self.multi.println(self.style.yellow(text));
            }
            Event::RunFinished { .. } => {
                if let Some(line) = plain_line(event) {
                    let _ = self
                        .multi
                        .println(truncate_to_width(&line, terminal_width()));
                }
            }
            Event::Warning { text } => {
                let _ = self.multi.println(format!("warning: {text}"));
            }
        }
        self.refresh_header();
    }

    fn change(&mut self, id: &str, kind: &ChangeEvent) {
        let width = terminal_width();
        let style = self.style;
        let id_width = self.id_width;
        let row = self.rows.entry(id.to_owned()).or_default();
        match kind {
            ChangeEvent::Phase { phase, reason } => {
                row.phase = Some(*phase);
                if phase.is_active() && *phase != Phase::Queued && row.bar.is_none() {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner:.green} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                    row.bar = Some(bar);
                }
                // An ended change has no bar, nor one queued again (prepared ahead, it waits
                // for a slot).
                if (!phase.is_active() || *phase == Phase::Queued)
                    && let Some(bar) = row.bar.take()
                {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                if !phase.is_active() {
                    let mark = match phase {
                        Phase::Done | Phase::Merged => style.green("✓"),
                        Phase::Cancelled => style.yellow("■"),
                        _ => style.red("✗"),
                    };
                    let mut line = format!(
                        "{mark} {:<id_width$}  {:<9} {}/{} tasks, {} iteration(s)",
                        id,
                        phase.as_str(),
                        row.done,
                        row.total,
                        row.iteration
                    );
                    if let Some(usd) = row.spend.usd {
                        line.push_str(&format!(", ${usd:.2}"));
                    }
                    if let Some(reason) = reason {
                        line.push_str(&format!(": {reason}"));
                    }
                    let _ = self.multi.println(truncate_to_width(&line, width));
                    // A change that now waits for a person rings the terminal's bell.
                    if phase.is_failure() && *phase != Phase::Cancelled {
                        eprint!("\x07");
                    }
                }
            }
            ChangeEvent::Tasks { done, total } => (row.done, row.total) = (*done, *total),
            ChangeEvent::IterationStarted {
                iteration,
                in_run,
                max,
            } => (row.iteration, row.in_run, row.max) = (*iteration, *in_run, *max),
            ChangeEvent::Output { role, line } => {
                row.note = None;
                row.last_line = if *role == Role::Agent {
                    line.clone()
                } else {
                    format!("{}│ {line}", role.as_str())
                };
            }
            ChangeEvent::Cost { spend, .. } => row.spend = row.spend.plus(spend),
            ChangeEvent::Waiting { .. } => {
                row.phase = Some(Phase::Waiting);
                row.note = Some(describe(kind));
            }
            ChangeEvent::Retrying { .. }
            | ChangeEvent::InactivityTimeout { .. }
            | ChangeEvent::VerifyFailed { .. }
            | ChangeEvent::Reviewed { .. } => {
                row.note = Some(describe(kind));
            }
            ChangeEvent::Merged { .. }
            | ChangeEvent::Committed { .. }
            | ChangeEvent::WorktreeReady { .. }
            | ChangeEvent::Note { .. }
            | ChangeEvent::Told { .. }
            | ChangeEvent::MessagesDelivered { .. }
            | ChangeEvent::Planned { .. } => {
                row.last_line = describe(kind);
            }
            ChangeEvent::ProcessStarted { .. } => {}
        }
        if let Some(bar) = &row.bar {
            let phase = row.phase.map_or("", |p| p.as_str());
            // This run's iterations against this run's maximum; earlier runs' beside them.
            let earlier = row.iteration.saturating_sub(row.in_run);
            let iterations = if earlier > 0 {
                format!("it {}/{} (+{earlier})", row.in_run, row.max)
            } else {
                format!("it {}/{}", row.in_run, row.max)
            };
            // On a narrow terminal a long id gives up columns to the phase and tasks.
            let id_width = id_width.min(width / 4).max(8);
            let head = format!(
                "{:<id_width$}  {:<9} {} {}/{}  {iterations}  ",
                truncate_to_width(id, id_width),
                phase,
                table::bar(row.done, row.total, 10),
                row.done,
                row.total,
            );
            let tail = match &row.note {
                Some(note) => style.yellow(note),
                None => style.dim(&row.last_line.replace(['\r', '\t'], " ")),
            };
            // The spinner and its space take 2 columns; the message gives way first, down to
            // nothing, then the head is cut: a row never wraps.
            let room = width.saturating_sub(2);
            let tail = truncate_to_width(
                &tail,
                room.saturating_sub(console::measure_text_width(&head)),
            );
            bar.set_message(truncate_to_width(&format!("{head}{tail}"), room));
        }
    }

    fn refresh_header(&mut self) {
        let count = |f: &dyn Fn(Phase) -> bool| {
            self.rows
                .values()
                .filter(|r| r.phase.is_some_and(f))
                .count()
        };
        let running = count(&|p| p.is_active() && !matches!(p, Phase::Queued | Phase::Waiting));
        let queued = count(&|p| p == Phase::Queued);
        let waiting = count(&|p| p == Phase::Waiting);
        let done = count(&|p| matches!(p, Phase::Done | Phase::Merged));
        let failed = count(&|p| p.is_failure());
        let spent = self
            .rows
            .values()
            .fold(Spend::default(), |sum, r| sum.plus(&r.spend));
        let mut text = format!(
            "conflux  {} running · {queued} queued · {} done · {} failed",
            self.style.cyan(&running.to_string()),
            self.style.green(&done.to_string()),
            if failed > 0 {
                self.style.red(&failed.to_string())
            } else {
                failed.to_string()
            },
        );
        if waiting > 0 {
            text.push_str(&format!(
                " · {} waiting for a usage limit",
                self.style.yellow(&waiting.to_string())
            ));
        }
        text.push_str(&run_spend(&spent, &self.budget));
        // The spinner, and the elapsed time after two spaces, keep their columns.
        let room = terminal_width().saturating_sub(2 + 2 + ELAPSED_COLUMNS);
        self.header.set_message(truncate_to_width(&text, room));
    }

    pub fn finish(&mut self) {
        for row in self.rows.values_mut() {
            if let Some(bar) = row.bar.take() {
                bar.finish_and_clear();
            }
        }
        self.header.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// The header's spending: `  $0.42/$2.00 · 52.3k tokens`, with what is known and budgeted.
fn run_spend(spent: &Spend, budget: &Budget) -> String {
    let text = budget.against(spent);
    if text.is_empty() {
        return text;
    }
    format!("  {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::budget::Tokens;

    #[test]
    fn the_header_shows_the_runs_spending_against_its_budget() {
        let spent = Spend {
            usd: Some(0.42),
            tokens: Tokens {
                input: 2000,
                output: 600,
                cache_read: 10_000,
                cache_write: 400,
            },
        };
        let budget = Budget {
            usd: Some(2.0),
            tokens: None,
        };
        assert_eq!(run_spend(&spent, &budget), "  $0.42/$2.00 · 3k tokens");
        assert_eq!(run_spend(&Spend::default(), &Budget::default()), "");
        let tokens_only = Budget {
            usd: None,
            tokens: Some(1_000_000),
        };
        assert_eq!(run_spend(&Spend::default(), &tokens_only), "  0/1M tokens");
    }
}
