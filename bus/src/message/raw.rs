//! `Raw`: a body taken as it is, for queues that may hold anything (dead letters).

use crate::DecodeError;
use crate::message::Decode;

/// Any body, undecoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw(pub Vec<u8>);

impl Decode for Raw {
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        Ok(Raw(body.to_vec()))
    }
}
