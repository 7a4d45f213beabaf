//! The control loop: one message at a time from this worker's own queue, on its own
//! connection and runtime, so job processing never delays a reload. Dispatches on
//! [`ControlMessage`].

mod ping;
pub(crate) mod update;

use std::sync::Arc;

use anyhow::bail;
use crawlfleet_bus::message::{ControlMessage, Reply};
use crawlfleet_bus::{Inbox, Incoming, Outbox};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::app::Worker;

pub(crate) async fn run(
    worker: Arc<Worker>,
    mut inbox: Inbox<ControlMessage>,
    outbox: Outbox,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let incoming = tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            next = inbox.next() => match next {
                None => bail!("the control consumer ended"),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(incoming)) => incoming,
            },
        };
        handle(&worker, &outbox, incoming).await;
    }
}

async fn handle(worker: &Worker, outbox: &Outbox, incoming: Incoming<ControlMessage>) {
    let Incoming {
        message,
        reply_to,
        settle,
        ..
    } = incoming;
    let (reply, ack) = match message {
        Ok(ControlMessage::Ping(ping)) => (Some(Reply::Pong(ping::pong(worker, ping))), true),
        Ok(ControlMessage::Update(u)) => {
            let outcome = update::apply(worker, Ok(u), update::Via::Push).await;
            (Some(Reply::Reload(outcome.reply)), outcome.ack)
        }
        // Sync markers are for the history stream; one routed here is harmless.
        Ok(ControlMessage::Sync(_)) => (None, true),
        // Garbage on the control queue is reported like a failed update.
        Err(e) => {
            let outcome = update::apply(worker, Err(e), update::Via::Push).await;
            (Some(Reply::Reload(outcome.reply)), outcome.ack)
        }
    };
    let settled = if ack {
        settle.ack().await
    } else {
        settle.reject().await
    };
    if let Err(e) = settled {
        warn!(worker = %worker.identity.id, cause = %e, "cannot settle a control message");
    }
    if let (Some(to), Some(reply)) = (reply_to, reply)
        && let Err(e) = outbox.reply(&to, &reply).await
    {
        warn!(worker = %worker.identity.id, cause = %e, queue = %to.queue, "cannot send a reply");
    }
    // Only now, with the update settled and reported: open the next update's Lua state, off
    // the path of the next push.
    let store = &worker.store;
    tokio::task::block_in_place(|| store.housekeep());
}
