//! A change's hold on one of the run's agent slots (`jobs`: agents running at once). The
//! scheduler hands the slot out; the pipeline gives it back as soon as no agent of its change
//! will run again, so that the next change's agent does not wait for this one's last commit.
//!
//! A change may also be prepared ahead of a free slot: its pipeline makes the worktree and
//! branch while every slot is busy, then waits at its gate until the scheduler says it runs
//! ([`Go::Run`]) or not ([`Go::NotStarted`]: the budget is spent, the change was stopped).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::oneshot;

use crate::run::state::Phase;

/// What the scheduler tells a change waiting at its gate.
#[derive(Debug)]
pub(crate) enum Go {
    /// It holds a slot now: its agent may start.
    Run,
    /// It will not run in this run: it ends in this phase, for this reason.
    NotStarted(Phase, String),
}

/// One pipeline's end of its slot.
pub struct Ticket {
    id: String,
    /// Where the scheduler hears that the slot is free.
    freed: UnboundedSender<String>,
    released: AtomicBool,
    /// Closed until the scheduler hands this change a slot; `None` once passed (or for a
    /// change launched into a free slot).
    gate: Mutex<Option<oneshot::Receiver<Go>>>,
}

impl Ticket {
    /// The ticket of a change launched into a free slot.
    pub(crate) fn new(id: &str, freed: UnboundedSender<String>) -> Ticket {
        Ticket {
            id: id.to_owned(),
            freed,
            released: AtomicBool::new(false),
            gate: Mutex::new(None),
        }
    }

    /// The ticket of a change prepared ahead, and the scheduler's end of its gate.
    pub(crate) fn gated(id: &str, freed: UnboundedSender<String>) -> (Ticket, oneshot::Sender<Go>) {
        let (open, gate) = oneshot::channel();
        let ticket = Ticket::new(id, freed);
        *ticket.gate.lock().unwrap_or_else(|p| p.into_inner()) = Some(gate);
        (ticket, open)
    }

    /// Waits until the change holds a slot (at once when it was launched into one). A gate
    /// the scheduler dropped unopened (the run is ending) does not start the change.
    pub(crate) async fn taken(&self) -> Go {
        let gate = self.gate.lock().unwrap_or_else(|p| p.into_inner()).take();
        match gate {
            None => Go::Run,
            Some(gate) => gate.await.unwrap_or_else(|_| {
                Go::NotStarted(
                    Phase::Cancelled,
                    "interrupted before it started; run `git conflux start` to resume".into(),
                )
            }),
        }
    }

    /// Whether the change waits at its gate (prepared ahead, no slot handed to it yet).
    pub(crate) fn is_gated(&self) -> bool {
        self.gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Gives the slot back (once; later calls do nothing). The change goes on with what
    /// needs no agent (its last commit, hooks) while the next change's agent starts.
    pub(crate) fn release(&self) {
        if !self.released.swap(true, Ordering::Relaxed) {
            let _ = self.freed.send(self.id.clone());
        }
    }
}
