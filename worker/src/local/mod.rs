//! `worker crawl`: the crawl pipeline in one process, without a broker. Jobs wait in an
//! in-process queue (`queue.rs`) and run as the broker worker runs them (`jobs::attempt`),
//! with its retry policy (`jobs::policy`); retries wait in timers, never in a job slot.
//! Items and dead jobs go to JSON Lines files (`sinks.rs`), and a rule file that changes on
//! disk is reloaded like a push (`watch.rs`).

mod queue;
mod sinks;
mod watch;

use std::sync::Arc;

use anyhow::Context as _;
use crawlfleet_bus::message::Job;
use crawlfleet_engine::{Limits, RuleSet, RuleStore, RulesRoot};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, warn};

use crate::cli::LocalCrawlArgs;
use crate::config::CrawlConfig;
use crate::crawl::{Dedup, Pipeline};
use crate::failure::Failure;
use crate::fetch::{Fetcher, Policy};
use crate::jobs::attempt;
use crate::jobs::policy::{self, Next};
use crate::telemetry;
use queue::Queue;
use sinks::Sinks;

pub fn main(args: LocalCrawlArgs) -> Result<(), Failure> {
    let mut errors = Vec::new();
    let crawl = CrawlConfig::from_args(&args.crawl, &mut errors);
    let jobs = crate::config::number(&mut errors, "--jobs", &args.jobs, 1, 10_000);
    let limits = crate::config::limits(&args.limits, &mut errors);
    if !args.rules.is_dir() {
        errors.push(format!(
            "--rules: `{}` is not a directory",
            args.rules.display()
        ));
    }
    if args.start.is_empty() {
        errors.push("--start: give at least one start URL".to_owned());
    }
    let policy = Policy {
        allow_private: args.crawl.allow_private_hosts,
    };
    for url in &args.start {
        match url::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {
                if let Err(refused) = policy.check_url(&u) {
                    errors.push(format!("--start: {refused}"));
                }
            }
            _ => errors.push(format!("--start: `{url}` is not an http(s) URL")),
        }
    }
    let format = crate::config::log_format(&args.log_format, &mut errors);
    if !errors.is_empty() {
        return Err(Failure::InvalidConfig(errors));
    }
    telemetry::init(format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|_| Failure::Runtime("cannot start the async runtime".to_owned()))?;
    runtime
        .block_on(async {
            let stop = crate::shutdown::on_signals();
            let jobs = usize::try_from(jobs).unwrap_or(16);
            crawl_locally(&args, crawl, limits, jobs, stop).await
        })
        .map_err(|cause| Failure::Stopped {
            what: "crawl stopped",
            cause,
        })
}

async fn crawl_locally(
    args: &LocalCrawlArgs,
    config: CrawlConfig,
    limits: Limits,
    concurrency: usize,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let root = RulesRoot::open(&args.rules).context("cannot open the rules root")?;
    let (sources, _) = root.scan();
    let (set, failures) =
        tokio::task::spawn_blocking(move || RuleSet::load(sources, &limits)).await?;
    for f in failures {
        error!(module = %f.module, stage = %f.error.stage, error = %f.error.message, "rule load failed");
    }
    let store = Arc::new(RuleStore::new(set, limits));
    anyhow::ensure!(
        store.rule(&args.rule).is_some(),
        "no loadable rule `{}` under {}",
        args.rule,
        args.rules.display()
    );
    let dedup = match &config.redis_url {
        Some(url) => Dedup::redis(url, "crawlfleet-local", config.dedup_ttl).await?,
        None => Dedup::local(),
    };
    let metrics = Arc::new(crate::admin::Metrics::default());
    let pipeline = Pipeline::new(
        Fetcher::new(&config.fetch)?,
        dedup,
        config.crawl.clone(),
        "local",
        metrics,
    );
    let sinks = Sinks::create(&args.out, args.dead.as_deref())?;
    let watcher = tokio::spawn(watch::watch(root, Arc::clone(&store), stop.clone()));

    let (queue, mut jobs) = Queue::new();
    let crawl_id = format!("local-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    for (n, url) in args.start.iter().enumerate() {
        queue.push(Job {
            id: format!("seed-{n}"),
            url: url.clone(),
            rule: args.rule.clone(),
            depth: 0,
            meta: serde_json::json!({}),
            attempt: 0,
            crawl: crawl_id.clone(),
            max_depth: None,
        });
    }
    let crawl = Arc::new(Crawl {
        pipeline,
        store,
        max_attempts: config.max_attempts,
        queue: Arc::clone(&queue),
        sinks,
    });
    let slots = Arc::new(Semaphore::new(concurrency));
    while let Some(job) = queue.next(&mut jobs, &stop).await {
        let slot = Arc::clone(&slots).acquire_owned().await?;
        let span = attempt::span(&job);
        tokio::spawn(Arc::clone(&crawl).run(job, slot).instrument(span));
    }
    // Let jobs still running finish.
    let _ = slots
        .acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX))
        .await;
    watcher.abort();
    let totals = crawl.sinks.totals();
    let usage = crate::usage::of("self");
    let (cpu_s, peak_rss_kb) = (usage.cpu_s, usage.peak_rss_kb);
    info!(
        cpu_s,
        peak_rss_kb,
        pages = totals.pages,
        items = totals.items,
        retries = totals.retries,
        dead = ?totals.dead,
        out = %args.out.display(),
        "crawl finished"
    );
    Ok(())
}

/// What every job of a local crawl shares.
struct Crawl {
    pipeline: Pipeline,
    store: Arc<RuleStore>,
    max_attempts: u32,
    queue: Arc<Queue>,
    sinks: Sinks,
}

impl Crawl {
    /// Runs `job` in its `slot`, then settles it by the broker worker's retry policy: its
    /// items written and follow-ups queued, its retry set, or it is written off as dead.
    async fn run(self: Arc<Self>, job: Job, slot: OwnedSemaphorePermit) {
        let outcome = attempt::run(&self.pipeline, &self.store, &job, None).await;
        drop(slot);
        match policy::next(&job, outcome, self.max_attempts) {
            Next::Done { items, follow_ups } => {
                self.sinks.done(&items);
                info!(
                    items = items.len(),
                    follow_ups = follow_ups.len(),
                    "job done"
                );
                for f in follow_ups {
                    self.queue.push(f);
                }
            }
            Next::Retry {
                again,
                level,
                reason,
                error,
            } => {
                self.sinks.retried();
                let retry_in_ms = policy::retry_delay_ms(level);
                warn!(reason = %reason, cause = %error, retry_in_ms, "job will be retried");
                self.queue.push_after(again, policy::retry_delay(level));
            }
            Next::Dead { reason, error } => {
                let reason = reason.to_string();
                error!(reason = %reason, cause = %error, "job failed for good");
                self.sinks.dead(&job, &reason, &error);
            }
        }
        self.queue.settled();
    }
}
