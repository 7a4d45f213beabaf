//! Decoding message bodies: size cap, UTF-8, JSON, a `type` tag and strict fields.

use serde::de::DeserializeOwned;

/// Why a body is not a valid message. Garbage is settled (rejected), never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message of {len} bytes is larger than the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("message is not UTF-8")]
    NotUtf8,
    #[error("message is not valid JSON: {0}")]
    Json(String),
    #[error("message has no string `type` field")]
    MissingType,
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("invalid `{kind}` message: {reason}")]
    Invalid { kind: String, reason: String },
}

/// Checks size and encoding, then parses `body` as a JSON object.
pub(crate) fn json_object(
    body: &[u8],
    max: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, DecodeError> {
    if body.len() > max {
        return Err(DecodeError::TooLarge {
            len: body.len(),
            max,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(DecodeError::Json("expected a JSON object".to_owned())),
        Err(e) => Err(DecodeError::Json(e.to_string())),
    }
}

/// Deserialises the fields of a `kind` message strictly (types checked, unknown fields refused).
pub(crate) fn fields<T: DeserializeOwned>(
    kind: &str,
    map: serde_json::Map<String, serde_json::Value>,
) -> Result<T, DecodeError> {
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| DecodeError::Invalid {
        kind: kind.to_owned(),
        reason: e.to_string(),
    })
}

/// Splits the `type` tag off a JSON object.
pub(crate) fn tagged(
    body: &[u8],
    max: usize,
) -> Result<(String, serde_json::Map<String, serde_json::Value>), DecodeError> {
    let mut map = json_object(body, max)?;
    match map.remove("type") {
        Some(serde_json::Value::String(kind)) => Ok((kind, map)),
        _ => Err(DecodeError::MissingType),
    }
}
