//! `publisher rollback`: an earlier version of a module, from the push history, pushed again
//! as a new, newer version (so anti-rollback checks still hold). Only entries that verify
//! (`trust.rs`) are versions to restore or to count as pushed: an entry injected into the
//! history is never rolled back to (or re-signed).

use crawlfleet_engine::ModuleName;

use crate::cli::{Global, RollbackArgs};
use crate::deliver::{Delivery, DeliveryOptions, deliver};
use crate::fleet::Fleet;
use crate::trust::{Entry, describe};
use crate::{Failure, Finished};

pub(crate) async fn run(global: &Global, args: &RollbackArgs) -> Result<Finished, Failure> {
    let name = ModuleName::new(&args.module).map_err(|e| Failure::usage(e.to_string()))?;
    let options = DeliveryOptions::check(&args.delivery, global)?;
    let mut fleet = Fleet::connect(global).await?;
    let history = options.trust.vet(fleet.history().await?);
    let mut versions: Vec<&Entry> = history
        .entries
        .iter()
        .filter(|e| e.is_valid() && e.update.module == args.module)
        .collect();
    versions.sort_by_key(|e| e.update.version);
    versions.dedup_by_key(|e| e.update.version);
    if let Some(v) = args.to
        && !versions.iter().any(|e| e.update.version == v)
        && let Some((u, why)) = history.refused(&args.module).find(|(u, _)| u.version == v)
    {
        return Err(Failure::usage(format!(
            "refusing to roll back to {}: {why}",
            describe(u)
        )));
    }
    if versions.is_empty() {
        return Err(Failure::usage(format!(
            "no push of `{}` in the history{}",
            args.module,
            if history.refused(&args.module).next().is_some() {
                " that verifies"
            } else {
                ""
            }
        )));
    }
    // "Previous" is relative to what the fleet runs, not to the newest push (which may have
    // failed everywhere): the newest version any live worker runs, else the newest pushed.
    let live = fleet.ping().await?;
    let running = live
        .values()
        .flat_map(|p| p.modules.iter())
        .filter(|m| m.module == args.module)
        .map(|m| (m.version, m.sha256.clone()))
        .max();
    let newest = &versions[versions.len() - 1].update;
    let (current_version, current_sha) = match running {
        Some((v, sha)) => (v, Some(sha)),
        None => (newest.version, newest.sha256.clone()),
    };
    let target = match args.to {
        Some(v) => versions
            .iter()
            .find(|e| e.update.version == v)
            .ok_or_else(|| {
                let known: Vec<String> = versions
                    .iter()
                    .map(|e| format!("v{}", e.update.version))
                    .collect();
                Failure::usage(format!(
                    "no v{v} of `{}` in the history (known: {})",
                    args.module,
                    known.join(", ")
                ))
            })?,
        None => versions
            .iter()
            .rev()
            .find(|e| e.update.version < current_version && e.update.sha256 != current_sha)
            .ok_or_else(|| {
                Failure::usage(format!(
                    "`{}` has no pushed version before v{current_version} to roll back to",
                    args.module
                ))
            })?,
    };
    let to = target.update.version;
    if args.to.is_none() {
        history.warn_refused(&args.module, to);
    }
    let delivery = Delivery::again(name, target, format!("rolled back to v{to} as"))?;
    tracing::info!(module = %args.module, from = current_version, to, "rule rolled back");
    // The membership pinged above is the one to wait for: no second ping window.
    let finished = deliver(&mut fleet, &history, &live, delivery, &options).await;
    fleet.close().await;
    finished
}
