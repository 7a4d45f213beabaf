//! `publisher promote`: the newest canary or targeted version of a module goes to every
//! worker, as a new version.

use crawlfleet_engine::ModuleName;

use crate::Failure;
use crate::cli::{Global, PromoteArgs};
use crate::deliver::{Delivery, How, deliver};
use crate::fleet::Fleet;

pub(crate) async fn run(global: &Global, args: &PromoteArgs) -> Result<u8, Failure> {
    let name = ModuleName::new(&args.module).map_err(|e| Failure::usage(e.to_string()))?;
    let how = How::check(&args.delivery, global)?;
    let mut fleet = Fleet::connect(global).await?;
    let history = fleet.history().await?;
    let newest = history
        .iter()
        .filter(|u| u.module == args.module)
        .max_by_key(|u| u.version)
        .ok_or_else(|| Failure::usage(format!("no push of `{}` in the history", args.module)))?;
    if newest.targets.is_none() {
        return Err(Failure::usage(format!(
            "the newest version of `{}` (v{}) already went to every worker; nothing to promote",
            args.module, newest.version
        )));
    }
    let delivery = Delivery::again(name, newest, format!("promoted v{} as", newest.version))?;
    let live = fleet.ping().await?;
    let code = deliver(&mut fleet, &history, &live, delivery, &how).await;
    fleet.close().await;
    code
}
