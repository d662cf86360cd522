//! The commit gate: a caller that gives up on an engine call (an HTTP request that ran out of
//! time) learns whether anything was written, so that "gave up" can mean "nothing was done".
//!
//! The caller runs the call inside [`CommitGate::scope`]. Every write the call makes passes
//! [`enter`] first, which opens the gate for writing; the caller that gives up calls
//! [`CommitGate::close`]. Exactly one of the two wins: if the gate closed first, the call's next
//! write is refused with [`Error::GaveUp`] and nothing of it is stored; if a write began first,
//! `close` answers false and the caller waits for the call to finish and reports what it did.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::Error;

const OPEN: u8 = 0;
const WRITING: u8 = 1;
const CLOSED: u8 = 2;

tokio::task_local! {
    static GATE: CommitGate;
}

/// See the module documentation. Cheap to clone: clones share one gate.
#[derive(Clone, Debug, Default)]
pub struct CommitGate(Arc<AtomicU8>);

impl CommitGate {
    pub fn new() -> Self {
        Self::default()
    }

    /// The gate of the call this task runs in, if any (to pass it on to a task the call spawns).
    pub fn current() -> Option<CommitGate> {
        GATE.try_with(CommitGate::clone).ok()
    }

    /// Runs `call` with this gate: its writes pass through it.
    pub async fn scope<F: Future>(self, call: F) -> F::Output {
        GATE.scope(self, call).await
    }

    /// Gives up: true when nothing was written and nothing will be (every later write of the
    /// call is refused); false when a write already began (wait for the call instead).
    pub fn close(&self) -> bool {
        match self.0.compare_exchange(OPEN, CLOSED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(state) => state == CLOSED,
        }
    }

    /// Opens the gate for writing; false when the caller gave up before.
    fn write(&self) -> bool {
        match self.0.compare_exchange(OPEN, WRITING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(state) => state == WRITING,
        }
    }
}

/// Called before each write of an engine call: refused with [`Error::GaveUp`] when the call's
/// caller gave up (see [`CommitGate`]). Calls outside a gate (the job worker) always pass.
pub(crate) fn enter() -> Result<(), Error> {
    match GATE.try_with(CommitGate::write) {
        Ok(false) => Err(Error::GaveUp),
        Ok(true) | Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn whoever_comes_first_wins() {
        let gate = CommitGate::new();
        assert!(gate.clone().scope(async { enter().is_ok() }).await);
        assert!(!gate.close(), "a write began: the caller must wait");
        assert!(gate.clone().scope(async { enter().is_ok() }).await, "the call goes on writing");

        let gate = CommitGate::new();
        assert!(gate.close());
        assert!(gate.close(), "closing twice is still closed");
        assert!(matches!(gate.clone().scope(async { enter() }).await, Err(Error::GaveUp)));
        // Outside any gate, writes pass.
        assert!(enter().is_ok());
    }
}
