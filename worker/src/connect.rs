//! Connecting to the broker: retried with backoff until it works or shutdown comes, on the
//! runtime that is to serve the connection.

use crawlfleet_bus::{Bus, Topology};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::backoff::Backoff;

/// Where and as whom a worker connects.
#[derive(Debug, Clone)]
pub(crate) struct Broker {
    pub(crate) url: String,
    pub(crate) topology: Topology,
    /// The worker's id, for the log.
    pub(crate) worker: String,
}

impl Broker {
    /// Connects on the runtime behind `on` (whose I/O driver then serves the socket), as
    /// `name`, retrying with backoff; `None` when shutdown came first.
    pub(crate) async fn connect(
        &self,
        name: &str,
        on: &Handle,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> Option<Bus> {
        loop {
            if shutdown.is_cancelled() {
                return None;
            }
            let (url, name_owned, topology_owned) =
                (self.url.clone(), name.to_owned(), self.topology.clone());
            let attempt = on
                .spawn(async move { Bus::connect(&url, &name_owned, topology_owned).await })
                .await
                .map_err(|e| format!("the connect task failed: {e}"))
                .and_then(|r| r.map_err(|e| e.to_string()));
            match attempt {
                Ok(bus) => {
                    info!(worker = %self.worker, attempts = backoff.attempts() + 1, "connected to the broker");
                    return Some(bus);
                }
                Err(e) => {
                    let delay = backoff.next_delay();
                    warn!(
                        worker = %self.worker, cause = %e, attempt = backoff.attempts(),
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "cannot connect to the broker"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}
