//! `publisher push-rule`: send a module's source inline with its sha256 and a new version to
//! every live worker, or to named workers, or to a canary share of them.

use crawlfleet_bus::message::Targets;
use crawlfleet_engine::{ModuleName, check_syntax};

use crate::cli::{Global, PushRuleArgs};
use crate::deliver::{Delivery, DeliveryOptions, deliver, parse_percent};
use crate::fleet::Fleet;
use crate::{Failure, Finished};

pub(crate) async fn run(global: &Global, args: &PushRuleArgs) -> Result<Finished, Failure> {
    let name = ModuleName::new(&args.module).map_err(|e| Failure::usage(e.to_string()))?;
    let bytes = std::fs::read(&args.path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", args.path.display())))?;
    let source = String::from_utf8(bytes)
        .map_err(|_| Failure::usage(format!("{} is not UTF-8 text", args.path.display())))?;
    check_syntax(&name, &source).map_err(|e| {
        Failure::usage(format!(
            "{} is not valid Lua: {}",
            args.path.display(),
            e.message
        ))
    })?;
    let canary = args.canary.as_deref().map(parse_percent).transpose()?;
    let targets = (!args.workers.is_empty() || canary.is_some()).then(|| Targets {
        workers: args.workers.clone(),
        canary_percent: canary,
    });
    let options = DeliveryOptions::check(&args.delivery, global)?;
    let mut fleet = Fleet::connect(global).await?;
    let history = options.trust.vet(fleet.history().await?);
    let verb = if targets.is_some() {
        "pushed (targeted)"
    } else {
        "pushed"
    };
    let delivery = Delivery {
        module: name,
        source,
        version: args.version,
        targets,
        verb: verb.to_owned(),
    };
    let live = fleet.ping().await?;
    let finished = deliver(&mut fleet, &history, &live, delivery, &options).await;
    fleet.close().await;
    finished
}
