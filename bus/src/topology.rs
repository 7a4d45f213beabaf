//! Names and declarations of every exchange and queue, derived from one prefix.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::BusError;

/// Routing keys on the control exchange.
pub const ROUTE_UPDATE: &str = "update";
pub const ROUTE_PING: &str = "ping";
pub const ROUTE_HISTORY: &str = "history";

/// Retention of the history stream: its size bound, and the segment size it is trimmed by.
pub const HISTORY_MAX_BYTES: i64 = 256 * 1024 * 1024;
pub const HISTORY_SEGMENT_BYTES: i64 = 4 * 1024 * 1024;

/// The waits of the retry queues: attempt n waits `RETRY_DELAYS_MS[n]` (the last repeats).
pub const RETRY_DELAYS_MS: [u64; 7] = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000];

/// How many times a job may be delivered without being settled before it is dead-lettered
/// (`reason delivery_limit`), unless the worker is told otherwise (`--max-deliveries`).
pub const DEFAULT_MAX_DELIVERIES: u32 = 10;

/// The arguments of the job queue that carry its delivery limit: a queue declared without
/// them (by an older worker) or with other values differs only in these.
const DELIVERY_LIMIT_ARGS: [&str; 5] = [
    "x-delivery-limit",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-overflow",
];

/// The replication type of the job queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobQueueType {
    /// Replicated across a cluster's nodes (the default).
    Quorum,
    /// A classic single-node queue.
    Classic,
}

/// Every name the fleet uses, under one prefix (`crawlfleet` by default), so that fleets
/// and tests sharing a broker never see each other's messages.
#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    job_queue_type: JobQueueType,
    max_deliveries: u32,
}

impl Topology {
    pub fn new(prefix: &str, job_queue_type: JobQueueType) -> Topology {
        Topology {
            prefix: prefix.to_owned(),
            job_queue_type,
            max_deliveries: DEFAULT_MAX_DELIVERIES,
        }
    }

    /// The same names, with a job delivered at most `max_deliveries` times unsettled (at
    /// least 1) before it is dead-lettered.
    pub fn with_max_deliveries(mut self, max_deliveries: u32) -> Topology {
        self.max_deliveries = max_deliveries.max(1);
        self
    }

    /// How many deliveries of a job may end unsettled (a crash, a hang past the broker's
    /// timeout, a requeue) before the next one is dead-lettered instead of run.
    pub fn max_deliveries(&self) -> u32 {
        self.max_deliveries
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Durable topic exchange of control messages: routing key `update` (rule updates, to
    /// every worker and the history), `ping` (to every worker), `history` (to the history
    /// only: sync markers and compaction).
    pub fn control_exchange(&self) -> String {
        format!("{}.rules", self.prefix)
    }

    /// The durable stream of every update ever pushed (bounded by size), replayed by workers
    /// that start or reconnect.
    pub fn history_stream(&self) -> String {
        format!("{}.history", self.prefix)
    }

    /// A worker's own control queue: exclusive, auto-delete, bound to the control exchange.
    pub fn worker_queue(&self, instance: &str) -> String {
        format!("{}.worker.{instance}", self.prefix)
    }

    /// The durable job queue consumed by every worker.
    pub fn jobs_queue(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    /// Where jobs that failed for good wait for an operator, with the reason in headers.
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// The retry queue whose messages wait `RETRY_DELAYS_MS[level]` and then dead-letter
    /// back to the job queue.
    pub fn retry_queue(&self, level: usize) -> String {
        let level = level.min(RETRY_DELAYS_MS.len() - 1);
        format!("{}.retry.{}ms", self.prefix, RETRY_DELAYS_MS[level])
    }

    /// Durable fanout exchange of extracted items.
    pub fn items_exchange(&self) -> String {
        format!("{}.items", self.prefix)
    }

    /// The default durable queue bound to the items exchange.
    pub fn items_queue(&self) -> String {
        format!("{}.items", self.prefix)
    }

    /// The control exchange (topic) and the history stream bound to it.
    pub(crate) async fn declare_control(&self, ch: &Channel) -> Result<(), BusError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        ch.exchange_declare(
            self.control_exchange().into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(|e| BusError::op("declare the control exchange", e))?;
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("stream".into()),
        );
        args.insert(
            "x-max-length-bytes".into(),
            AMQPValue::LongLongInt(HISTORY_MAX_BYTES),
        );
        args.insert(
            "x-stream-max-segment-size-bytes".into(),
            AMQPValue::LongLongInt(HISTORY_SEGMENT_BYTES),
        );
        let durable_queue = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        ch.queue_declare(self.history_stream().into(), durable_queue, args)
            .await
            .map_err(|e| BusError::op("declare the history stream", e))?;
        bind(
            ch,
            &self.history_stream(),
            &self.control_exchange(),
            &[ROUTE_UPDATE, ROUTE_HISTORY],
        )
        .await
        .map_err(|e| BusError::op("bind the history stream", e))
    }

    /// Declares an exclusive, auto-delete queue named `queue` and binds it to the control
    /// exchange. Messages published from then on wait in it until it is consumed.
    pub(crate) async fn bind_private(&self, ch: &Channel, queue: &str) -> Result<(), BusError> {
        self.declare_control(ch).await?;
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        ch.queue_declare(queue.into(), options, FieldTable::default())
            .await
            .map_err(|e| BusError::op("declare a control queue", e))?;
        bind(
            ch,
            queue,
            &self.control_exchange(),
            &[ROUTE_UPDATE, ROUTE_PING],
        )
        .await
        .map_err(|e| BusError::op("bind a control queue", e))
    }

    /// The job queue's arguments. A quorum queue dead-letters (at least once) to the dead
    /// queue a job returned more than `max_deliveries` times (`x-delivery-limit`); a classic
    /// queue cannot, and the worker counts deliveries itself (`jobs/deliveries.rs`).
    fn job_queue_args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(self.job_queue_type.label().into()),
        );
        if self.job_queue_type == JobQueueType::Quorum {
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongLongInt(i64::from(self.max_deliveries)),
            );
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString("".into()),
            );
            args.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(self.dead_queue().into()),
            );
            // Kept in the job queue until the dead queue has it (even while it is missing).
            args.insert(
                "x-dead-letter-strategy".into(),
                AMQPValue::LongString("at-least-once".into()),
            );
            args.insert(
                "x-overflow".into(),
                AMQPValue::LongString("reject-publish".into()),
            );
        }
        args
    }

    /// Declares the job queue (with its delivery limit).
    pub(crate) async fn declare_job_queue(&self, ch: &Channel) -> Result<(), lapin::Error> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        ch.queue_declare(self.jobs_queue().into(), durable, self.job_queue_args())
            .await
            .map(drop)
    }

    /// Declares what jobs lead to: the dead-letter queue, the retry queues, the items
    /// exchange and the default items queue.
    pub(crate) async fn declare_job_outputs(&self, ch: &Channel) -> Result<(), BusError> {
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(self.job_queue_type.label().into()),
        );
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        ch.queue_declare(self.dead_queue().into(), durable, args)
            .await
            .map_err(|e| BusError::op("declare the dead-letter queue", e))?;
        for (level, delay_ms) in RETRY_DELAYS_MS.iter().enumerate() {
            let mut retry = FieldTable::default();
            let ttl = i64::try_from(*delay_ms).unwrap_or(i64::MAX);
            retry.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
            retry.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString("".into()),
            );
            retry.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(self.jobs_queue().into()),
            );
            if self.job_queue_type == JobQueueType::Quorum {
                // A waiting retry must survive a broker restart and reach the job queue even
                // if that queue is still recovering: at-least-once dead lettering (a quorum
                // queue feature that needs reject-publish overflow).
                retry.insert(
                    "x-queue-type".into(),
                    AMQPValue::LongString("quorum".into()),
                );
                retry.insert(
                    "x-dead-letter-strategy".into(),
                    AMQPValue::LongString("at-least-once".into()),
                );
                retry.insert(
                    "x-overflow".into(),
                    AMQPValue::LongString("reject-publish".into()),
                );
            }
            ch.queue_declare(self.retry_queue(level).into(), durable, retry)
                .await
                .map_err(|e| BusError::op("declare a retry queue", e))?;
        }
        ch.exchange_declare(
            self.items_exchange().into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(|e| BusError::op("declare the items exchange", e))?;
        ch.queue_declare(self.items_queue().into(), durable, FieldTable::default())
            .await
            .map_err(|e| BusError::op("declare the items queue", e))?;
        bind(ch, &self.items_queue(), &self.items_exchange(), &[""])
            .await
            .map_err(|e| BusError::op("bind the items queue", e))
    }

    /// Deletes every durable exchange and queue of this prefix (for tests and teardown).
    pub(crate) async fn delete_all(&self, ch: &Channel) -> Result<(), BusError> {
        let retries = (0..RETRY_DELAYS_MS.len()).map(|l| self.retry_queue(l));
        let queues = [
            self.jobs_queue(),
            self.items_queue(),
            self.dead_queue(),
            self.history_stream(),
        ];
        for queue in queues.into_iter().chain(retries) {
            ch.queue_delete(queue.into(), QueueDeleteOptions::default())
                .await
                .map_err(|e| BusError::op("delete a queue", e))?;
        }
        for exchange in [self.items_exchange(), self.control_exchange()] {
            ch.exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await
                .map_err(|e| BusError::op("delete an exchange", e))?;
        }
        Ok(())
    }
}

impl JobQueueType {
    /// The `x-queue-type` value.
    pub fn label(self) -> &'static str {
        match self {
            JobQueueType::Quorum => "quorum",
            JobQueueType::Classic => "classic",
        }
    }
}

/// The delivery-limit argument a refused declaration of the job queue names, when the broker
/// refused it for differing only there (PRECONDITION_FAILED, "inequivalent arg '…'").
pub(crate) fn delivery_limit_mismatch(e: &lapin::Error) -> Option<&'static str> {
    let lapin::ErrorKind::ProtocolError(amqp) = e.kind() else {
        return None;
    };
    if amqp.get_id() != 406 {
        return None;
    }
    let text = amqp.get_message().as_str();
    DELIVERY_LIMIT_ARGS
        .into_iter()
        .find(|arg| text.contains(&format!("inequivalent arg '{arg}'")))
}

/// Binds `queue` to `exchange` once per routing key.
async fn bind(
    ch: &Channel,
    queue: &str,
    exchange: &str,
    keys: &[&str],
) -> Result<(), lapin::Error> {
    for key in keys {
        ch.queue_bind(
            queue.into(),
            exchange.into(),
            (*key).into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(())
}
