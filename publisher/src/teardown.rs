//! `publisher teardown --yes`: delete the prefix's durable exchanges and queues (jobs and
//! items included). For demos and test fleets; refuses to run without `--yes`.

use crawlfleet_bus::{Bus, JobQueueType, Topology};

use crate::cli::{Global, TeardownArgs};
use crate::{Failure, Finished};

pub(crate) async fn run(global: &Global, args: &TeardownArgs) -> Result<Finished, Failure> {
    if !args.yes {
        return Err(Failure::usage(format!(
            "teardown deletes every queue of prefix `{}`, with its jobs and items; add --yes",
            global.prefix
        )));
    }
    let topology = Topology::new(&global.prefix, JobQueueType::Quorum);
    let bus = Bus::connect(&global.amqp_url, "crawlfleet publisher teardown", topology).await?;
    bus.delete_topology().await?;
    bus.close().await;
    println!(
        "deleted the exchanges and queues of prefix `{}`",
        global.prefix
    );
    Ok(Finished::Done)
}
