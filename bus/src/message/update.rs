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
    /// The highest version an update may carry: 2^53, the largest integer every JSON reader
    /// holds exactly. An entry above it is refused when decoded, so one stray entry (say
    /// `u64::MAX`) cannot end the fleet's version arithmetic.
    pub const MAX_VERSION: u64 = 1 << 53;

    /// Exactly what a signature covers: everything that decides what runs where — the fleet
    /// it is meant for (`fleet`, the topology prefix), module, path, source sha256, version,
    /// push id and targets — in one canonical encoding: every string length-prefixed, so no
    /// two different updates encode alike. `None` without a sha256 (an unsigned-able update).
    pub fn signing_payload(&self, fleet: &str) -> Option<Vec<u8>> {
        let sha = self.sha256.as_deref()?;
        let mut out = String::from("crawlfleet-update-v2\n");
        field(&mut out, "fleet", fleet);
        field(&mut out, "module", &self.module);
        field(&mut out, "path", &self.path);
        field(&mut out, "sha256", &sha.to_ascii_lowercase());
        field(&mut out, "version", &self.version.to_string());
        field(&mut out, "push_id", &self.push_id);
        match &self.targets {
            None => out.push_str("targets all\n"),
            Some(t) => {
                out.push_str(&format!("targets workers {}\n", t.workers.len()));
                for w in &t.workers {
                    field(&mut out, "worker", w);
                }
                match t.canary_percent {
                    None => out.push_str("canary none\n"),
                    // The exact bits: every JSON spelling of the same number signs alike.
                    Some(p) => out.push_str(&format!("canary {:016x}\n", p.to_bits())),
                }
            }
        }
        Some(out.into_bytes())
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
        if self.version > Self::MAX_VERSION {
            return Err(invalid("`version` is above 2^53"));
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

/// `name <byte length>:value` and a newline: unambiguous whatever `value` holds.
fn field(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("{name} {}:{value}\n", value.len()));
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

    #[test]
    fn versions_above_2_pow_53_are_refused_when_decoded() {
        use crate::message::{ControlMessage, Decode};
        let body = |version: &str| {
            format!(
                r#"{{"type":"update","module":"a","path":"a.lua","version":{version},"push_id":"p"}}"#
            )
        };
        for bad in ["18446744073709551615", "9007199254740993"] {
            let err = ControlMessage::decode(body(bad).as_bytes()).expect_err(bad);
            assert!(err.to_string().contains("2^53"), "{bad}: {err}");
        }
        for good in ["0", "9007199254740992"] {
            assert!(
                ControlMessage::decode(body(good).as_bytes()).is_ok(),
                "{good}"
            );
        }
    }
}
