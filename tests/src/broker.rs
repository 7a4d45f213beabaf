//! The test's view of the broker: a private prefix, raw control messages with replies,
//! the items queue, queue inspection, and teardown of everything under the prefix.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::process::Command;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use crawlfleet_bus::message::{ControlMessage, Decode, Item, Job, Raw, Reply};
use crawlfleet_bus::{Bus, Inbox, JobQueueType, Outbox, ReplyTo, Topology};

use crate::rabbitmqctl::{close_connection, rabbitmqctl, regex_escape};

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Tests share the broker; the one that restarts it takes this exclusively.
static BROKER_LOCK: std::sync::LazyLock<Arc<RwLock<()>>> =
    std::sync::LazyLock::new(|| Arc::new(RwLock::new(())));

/// Held for the length of a test: shared, or exclusive for a broker restart.
enum Hold {
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

/// An update sent both ways by [`TestBroker::send_control_express`].
pub struct Relayed {
    /// When the broker had the message and the relay to the express lane began.
    pub sent: Instant,
    /// When the express lane's server had relayed it.
    pub relayed: Instant,
}

pub struct TestBroker {
    pub prefix: String,
    bus: Bus,
    outbox: Outbox,
    replies: Inbox<Reply>,
    items: Option<Inbox<Item>>,
    /// Policies set by the test, cleared at cleanup.
    policies: Vec<String>,
    cleaned: bool,
    _hold: Hold,
}

impl TestBroker {
    /// Connects with a fresh prefix `t-<tag>-<random>` and declares the fleet's topology.
    pub async fn new(tag: &str) -> TestBroker {
        let hold = Hold::Shared(Arc::clone(&BROKER_LOCK).read_owned().await);
        Self::with_hold(tag, hold).await
    }

    /// Like `new`, but no other broker test runs meanwhile (for restarting the broker).
    pub async fn exclusive(tag: &str) -> TestBroker {
        let hold = Hold::Exclusive(Arc::clone(&BROKER_LOCK).write_owned().await);
        Self::with_hold(tag, hold).await
    }

    /// A fresh prefix name, for tests that set the topology up themselves.
    pub fn fresh_prefix(tag: &str) -> String {
        format!(
            "t-{tag}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    }

    /// Takes over a prefix whose topology something else declared (cleaned up the same way).
    pub async fn with_prefix(prefix: &str) -> TestBroker {
        let hold = Hold::Shared(Arc::clone(&BROKER_LOCK).read_owned().await);
        Self::open(prefix.to_owned(), hold).await
    }

    async fn with_hold(tag: &str, hold: Hold) -> TestBroker {
        Self::open(Self::fresh_prefix(tag), hold).await
    }

    async fn open(prefix: String, hold: Hold) -> TestBroker {
        let (bus, outbox, replies) = Self::connect(&prefix).await;
        TestBroker {
            prefix,
            bus,
            outbox,
            replies,
            items: None,
            policies: Vec::new(),
            cleaned: false,
            _hold: hold,
        }
    }

    /// Connects under `prefix`; workers answer what the outbox publishes straight back to it.
    async fn connect(prefix: &str) -> (Bus, Outbox, Inbox<Reply>) {
        let topology = Topology::new(prefix, JobQueueType::Quorum);
        let bus = Bus::connect(AMQP_URL, &format!("test {prefix}"), topology)
            .await
            .expect("the broker must be running (scripts/test starts it)");
        bus.declare_control().await.expect("declare control");
        bus.declare_jobs().await.expect("declare jobs");
        let (outbox, replies) = bus.requester().await.expect("requester channel");
        (bus, outbox, replies)
    }

    /// Connects again (after the broker restarted under the test).
    pub async fn reconnect(&mut self) {
        (self.bus, self.outbox, self.replies) = Self::connect(&self.prefix).await;
        self.items = None;
    }

    pub fn topology(&self) -> &Topology {
        self.bus.topology()
    }

    /// Publishes raw bytes to the control exchange as an update (to every worker and the
    /// history), asking for replies tagged `correlation`.
    pub async fn send_control_raw(&self, body: &[u8], correlation: &str) {
        self.send_update_replying_to(body, &ReplyTo::direct(correlation))
            .await;
    }

    /// Publishes raw update bytes asking for the replies at `reply` (which need not be this
    /// broker's, nor anyone's).
    pub async fn send_update_replying_to(&self, body: &[u8], reply: &ReplyTo) {
        self.send_control_bytes(body, crawlfleet_bus::ROUTE_UPDATE, reply)
            .await;
    }

    async fn send_control_bytes(&self, body: &[u8], routing_key: &str, reply: &ReplyTo) {
        self.outbox
            .publish_raw(
                &self.topology().control_exchange(),
                routing_key,
                body,
                Some(reply),
            )
            .await
            .expect("publish control");
    }

    /// Publishes raw update bytes to the broker and, while its confirm is on the way, on the
    /// express lane, as `publisher push-rule --express-url` does; returns how many
    /// subscribers the lane reached.
    pub async fn send_control_express(
        &self,
        body: &[u8],
        correlation: &str,
        lane: &crawlfleet_bus::ExpressLane,
    ) -> Relayed {
        let reply = ReplyTo::direct(correlation);
        let relay = async {
            let sent = Instant::now();
            let published = lane.publish(body).await;
            (sent, Instant::now(), published)
        };
        let ((sent, relayed, published), confirmed) = self
            .outbox
            .publish_meanwhile(
                &self.topology().control_exchange(),
                crawlfleet_bus::ROUTE_UPDATE,
                body.to_vec(),
                Some(&reply),
                relay,
            )
            .await
            .expect("publish control");
        confirmed.expect("broker confirm");
        published.expect("express publish");
        Relayed { sent, relayed }
    }

    /// Publishes a typed control message.
    pub async fn send_control(&self, message: &ControlMessage, correlation: &str) {
        use crawlfleet_bus::message::Encode;
        let reply = ReplyTo::direct(correlation);
        self.send_control_bytes(&message.encode(), message.routing_key(), &reply)
            .await;
    }

    /// Collects replies until `n` arrived or `timeout` passed.
    pub async fn replies(&mut self, n: usize, timeout: Duration) -> Vec<Reply> {
        take(&mut self.replies, n, timeout)
            .await
            .into_iter()
            .map(|(m, _, _)| m)
            .collect()
    }

    /// Publishes jobs to the job queue.
    pub async fn enqueue(&self, jobs: &[Job]) {
        self.outbox
            .publish_all("", &self.topology().jobs_queue(), jobs)
            .await
            .expect("enqueue");
    }

    /// Publishes raw bytes to the job queue.
    pub async fn enqueue_raw(&self, body: &[u8]) {
        self.outbox
            .publish_raw("", &self.topology().jobs_queue(), body, None)
            .await
            .expect("enqueue raw");
    }

    /// Takes items from the items queue until `n` arrived or `timeout` passed.
    pub async fn items(&mut self, n: usize, timeout: Duration) -> Vec<Item> {
        if self.items.is_none() {
            let queue = self.topology().items_queue();
            self.items = Some(
                self.bus
                    .inbox(&queue, 512, "test-items")
                    .await
                    .expect("consume items"),
            );
        }
        let inbox = self.items.as_mut().expect("items inbox");
        take(inbox, n, timeout)
            .await
            .into_iter()
            .map(|(m, _, _)| m)
            .collect()
    }

    /// Takes items like [`TestBroker::items`], sorted by job id (then page, then id).
    pub async fn items_by_job(&mut self, n: usize, timeout: Duration) -> Vec<Item> {
        let mut items = self.items(n, timeout).await;
        items.sort_by(|a, b| (&a.job, &a.url, &a.id).cmp(&(&b.job, &b.url, &b.id)));
        items
    }

    /// Takes dead letters (body as JSON, `null` when it is not JSON, headers) until `n`
    /// arrived or `timeout` passed.
    pub async fn dead_letters(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Vec<(serde_json::Value, BTreeMap<String, String>)> {
        self.dead_letters_raw(n, timeout)
            .await
            .into_iter()
            .map(|(raw, headers)| (serde_json::from_slice(&raw).unwrap_or_default(), headers))
            .collect()
    }

    /// Takes dead letters (body bytes exactly as they were dead-lettered, headers) until `n`
    /// arrived or `timeout` passed.
    pub async fn dead_letters_raw(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> Vec<(Vec<u8>, BTreeMap<String, String>)> {
        let queue = self.topology().dead_queue();
        let mut inbox: Inbox<Raw> = self
            .bus
            .inbox(&queue, 64, "test-dead")
            .await
            .expect("consume dead letters");
        let got = take(&mut inbox, n, timeout).await;
        let _ = inbox.cancel().await;
        got.into_iter()
            .map(|(_, raw, headers)| (raw, headers.into_iter().collect()))
            .collect()
    }

    /// Closes a worker's control connection from the broker's side
    /// (`rabbitmqctl close_connection`), found by its connection name.
    pub async fn close_worker_connection(&self, worker_id: &str) {
        close_connection(format!("crawlfleet worker {worker_id}")).await;
    }

    /// Closes a worker's job connection (jobs, items, follow-ups, retries, dead letters) from
    /// the broker's side.
    pub async fn close_worker_jobs_connection(&self, worker_id: &str) {
        close_connection(format!("crawlfleet worker {worker_id} jobs")).await;
    }

    /// Sets a RabbitMQ policy on exactly `queue` (`rabbitmqctl set_policy`, removed again by
    /// `clear_queue_policy` or when this broker is dropped) and waits until the queue has it.
    pub async fn set_queue_policy(&mut self, queue: &str, definition: &serde_json::Value) {
        let name = format!("{}-{}", self.prefix, self.policies.len());
        let pattern = format!("^{}$", regex_escape(queue));
        let definition = definition.to_string();
        rabbitmqctl(vec![
            "set_policy".into(),
            "--apply-to".into(),
            "queues".into(),
            "--priority".into(),
            "1000".into(),
            name.clone(),
            pattern,
            definition,
        ])
        .await;
        self.policies.push(name.clone());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = rabbitmqctl(vec![
                "list_queues".into(),
                "name".into(),
                "policy".into(),
                "--no-table-headers".into(),
            ])
            .await;
            let applied = out.lines().any(|l| {
                let mut parts = l.split_whitespace();
                parts.next() == Some(queue) && parts.next() == Some(name.as_str())
            });
            if applied {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "policy {name} never applied to {queue}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Removes every policy `set_queue_policy` set.
    pub async fn clear_queue_policies(&mut self) {
        for name in std::mem::take(&mut self.policies) {
            rabbitmqctl(vec!["clear_policy".into(), name]).await;
        }
    }

    /// Stops the broker's application for `down`, then starts it again (exclusive tests only).
    pub async fn restart_broker(&self, down: std::time::Duration) {
        assert!(
            matches!(self._hold, Hold::Exclusive(_)),
            "restart_broker needs TestBroker::exclusive"
        );
        rabbitmqctl(vec!["stop_app".into()]).await;
        tokio::time::sleep(down).await;
        rabbitmqctl(vec!["start_app".into()]).await;
        rabbitmqctl(vec!["await_startup".into()]).await;
    }

    /// Unacknowledged message counts of this prefix's queues, by name (via `rabbitmqctl`,
    /// whose failure fails the test). Never empty: the job queue this broker declared is
    /// always listed, so `.all(..)` over the counts cannot pass on a listing that failed.
    ///
    /// A classic queue (a worker's control queue) reports its count as it is now; a quorum
    /// queue (the job queue) reports the count of its last statistics tick, up to 5 s old:
    /// for those, use [`TestBroker::assert_nothing_unacked`].
    pub async fn unacked(&self) -> BTreeMap<String, u64> {
        let prefix = self.prefix.clone();
        let jobs = self.topology().jobs_queue();
        let listed = rabbitmqctl(vec![
            "list_queues".into(),
            "name".into(),
            "messages_unacknowledged".into(),
            "--no-table-headers".into(),
        ])
        .await;
        let counts: BTreeMap<String, u64> = listed
            .lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                let (name, n) = (parts.next()?, parts.next()?.parse().ok()?);
                name.starts_with(&prefix).then(|| (name.to_owned(), n))
            })
            .collect();
        assert!(
            counts.contains_key(&jobs),
            "rabbitmqctl did not list the job queue {jobs}: {counts:?}"
        );
        counts
    }

    /// Asserts that no queue of this prefix holds an unacknowledged message (the job queue
    /// among them, so the listing is known not to be empty). It first waits one statistics
    /// interval of the broker, so that the quorum job queue's count is from after the call
    /// (at once, a job unacked now can still be listed as acked).
    pub async fn assert_nothing_unacked(&self) {
        tokio::time::sleep(crate::rabbitmqctl::statistics_interval().await).await;
        let unacked = self.unacked().await;
        assert!(unacked.values().all(|n| *n == 0), "unacked: {unacked:?}");
    }

    /// Messages ready for delivery in `queue`, now.
    pub async fn depth(&self, queue: &str) -> u32 {
        self.bus.queue_depth(queue).await.expect("queue depth")
    }

    /// Deletes every durable exchange and queue of this prefix.
    pub async fn cleanup(mut self) {
        self.clear_queue_policies().await;
        crate::worker::kill_all(&self.prefix);
        delete_redis_keys(&self.prefix);
        let _ = self.bus.delete_topology().await;
        self.bus.close().await;
        self.cleaned = true;
    }
}

impl Drop for TestBroker {
    /// A test that panicked still leaves nothing behind.
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        for name in std::mem::take(&mut self.policies) {
            let _ = Command::new("rabbitmqctl")
                .args(["-q", "clear_policy", &name])
                .status();
        }
        crate::worker::kill_all(&self.prefix);
        delete_redis_keys(&self.prefix);
        let topology = self.topology().clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(bus) = Bus::connect(AMQP_URL, "test cleanup", topology).await {
                    let _ = bus.delete_topology().await;
                    bus.close().await;
                }
            });
        })
        .join();
    }
}

/// Takes (and acks) up to `n` messages within `timeout`: each decoded (garbage is a test
/// failure), with its raw body and headers.
async fn take<T: Decode>(
    inbox: &mut Inbox<T>,
    n: usize,
    timeout: Duration,
) -> Vec<(T, Vec<u8>, Vec<(String, String)>)> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while got.len() < n {
        match tokio::time::timeout_at(deadline, inbox.next()).await {
            Ok(Some(Ok(incoming))) => {
                incoming
                    .settle
                    .ack()
                    .await
                    .expect("ack a message the test took");
                let message = incoming
                    .message
                    .unwrap_or_else(|e| panic!("undecodable message: {e}"));
                got.push((message, incoming.raw, incoming.headers));
            }
            _ => break,
        }
    }
    got
}

/// Deletes the Redis dedup keys a test's workers wrote under its prefix.
fn delete_redis_keys(prefix: &str) {
    let script =
        format!("redis-cli --scan --pattern '{prefix}:*' | xargs -r redis-cli del >/dev/null");
    let _ = Command::new("sh").args(["-c", &script]).status();
}
