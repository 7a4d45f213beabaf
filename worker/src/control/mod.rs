//! The control loop: one message at a time from this worker's own queue, on its own
//! connection and runtime, so job processing never delays a reload; with the express lane
//! on, its copies of updates are taken in the same loop. Dispatches on [`ControlMessage`].
//! Settling a message and answering it wait for the connection to write them, so they run
//! beside the loop: a busy connection never holds up the next update.

pub(crate) mod catchup;
pub(crate) mod express;
mod ping;
pub(crate) mod update;

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use crawlfleet_bus::message::{ControlMessage, Reply, RuleUpdate};
use crawlfleet_bus::signature::PublicKey;
use crawlfleet_bus::{Inbox, Incoming, Replier, ReplyTo, Settle};
use crawlfleet_engine::{RuleStore, RulesRoot};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::admin::Metrics;
use crate::identity::Identity;
use express::{Express, Recent, UpdateCopy};

/// Most messages being settled and answered at once; past it, the loop waits for one to
/// finish before it takes the next message (the broker holds 8 unacked ones anyway).
const SETTLING: usize = 64;

/// How long the loop, once stopped, waits for the settling of what it already handled.
const DRAIN: Duration = Duration::from_secs(5);

/// What the control plane holds, across broker sessions: the rules it reloads and what it
/// needs to check, report and count a reload.
pub(crate) struct Plane {
    pub(crate) identity: Identity,
    /// The fleet's prefix, which signed updates must name.
    pub(crate) prefix: String,
    pub(crate) root: RulesRoot,
    /// Shared with the job loop, which runs the rules live in it.
    pub(crate) store: Arc<RuleStore>,
    /// When not empty, only updates signed by one of these keys are applied.
    pub(crate) trusted_keys: Vec<PublicKey>,
    pub(crate) metrics: Arc<Metrics>,
}

pub(crate) async fn run(
    plane: Arc<Plane>,
    mut inbox: Inbox<ControlMessage>,
    replier: Replier,
    express: Option<Arc<Mutex<Express>>>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // One control loop at a time holds the lane (a new session's waits for the old one's).
    let mut lane = match &express {
        Some(lane) => Some(lane.lock().await),
        None => None,
    };
    // Acks and replies on their way: the next update must not wait for them to be written.
    let mut settling = FuturesUnordered::new();
    let ended = loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break Ok(()),
            update = next_express(lane.as_deref_mut()) => {
                if let Some(lane) = lane.as_deref_mut() {
                    express_copy(&plane, &mut lane.recent, update).await;
                }
            }
            Some(()) = settling.next(), if !settling.is_empty() => {}
            next = inbox.next(), if settling.len() < SETTLING => match next {
                None => break Err(anyhow!("the control consumer ended")),
                Some(Err(e)) => break Err(e.into()),
                Some(Ok(incoming)) => {
                    let recent = lane.as_deref_mut().map(|l| &mut l.recent);
                    let answer = handle(&plane, incoming, recent).await;
                    settling.push(answer.send(&plane, &replier));
                    // Open the next update's Lua state now, off the path of the next push
                    // (in place, like the reload itself: see `update::load`).
                    plane.store.housekeep();
                }
            },
        }
    };
    // What was handled is settled and answered before the loop ends (on a lost connection,
    // each fails at once and is logged).
    let drained = tokio::time::timeout(DRAIN, async { while settling.next().await.is_some() {} });
    if drained.await.is_err() {
        warn!(worker = %plane.identity.id, unsettled = settling.len(), cause = "no answer from the broker", "control messages not settled before stop; the broker takes them back");
    }
    ended
}

async fn next_express(lane: Option<&mut Express>) -> RuleUpdate {
    match lane {
        Some(lane) => lane.next().await,
        None => std::future::pending().await,
    }
}

/// An update from the express lane: applied unless its broker copy got here first. Nothing
/// to settle or answer: the broker copy is.
async fn express_copy(plane: &Plane, recent: &mut Recent, u: RuleUpdate) {
    match recent.apply_once(plane, u, update::Via::Express).await {
        UpdateCopy::Duplicate(earlier) => {
            debug!(worker = %plane.identity.id, push_id = earlier.push_id.as_deref().unwrap_or(""), "express copy of an update already handled");
        }
        // In place, like the reload itself (see `update::load`).
        UpdateCopy::Applied(_) => plane.store.housekeep(),
    }
}

/// A handled control message's answer: how to settle it and what to reply.
struct Answer {
    settle: Settle,
    ack: bool,
    reply_to: Option<ReplyTo>,
    reply: Option<Reply>,
}

impl Answer {
    /// Acks (or rejects) the message, then sends the reply; failures are logged.
    async fn send(self, plane: &Plane, replier: &Replier) {
        let settled = if self.ack {
            self.settle.ack().await
        } else {
            self.settle.reject().await
        };
        if let Err(e) = settled {
            warn!(worker = %plane.identity.id, cause = %e, "cannot settle a control message");
        }
        if let (Some(to), Some(reply)) = (self.reply_to, self.reply)
            && let Err(e) = replier.reply(&to, &reply).await
        {
            warn!(worker = %plane.identity.id, cause = %e, queue = %to.queue, "cannot send a reply");
        }
    }
}

/// Applies what `incoming` asks (an update is live, or has failed, when this returns).
async fn handle(
    plane: &Plane,
    incoming: Incoming<ControlMessage>,
    recent: Option<&mut Recent>,
) -> Answer {
    let Incoming {
        message,
        reply_to,
        settle,
        ..
    } = incoming;
    let (reply, ack) = match message {
        Ok(ControlMessage::Ping(ping)) => (Some(Reply::Pong(ping::pong(plane, ping))), true),
        Ok(ControlMessage::Update(u)) => {
            let outcome = match recent {
                None => update::apply(plane, Ok(u), update::Via::Push).await,
                Some(recent) => match recent.apply_once(plane, u, update::Via::Push).await {
                    UpdateCopy::Applied(outcome) => outcome,
                    // Live since its express copy: settle and answer with that outcome.
                    UpdateCopy::Duplicate(reply) => {
                        info!(
                            worker = %plane.identity.id,
                            push_id = reply.push_id.as_deref().unwrap_or(""),
                            module = reply.module.as_deref().unwrap_or(""),
                            version = reply.version.unwrap_or(0),
                            "update already applied from the express lane"
                        );
                        update::ReloadOutcome { reply, ack: true }
                    }
                },
            };
            (Some(Reply::Reload(outcome.reply)), outcome.ack)
        }
        // Sync markers are for the history stream; one routed here is harmless.
        Ok(ControlMessage::Sync(_)) => (None, true),
        // Garbage on the control queue is reported like a failed update.
        Err(e) => {
            let outcome = update::apply(plane, Err(e), update::Via::Push).await;
            (Some(Reply::Reload(outcome.reply)), outcome.ack)
        }
    };
    Answer {
        settle,
        ack,
        reply_to,
        reply,
    }
}
