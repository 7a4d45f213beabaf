//! The worker's life: supervise broker sessions (connect with backoff, bind, catch up,
//! serve) until shutdown, then drain.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use crawlfleet_bus::{Bus, ExpressLane, Topology};
use crawlfleet_engine::{RuleSet, RuleStore, RulesRoot};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::admin::{self, Metrics};
use crate::backoff::Backoff;
use crate::config::Config;
use crate::control::express::Express;
use crate::crawl::{Dedup, Pipeline};
use crate::fetch::Fetcher;
use crate::identity::Identity;
use crate::session;

/// What every task of a worker shares, across broker sessions.
pub(crate) struct Worker {
    pub(crate) identity: Identity,
    pub(crate) topology: Topology,
    pub(crate) root: RulesRoot,
    pub(crate) store: RuleStore,
    pub(crate) pipeline: Pipeline,
    /// Attempts of a job before a transient failure dead-letters it.
    pub(crate) max_attempts: u32,
    /// How long one job (fetch + rule) may take before it is failed and settled.
    pub(crate) job_deadline: Duration,
    /// When not empty, only updates signed by one of these keys are applied.
    pub(crate) trusted_keys: Vec<crawlfleet_bus::signature::PublicKey>,
}

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
    let identity = Identity::new(config.worker_id.clone());
    let topology = Topology::new(&config.prefix, config.job_queue_type)
        .with_max_deliveries(config.max_deliveries);
    let root = RulesRoot::open(&config.rules)
        .with_context(|| format!("cannot open the rules root {}", config.rules.display()))?;
    let metrics = Arc::new(Metrics::default());
    // A call that honours its budget ends within about twice of it; ten times is stuck.
    metrics
        .stalls
        .set_stall_after((config.limits.call_budget * 10).max(Duration::from_secs(10)));
    let admin_target: admin::Target = Arc::new(std::sync::OnceLock::new());
    let admin_stop = CancellationToken::new();
    if let Some(addr) = config.admin_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on the admin address {addr}"))?;
        tokio::spawn(admin::serve(
            listener,
            Arc::clone(&metrics),
            Arc::clone(&admin_target),
            admin_stop.clone(),
        ));
    }
    let _stop_admin = admin_stop.drop_guard();
    let pipeline = pipeline(&config, &identity.id, Arc::clone(&metrics)).await?;
    let mut parts = Some((identity, root, pipeline));
    let mut worker: Option<Arc<Worker>> = None;
    let tracker = TaskTracker::new();
    let mut backoff = Backoff::new(config.reconnect_min, config.reconnect_max);
    let name = format!("crawlfleet worker {}", config.worker_id);
    let express = match &config.express_url {
        None => None,
        Some(url) => {
            let lane = ExpressLane::new(url, &topology).context("--express-url")?;
            Some(Arc::new(tokio::sync::Mutex::new(Express::start(
                lane,
                config.worker_id.clone(),
                backoff.clone(),
                &control,
                shutdown.clone(),
            ))))
        }
    };

    loop {
        let control_conn = connect(&config, &name, &control, &topology, &mut backoff, &shutdown);
        let Some(bus) = control_conn.await else {
            break; // shutdown while disconnected
        };
        // The first session loads the base layer after binding (so no update is missed).
        let w = match &worker {
            Some(w) => Arc::clone(w),
            None => match first_session_setup(&bus, &config, &topology, &mut parts).await {
                Ok(w) => {
                    worker = Some(Arc::clone(&w));
                    let _ = admin_target.set(Arc::clone(&w));
                    w
                }
                Err(e) => {
                    warn!(cause = %format!("{e:#}"), "broker session failed during start-up; reconnecting");
                    bus.close().await;
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                    continue;
                }
            },
        };
        // Jobs get a connection of their own: a control message never waits behind job
        // frames on the socket or in the connection's I/O thread.
        let jobs_name = format!("{name} jobs");
        let here = Handle::current();
        let jobs_conn = connect(
            &config,
            &jobs_name,
            &here,
            &topology,
            &mut backoff,
            &shutdown,
        );
        let Some(jobs_bus) = jobs_conn.await else {
            bus.close().await;
            break;
        };
        let links = session::Links {
            control: bus,
            jobs: jobs_bus,
            express: express.clone(),
        };
        match session::serve(
            &w,
            &links,
            &config,
            &tracker,
            &control,
            &shutdown,
            &mut backoff,
        )
        .await
        {
            Ok(()) => {
                drain(&tracker, config.grace).await;
                links.jobs.close().await;
                links.control.close().await;
                info!(worker = %w.identity.id, "worker stopped");
                return Ok(());
            }
            Err(e) => {
                error!(worker = %w.identity.id, cause = %format!("{e:#}"), "broker session lost; reconnecting");
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

/// Connects on the runtime behind `on` (whose I/O driver then serves the socket), retrying
/// with backoff; `None` when shutdown came first.
async fn connect(
    config: &Config,
    name: &str,
    on: &Handle,
    topology: &Topology,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
) -> Option<Bus> {
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        let (url, name_owned, topology_owned) =
            (config.amqp_url.clone(), name.to_owned(), topology.clone());
        let attempt = on
            .spawn(async move { Bus::connect(&url, &name_owned, topology_owned).await })
            .await
            .map_err(|e| format!("the connect task failed: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        match attempt {
            Ok(bus) => {
                info!(worker = %config.worker_id, attempts = backoff.attempts() + 1, "connected to the broker");
                return Some(bus);
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(
                    worker = %config.worker_id, cause = %e, attempt = backoff.attempts(),
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

/// Binds the control queue, then loads the rules root: the worker's long-lived state.
async fn first_session_setup(
    bus: &Bus,
    config: &Config,
    topology: &Topology,
    parts: &mut Option<(Identity, RulesRoot, Pipeline)>,
) -> anyhow::Result<Arc<Worker>> {
    let Some((identity, root, pipeline)) = parts.take() else {
        anyhow::bail!("worker state already built");
    };
    // Bind before loading the rules root: an update pushed while we load waits in the queue.
    let queue = topology.worker_queue(&identity.instance);
    let bound = bus.bind_control_queue(&queue).await;
    if let Err(e) = bound {
        *parts = Some((identity, root, pipeline));
        return Err(e.into());
    }
    info!(worker = %identity.id, queue = %queue, "control queue bound");
    let store = load_base_layer(&root, config, &identity.id).await?;
    Ok(Arc::new(Worker {
        identity,
        topology: topology.clone(),
        root,
        store,
        pipeline,
        max_attempts: config.crawl.max_attempts,
        job_deadline: config.job_deadline,
        trusted_keys: config.trusted_keys.clone(),
    }))
}

/// The crawl pipeline: fetcher, and dedup through Redis when a Redis URL is configured.
pub(crate) async fn pipeline(
    config: &Config,
    worker: &str,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Pipeline> {
    let crawl = &config.crawl;
    let fetcher = Fetcher::new(&crawl.fetch).context("cannot build the HTTP client")?;
    let dedup = match &crawl.redis_url {
        Some(url) => Dedup::redis(url, &config.prefix, crawl.dedup_ttl)
            .await
            .context("cannot reach Redis for URL dedup")?,
        None => Dedup::local(),
    };
    info!(
        worker,
        dedup = dedup.kind(),
        obey_robots = crawl.fetch.obey_robots,
        "crawl pipeline ready"
    );
    Ok(Pipeline::new(
        fetcher,
        dedup,
        crawl.crawl.clone(),
        worker,
        metrics,
    ))
}

/// Loads the rules root; files that fail are logged and left out.
async fn load_base_layer(
    root: &RulesRoot,
    config: &Config,
    worker: &str,
) -> anyhow::Result<RuleStore> {
    let (sources, scan_errors) = root.scan();
    for e in scan_errors {
        warn!(worker, path = %e.path, cause = %e.error, "rule file skipped");
    }
    let limits = config.limits;
    let (store, failures) = tokio::task::spawn_blocking(move || {
        let (set, failures) = RuleSet::load(sources, &limits);
        let store = RuleStore::new(set, limits);
        store.housekeep();
        (store, failures)
    })
    .await
    .context("loading the rules root panicked")?;
    for f in &failures {
        error!(
            worker,
            module = %f.module,
            stage = %f.error.stage,
            error = %f.error.message,
            "rule load failed"
        );
    }
    let modules: Vec<String> = store
        .snapshot()
        .modules()
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    info!(worker, root = %root.path().display(), modules = ?modules, "rules root loaded");
    Ok(store)
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
