//! One broker session: (re)bind the control queue, declare the topology, catch up from the
//! history, then serve control messages and jobs until shutdown (`Ok`) or until the
//! connection or a consumer is lost (`Err`: the supervisor reconnects).

use std::sync::Arc;

use crawlfleet_bus::Bus;
use tokio::runtime::Handle;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::admin::Metrics;
use crate::backoff::Backoff;
use crate::control::express::Express;
use crate::control::{self, catchup};
use crate::identity::Identity;
use crate::jobs;

/// A session's two broker connections, and the express lane when it is on.
pub(crate) struct Links {
    /// Control queue, history and replies; opened on (and served by) the control runtime.
    pub(crate) control: Bus,
    /// Jobs in, items and follow-ups out.
    pub(crate) jobs: Bus,
    /// Updates relayed by Redis; outlives sessions (it does not depend on the broker).
    pub(crate) express: Option<Arc<Mutex<Express>>>,
}

/// What every session starts its two loops with; built once, by the first session.
pub(crate) struct Tasks {
    pub(crate) identity: Identity,
    pub(crate) control: Arc<control::Plane>,
    pub(crate) jobs: Arc<jobs::Runner>,
    /// Where readiness is reported.
    pub(crate) metrics: Arc<Metrics>,
}

/// Serves one session; `prefetch` is how many jobs the broker hands over unacked.
pub(crate) async fn serve(
    tasks: &Tasks,
    links: &Links,
    prefetch: u16,
    tracker: &TaskTracker,
    control_rt: &Handle,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
) -> anyhow::Result<()> {
    let identity = &tasks.identity;
    let id = identity.id.clone();
    let topology = &tasks.jobs.topology;
    let (bus, jobs_bus) = (&links.control, &links.jobs);
    let queue = topology.worker_queue(&identity.instance);
    bus.bind_control_queue(&queue).await?;
    info!(worker = %id, queue = %queue, "control queue bound");
    jobs_bus.declare_jobs().await?;
    catchup::catch_up(&tasks.control, bus).await?;

    let control_inbox = bus.inbox(&queue, 8, &format!("control-{id}")).await?;
    let replier = bus.replier().await?;
    let job_inbox = jobs_bus
        .inbox(&topology.jobs_queue(), prefetch, &format!("jobs-{id}"))
        .await?;
    let job_outbox = Arc::new(jobs_bus.outbox().await?);
    info!(worker = %id, host = %identity.host, prefetch, "worker ready");
    backoff.reset();
    tasks.metrics.set_ready(true);

    let stop = CancellationToken::new();
    // On the control runtime, where the control connection lives.
    let mut control = control_rt.spawn(control::run(
        Arc::clone(&tasks.control),
        control_inbox,
        replier,
        links.express.clone(),
        stop.clone(),
    ));
    let mut jobs = tokio::spawn(jobs::run(
        Arc::clone(&tasks.jobs),
        job_inbox,
        job_outbox,
        tracker.clone(),
        stop.clone(),
    ));
    // Whichever ends first: shutdown, or a loop (a consumer that ends is a lost session —
    // no consumer stops silently). Each handle is awaited exactly once.
    let (mut control_done, mut jobs_done) = (false, false);
    let lost = tokio::select! {
        biased;
        _ = shutdown.cancelled() => None,
        r = &mut control => {
            control_done = true;
            Some(loop_error("control", r))
        }
        r = &mut jobs => {
            jobs_done = true;
            Some(loop_error("job", r))
        }
    };
    tasks.metrics.set_ready(false);
    stop.cancel();
    if !control_done {
        let _ = control.await;
    }
    if !jobs_done {
        let _ = jobs.await;
    }
    match lost {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Why a loop ended on its own.
fn loop_error(
    name: &str,
    joined: Result<anyhow::Result<()>, tokio::task::JoinError>,
) -> anyhow::Error {
    match joined {
        Ok(Ok(())) => anyhow::anyhow!("the {name} loop ended"),
        Ok(Err(e)) => e.context(format!("the {name} loop stopped")),
        Err(e) => anyhow::anyhow!("the {name} loop panicked: {e}"),
    }
}
