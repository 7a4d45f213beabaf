//! Consuming: a lapin `Delivery` becomes a typed [`Incoming`] message with a settle handle.

use std::marker::PhantomData;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicRejectOptions};
use lapin::types::AMQPValue;
use lapin::{Channel, Consumer};

use crate::message::Decode;
use crate::{BusError, DecodeError};

/// The pseudo-queue of RabbitMQ's direct reply-to. A message published with this reply
/// address reaches its consumer with the address rewritten to name the publishing channel
/// (`amq.rabbitmq.reply-to.<opaque>`), and a reply sent there on the default exchange is
/// handed from the replier's channel to that one, with no queue in between.
pub(crate) const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

/// Where to send the answer to a message (AMQP `reply-to` + `correlation-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub queue: String,
    pub correlation_id: Option<String>,
}

impl ReplyTo {
    /// Answers straight back to the publishing channel (direct reply-to): only for messages
    /// published through the outbox of a [`crate::Bus::requester`].
    pub fn direct(correlation_id: &str) -> ReplyTo {
        ReplyTo {
            queue: DIRECT_REPLY_TO.to_owned(),
            correlation_id: Some(correlation_id.to_owned()),
        }
    }
}

/// Settles one delivery: exactly one of `ack`, `reject` or `requeue` takes effect. A
/// delivery to a no-ack consumer (direct replies) was settled by the broker as it was sent,
/// so settling it again does nothing (an ack would be a protocol error that ends the channel).
pub struct Settle {
    acker: Option<lapin::Acker>,
}

impl Settle {
    /// The message was handled; the broker forgets it.
    pub async fn ack(&self) -> Result<(), BusError> {
        let Some(acker) = &self.acker else {
            return Ok(());
        };
        acker
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(|e| BusError::op("ack a message", e))
    }

    /// The message is refused for good (dead-lettered where the queue has a dead-letter
    /// exchange, dropped otherwise).
    pub async fn reject(&self) -> Result<(), BusError> {
        self.refuse(false, "reject a message").await
    }

    /// The message goes back to the queue for another consumer.
    pub async fn requeue(&self) -> Result<(), BusError> {
        self.refuse(true, "requeue a message").await
    }

    async fn refuse(&self, requeue: bool, what: &'static str) -> Result<(), BusError> {
        let Some(acker) = &self.acker else {
            return Ok(());
        };
        acker
            .reject(BasicRejectOptions { requeue })
            .await
            .map(drop)
            .map_err(|e| BusError::op(what, e))
    }
}

/// A header's count, whatever integer type carries it: negative counts as 0, too large as
/// `u32::MAX`; anything else is no count.
fn count_value(value: &AMQPValue) -> Option<u32> {
    let n: i128 = match value {
        AMQPValue::ShortShortInt(n) => (*n).into(),
        AMQPValue::ShortShortUInt(n) => (*n).into(),
        AMQPValue::ShortInt(n) => (*n).into(),
        AMQPValue::ShortUInt(n) => (*n).into(),
        AMQPValue::LongInt(n) => (*n).into(),
        AMQPValue::LongUInt(n) => (*n).into(),
        AMQPValue::LongLongInt(n) => (*n).into(),
        _ => return None,
    };
    Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

/// One delivery, decoded.
pub struct Incoming<T> {
    pub message: Result<T, DecodeError>,
    /// The body as received (kept so garbage can be dead-lettered as it came).
    pub raw: Vec<u8>,
    /// Headers with text values (e.g. a dead letter's reason).
    pub headers: Vec<(String, String)>,
    pub reply_to: Option<ReplyTo>,
    pub redelivered: bool,
    /// How many earlier deliveries of this message ended unsettled, as a quorum queue counts
    /// them (`x-delivery-count`); `None` where the queue does not count (classic queues).
    pub delivery_count: Option<u32>,
    pub settle: Settle,
}

/// A consumer of typed messages on a channel of its own.
pub struct Inbox<T> {
    channel: Channel,
    consumer: Consumer,
    /// The consumer acks its deliveries (false: the broker settled them as it sent them).
    acks: bool,
    _message: PhantomData<fn() -> T>,
}

impl<T: Decode> Inbox<T> {
    /// An inbox over a consumer with manual acks.
    pub(crate) fn new(channel: Channel, consumer: Consumer) -> Inbox<T> {
        Inbox {
            channel,
            consumer,
            acks: true,
            _message: PhantomData,
        }
    }

    /// An inbox over a no-ack consumer: its deliveries are settled already.
    pub(crate) fn settled(channel: Channel, consumer: Consumer) -> Inbox<T> {
        Inbox {
            acks: false,
            ..Inbox::new(channel, consumer)
        }
    }

    /// The next delivery; `None` when the consumer ended (cancelled or connection lost).
    pub async fn next(&mut self) -> Option<Result<Incoming<T>, BusError>> {
        let delivery = match self.consumer.next().await? {
            Ok(delivery) => delivery,
            Err(e) => return Some(Err(BusError::op("receive a message", e))),
        };
        let props = &delivery.properties;
        let reply_to = props.reply_to().as_ref().map(|q| ReplyTo {
            queue: q.as_str().to_owned(),
            correlation_id: props
                .correlation_id()
                .as_ref()
                .map(|c| c.as_str().to_owned()),
        });
        let delivery_count = props
            .headers()
            .as_ref()
            .and_then(|table| table.inner().get("x-delivery-count"))
            .and_then(count_value);
        let headers = props
            .headers()
            .as_ref()
            .map(|table| {
                table
                    .inner()
                    .iter()
                    .filter_map(|(k, v)| match v {
                        AMQPValue::LongString(s) => Some((
                            k.as_str().to_owned(),
                            String::from_utf8_lossy(s.as_bytes()).into_owned(),
                        )),
                        AMQPValue::ShortString(s) => {
                            Some((k.as_str().to_owned(), s.as_str().to_owned()))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Ok(Incoming {
            message: T::decode(&delivery.data),
            headers,
            raw: delivery.data,
            reply_to,
            redelivered: delivery.redelivered,
            delivery_count,
            settle: Settle {
                acker: self.acks.then_some(delivery.acker),
            },
        }))
    }

    /// Closes this inbox's channel (unsettled deliveries return to their queue).
    pub async fn close(self) {
        let _ = self.channel.close(200, "done".into()).await;
    }

    /// Stops the broker from delivering more; deliveries already received can still be settled.
    pub async fn cancel(&self) -> Result<(), BusError> {
        self.channel
            .basic_cancel(self.consumer.tag(), BasicCancelOptions::default())
            .await
            .map_err(|e| BusError::op("cancel a consumer", e))
    }
}

#[cfg(test)]
mod tests {
    use lapin::types::AMQPValue;

    use super::count_value;

    #[test]
    fn delivery_counts_of_any_integer_type_saturate() {
        assert_eq!(count_value(&AMQPValue::LongLongInt(3)), Some(3));
        assert_eq!(count_value(&AMQPValue::LongInt(-7)), Some(0));
        assert_eq!(
            count_value(&AMQPValue::LongLongInt(i64::MAX)),
            Some(u32::MAX)
        );
        assert_eq!(count_value(&AMQPValue::ShortShortUInt(2)), Some(2));
        assert_eq!(count_value(&AMQPValue::LongString("9".into())), None);
    }
}
