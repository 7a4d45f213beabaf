//! Catch-up: a worker that starts or reconnects converges to the newest pushed version of
//! every module before it takes its next job, from the history stream, without operator
//! action or a shared disk.
//!
//! Its control queue is bound first (updates from then on wait there); then it appends a
//! fresh sync marker to the stream and reads the stream from its first entry up to that
//! marker, so it has seen every update published before it bound. With trusted keys, entries
//! that do not verify (unsigned, signed by a stranger, for another fleet, re-aimed) are
//! dropped first. Per module it applies the newest remaining entry that is newer than the
//! live version and valid (sha256 and all the checks of a push), falling back to older
//! entries that are still newer.

use std::collections::BTreeMap;
use std::time::Duration;

use crawlfleet_bus::Bus;
use crawlfleet_bus::message::RuleUpdate;
use tracing::{info, warn};

use super::Plane;
use super::update::{self, Via};

/// How long the replay may take before the session is abandoned (and retried).
const REPLAY_DEADLINE: Duration = Duration::from_secs(60);

/// Entries that do not verify are logged one by one up to this many, then counted: a
/// flooded history cannot flood the log.
const NAMED_UNVERIFIED: usize = 20;

/// Replays the history; returns how many module versions were applied.
pub(crate) async fn catch_up(plane: &Plane, bus: &Bus) -> anyhow::Result<usize> {
    let outbox = bus.outbox().await?;
    let history = bus
        .read_history(&outbox, &plane.identity.id, REPLAY_DEADLINE)
        .await?;
    for e in &history.garbage {
        warn!(worker = %plane.identity.id, cause = %e, "history entry skipped: not an update");
    }
    let read = history.read;
    let mut entries: BTreeMap<String, Vec<RuleUpdate>> = BTreeMap::new();
    let mut unverified = 0usize;
    for u in history.updates {
        // An entry that does not verify is not a candidate at all: it neither runs nor
        // decides the order the others land in.
        if let Err(e) = update::verified(plane, &u) {
            unverified += 1;
            if unverified <= NAMED_UNVERIFIED {
                warn!(
                    worker = %plane.identity.id, module = %u.module, version = u.version,
                    push_id = %u.push_id, cause = %e, "history entry skipped: does not verify"
                );
            }
            continue;
        }
        entries.entry(u.module.clone()).or_default().push(u);
    }
    if unverified > NAMED_UNVERIFIED {
        warn!(
            worker = %plane.identity.id, skipped = unverified - NAMED_UNVERIFIED,
            "more history entries skipped: do not verify"
        );
    }

    // Oldest push first, so the versions land in the order they were pushed.
    let mut modules: Vec<(String, Vec<RuleUpdate>)> = entries.into_iter().collect();
    for (_, updates) in &mut modules {
        updates.sort_by_key(|u| std::cmp::Reverse(u.version));
    }
    modules.sort_by_key(|(_, updates)| updates.first().map_or(0, |u| u.version));

    let mut applied = 0;
    for (module, updates) in modules {
        let live = live_version(plane, &module);
        for u in updates
            .into_iter()
            .filter(|u| live.is_none_or(|v| u.version > v))
        {
            let outcome = update::apply(plane, Ok(u), Via::CatchUp).await;
            if outcome.reply.status == crawlfleet_bus::message::ReloadStatus::Applied {
                applied += 1;
                break;
            }
        }
    }
    info!(worker = %plane.identity.id, history_entries = read, applied, "caught up with the history");
    let store = &plane.store;
    tokio::task::block_in_place(|| store.housekeep());
    Ok(applied)
}

fn live_version(plane: &Plane, module: &str) -> Option<u64> {
    let name = crawlfleet_engine::ModuleName::new(module).ok()?;
    Some(plane.store.snapshot().source(&name)?.version)
}
