//! `publisher promote`: the newest canary or targeted version of a module goes to every
//! worker, as a new version. Only entries that verify are candidates (`trust.rs`): an entry
//! injected into the history is named and left out, never promoted (or re-signed).

use crawlfleet_engine::ModuleName;

use crate::cli::{Global, PromoteArgs};
use crate::deliver::{Delivery, DeliveryOptions, deliver};
use crate::fleet::Fleet;
use crate::trust::describe;
use crate::{Failure, Finished};

pub(crate) async fn run(global: &Global, args: &PromoteArgs) -> Result<Finished, Failure> {
    let name = ModuleName::new(&args.module).map_err(|e| Failure::usage(e.to_string()))?;
    let options = DeliveryOptions::check(&args.delivery, global)?;
    let mut fleet = Fleet::connect(global).await?;
    let history = options.trust.vet(fleet.history().await?);
    let newest = history
        .entries
        .iter()
        .filter(|e| e.is_valid() && e.update.module == args.module)
        .max_by_key(|e| e.update.version);
    let Some(newest) = newest else {
        let refused = history.refused(&args.module).max_by_key(|(u, _)| u.version);
        return Err(Failure::usage(match refused {
            Some((u, why)) => format!(
                "no push of `{}` in the history to promote: {} is the newest, and {why}",
                args.module,
                describe(u)
            ),
            None => format!("no push of `{}` in the history", args.module),
        }));
    };
    history.warn_refused(&args.module, newest.update.version);
    if newest.update.targets.is_none() {
        return Err(Failure::usage(format!(
            "the newest version of `{}` (v{}) already went to every worker; nothing to promote",
            args.module, newest.update.version
        )));
    }
    let verb = format!("promoted v{} as", newest.update.version);
    let delivery = Delivery::again(name, newest, verb)?;
    let live = fleet.ping().await?;
    let finished = deliver(&mut fleet, &history, &live, delivery, &options).await;
    fleet.close().await;
    finished
}
