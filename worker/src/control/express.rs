//! The worker's end of the express lane: a Redis subscription kept open (resubscribing with
//! backoff) that hands each rule update to the control loop, and the memory of updates
//! already handled, so that the second copy of one (broker or express, whichever comes
//! later) is settled and answered without a second reload.

use std::collections::VecDeque;
use std::time::Duration;

use crawlfleet_bus::ExpressLane;
use crawlfleet_bus::message::{ControlMessage, Encode, ReloadReply, ReloadStatus, RuleUpdate};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Plane;
use super::update::{self, ReloadOutcome, Via};
use crate::backoff::Backoff;

/// Updates waiting for the control loop (while it reconnects to the broker, say). Past this,
/// express copies are dropped: the broker's copies follow.
const QUEUE: usize = 64;

/// How many handled updates are remembered.
const REMEMBERED: usize = 256;

/// What the control loop holds of the lane.
pub(crate) struct Express {
    updates: mpsc::Receiver<RuleUpdate>,
    pub(crate) recent: Recent,
}

impl Express {
    /// Subscribes on `on` (the control runtime) until `shutdown`.
    pub(crate) fn start(
        lane: ExpressLane,
        worker: String,
        backoff: Backoff,
        on: &Handle,
        shutdown: CancellationToken,
    ) -> Express {
        let (tx, rx) = mpsc::channel(QUEUE);
        on.spawn(subscribe(lane, worker, tx, backoff, shutdown));
        Express {
            updates: rx,
            recent: Recent::default(),
        }
    }

    /// The next update from the lane; pending forever once the subscriber has stopped.
    pub(crate) async fn next(&mut self) -> RuleUpdate {
        match self.updates.recv().await {
            Some(update) => update,
            None => std::future::pending().await,
        }
    }
}

/// Updates handled lately, by the digest of their content, with the reply they earned.
#[derive(Default)]
pub(crate) struct Recent {
    handled: VecDeque<(String, ReloadReply)>,
}

impl Recent {
    /// The reply an update with this content earned, when it was handled already.
    fn find(&self, digest: &str) -> Option<&ReloadReply> {
        self.handled
            .iter()
            .find(|(d, _)| d == digest)
            .map(|(_, reply)| reply)
    }

    /// Remembers an outcome. Failures are not remembered: the other copy is tried on its own
    /// (what failed may have been passing, like a file not synced yet).
    fn remember(&mut self, digest: String, reply: &ReloadReply) {
        if reply.status == ReloadStatus::Failed {
            return;
        }
        if self.handled.len() == REMEMBERED {
            self.handled.pop_front();
        }
        self.handled.push_back((digest, reply.clone()));
    }
}

/// What became of one copy of an update ([`Recent::apply_once`]).
pub(crate) enum UpdateCopy {
    /// The first copy: applied now (or refused now), with the outcome to settle and answer with.
    Applied(ReloadOutcome),
    /// Its other copy was handled already, earning this reply; nothing was done again.
    Duplicate(ReloadReply),
}

impl Recent {
    /// Applies `u` unless an update with the same content was handled lately, by either copy,
    /// and remembers what it earned.
    pub(crate) async fn apply_once(
        &mut self,
        plane: &Plane,
        u: RuleUpdate,
        via: Via,
    ) -> UpdateCopy {
        let digest = digest(&u);
        if let Some(reply) = self.find(&digest) {
            return UpdateCopy::Duplicate(reply.clone());
        }
        let outcome = update::apply(plane, Ok(u), via).await;
        self.remember(digest, &outcome.reply);
        UpdateCopy::Applied(outcome)
    }
}

/// The digest of an update's content: the two copies of one push have the same.
fn digest(update: &RuleUpdate) -> String {
    crawlfleet_engine::sha256_hex(&ControlMessage::Update(update.clone()).encode())
}

async fn subscribe(
    lane: ExpressLane,
    worker: String,
    updates: mpsc::Sender<RuleUpdate>,
    mut backoff: Backoff,
    shutdown: CancellationToken,
) {
    loop {
        match lane.subscribe().await {
            Ok(mut stream) => {
                info!(worker = %worker, url = %lane.url(), channel = %lane.channel(), "express lane subscribed");
                backoff.reset();
                loop {
                    let next = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        next = stream.next() => next,
                    };
                    match next {
                        None => break,
                        Some(Ok(ControlMessage::Update(update))) => {
                            forward(&worker, &updates, update);
                        }
                        Some(Ok(other)) => {
                            debug!(worker = %worker, kind = ?std::mem::discriminant(&other), "not an update; the express lane ignores it");
                        }
                        Some(Err(e)) => {
                            warn!(worker = %worker, cause = %e, "garbage on the express lane (ignored; the broker's copy is reported)")
                        }
                    }
                }
                warn!(worker = %worker, url = %lane.url(), "express lane lost; resubscribing");
            }
            Err(e) => {
                warn!(worker = %worker, cause = %e, effect = "updates come through the broker only", "cannot subscribe to the express lane");
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay.max(Duration::from_millis(50))) => {}
        }
    }
}

fn forward(worker: &str, updates: &mpsc::Sender<RuleUpdate>, update: RuleUpdate) {
    if let Err(e) = updates.try_send(update) {
        let update = match e {
            mpsc::error::TrySendError::Full(u) | mpsc::error::TrySendError::Closed(u) => u,
        };
        warn!(worker = %worker, push_id = %update.push_id, cause = "the control loop is behind", effect = "the broker's copy follows", "express copy dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: ReloadStatus) -> ReloadReply {
        ReloadReply {
            worker: "w".to_owned(),
            host: "h".to_owned(),
            status,
            push_id: Some("p".to_owned()),
            module: None,
            version: None,
            sha256: None,
            stage: None,
            error: None,
            elapsed_us: 1,
        }
    }

    #[test]
    fn remembers_outcomes_but_not_failures_and_forgets_the_oldest() {
        let mut recent = Recent::default();
        recent.remember("a".to_owned(), &reply(ReloadStatus::Applied));
        recent.remember("b".to_owned(), &reply(ReloadStatus::Failed));
        assert_eq!(
            recent.find("a").map(|r| r.status),
            Some(ReloadStatus::Applied)
        );
        assert!(recent.find("b").is_none());
        for i in 0..REMEMBERED {
            recent.remember(format!("x{i}"), &reply(ReloadStatus::Unchanged));
        }
        assert!(recent.find("a").is_none());
        assert!(recent.find("x0").is_some());
    }

    #[test]
    fn the_two_copies_of_a_push_share_a_digest_and_other_content_does_not() {
        let update = RuleUpdate {
            module: "shop.a".to_owned(),
            version: 3,
            push_id: "p-3".to_owned(),
            source: Some("return {}".to_owned()),
            ..RuleUpdate::default()
        };
        let mut forged = update.clone();
        forged.source = Some("return { evil = true }".to_owned());
        assert_eq!(digest(&update), digest(&update.clone()));
        assert_ne!(digest(&update), digest(&forged));
    }
}
