//! Publishing with publisher confirms: a publish returns once the broker has taken the message.

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};

use crate::message::Encode;
use crate::{BusError, ReplyTo};

/// Header values carried with a message (e.g. a dead-letter reason).
pub type Headers = Vec<(String, String)>;

/// A channel in confirm mode.
pub struct Outbox {
    channel: Channel,
}

/// One message to publish.
struct Outgoing<'a> {
    exchange: &'a str,
    routing_key: &'a str,
    body: Vec<u8>,
    props: BasicProperties,
}

impl Outbox {
    pub(crate) fn new(channel: Channel) -> Outbox {
        Outbox { channel }
    }

    /// Publishes persistent `messages` to `exchange`, pipelined, and waits until the broker
    /// confirmed every one of them.
    pub async fn publish_all<M: Encode>(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: &[M],
    ) -> Result<(), BusError> {
        let mut pending = Vec::with_capacity(messages.len());
        for m in messages {
            let out = Outgoing {
                exchange,
                routing_key,
                body: m.encode(),
                props: json_props().with_delivery_mode(2),
            };
            pending.push(self.send(out).await?);
        }
        for confirm in pending {
            Self::confirmed(confirm).await?;
        }
        Ok(())
    }

    /// Publishes one message with optional reply address and headers, and waits for the confirm.
    pub async fn publish<M: Encode>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &M,
        reply: Option<&ReplyTo>,
        headers: &Headers,
    ) -> Result<(), BusError> {
        let out = Outgoing {
            exchange,
            routing_key,
            body: message.encode(),
            props: with_headers(with_reply(json_props(), reply), headers),
        };
        Self::confirmed(self.send(out).await?).await
    }

    /// Publishes `body` like [`Outbox::publish`], and runs `meanwhile` once the broker has
    /// the message, before its confirm is awaited: a confirm can take tens of milliseconds on
    /// a busy broker. Returns what `meanwhile` returned and the confirm's outcome; `Err` when
    /// the message never reached the broker (then `meanwhile` did not run).
    pub async fn publish_meanwhile<F: Future>(
        &self,
        exchange: &str,
        routing_key: &str,
        body: Vec<u8>,
        reply: Option<&ReplyTo>,
        meanwhile: F,
    ) -> Result<(F::Output, Result<(), BusError>), BusError> {
        let out = Outgoing {
            exchange,
            routing_key,
            body,
            props: with_reply(json_props(), reply),
        };
        let confirm = self.send(out).await?;
        let done = meanwhile.await;
        Ok((done, Self::confirmed(confirm).await))
    }

    /// Publishes raw bytes (for tools and tests that must send what no encoder would).
    pub async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        reply: Option<&ReplyTo>,
    ) -> Result<(), BusError> {
        self.publish_bytes(exchange, routing_key, body, reply, &Vec::new())
            .await
    }

    /// Publishes persistent raw bytes with headers, and waits for the confirm (dead letters
    /// keep the original body, whatever it was).
    pub async fn publish_bytes(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        reply: Option<&ReplyTo>,
        headers: &Headers,
    ) -> Result<(), BusError> {
        let props = json_props().with_delivery_mode(2);
        let out = Outgoing {
            exchange,
            routing_key,
            body: body.to_vec(),
            props: with_headers(with_reply(props, reply), headers),
        };
        Self::confirmed(self.send(out).await?).await
    }

    async fn send(&self, out: Outgoing<'_>) -> Result<lapin::PublisherConfirm, BusError> {
        self.channel
            .basic_publish(
                out.exchange.into(),
                out.routing_key.into(),
                BasicPublishOptions::default(),
                &out.body,
                out.props,
            )
            .await
            .map_err(|e| BusError::op("publish", e))
    }

    async fn confirmed(confirm: lapin::PublisherConfirm) -> Result<(), BusError> {
        let confirmation = confirm
            .await
            .map_err(|e| BusError::op("get a publisher confirm", e))?;
        if confirmation.is_nack() {
            return Err(BusError::Nacked);
        }
        Ok(())
    }
}

fn with_reply(props: BasicProperties, reply: Option<&ReplyTo>) -> BasicProperties {
    let Some(reply) = reply else {
        return props;
    };
    let props = props.with_reply_to(reply.queue.as_str().into());
    match &reply.correlation_id {
        Some(id) => props.with_correlation_id(id.as_str().into()),
        None => props,
    }
}

fn with_headers(props: BasicProperties, headers: &Headers) -> BasicProperties {
    if headers.is_empty() {
        return props;
    }
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert(k.as_str().into(), AMQPValue::LongString(v.as_str().into()));
    }
    props.with_headers(table)
}

pub(crate) fn json_props() -> BasicProperties {
    BasicProperties::default().with_content_type("application/json".into())
}
