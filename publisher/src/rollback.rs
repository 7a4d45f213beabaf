//! `publisher rollback`: an earlier version of a module, from the push history, pushed again
//! as a new, newer version (so anti-rollback checks still hold).

use crawlfleet_engine::ModuleName;

use crate::Failure;
use crate::cli::{Global, RollbackArgs};
use crate::deliver::{Delivery, How, deliver};
use crate::fleet::Fleet;

pub(crate) async fn run(global: &Global, args: &RollbackArgs) -> Result<u8, Failure> {
    let name = ModuleName::new(&args.module).map_err(|e| Failure::usage(e.to_string()))?;
    let how = How::check(&args.delivery, global)?;
    let mut fleet = Fleet::connect(global).await?;
    let history = fleet.history().await?;
    let mut versions: Vec<_> = history.iter().filter(|u| u.module == args.module).collect();
    versions.sort_by_key(|u| u.version);
    versions.dedup_by_key(|u| u.version);
    if versions.is_empty() {
        return Err(Failure::usage(format!(
            "no push of `{}` in the history",
            args.module
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
    let (current_version, current_sha) = match running {
        Some((v, sha)) => (v, Some(sha)),
        None => (
            versions.last().map_or(0, |u| u.version),
            versions.last().and_then(|u| u.sha256.clone()),
        ),
    };
    let target = match args.to {
        Some(v) => versions.iter().find(|u| u.version == v).ok_or_else(|| {
            let known: Vec<String> = versions.iter().map(|u| format!("v{}", u.version)).collect();
            Failure::usage(format!(
                "no v{v} of `{}` in the history (known: {})",
                args.module,
                known.join(", ")
            ))
        })?,
        None => versions
            .iter()
            .rev()
            .find(|u| u.version < current_version && u.sha256 != current_sha)
            .ok_or_else(|| {
                Failure::usage(format!(
                    "`{}` has no pushed version before v{current_version} to roll back to",
                    args.module
                ))
            })?,
    };
    let delivery = Delivery::again(
        name,
        target,
        format!("rolled back to v{} as", target.version),
    )?;
    tracing::info!(module = %args.module, from = current_version, to = target.version, "rule rolled back");
    // The membership pinged above is the one to wait for: no second ping window.
    let code = deliver(&mut fleet, &history, &live, delivery, &how).await;
    fleet.close().await;
    code
}
