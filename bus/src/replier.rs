//! Answering whoever asked: replies on a channel of their own, without publisher confirms.
//!
//! A reply is at-most-once whatever the channel does: the asker may have gone, and direct
//! replies are buffered nowhere. A confirm would therefore promise nothing about delivery,
//! and would cost the broker a frame and the replier a wake-up for every answer.

use lapin::Channel;
use lapin::options::BasicPublishOptions;

use crate::message::Encode;
use crate::outbox::json_props;
use crate::{BusError, ReplyTo};

/// A channel that sends replies (not in confirm mode).
pub struct Replier {
    channel: Channel,
}

impl Replier {
    pub(crate) fn new(channel: Channel) -> Replier {
        Replier { channel }
    }

    /// Sends `reply` to `to` on the default exchange; returns once it is written to the
    /// connection (an error means it was not).
    pub async fn reply<M: Encode>(&self, to: &ReplyTo, reply: &M) -> Result<(), BusError> {
        let body = reply.encode();
        crate::bounds::check_body(&body)?;
        let mut props = json_props();
        if let Some(id) = &to.correlation_id {
            props = props.with_correlation_id(id.as_str().into());
        }
        self.channel
            .basic_publish(
                "".into(),
                to.queue.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                props,
            )
            .await
            .map(drop)
            .map_err(|e| BusError::op("send a reply", e))
    }
}
