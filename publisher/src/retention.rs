//! History retention that never loses a live version. The history stream is bounded by size
//! and drops its oldest segments first; before that can reach the newest entry of a module,
//! the publisher re-appends that entry (to the history only), so the newest version of
//! every module always stays in the retained tail. "Newest" counts valid entries only
//! (`trust.rs`): an unsigned or forged entry with a higher version is never kept alive in
//! place of the real one.

use std::collections::BTreeMap;

use crawlfleet_bus::HISTORY_MAX_BYTES;
use crawlfleet_bus::message::{ControlMessage, Encode, RuleUpdate};

use crate::Failure;
use crate::fleet::Fleet;
use crate::trust::{Entry, Vetted};

/// An entry is re-appended once this many bytes of history were written after it: a
/// quarter of the bound, so it is copied long before its segment can be dropped.
const REFRESH_AFTER_BYTES: u64 = (HISTORY_MAX_BYTES as u64) / 4;

/// The newest valid entry per module that is too far from the tail: those to re-append.
pub(crate) fn stale_heads(history: &[Entry], refresh_after: u64) -> Vec<RuleUpdate> {
    // Bytes written after entry i (valid or not): one pass from the tail, each encoded once.
    let mut after = vec![0u64; history.len()];
    for i in (0..history.len().saturating_sub(1)).rev() {
        let next = &history[i + 1].update;
        after[i] =
            after[i + 1].saturating_add(ControlMessage::Update(next.clone()).encode().len() as u64);
    }
    let mut newest: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in history.iter().enumerate().filter(|(_, e)| e.is_valid()) {
        let u = &e.update;
        let keep = newest
            .get(u.module.as_str())
            .is_none_or(|j| history[*j].update.version <= u.version);
        if keep {
            newest.insert(&u.module, i);
        }
    }
    newest
        .values()
        .filter(|i| after[**i] > refresh_after)
        .map(|i| history[*i].update.clone())
        .collect()
}

/// Re-appends what `stale_heads` finds.
pub(crate) async fn compact(fleet: &Fleet, history: &Vetted) -> Result<(), Failure> {
    for update in stale_heads(&history.entries, REFRESH_AFTER_BYTES) {
        fleet.keep_in_history(&update).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::Refusal;
    use crawlfleet_bus::signature::SignatureError;

    fn update(module: &str, version: u64, source_len: usize) -> RuleUpdate {
        RuleUpdate {
            module: module.to_owned(),
            path: format!("{module}.lua"),
            source: Some("x".repeat(source_len)),
            sha256: Some("0".repeat(64)),
            version,
            push_id: format!("p{version}"),
            pushed_by: None,
            ..RuleUpdate::default()
        }
    }

    fn valid(u: RuleUpdate) -> Entry {
        Entry {
            update: u,
            refused: None,
        }
    }

    #[test]
    fn only_the_newest_entry_of_a_module_far_from_the_tail_is_refreshed() {
        let history = vec![
            valid(update("a", 1, 10)),
            valid(update("b", 2, 10)),
            valid(update("a", 3, 10)), // newest of a, followed by 2 000 bytes
            valid(update("c", 4, 1000)),
            valid(update("c", 5, 1000)), // newest of c, at the tail
        ];
        let stale: Vec<(String, u64)> = stale_heads(&history, 1500)
            .into_iter()
            .map(|u| (u.module, u.version))
            .collect();
        assert_eq!(stale, [("a".to_owned(), 3), ("b".to_owned(), 2)]);
        assert!(stale_heads(&history, 100_000).is_empty());
    }

    #[test]
    fn the_newest_valid_entry_is_kept_not_a_newer_refused_one() {
        let forged = Entry {
            update: update("a", 9, 10),
            refused: Some(Refusal::Signature(SignatureError::Unsigned)),
        };
        let history = vec![
            valid(update("a", 3, 10)),
            forged,
            valid(update("c", 4, 2000)),
        ];
        let stale: Vec<(String, u64)> = stale_heads(&history, 1500)
            .into_iter()
            .map(|u| (u.module, u.version))
            .collect();
        assert_eq!(stale, [("a".to_owned(), 3)]);
    }
}
