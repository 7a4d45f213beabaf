//! Rule calls in flight and how long the oldest has run: a job thread stuck in a call long
//! past its budget makes the worker unhealthy (`/healthz` answers 503), so an orchestrator
//! replaces a worker whose jobs have stopped moving.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a call may run before the worker counts as stalled, unless told otherwise: ten
/// times the default call budget.
const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(20);

/// The start of every rule call in flight, by call number. Holds one entry per job thread
/// at most, so it stays as small as the worker's concurrency.
#[derive(Debug)]
pub(crate) struct Stalls {
    started: Mutex<BTreeMap<u64, Instant>>,
    next: AtomicU64,
    stall_after_ms: AtomicU64,
}

impl Default for Stalls {
    fn default() -> Self {
        Stalls {
            started: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            stall_after_ms: AtomicU64::new(millis(DEFAULT_STALL_AFTER)),
        }
    }
}

/// One call in flight; dropping it ends the call.
#[derive(Debug)]
pub(crate) struct InFlight<'a> {
    stalls: &'a Stalls,
    id: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.stalls.lock().remove(&self.id);
    }
}

impl Stalls {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Instant>> {
        self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A call longer than `after` makes the worker stalled (ten times the call budget is
    /// the worker's choice: a call that honours its budget never comes near).
    pub(crate) fn set_stall_after(&self, after: Duration) {
        self.stall_after_ms.store(millis(after), Ordering::Relaxed);
    }

    /// Records a call starting now.
    pub(crate) fn start(&self) -> InFlight<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Instant::now());
        InFlight { stalls: self, id }
    }

    /// How long the oldest call in flight has run.
    pub(crate) fn oldest(&self) -> Option<Duration> {
        self.lock().values().map(Instant::elapsed).max()
    }

    /// `Some(age)` when the oldest call has run past the stall limit.
    pub(crate) fn stalled(&self) -> Option<Duration> {
        let limit = Duration::from_millis(self.stall_after_ms.load(Ordering::Relaxed));
        self.oldest().filter(|age| *age > limit)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_past_the_limit_stalls_the_worker_until_it_ends() {
        let stalls = Stalls::default();
        stalls.set_stall_after(Duration::from_millis(20));
        assert_eq!(stalls.stalled(), None);
        let call = stalls.start();
        assert_eq!(stalls.stalled(), None);
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            stalls
                .stalled()
                .is_some_and(|d| d >= Duration::from_millis(40))
        );
        drop(call);
        assert_eq!(stalls.stalled(), None);
        assert_eq!(stalls.oldest(), None);
    }
}
