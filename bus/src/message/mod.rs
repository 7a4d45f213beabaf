//! Message types, one file each, and the enums that dispatch them by their `type` tag.

mod item;
mod job;
mod ping;
mod pong;
mod raw;
mod reload_reply;
mod sync_marker;
mod update;

pub use item::Item;
pub use job::{Job, MAX_JOB_BYTES};
pub use ping::Ping;
pub use pong::{ModuleState, Pong};
pub use raw::Raw;
pub use reload_reply::{ReloadReply, ReloadStatus};
pub use sync_marker::SyncMarker;
pub use update::{RuleUpdate, Targets};

use serde::Serialize;

use crate::DecodeError;
use crate::decode::{fields, tagged};

/// The largest control message accepted (an inline source is at most 1 MiB, JSON-escaped).
pub const MAX_CONTROL_BYTES: usize = 4 * 1024 * 1024;
/// The largest reply accepted by the publisher.
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// What travels on the control exchange: updates and pings reach every worker; updates and
/// sync markers are kept in the history stream.
// Control messages are few and short-lived; boxing the update would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ControlMessage {
    Update(RuleUpdate),
    Ping(Ping),
    Sync(SyncMarker),
}

impl ControlMessage {
    /// The routing key that sends it where it belongs.
    pub fn routing_key(&self) -> &'static str {
        match self {
            Self::Update(_) => crate::ROUTE_UPDATE,
            Self::Ping(_) => crate::ROUTE_PING,
            Self::Sync(_) => crate::ROUTE_HISTORY,
        }
    }
}

/// What workers send back to a publisher.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Reload(ReloadReply),
    Pong(Pong),
}

/// A message that can be decoded from a body.
pub trait Decode: Sized {
    fn decode(body: &[u8]) -> Result<Self, DecodeError>;
}

/// A message that can be encoded as a body.
pub trait Encode {
    fn encode(&self) -> Vec<u8>;
}

impl Decode for ControlMessage {
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let (kind, map) = tagged(body, MAX_CONTROL_BYTES)?;
        match kind.as_str() {
            "update" => fields::<RuleUpdate>(&kind, map)?
                .validated()
                .map(Self::Update),
            "ping" => fields(&kind, map).map(Self::Ping),
            "sync" => fields(&kind, map).map(Self::Sync),
            _ => Err(DecodeError::UnknownType(kind)),
        }
    }
}

impl Encode for ControlMessage {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Update(m) => tag("update", m),
            Self::Ping(m) => tag("ping", m),
            Self::Sync(m) => tag("sync", m),
        }
    }
}

impl Decode for Reply {
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let (kind, map) = tagged(body, MAX_REPLY_BYTES)?;
        match kind.as_str() {
            "reload" => fields(&kind, map).map(Self::Reload),
            "pong" => fields(&kind, map).map(Self::Pong),
            _ => Err(DecodeError::UnknownType(kind)),
        }
    }
}

impl Encode for Reply {
    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Reload(m) => tag("reload", m),
            Self::Pong(m) => tag("pong", m),
        }
    }
}

/// Serialises `message` as a JSON object with `type` first.
fn tag<T: Serialize>(kind: &str, message: &T) -> Vec<u8> {
    let mut object = serde_json::Map::new();
    object.insert("type".to_owned(), kind.into());
    if let Ok(serde_json::Value::Object(rest)) = serde_json::to_value(message) {
        object.extend(rest);
    }
    serde_json::to_vec(&object).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update() -> RuleUpdate {
        RuleUpdate {
            module: "shop.products".to_owned(),
            path: "shop/products.lua".to_owned(),
            source: Some("return {}".to_owned()),
            sha256: Some("ab".repeat(32)),
            version: 3,
            push_id: "p-1".to_owned(),
            pushed_by: None,
            pushed_at_ms: Some(1),
            targets: Some(Targets {
                workers: vec!["w-1".to_owned()],
                canary_percent: Some(50.0),
            }),
            key: None,
            signature: None,
        }
    }

    #[test]
    fn control_messages_round_trip() {
        for m in [
            ControlMessage::Update(update()),
            ControlMessage::Ping(Ping {
                ping_id: "x".to_owned(),
            }),
            ControlMessage::Sync(SyncMarker {
                nonce: "n".to_owned(),
            }),
        ] {
            assert_eq!(ControlMessage::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn garbage_is_a_typed_error() {
        type Case<'a> = (&'a [u8], fn(&DecodeError) -> bool);
        let cases: &[Case] = &[
            (b"not json", |e| matches!(e, DecodeError::Json(_))),
            (b"[1,2]", |e| matches!(e, DecodeError::Json(_))),
            (b"\xff\xfe", |e| matches!(e, DecodeError::NotUtf8)),
            (b"{}", |e| matches!(e, DecodeError::MissingType)),
            (br#"{"type":7}"#, |e| matches!(e, DecodeError::MissingType)),
            (br#"{"type":"nope"}"#, |e| matches!(e, DecodeError::UnknownType(_))),
            (br#"{"type":"update","module":"a"}"#, |e| {
                matches!(e, DecodeError::Invalid { reason, .. } if reason.contains("missing field"))
            }),
            (
                br#"{"type":"update","module":"a","path":"a.lua","version":"1","push_id":"p"}"#,
                |e| matches!(e, DecodeError::Invalid { reason, .. } if reason.contains("invalid type")),
            ),
            (
                br#"{"type":"update","module":"a","path":"a.lua","version":1,"push_id":"p","evil":1}"#,
                |e| matches!(e, DecodeError::Invalid { reason, .. } if reason.contains("unknown field")),
            ),
            (
                br#"{"type":"update","module":"a","path":"a.lua","version":1,"push_id":"p","source":"x"}"#,
                |e| matches!(e, DecodeError::Invalid { reason, .. } if reason.contains("sha256")),
            ),
        ];
        for (body, expected) in cases {
            let err = ControlMessage::decode(body).expect_err("garbage accepted");
            assert!(
                expected(&err),
                "{:?}: {err:?}",
                String::from_utf8_lossy(body)
            );
        }
        let huge = vec![b' '; MAX_CONTROL_BYTES + 1];
        assert!(matches!(
            ControlMessage::decode(&huge),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
