//! Consuming: a lapin `Delivery` becomes a typed [`Incoming`] message with a settle handle.

use std::marker::PhantomData;

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicRejectOptions};
use lapin::types::AMQPValue;
use lapin::{Channel, Consumer};

use crate::message::Decode;
use crate::{BusError, DecodeError};

/// Where to send the answer to a message (AMQP `reply-to` + `correlation-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub queue: String,
    pub correlation_id: Option<String>,
}

/// Settles one delivery: exactly one of `ack`, `reject` or `requeue` takes effect.
pub struct Settle {
    acker: lapin::Acker,
}

impl Settle {
    /// The message was handled; the broker forgets it.
    pub async fn ack(&self) -> Result<(), BusError> {
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(drop)
            .map_err(|e| BusError::op("ack a message", e))
    }

    /// The message is refused for good (dead-lettered where the queue has a dead-letter
    /// exchange, dropped otherwise).
    pub async fn reject(&self) -> Result<(), BusError> {
        self.acker
            .reject(BasicRejectOptions { requeue: false })
            .await
            .map(drop)
            .map_err(|e| BusError::op("reject a message", e))
    }

    /// The message goes back to the queue for another consumer.
    pub async fn requeue(&self) -> Result<(), BusError> {
        self.acker
            .reject(BasicRejectOptions { requeue: true })
            .await
            .map(drop)
            .map_err(|e| BusError::op("requeue a message", e))
    }
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
    pub settle: Settle,
}

/// A consumer of typed messages on a channel of its own.
pub struct Inbox<T> {
    channel: Channel,
    consumer: Consumer,
    _message: PhantomData<fn() -> T>,
}

impl<T: Decode> Inbox<T> {
    pub(crate) fn new(channel: Channel, consumer: Consumer) -> Inbox<T> {
        Inbox {
            channel,
            consumer,
            _message: PhantomData,
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
            settle: Settle {
                acker: delivery.acker,
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
