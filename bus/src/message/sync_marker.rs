//! `sync`: a marker a worker appends to the history stream, then reads the stream up to, to
//! know it has seen every update published before it (RabbitMQ's own stream-tutorial way).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncMarker {
    /// Unique per catch-up.
    pub nonce: String,
}
