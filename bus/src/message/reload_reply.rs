//! `reload`: a worker's report of the outcome of one update, sent after it settled it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReloadStatus {
    /// The new version is live.
    Applied,
    /// The same version was already live (a redelivery); nothing changed.
    Unchanged,
    /// Refused; the previous version keeps serving.
    Failed,
    /// Not for this worker (a targeted or canary push); acked and ignored.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReply {
    pub worker: String,
    pub host: String,
    pub status: ReloadStatus,
    /// Absent when the update could not be decoded.
    #[serde(default)]
    pub push_id: Option<String>,
    #[serde(default)]
    pub module: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Where it failed (`decode`, `path`, `checksum`, `version`, `compile`, …).
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    pub elapsed_us: u64,
}
