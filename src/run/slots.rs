//! A change's hold on one of the run's agent slots (`jobs`: agents running at once). The
//! scheduler hands the slot out; the pipeline gives it back as soon as no agent of its change
//! will run again, so that the next change's agent does not wait for this one's last commit.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc::UnboundedSender;

/// One pipeline's end of its slot.
pub struct Ticket {
    id: String,
    /// Where the scheduler hears that the slot is free.
    freed: UnboundedSender<String>,
    released: AtomicBool,
}

impl Ticket {
    pub(crate) fn new(id: &str, freed: UnboundedSender<String>) -> Ticket {
        Ticket {
            id: id.to_owned(),
            freed,
            released: AtomicBool::new(false),
        }
    }

    /// Gives the slot back (once; later calls do nothing). The change goes on with what
    /// needs no agent (its last commit, hooks) while the next change's agent starts.
    pub(crate) fn release(&self) {
        if !self.released.swap(true, Ordering::Relaxed) {
            let _ = self.freed.send(self.id.clone());
        }
    }
}
