//! `item`: one extracted record, with where and by which rule version it was extracted.

use serde::{Deserialize, Serialize};

use crate::DecodeError;
use crate::decode::{fields, json_object};
use crate::message::{Decode, Encode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Stable: the same page, rule and fields give the same id, so a redelivered job's
    /// duplicates are recognisable downstream.
    pub id: String,
    pub crawl: String,
    pub job: String,
    pub url: String,
    pub rule: String,
    pub rule_version: u64,
    pub rule_sha256: String,
    pub worker: String,
    /// Unix time in milliseconds when the page was fetched.
    pub fetched_at_ms: u64,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Decode for Item {
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        fields("item", json_object(body, 16 * 1024 * 1024)?)
    }
}

impl Encode for Item {
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
