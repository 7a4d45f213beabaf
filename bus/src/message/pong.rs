//! `pong`: a worker's answer to a ping: who it is and which module versions it runs.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    pub ping_id: String,
    pub worker: String,
    pub host: String,
    /// Seconds since the worker started.
    pub uptime_s: u64,
    pub jobs_done: u64,
    pub jobs_failed: u64,
    pub modules: Vec<ModuleState>,
}

/// One live module in a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleState {
    pub module: String,
    pub version: u64,
    pub sha256: String,
    /// Whether it is a rule (has `parse`) rather than a helper.
    pub rule: bool,
}
