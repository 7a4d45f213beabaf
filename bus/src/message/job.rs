//! `job`: one URL to crawl with one rule.

use serde::{Deserialize, Serialize};

use crate::DecodeError;
use crate::decode::{fields, json_object};
use crate::message::{Decode, Encode};

/// The largest job body accepted.
pub const MAX_JOB_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub id: String,
    pub url: String,
    /// Module name of the rule that parses the page.
    pub rule: String,
    #[serde(default)]
    pub depth: u32,
    #[serde(default)]
    pub meta: serde_json::Value,
    #[serde(default)]
    pub attempt: u32,
    pub crawl: String,
    /// The crawl's depth limit, overriding the rule's `max_depth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
}

impl Decode for Job {
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        fields("job", json_object(body, MAX_JOB_BYTES)?)
    }
}

impl Encode for Job {
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
