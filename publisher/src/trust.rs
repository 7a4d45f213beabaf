//! Which history entries the publisher may build on. The history stream is writable by any
//! broker client, so an entry is only as good as its signature: with trusted keys
//! (`--trusted-keys` and the public half of `--sign-key`), an entry counts only when it is
//! signed by one of them for this fleet (`--prefix`) and its source matches its sha256.
//! `promote`, `rollback`, version numbering and retention see the history only as [`Vetted`].

use crawlfleet_bus::message::RuleUpdate;
use crawlfleet_bus::signature::{self, PublicKey, SignatureError};
use crawlfleet_engine::sha256_hex;

use crate::Failure;

/// At most this many refused entries are named in a warning; the rest are counted.
const NAMED_REFUSALS: usize = 5;

/// Why an entry of the history is not built on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    Signature(SignatureError),
    Checksum,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Signature(e) => write!(f, "it does not verify: {e}"),
            Refusal::Checksum => f.write_str("its source does not match its sha256"),
        }
    }
}

/// The keys entries must be signed with, and the fleet they must be signed for.
pub(crate) struct Trust {
    keys: Vec<PublicKey>,
    fleet: String,
}

/// One history entry and, when it is not to be built on, why.
pub(crate) struct Entry {
    pub(crate) update: RuleUpdate,
    pub(crate) refused: Option<Refusal>,
}

/// The history, oldest first, each entry vetted.
pub(crate) struct Vetted {
    pub(crate) entries: Vec<Entry>,
}

/// The keys of a `--trusted-keys` list (absent: none); a list naming no key or a bad one is
/// a usage error, every bad entry named.
pub(crate) fn trusted_keys(list: Option<&str>) -> Result<Vec<PublicKey>, Failure> {
    match list.map(signature::public_keys) {
        None => Ok(Vec::new()),
        Some(Ok(keys)) => Ok(keys),
        Some(Err(errors)) => Err(Failure::usage(format!(
            "--trusted-keys: {}",
            errors.join("; ")
        ))),
    }
}

impl Trust {
    /// Without keys nothing is verified (an unsigned fleet); the checksum is still checked.
    pub(crate) fn new(keys: Vec<PublicKey>, fleet: &str) -> Trust {
        Trust {
            keys,
            fleet: fleet.to_owned(),
        }
    }

    /// Whether entries are verified against keys (otherwise only their checksum is).
    pub(crate) fn verifies(&self) -> bool {
        !self.keys.is_empty()
    }

    pub(crate) fn check(&self, u: &RuleUpdate) -> Result<(), Refusal> {
        if !self.keys.is_empty() {
            signature::verify(u, &self.keys, &self.fleet).map_err(Refusal::Signature)?;
        }
        if let (Some(source), Some(sha)) = (&u.source, &u.sha256)
            && !sha.eq_ignore_ascii_case(&sha256_hex(source.as_bytes()))
        {
            return Err(Refusal::Checksum);
        }
        Ok(())
    }

    pub(crate) fn vet(&self, history: Vec<RuleUpdate>) -> Vetted {
        Vetted {
            entries: history
                .into_iter()
                .map(|update| Entry {
                    refused: self.check(&update).err(),
                    update,
                })
                .collect(),
        }
    }
}

impl Entry {
    pub(crate) fn is_valid(&self) -> bool {
        self.refused.is_none()
    }
}

impl Vetted {
    /// The entries that may be built on, oldest first.
    pub(crate) fn valid(&self) -> impl Iterator<Item = &RuleUpdate> {
        self.entries
            .iter()
            .filter(|e| e.is_valid())
            .map(|e| &e.update)
    }

    /// The refused entries of `module`, oldest first.
    pub(crate) fn refused<'a>(
        &'a self,
        module: &'a str,
    ) -> impl Iterator<Item = (&'a RuleUpdate, &'a Refusal)> {
        self.entries
            .iter()
            .filter(move |e| e.update.module == module)
            .filter_map(|e| e.refused.as_ref().map(|r| (&e.update, r)))
    }

    /// Tells the operator (stderr) which entries of `module` newer than `above` were left
    /// out, so that an injected entry is seen, not silently skipped.
    pub(crate) fn warn_refused(&self, module: &str, above: u64) {
        let refused: Vec<_> = self
            .refused(module)
            .filter(|(u, _)| u.version > above)
            .collect();
        for (u, why) in refused.iter().rev().take(NAMED_REFUSALS) {
            eprintln!("publisher: warning: ignored {}: {why}", describe(u));
        }
        if refused.len() > NAMED_REFUSALS {
            eprintln!(
                "publisher: warning: ignored {} more entries of `{module}` that do not verify",
                refused.len() - NAMED_REFUSALS
            );
        }
    }
}

/// How an error names an entry: `v7 of `shop.a` (push p-1a2b…)`.
pub(crate) fn describe(u: &RuleUpdate) -> String {
    // Both come from the broker: bound what is echoed of them.
    let push: String = u.push_id.chars().take(40).collect();
    let module: String = u.module.chars().take(64).collect();
    format!("v{} of `{module}` (push {push})", u.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64, source: &str) -> RuleUpdate {
        RuleUpdate {
            module: "shop.a".to_owned(),
            path: "shop/a.lua".to_owned(),
            source: Some(source.to_owned()),
            sha256: Some(sha256_hex(source.as_bytes())),
            version,
            push_id: format!("p-{version}"),
            ..RuleUpdate::default()
        }
    }

    #[test]
    fn with_keys_only_entries_signed_for_this_fleet_count() {
        let (secret, public) = signature::generate().expect("urandom");
        let key = signature::secret_key(&secret).expect("secret");
        let trust = Trust::new(vec![signature::public_key(&public).expect("public")], "f");
        let mut signed = entry(1, "a");
        signature::sign(&mut signed, &key, "f").expect("sign");
        let mut elsewhere = entry(2, "b");
        signature::sign(&mut elsewhere, &key, "g").expect("sign");
        let mut swapped = signed.clone();
        swapped.source = Some("evil".to_owned());
        let vetted = trust.vet(vec![signed, entry(3, "c"), elsewhere, swapped]);
        let valid: Vec<u64> = vetted.valid().map(|u| u.version).collect();
        assert_eq!(valid, [1]);
        let why: Vec<&Refusal> = vetted.refused("shop.a").map(|(_, r)| r).collect();
        assert_eq!(
            why,
            [
                &Refusal::Signature(SignatureError::Unsigned),
                &Refusal::Signature(SignatureError::Invalid),
                &Refusal::Checksum,
            ]
        );
        // Without keys, unsigned entries count, but a wrong checksum still does not.
        let open = Trust::new(Vec::new(), "f");
        let mut bad = entry(4, "d");
        bad.source = Some("e".to_owned());
        let vetted = open.vet(vec![entry(3, "c"), bad]);
        assert_eq!(vetted.valid().map(|u| u.version).collect::<Vec<_>>(), [3]);
    }
}
