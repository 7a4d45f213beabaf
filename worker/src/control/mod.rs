//! The control loop: one message at a time from this worker's own queue, on its own
//! connection and runtime, so job processing never delays a reload; with the express lane
//! on, its copies of updates are taken in the same loop. Dispatches on [`ControlMessage`].

pub(crate) mod express;
mod ping;
pub(crate) mod update;

use std::sync::Arc;

use anyhow::bail;
use crawlfleet_bus::message::{ControlMessage, Reply, RuleUpdate};
use crawlfleet_bus::{Inbox, Incoming, Outbox};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::app::Worker;
use express::{Express, Recent, Taken};

pub(crate) async fn run(
    worker: Arc<Worker>,
    mut inbox: Inbox<ControlMessage>,
    outbox: Outbox,
    express: Option<Arc<Mutex<Express>>>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // One control loop at a time holds the lane (a new session's waits for the old one's).
    let mut lane = match &express {
        Some(lane) => Some(lane.lock().await),
        None => None,
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(()),
            update = next_express(lane.as_deref_mut()) => {
                if let Some(lane) = lane.as_deref_mut() {
                    express_copy(&worker, &mut lane.recent, update).await;
                }
            }
            next = inbox.next() => match next {
                None => bail!("the control consumer ended"),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(incoming)) => {
                    let recent = lane.as_deref_mut().map(|l| &mut l.recent);
                    handle(&worker, &outbox, incoming, recent).await;
                }
            },
        }
    }
}

async fn next_express(lane: Option<&mut Express>) -> RuleUpdate {
    match lane {
        Some(lane) => lane.next().await,
        None => std::future::pending().await,
    }
}

/// An update from the express lane: applied unless its broker copy got here first. Nothing
/// to settle or answer: the broker copy is.
async fn express_copy(worker: &Worker, recent: &mut Recent, u: RuleUpdate) {
    match recent.apply_once(worker, u, update::Via::Express).await {
        Taken::Before(earlier) => {
            debug!(worker = %worker.identity.id, push_id = earlier.push_id.as_deref().unwrap_or(""), "express copy of an update already handled");
        }
        // In place, like the reload itself (see `update::load`).
        Taken::Now(_) => worker.store.housekeep(),
    }
}

async fn handle(
    worker: &Worker,
    outbox: &Outbox,
    incoming: Incoming<ControlMessage>,
    recent: Option<&mut Recent>,
) {
    let Incoming {
        message,
        reply_to,
        settle,
        ..
    } = incoming;
    let (reply, ack) = match message {
        Ok(ControlMessage::Ping(ping)) => (Some(Reply::Pong(ping::pong(worker, ping))), true),
        Ok(ControlMessage::Update(u)) => {
            let outcome = match recent {
                None => update::apply(worker, Ok(u), update::Via::Push).await,
                Some(recent) => match recent.apply_once(worker, u, update::Via::Push).await {
                    Taken::Now(outcome) => outcome,
                    // Live since its express copy: settle and answer with that outcome.
                    Taken::Before(reply) => {
                        info!(
                            worker = %worker.identity.id,
                            push_id = reply.push_id.as_deref().unwrap_or(""),
                            module = reply.module.as_deref().unwrap_or(""),
                            version = reply.version.unwrap_or(0),
                            "update already applied from the express lane"
                        );
                        update::Outcome { reply, ack: true }
                    }
                },
            };
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
    // the path of the next push (in place, like the reload itself: see `update::load`).
    worker.store.housekeep();
}
