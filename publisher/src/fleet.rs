//! Talking to the live fleet: broadcast control messages and collect the workers' replies.

use std::collections::BTreeMap;
use std::time::Duration;

use crawlfleet_bus::message::{ControlMessage, Encode, Ping, Pong, ReloadReply, Reply, RuleUpdate};
use crawlfleet_bus::{Bus, BusError, ExpressLane, Inbox, JobQueueType, Outbox, ReplyTo, Topology};
use tokio::time::Instant;

use crate::Failure;
use crate::cli::Global;

/// A publisher's connection: an outbox, and the workers' replies to what it publishes
/// (direct replies to the same channel).
pub(crate) struct Fleet {
    bus: Bus,
    outbox: Outbox,
    replies: Inbox<Reply>,
    ping_window: Duration,
}

impl Fleet {
    pub(crate) async fn connect(global: &Global) -> Result<Fleet, Failure> {
        let bus = Bus::connect(&global.amqp_url, "crawlfleet publisher", topology(global)).await?;
        bus.declare_control().await?;
        let (outbox, replies) = bus.requester().await?;
        Ok(Fleet {
            bus,
            outbox,
            replies,
            ping_window: Duration::from_millis(global.ping_window_ms),
        })
    }

    /// Publishes `message` to every worker, asking for replies tagged `correlation_id`.
    pub(crate) async fn broadcast(
        &self,
        message: &ControlMessage,
        correlation_id: &str,
    ) -> Result<(), Failure> {
        let reply = ReplyTo::direct(correlation_id);
        let exchange = self.bus.topology().control_exchange();
        self.outbox
            .publish(
                &exchange,
                message.routing_key(),
                message,
                Some(&reply),
                &Vec::new(),
            )
            .await?;
        Ok(())
    }

    /// Publishes an update to every worker like [`Fleet::broadcast`], and relays it on the
    /// express lane while the broker's confirm is on its way. Returns how many workers the
    /// lane reached, or why it reached none; `Err` only when the broker did not take or
    /// confirm the update.
    pub(crate) async fn broadcast_express(
        &self,
        message: &ControlMessage,
        correlation_id: &str,
        lane: &ExpressLane,
    ) -> Result<Result<u64, BusError>, Failure> {
        let reply = ReplyTo::direct(correlation_id);
        let body = message.encode();
        let (relayed, confirmed) = self
            .outbox
            .publish_meanwhile(
                &self.bus.topology().control_exchange(),
                message.routing_key(),
                body.clone(),
                Some(&reply),
                lane.publish(&body),
            )
            .await?;
        if let Err(e) = confirmed {
            let reached = match relayed {
                Ok(n) if n > 0 => format!(
                    "; the express lane had already handed it to {n} worker(s), which may run it: push again so that the history has it"
                ),
                _ => String::new(),
            };
            return Err(Failure::Incomplete(format!("{e}{reached}")));
        }
        Ok(relayed)
    }

    /// Live membership: every worker that answers a ping within the ping window, by id.
    pub(crate) async fn ping(&mut self) -> Result<BTreeMap<String, Pong>, Failure> {
        let ping_id = uuid::Uuid::new_v4().to_string();
        self.broadcast(
            &ControlMessage::Ping(Ping {
                ping_id: ping_id.clone(),
            }),
            &ping_id,
        )
        .await?;
        let mut pongs = BTreeMap::new();
        let deadline = Instant::now() + self.ping_window;
        while let Some(reply) = self.next_reply(deadline).await {
            if let Reply::Pong(p) = reply
                && p.ping_id == ping_id
            {
                pongs.insert(p.worker.clone(), p);
            }
        }
        Ok(pongs)
    }

    /// Collects reload replies for `push_id` until every worker in `expected` answered or
    /// `deadline` passes. Replies from workers that joined after the ping are kept too.
    pub(crate) async fn reload_replies(
        &mut self,
        push_id: &str,
        expected: &[String],
        deadline: Instant,
    ) -> BTreeMap<String, ReloadReply> {
        let mut got = BTreeMap::new();
        while !expected.iter().all(|w| got.contains_key(w)) {
            let Some(reply) = self.next_reply(deadline).await else {
                break;
            };
            if let Reply::Reload(r) = reply
                && r.push_id.as_deref() == Some(push_id)
            {
                got.insert(r.worker.clone(), r);
            }
        }
        got
    }

    /// The next decodable reply, or `None` at the deadline.
    async fn next_reply(&mut self, deadline: Instant) -> Option<Reply> {
        loop {
            let next = tokio::time::timeout_at(deadline, self.replies.next()).await;
            let incoming = match next {
                Ok(Some(Ok(incoming))) => incoming,
                Ok(Some(Err(e))) => {
                    tracing::warn!(cause = %e, "reply queue error");
                    return None;
                }
                Ok(None) | Err(_) => return None,
            };
            let _ = incoming.settle.ack().await;
            match incoming.message {
                Ok(reply) => return Some(reply),
                Err(e) => tracing::warn!(cause = %e, "ignored an undecodable reply"),
            }
        }
    }

    /// Every update still in the history stream, oldest first.
    pub(crate) async fn history(&self) -> Result<Vec<RuleUpdate>, Failure> {
        let history = self
            .bus
            .read_history(&self.outbox, "publisher", Duration::from_secs(30))
            .await?;
        Ok(history.updates)
    }

    /// Re-appends `update` to the history (not to the workers), so that retention, which
    /// drops the oldest entries first, never drops the newest version of a module.
    pub(crate) async fn keep_in_history(&self, update: &RuleUpdate) -> Result<(), Failure> {
        let exchange = self.bus.topology().control_exchange();
        let message = ControlMessage::Update(update.clone());
        self.outbox
            .publish(
                &exchange,
                crawlfleet_bus::ROUTE_HISTORY,
                &message,
                None,
                &Vec::new(),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn close(self) {
        self.bus.close().await;
    }
}

/// The names the fleet under `--prefix` uses.
pub(crate) fn topology(global: &Global) -> Topology {
    Topology::new(&global.prefix, JobQueueType::Quorum)
}
