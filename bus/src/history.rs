//! Reading the history stream to its end: append a fresh sync marker, then read from the
//! first retained entry up to that marker (RabbitMQ's stream-tutorial way to know a
//! consumer has caught up — no silence timeout).

use std::time::Duration;

use crate::message::{ControlMessage, RuleUpdate, SyncMarker};
use crate::{Bus, BusError, DecodeError, Outbox};

/// What the history held up to the marker.
#[derive(Debug, Default)]
pub struct History {
    /// Every update, oldest first.
    pub updates: Vec<RuleUpdate>,
    /// Entries that were not messages at all.
    pub garbage: Vec<DecodeError>,
    /// How many entries were read, marker included.
    pub read: usize,
}

impl Bus {
    /// Reads the whole retained history, publishing the marker through `outbox`. `reader`
    /// names who reads (it prefixes the marker's nonce); fails after `deadline`.
    pub async fn read_history(
        &self,
        outbox: &Outbox,
        reader: &str,
        deadline: Duration,
    ) -> Result<History, BusError> {
        let nonce = format!("{reader}-{}", uuid::Uuid::new_v4().simple());
        let marker = ControlMessage::Sync(SyncMarker {
            nonce: nonce.clone(),
        });
        let mut stream = self.history().await?;
        outbox
            .publish(
                &self.topology().control_exchange(),
                marker.routing_key(),
                &marker,
                None,
                &Vec::new(),
            )
            .await?;
        let mut history = History::default();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let incoming = match tokio::time::timeout_at(until, stream.next()).await {
                Ok(Some(Ok(incoming))) => incoming,
                Ok(Some(Err(e))) => return Err(e),
                Ok(None) => return Err(BusError::HistoryIncomplete("the stream ended".to_owned())),
                Err(_) => {
                    return Err(BusError::HistoryIncomplete(format!(
                        "the marker was not reached within {} s",
                        deadline.as_secs()
                    )));
                }
            };
            let _ = incoming.settle.ack().await;
            history.read += 1;
            match incoming.message {
                Ok(ControlMessage::Update(u)) => history.updates.push(u),
                Ok(ControlMessage::Sync(m)) if m.nonce == nonce => break,
                Ok(_) => {}
                Err(e) => history.garbage.push(e),
            }
        }
        stream.close().await;
        Ok(history)
    }
}
