//! Who this worker is: id, host, instance uuid and start time.

use std::time::Instant;

/// Identity of one worker process.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Operator-facing id (`w-5c1e2a`).
    pub(crate) id: String,
    pub(crate) host: String,
    /// Unique per process: names the control queue.
    pub(crate) instance: String,
    pub(crate) started: Instant,
}

impl Identity {
    pub(crate) fn new(id: String) -> Identity {
        Identity {
            id,
            host: hostname(),
            instance: uuid::Uuid::new_v4().to_string(),
            started: Instant::now(),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
