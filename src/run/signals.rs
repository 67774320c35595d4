//! The signals that end a run. A closed terminal (SIGHUP), `kill` (SIGTERM), Ctrl-C and the
//! other signals whose default action would end the orchestrator at once (USR1, USR2, ALRM)
//! all stop a run the same graceful way; SIGQUIT (`stop --now`) skips the grace. Without
//! this, the default action ends `start` and leaves its agents running and spending.

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::agent::runner::Cancel;

/// How a signal asks the run to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Finish gracefully: agents get SIGTERM and their grace, work is committed.
    Graceful,
    /// Kill the agents at once.
    Now,
}

/// The installed handlers; from their installation on, none of these signals ends the
/// process by itself.
pub struct StopSignals {
    graceful: Vec<Signal>,
    now: Signal,
}

impl StopSignals {
    pub fn install() -> std::io::Result<StopSignals> {
        let graceful = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
            SignalKind::user_defined1(),
            SignalKind::user_defined2(),
            SignalKind::alarm(),
        ]
        .into_iter()
        .map(signal)
        .collect::<std::io::Result<_>>()?;
        Ok(StopSignals {
            graceful,
            now: signal(SignalKind::quit())?,
        })
    }

    /// The next stop request.
    pub async fn recv(&mut self) -> Stop {
        let graceful = any_of(&mut self.graceful);
        tokio::select! {
            _ = graceful => Stop::Graceful,
            _ = self.now.recv() => Stop::Now,
        }
    }
}

/// Resolves when any of `signals` arrives.
async fn any_of(signals: &mut [Signal]) {
    std::future::poll_fn(|cx| {
        for signal in signals.iter_mut() {
            if signal.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Drives `work` to its end while the stop signals cancel `cancel` (gracefully; SIGQUIT at
/// once), for a process run outside the scheduler's loop (a merge's archive or resolve agent,
/// a run-wide hook). Says whether a stop came; the handlers are installed first, so no stop
/// can end the orchestrator by the default action and leave the process running.
pub async fn until_done<T>(
    work: impl Future<Output = T>,
    cancel: &Cancel,
) -> std::io::Result<(T, bool)> {
    let mut signals = StopSignals::install()?;
    let mut stopped = false;
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Ok((done, stopped)),
            stop = signals.recv() => {
                stopped = true;
                cancel.cancel();
                if stop == Stop::Now {
                    cancel.kill_now();
                }
            }
        }
    }
}
