//! `update`: a new version of one rule module, pushed to every worker.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DecodeError;

/// A rule update. The source is inline (with its sha256) or read by the worker from `path`
/// under its rules root.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleUpdate {
    /// Dotted module name, e.g. `shop.products`.
    pub module: String,
    /// Path relative to the rules root, e.g. `shop/products.lua`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Lower-case hex sha256 of the source. Required with an inline source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Fleet-wide push sequence number; must be newer than the live version.
    pub version: u64,
    /// Identifies the push across the fleet's replies and logs.
    pub push_id: String,
    /// Who pushed it (user@host), for the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_by: Option<String>,
    /// When it was pushed (Unix ms), for the history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at_ms: Option<u64>,
    /// Which workers take it (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Targets>,
    /// Hex ed25519 public key of the signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Hex ed25519 signature of `signing_payload()`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// A targeted or canary push: named workers, and/or a share of workers chosen by a stable
/// hash of worker id and push id (so every delivery of the push chooses the same ones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Only these worker ids (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workers: Vec<String>,
    /// Only this share of workers, in percent (0–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<f64>,
}

impl Targets {
    /// Whether `worker` takes push `push_id`.
    pub fn selects(&self, worker: &str, push_id: &str) -> bool {
        if !self.workers.is_empty() && !self.workers.iter().any(|w| w == worker) {
            return false;
        }
        match self.canary_percent {
            None => true,
            Some(percent) => {
                let digest = Sha256::digest(format!("{worker}\n{push_id}").as_bytes());
                let mut head = [0u8; 8];
                head.copy_from_slice(&digest[..8]);
                let bucket = u64::from_be_bytes(head) % 10_000;
                (bucket as f64) < percent * 100.0
            }
        }
    }
}

impl RuleUpdate {
    /// Exactly what a signature covers: module, path, source sha256, version and push id.
    /// `None` without a sha256 (an unsigned-able update).
    pub fn signing_payload(&self) -> Option<Vec<u8>> {
        let sha = self.sha256.as_deref()?;
        Some(
            format!(
                "crawlfleet-update-v1\n{}\n{}\n{}\n{}\n{}",
                self.module,
                self.path,
                sha.to_ascii_lowercase(),
                self.version,
                self.push_id
            )
            .into_bytes(),
        )
    }

    /// Whether `worker` takes this update (targeted and canary pushes).
    pub fn selects(&self, worker: &str) -> bool {
        self.targets
            .as_ref()
            .is_none_or(|t| t.selects(worker, &self.push_id))
    }

    pub(crate) fn validated(self) -> Result<Self, DecodeError> {
        let invalid = |reason: &str| DecodeError::Invalid {
            kind: "update".to_owned(),
            reason: reason.to_owned(),
        };
        if self.source.is_some() && self.sha256.is_none() {
            return Err(invalid("an inline `source` needs its `sha256`"));
        }
        if let Some(sha) = &self.sha256
            && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(invalid("`sha256` must be 64 hex digits"));
        }
        if self.push_id.is_empty() {
            return Err(invalid("`push_id` is empty"));
        }
        if let Some(t) = &self.targets
            && t.canary_percent
                .is_some_and(|p| !(0.0..=100.0).contains(&p))
        {
            return Err(invalid("`canary_percent` must be from 0 to 100"));
        }
        if self.signature.is_some() != self.key.is_some() {
            return Err(invalid("`signature` and `key` go together"));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_selection_is_stable_and_roughly_proportional() {
        let t = Targets {
            workers: Vec::new(),
            canary_percent: Some(34.0),
        };
        let chosen = (0..10_000)
            .filter(|i| t.selects(&format!("w-{i}"), "p-1"))
            .count();
        assert!((3_100..3_700).contains(&chosen), "{chosen}");
        assert_eq!(t.selects("w-7", "p-1"), t.selects("w-7", "p-1"));
        let named = Targets {
            workers: vec!["w-1".to_owned()],
            canary_percent: None,
        };
        assert!(named.selects("w-1", "p") && !named.selects("w-2", "p"));
        let none = Targets {
            workers: Vec::new(),
            canary_percent: Some(0.0),
        };
        assert!(!none.selects("w-1", "p"));
    }
}
