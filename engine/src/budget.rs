//! The time budget of a Lua state: a deadline checked by Luau's interrupt callback.
//!
//! Luau calls the interrupt at function calls, loop back-edges and inside long-running
//! builtins (pattern matching, `string.rep`), so a budget ends endless loops even inside
//! `pcall` or coroutines: once the deadline has passed, every further interrupt raises again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Deadline shared between the host and the interrupt callback of one Lua state.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    /// Nanoseconds since `epoch()`; 0 means no deadline.
    deadline_ns: AtomicU64,
    /// The armed budget, for the error message.
    budget_ms: AtomicU64,
    /// Set when the interrupt fired an over-budget error during the armed period.
    tripped: AtomicBool,
    /// Set when native work for the call hit a bound other than time (a page past its
    /// caps, an output past its size): the call fails with that, even if the rule caught
    /// the error it raised.
    refused: Mutex<Option<crate::CallError>>,
}

impl Budget {
    pub(crate) fn arm(&self, budget: Duration) {
        let budget_ns = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX / 2);
        self.tripped.store(false, Ordering::Relaxed);
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.budget_ms.store(
            u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.deadline_ns
            .store(now_ns().saturating_add(budget_ns).max(1), Ordering::Release);
    }

    /// Disarms the deadline and says whether it was exceeded while armed.
    pub(crate) fn disarm(&self) -> bool {
        self.deadline_ns.store(0, Ordering::Release);
        self.tripped.load(Ordering::Relaxed)
    }

    /// Whether the armed deadline has passed, for native work that checks it between
    /// steps; it trips the budget like the interrupt does.
    pub(crate) fn expired(&self) -> bool {
        let deadline = self.deadline_ns.load(Ordering::Acquire);
        if deadline != 0 && now_ns() > deadline {
            self.tripped.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Records that the armed call must fail with `error` (the first such error wins).
    pub(crate) fn refuse(&self, error: crate::CallError) {
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.is_none() {
            *refused = Some(error);
        }
    }

    /// The error recorded by [`Budget::refuse`] during the armed call, if any.
    pub(crate) fn refused(&self) -> Option<crate::CallError> {
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn budget_ms(&self) -> u128 {
        u128::from(self.budget_ms.load(Ordering::Relaxed))
    }

    /// The interrupt check: an error once the deadline has passed.
    pub(crate) fn check(&self) -> mlua::Result<mlua::VmState> {
        if self.expired() {
            return Err(mlua::Error::runtime(format!(
                "time budget of {} ms exceeded",
                self.budget_ms()
            )));
        }
        Ok(mlua::VmState::Continue)
    }
}
