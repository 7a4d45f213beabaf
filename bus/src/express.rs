//! The express lane: rule updates over Redis pub/sub, beside the broker's fanout, never
//! instead of it. A broker busy with job traffic delivers a fanout message tens of
//! milliseconds late; Redis relays it in well under one. The broker's copy stays the one
//! that is acked, replied to and kept in the history: a worker that misses the express copy
//! (Redis down, not subscribed yet) loses nothing but time.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use tokio::sync::Mutex;

use crate::message::{ControlMessage, Decode};
use crate::{BusError, DecodeError, Topology, redact_url};

/// One Redis server and the fleet's update channel on it (named after the topology prefix,
/// so fleets sharing a Redis stay apart).
pub struct ExpressLane {
    client: redis::Client,
    url: String,
    channel: String,
    /// The publisher's connection, opened on first use.
    publisher: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

/// Updates as they arrive on the lane; garbage comes out as the error that says why.
pub struct ExpressStream {
    messages: Pin<Box<dyn Stream<Item = redis::Msg> + Send>>,
}

impl ExpressLane {
    /// The lane at `url` (`redis://[user:password@]host[:port][/db]`); nothing is connected yet.
    pub fn new(url: &str, topology: &Topology) -> Result<ExpressLane, BusError> {
        let client = redis::Client::open(url).map_err(|e| BusError::Connect {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        Ok(ExpressLane {
            client,
            url: redact_url(url),
            channel: format!("{}.updates", topology.prefix()),
            publisher: Mutex::new(None),
        })
    }

    /// The channel updates travel on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Where it is, password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn failed(&self, what: &'static str, e: &redis::RedisError) -> BusError {
        BusError::Op {
            what,
            reason: format!("{} ({e})", self.url),
        }
    }

    /// Publishes an encoded control message; returns how many subscribers Redis handed it to.
    pub async fn publish(&self, body: &[u8]) -> Result<u64, BusError> {
        let mut slot = self.publisher.lock().await;
        let mut conn = match slot.as_ref() {
            Some(conn) => conn.clone(),
            None => {
                let conn = self
                    .client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(|e| self.failed("connect to the express lane", &e))?;
                *slot = Some(conn.clone());
                conn
            }
        };
        let sent: Result<u64, _> = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(body)
            .query_async(&mut conn)
            .await;
        match sent {
            Ok(n) => Ok(n),
            Err(e) => {
                // The next publish reconnects.
                *slot = None;
                Err(self.failed("publish on the express lane", &e))
            }
        }
    }

    /// Subscribes to the channel. The stream ends when the connection is lost.
    pub async fn subscribe(&self) -> Result<ExpressStream, BusError> {
        let mut pubsub = self
            .client
            .get_async_pubsub()
            .await
            .map_err(|e| self.failed("connect to the express lane", &e))?;
        pubsub
            .subscribe(&self.channel)
            .await
            .map_err(|e| self.failed("subscribe to the express lane", &e))?;
        Ok(ExpressStream {
            messages: Box::pin(pubsub.into_on_message()),
        })
    }
}

impl ExpressStream {
    /// The next message, decoded; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<Result<ControlMessage, DecodeError>> {
        let message = self.messages.next().await?;
        Some(ControlMessage::decode(message.get_payload_bytes()))
    }
}
