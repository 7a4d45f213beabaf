//! Publishing with publisher confirms: a publish returns once the broker has taken the message.
//! Every message is bounded first (`bounds.rs`): headers are truncated to fit the smallest
//! frame, raw bodies to the body cap, and a typed message over the cap is refused unsent.
//! What must reach a queue (jobs, items, retries, dead letters) is published `mandatory`: a
//! message the broker could route nowhere comes back as [`BusError::Unroutable`], never as a
//! confirm of a message that went nowhere.

use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};

use crate::bounds::{MAX_BODY_BYTES, bound_headers, check_body, truncate_bytes};
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
    /// Must reach a queue: the broker returns it (and the confirm says so) if it cannot.
    mandatory: bool,
}

/// A sent message's confirm, with where it went (to say so if it went nowhere).
struct Pending<'a> {
    confirm: lapin::PublisherConfirm,
    exchange: &'a str,
    routing_key: &'a str,
}

impl Outbox {
    pub(crate) fn new(channel: Channel) -> Outbox {
        Outbox { channel }
    }

    /// Publishes persistent `messages` to `exchange`, pipelined and mandatory, and waits until
    /// the broker confirmed every one of them. Nothing is sent if one of them is over the body
    /// cap ([`BusError::TooLarge`]); one that reached no queue fails the whole call
    /// ([`BusError::Unroutable`]), after every confirm has been awaited.
    pub async fn publish_all<M: Encode>(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: &[M],
    ) -> Result<(), BusError> {
        let mut bodies = Vec::with_capacity(messages.len());
        for m in messages {
            let body = m.encode();
            check_body(&body)?;
            bodies.push(body);
        }
        let mut pending = Vec::with_capacity(bodies.len());
        for body in bodies {
            let out = Outgoing {
                exchange,
                routing_key,
                body,
                props: json_props().with_delivery_mode(2),
                mandatory: true,
            };
            pending.push(self.send(out).await?);
        }
        let mut first_failure = None;
        for p in pending {
            if let Err(e) = Self::confirmed(p).await {
                first_failure.get_or_insert(e);
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// Publishes one message with optional reply address and headers, and waits for the
    /// confirm. Not mandatory: for broadcasts that may have no listener (pings, markers).
    pub async fn publish<M: Encode>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &M,
        reply: Option<&ReplyTo>,
        headers: &Headers,
    ) -> Result<(), BusError> {
        let body = message.encode();
        check_body(&body)?;
        let out = Outgoing {
            exchange,
            routing_key,
            body,
            props: with_headers(with_reply(json_props(), reply), headers),
            mandatory: false,
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
        check_body(&body)?;
        let out = Outgoing {
            exchange,
            routing_key,
            body,
            props: with_reply(json_props(), reply),
            mandatory: false,
        };
        let confirm = self.send(out).await?;
        let done = meanwhile.await;
        Ok((done, Self::confirmed(confirm).await))
    }

    /// Publishes raw bytes (for tools and tests that must send what no encoder would),
    /// mandatory.
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

    /// Publishes persistent raw bytes with headers, mandatory, and waits for the confirm (dead
    /// letters keep the original body, whatever it was, up to the body cap: a longer one is
    /// truncated with a marker).
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
            body: truncate_bytes(body, MAX_BODY_BYTES).into_owned(),
            props: with_headers(with_reply(props, reply), headers),
            mandatory: true,
        };
        Self::confirmed(self.send(out).await?).await
    }

    /// Whether this outbox's channel can still publish (a channel the broker closed, e.g.
    /// after a publish to an exchange that does not exist, never can again).
    pub fn is_open(&self) -> bool {
        self.channel.status().connected()
    }

    async fn send<'a>(&self, out: Outgoing<'a>) -> Result<Pending<'a>, BusError> {
        let options = BasicPublishOptions {
            mandatory: out.mandatory,
            ..BasicPublishOptions::default()
        };
        let confirm = self
            .channel
            .basic_publish(
                out.exchange.into(),
                out.routing_key.into(),
                options,
                &out.body,
                out.props,
            )
            .await
            .map_err(|e| BusError::op("publish", e))?;
        Ok(Pending {
            confirm,
            exchange: out.exchange,
            routing_key: out.routing_key,
        })
    }

    async fn confirmed(pending: Pending<'_>) -> Result<(), BusError> {
        let confirmation = pending
            .confirm
            .await
            .map_err(|e| BusError::op("get a publisher confirm", e))?;
        match confirmation {
            Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
            Confirmation::Ack(Some(returned)) | Confirmation::Nack(Some(returned)) => {
                Err(BusError::Unroutable {
                    exchange: pending.exchange.to_owned(),
                    routing_key: pending.routing_key.to_owned(),
                    reason: format!("{} {}", returned.reply_code, returned.reply_text.as_str()),
                })
            }
            Confirmation::Nack(None) => Err(BusError::Nacked),
        }
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
    for (k, v) in bound_headers(headers) {
        table.insert(k.as_str().into(), AMQPValue::LongString(v.as_str().into()));
    }
    props.with_headers(table)
}

pub(crate) fn json_props() -> BasicProperties {
    BasicProperties::default().with_content_type("application/json".into())
}
