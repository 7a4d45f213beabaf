//! `publisher export`: drain the items queue to JSON Lines. Each item is written and flushed
//! before it is acknowledged, so a crash loses nothing (at worst an item is written twice,
//! with the same id).

use std::io::Write;
use std::time::Duration;

use crawlfleet_bus::message::{Encode, Item};
use crawlfleet_bus::{Bus, JobQueueType, Topology};

use crate::cli::{ExportArgs, Global};
use crate::{Failure, Finished};

pub(crate) async fn run(global: &Global, args: &ExportArgs) -> Result<Finished, Failure> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(args.append)
        .truncate(!args.append)
        .open(&args.out)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", args.out.display())))?;
    let mut out = std::io::BufWriter::new(file);
    let topology = Topology::new(&global.prefix, JobQueueType::Quorum);
    let bus = Bus::connect(
        &global.amqp_url,
        "crawlfleet publisher export",
        topology.clone(),
    )
    .await?;
    bus.declare_jobs().await?;
    let mut inbox = bus
        .inbox::<Item>(&topology.items_queue(), 256, "export")
        .await?;
    let idle = Duration::from_millis(args.idle_ms);
    let (mut exported, mut garbage) = (0u64, 0u64);
    while args.max.is_none_or(|max| exported < max) {
        let incoming = match tokio::time::timeout(idle, inbox.next()).await {
            Ok(Some(Ok(incoming))) => incoming,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) | Err(_) => break,
        };
        match &incoming.message {
            Ok(item) => {
                let mut line = item.encode();
                line.push(b'\n');
                out.write_all(&line)
                    .and_then(|()| out.flush())
                    .map_err(|e| {
                        Failure::usage(format!("cannot write {}: {e}", args.out.display()))
                    })?;
                incoming.settle.ack().await?;
                exported += 1;
            }
            Err(e) => {
                // Left unacknowledged: it returns to the queue when we disconnect.
                tracing::warn!(cause = %e, "an undecodable message stays in the items queue");
                garbage += 1;
            }
        }
    }
    bus.close().await;
    println!("exported {exported} item(s) to {}", args.out.display());
    if garbage > 0 {
        eprintln!("publisher: {garbage} undecodable message(s) left in the items queue");
    }
    Ok(Finished::Done)
}
