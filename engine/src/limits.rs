//! Resource limits applied to every Lua state and every call into it.

use std::time::Duration;

/// Bounds for rule code: memory per Lua state and time per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Hard cap on the bytes one Lua state may allocate.
    pub memory_bytes: usize,
    /// Time budget for evaluating a module's top level (and `migrate`) during a load.
    pub load_budget: Duration,
    /// Time budget for one call of a rule function (`parse`).
    pub call_budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * 1024 * 1024,
            load_budget: Duration::from_millis(2000),
            call_budget: Duration::from_millis(2000),
        }
    }
}
