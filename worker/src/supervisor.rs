//! The worker's life: start up, then supervise broker sessions (connect with backoff, bind,
//! catch up, serve) until shutdown, then drain.

use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::backoff::Backoff;
use crate::config::Config;
use crate::session::{self, Tasks};
use crate::startup;

/// Runs a worker until `shutdown` is cancelled, then drains and returns `Ok`. Losing the
/// broker is not fatal: the worker reconnects with backoff, catches up and goes on.
///
/// `control` is the runtime of the control plane: the control connection is opened and served
/// there, apart from the runtime that runs jobs, so a reload never queues behind job work.
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    control: Handle,
) -> anyhow::Result<()> {
    let started = startup::start(&config, &control, &shutdown).await?;
    let _stop_admin = started.admin;
    let broker = started.broker;
    let mut unbound = Some(started.unbound);
    let mut tasks: Option<Tasks> = None;
    let tracker = TaskTracker::new();
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let name = format!("crawlfleet worker {}", config.worker_id);

    loop {
        let Some(bus) = broker
            .connect(&name, &control, &mut backoff, &shutdown)
            .await
        else {
            break; // shutdown while disconnected
        };
        // The first session loads the base layer after binding (so no update is missed).
        if let Some(u) = &unbound {
            match u.load_rules(&bus).await {
                Ok(store) => tasks = unbound.take().map(|u| u.into_tasks(store)),
                Err(e) => {
                    warn!(cause = %format!("{e:#}"), "broker session failed during start-up; reconnecting");
                    bus.close().await;
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                    continue;
                }
            }
        }
        let Some(t) = &tasks else { continue };
        // Jobs get a connection of their own: a control message never waits behind job
        // frames on the socket or in the connection's I/O thread.
        let jobs_name = format!("{name} jobs");
        let here = Handle::current();
        let Some(jobs_bus) = broker
            .connect(&jobs_name, &here, &mut backoff, &shutdown)
            .await
        else {
            bus.close().await;
            break;
        };
        let links = session::Links {
            control: bus,
            jobs: jobs_bus,
            express: started.express.clone(),
        };
        let served = session::serve(
            t,
            &links,
            config.prefetch,
            &tracker,
            &control,
            &shutdown,
            &mut backoff,
        );
        match served.await {
            Ok(()) => {
                drain(&tracker, config.grace).await;
                links.jobs.close().await;
                links.control.close().await;
                info!(worker = %t.identity.id, "worker stopped");
                return Ok(());
            }
            Err(e) => {
                error!(worker = %t.identity.id, cause = %format!("{e:#}"), "broker session lost; reconnecting");
                let _ = tokio::time::timeout(Duration::from_secs(2), links.jobs.close()).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), links.control.close()).await;
                // Even the first retry waits (jittered): a broker restart must not bring the
                // whole fleet back in the same millisecond.
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                }
            }
        }
    }
    drain(&tracker, config.grace).await;
    info!(worker = %config.worker_id, "worker stopped");
    Ok(())
}

/// Waits up to `grace` for in-flight jobs; those still running are left unacknowledged and
/// return to the queue when the connection closes.
async fn drain(tracker: &TaskTracker, grace: Duration) {
    tracker.close();
    if tracker.is_empty() {
        return;
    }
    info!(
        in_flight = tracker.len(),
        grace_s = grace.as_secs(),
        "draining in-flight jobs"
    );
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!(
            in_flight = tracker.len(),
            "grace period over; unfinished jobs return to the queue"
        );
    }
}
