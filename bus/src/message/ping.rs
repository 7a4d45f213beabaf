//! `ping`: asks every live worker to answer with a `pong` (membership and status).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    pub ping_id: String,
}
