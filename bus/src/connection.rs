//! A connection to the broker, and the channels the rest of the bus opens on it.

use std::time::Duration;

use lapin::options::{BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};

use crate::inbox::{DIRECT_REPLY_TO, Inbox};
use crate::message::{ControlMessage, Decode};
use crate::outbox::Outbox;
use crate::replier::Replier;
use crate::topology::Topology;

/// How long a connection attempt may take before it is reported as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The frame size proposed to the broker unless the URL sets `frame_max`. lapin keeps two
/// buffers of 32 frames per connection and writes them through, so RabbitMQ's default of
/// 128 KiB costs 8 MiB of resident memory per connection; 16 KiB costs 1 MiB. Crawl
/// messages are far smaller, and a larger one (a rule's source) is just sent in more frames.
const FRAME_MAX: u32 = 16 * 1024;

/// Errors of the bus. `Connect` means the broker could not be reached at all.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BusError {
    #[error("cannot reach the broker at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("cannot {what}: {reason}")]
    Op { what: &'static str, reason: String },
    #[error("the broker refused a published message (nack)")]
    Nacked,
    /// A mandatory publish reached no queue: the exchange has no binding for it, or the queue
    /// it names does not exist. The broker confirmed it, but it went nowhere.
    #[error(
        "unroutable: `{exchange}` (routing key `{routing_key}`) took the message to no queue ({reason})"
    )]
    Unroutable {
        exchange: String,
        routing_key: String,
        reason: String,
    },
    /// A message over the body cap, refused before it was sent.
    #[error("a message of {len} bytes is larger than the {max}-byte cap on published bodies")]
    TooLarge { len: usize, max: usize },
    #[error("cannot read the history to its end: {0}")]
    HistoryIncomplete(String),
}

impl BusError {
    pub(crate) fn op(what: &'static str, e: lapin::Error) -> BusError {
        BusError::Op {
            what,
            reason: e.to_string(),
        }
    }
}

/// `amqp://user:secret@host/` → `amqp://user:***@host/`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let sep = if rest.contains('/') { "/" } else { "" };
    format!("{scheme}://{user}:***@{host}{sep}{path}")
}

/// One AMQP connection.
pub struct Bus {
    conn: Connection,
    topology: Topology,
}

impl Bus {
    /// Connects to `url`, naming the connection `name` (shown by `rabbitmqctl list_connections`).
    pub async fn connect(url: &str, name: &str, topology: Topology) -> Result<Bus, BusError> {
        let props = ConnectionProperties::default().with_connection_name(name.into());
        let failed = |reason: String| BusError::Connect {
            url: redact_url(url),
            reason,
        };
        let mut uri: AMQPUri = url.parse().map_err(failed)?;
        uri.query.frame_max = uri.query.frame_max.or(Some(FRAME_MAX));
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, props))
            .await
            .map_err(|_| failed(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| failed(e.to_string()))?;
        Ok(Bus { conn, topology })
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    async fn channel(&self) -> Result<lapin::Channel, BusError> {
        self.conn
            .create_channel()
            .await
            .map_err(|e| BusError::op("open a channel", e))
    }

    /// How many messages wait in `queue`, ready for delivery, right now (a passive declare:
    /// exact, unlike the management statistics, which lag by seconds).
    pub async fn queue_depth(&self, queue: &str) -> Result<u32, BusError> {
        let ch = self.channel().await?;
        let options = lapin::options::QueueDeclareOptions {
            passive: true,
            ..lapin::options::QueueDeclareOptions::default()
        };
        let declared = ch
            .queue_declare(queue.into(), options, lapin::types::FieldTable::default())
            .await
            .map_err(|e| BusError::op("inspect a queue", e));
        let _ = ch.close(200, "inspected".into()).await;
        Ok(declared?.message_count())
    }

    /// Declares this worker's private control queue and binds it to the control exchange.
    /// Updates published from now on are kept for it, even before it consumes.
    pub async fn bind_control_queue(&self, queue: &str) -> Result<(), BusError> {
        let ch = self.channel().await?;
        self.topology.bind_private(&ch, queue).await?;
        let _ = ch.close(200, "declared".into()).await;
        Ok(())
    }

    /// Declares the control exchange (so a publish before any worker exists is not refused).
    pub async fn declare_control(&self) -> Result<(), BusError> {
        let ch = self.channel().await?;
        self.topology.declare_control(&ch).await?;
        let _ = ch.close(200, "declared".into()).await;
        Ok(())
    }

    /// Declares the job queue, the dead-letter and retry queues, and the items exchange and
    /// queue. A job queue that exists with other delivery-limit arguments (declared by an older
    /// worker, or by one with another `--max-deliveries`) is used as it is, with a warning:
    /// the broker refuses to change a durable queue's arguments, and workers enforce the limit
    /// themselves as well (on a queue of either type). Any other difference is an error; the
    /// broker names only the first differing argument, so a job queue of the other type may
    /// pass here, and is then refused with the dead-letter queue, declared with the same type.
    pub async fn declare_jobs(&self) -> Result<(), BusError> {
        let mut ch = self.channel().await?;
        if let Err(e) = self.topology.declare_job_queue(&ch).await {
            let Some(arg) = crate::topology::delivery_limit_mismatch(&e) else {
                return Err(BusError::op("declare the job queue", e));
            };
            tracing::warn!(
                queue = %self.topology.jobs_queue(),
                argument = %arg,
                cause = %e,
                hint = "an older worker, or one with another --max-deliveries, declared it; \
                        workers still dead-letter a job delivered too often; to have the \
                        broker enforce the limit too, set a policy or recreate the queue \
                        (deploy/README.md)",
                "job queue declared with other delivery-limit arguments; using it as it is"
            );
            ch = self.channel().await?;
            let options = lapin::options::QueueDeclareOptions {
                passive: true,
                ..lapin::options::QueueDeclareOptions::default()
            };
            ch.queue_declare(
                self.topology.jobs_queue().into(),
                options,
                FieldTable::default(),
            )
            .await
            .map_err(|e| BusError::op("find the existing job queue", e))?;
        }
        self.topology.declare_job_outputs(&ch).await?;
        let _ = ch.close(200, "declared".into()).await;
        Ok(())
    }

    /// Consumes `queue` with manual acks on a channel of its own, at most `prefetch`
    /// unsettled messages at a time.
    pub async fn inbox<T: Decode>(
        &self,
        queue: &str,
        prefetch: u16,
        consumer_tag: &str,
    ) -> Result<Inbox<T>, BusError> {
        let ch = self.channel().await?;
        ch.basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(|e| BusError::op("set the prefetch", e))?;
        let consumer = ch
            .basic_consume(
                queue.into(),
                consumer_tag.into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| BusError::op("start consuming", e))?;
        Ok(Inbox::new(ch, consumer))
    }

    /// Reads the history stream from its first retained entry, on a channel of its own.
    pub async fn history(&self) -> Result<Inbox<ControlMessage>, BusError> {
        let ch = self.channel().await?;
        ch.basic_qos(256, BasicQosOptions::default())
            .await
            .map_err(|e| BusError::op("set the prefetch", e))?;
        let mut args = FieldTable::default();
        args.insert(
            "x-stream-offset".into(),
            AMQPValue::LongString("first".into()),
        );
        let consumer = ch
            .basic_consume(
                self.topology.history_stream().into(),
                "".into(),
                BasicConsumeOptions::default(),
                args,
            )
            .await
            .map_err(|e| BusError::op("read the history stream", e))?;
        Ok(Inbox::new(ch, consumer))
    }

    /// A channel in confirm mode for publishing.
    pub async fn outbox(&self) -> Result<Outbox, BusError> {
        Ok(Outbox::new(self.confirming_channel().await?))
    }

    /// A channel for answering what others asked (see [`Replier`]).
    pub async fn replier(&self) -> Result<Replier, BusError> {
        Ok(Replier::new(self.channel().await?))
    }

    /// A channel that asks and hears the answers: an outbox in confirm mode, and the replies
    /// to what it publishes with [`crate::ReplyTo::direct`], which RabbitMQ's direct
    /// reply-to hands from each replier's channel straight to this one. No reply queue is
    /// declared, filled, delivered from or acked, which saves the broker that work for every
    /// worker's answer to every push. Replies are buffered nowhere: those sent after this
    /// connection closed are dropped, as an exclusive reply queue's would be. The two share
    /// one channel: closing the inbox closes the outbox too.
    pub async fn requester<T: Decode>(&self) -> Result<(Outbox, Inbox<T>), BusError> {
        let ch = self.confirming_channel().await?;
        let no_ack = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let consumer = ch
            .basic_consume(
                DIRECT_REPLY_TO.into(),
                "".into(),
                no_ack,
                FieldTable::default(),
            )
            .await
            .map_err(|e| BusError::op("consume direct replies", e))?;
        Ok((Outbox::new(ch.clone()), Inbox::settled(ch, consumer)))
    }

    async fn confirming_channel(&self) -> Result<lapin::Channel, BusError> {
        let ch = self.channel().await?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| BusError::op("enable publisher confirms", e))?;
        Ok(ch)
    }

    /// Deletes every durable exchange and queue of this bus's prefix.
    pub async fn delete_topology(&self) -> Result<(), BusError> {
        let ch = self.channel().await?;
        self.topology.delete_all(&ch).await?;
        let _ = ch.close(200, "deleted".into()).await;
        Ok(())
    }

    /// Closes the connection cleanly.
    pub async fn close(&self) {
        let _ = self.conn.close(200, "bye".into()).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(super::redact_url("amqp://h:5672"), "amqp://h:5672");
    }
}
