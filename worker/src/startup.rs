//! A worker's start-up: what it builds before its first broker session (metrics, the admin
//! endpoint, the crawl pipeline, the express lane), then the rules, loaded once the first
//! session has bound the control queue, and from them the handles every session's tasks get.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use crawlfleet_bus::signature::PublicKey;
use crawlfleet_bus::{Bus, ExpressLane, Topology};
use crawlfleet_engine::{Limits, RuleSet, RuleStore, RulesRoot};
use tokio::runtime::Handle;
use tokio::sync::Mutex;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{error, info, warn};

use crate::admin;
use crate::admin::Metrics;
use crate::backoff::Backoff;
use crate::config::Config;
use crate::connect::Broker;
use crate::control::{self, express::Express};
use crate::crawl::{Dedup, Pipeline};
use crate::fetch::Fetcher;
use crate::identity::Identity;
use crate::jobs;
use crate::session::Tasks;

/// What start-up built, before any broker session.
pub(crate) struct Started {
    pub(crate) broker: Broker,
    pub(crate) unbound: Unbound,
    /// Updates relayed by Redis, when `--express-url` is set.
    pub(crate) express: Option<Arc<Mutex<Express>>>,
    /// Stops the admin endpoint when dropped.
    pub(crate) admin: DropGuard,
}

/// The worker before its rules are loaded: everything its tasks need but the rules.
pub(crate) struct Unbound {
    identity: Identity,
    topology: Topology,
    root: RulesRoot,
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
    /// Where the admin endpoint finds the rules once they are loaded.
    rules_loaded: admin::Target,
    limits: Limits,
    trusted_keys: Vec<PublicKey>,
    max_attempts: u32,
    job_deadline: Duration,
}

/// Opens the rules root, starts the admin endpoint (when `--admin-addr` is set), builds the
/// crawl pipeline and starts the express lane's subscription on `control`.
pub(crate) async fn start(
    config: &Config,
    control: &Handle,
    shutdown: &CancellationToken,
) -> anyhow::Result<Started> {
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
    let rules_loaded: admin::Target = Arc::new(std::sync::OnceLock::new());
    let admin_stop = CancellationToken::new();
    if let Some(addr) = config.admin_addr {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on the admin address {addr}"))?;
        tokio::spawn(admin::serve(
            listener,
            Arc::clone(&metrics),
            Arc::clone(&rules_loaded),
            admin_stop.clone(),
        ));
    }
    let admin = admin_stop.drop_guard();
    let pipeline = pipeline(config, &identity.id, Arc::clone(&metrics)).await?;
    let express = match &config.express_url {
        None => None,
        Some(url) => {
            let lane = ExpressLane::new(url, &topology).context("--express-url")?;
            Some(Arc::new(Mutex::new(Express::start(
                lane,
                config.worker_id.clone(),
                Backoff::new(config.reconnect_min, config.reconnect_max),
                control,
                shutdown.clone(),
            ))))
        }
    };
    Ok(Started {
        broker: Broker {
            url: config.amqp_url.clone(),
            topology: topology.clone(),
            worker: config.worker_id.clone(),
        },
        unbound: Unbound {
            identity,
            topology,
            root,
            pipeline,
            metrics,
            rules_loaded,
            limits: config.limits,
            trusted_keys: config.trusted_keys.clone(),
            max_attempts: config.crawl.max_attempts,
            job_deadline: config.job_deadline,
        },
        express,
        admin,
    })
}

impl Unbound {
    /// The first session's set-up: binds the control queue on `bus`, then loads the rules
    /// root, so an update pushed while it loads waits in the queue. On failure the worker
    /// stays unbound, for the next session to try again.
    pub(crate) async fn load_rules(&self, bus: &Bus) -> anyhow::Result<Arc<RuleStore>> {
        let queue = self.topology.worker_queue(&self.identity.instance);
        bus.bind_control_queue(&queue).await?;
        info!(worker = %self.identity.id, queue = %queue, "control queue bound");
        let store = load_base_layer(&self.root, self.limits, &self.identity.id).await?;
        Ok(Arc::new(store))
    }

    /// Hands each task its handles, now that the rules are loaded in `store`.
    pub(crate) fn into_tasks(self, store: Arc<RuleStore>) -> Tasks {
        let _ = self.rules_loaded.set(Arc::clone(&store));
        Tasks {
            identity: self.identity.clone(),
            control: Arc::new(control::Plane {
                identity: self.identity.clone(),
                prefix: self.topology.prefix().to_owned(),
                root: self.root,
                store: Arc::clone(&store),
                trusted_keys: self.trusted_keys,
                metrics: Arc::clone(&self.metrics),
            }),
            jobs: Arc::new(jobs::Runner {
                worker: self.identity.id,
                topology: self.topology,
                pipeline: self.pipeline,
                store,
                max_attempts: self.max_attempts,
                deadline: self.job_deadline,
                metrics: Arc::clone(&self.metrics),
            }),
            metrics: self.metrics,
        }
    }
}

/// The crawl pipeline: fetcher, and dedup through Redis when a Redis URL is configured.
async fn pipeline(
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
    limits: Limits,
    worker: &str,
) -> anyhow::Result<RuleStore> {
    let (sources, scan_errors) = root.scan();
    for e in scan_errors {
        warn!(worker, path = %e.path, cause = %e.error, "rule file skipped");
    }
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
