//! The wire: typed messages and the one module tree in the workspace that knows lapin; and
//! the express lane (`express.rs`), which carries rule updates over Redis as well.
//!
//! A lapin `Delivery` becomes an [`Incoming`] at the edge: a decoded message (or the
//! [`DecodeError`] that says why it is garbage), where to reply, and a [`Settle`] handle. The
//! domain code above never sees a lapin type.

pub mod bounds;
mod connection;
mod decode;
mod express;
mod history;
mod inbox;
pub mod message;
mod outbox;
mod replier;
pub mod signature;
mod topology;

pub use connection::{Bus, BusError, redact_url};
pub use decode::DecodeError;
pub use express::{ExpressLane, ExpressStream};
pub use history::History;
pub use inbox::{Inbox, Incoming, ReplyTo, Settle};
pub use outbox::{Headers, Outbox};
pub use replier::Replier;
pub use topology::{
    DEFAULT_MAX_DELIVERIES, HISTORY_MAX_BYTES, JobQueueType, RETRY_DELAYS_MS, ROUTE_HISTORY,
    ROUTE_PING, ROUTE_UPDATE, Topology,
};
