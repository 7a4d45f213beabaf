//! `worker crawl`: the crawl pipeline in one process, without a broker. Jobs wait in an
//! in-process queue, retries wait in timers (never in a job slot), items go to a JSON Lines
//! file, and a rule file that changes on disk is reloaded like a push.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use crawlfleet_bus::RETRY_DELAYS_MS;
use crawlfleet_bus::message::{Encode, Job};
use crawlfleet_engine::{Limits, ModuleSource, RuleSet, RuleStore, RulesRoot};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::cli::LocalCrawlArgs;
use crate::config::CrawlConfig;
use crate::crawl::{Dedup, JobOutcome, Pipeline};
use crate::fetch::{Fetcher, Policy};
use crate::telemetry;

/// How often the rules root is checked for changed files.
const WATCH_EVERY: Duration = Duration::from_millis(500);

pub fn main(args: LocalCrawlArgs) -> ExitCode {
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
        eprintln!("worker crawl: invalid configuration:");
        for e in errors {
            eprintln!("  - {e}");
        }
        return ExitCode::from(2);
    }
    telemetry::init(format);
    let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("worker crawl: cannot start the async runtime");
        return ExitCode::from(70);
    };
    runtime.block_on(async {
        let stop = crate::shutdown::on_signals();
        let jobs = usize::try_from(jobs).unwrap_or(16);
        match crawl_locally(&args, crawl, limits, jobs, stop).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                error!(cause = %format!("{e:#}"), "crawl stopped");
                ExitCode::from(1)
            }
        }
    })
}

/// Counters printed at the end.
#[derive(Default)]
struct Tally {
    pages: AtomicU64,
    items: AtomicU64,
    retries: AtomicU64,
    dead: Mutex<BTreeMap<String, u64>>,
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
    let pipeline = Arc::new(Pipeline::new(
        Fetcher::new(&config.fetch)?,
        dedup,
        config.crawl.clone(),
        "local",
        metrics,
    ));
    let out = Arc::new(Mutex::new(std::io::BufWriter::new(
        std::fs::File::create(&args.out)
            .with_context(|| format!("cannot write {}", args.out.display()))?,
    )));
    let dead_out = match &args.dead {
        Some(path) => Some(Arc::new(Mutex::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        ))),
        None => None,
    };
    let watcher = tokio::spawn(watch(root, Arc::clone(&store), stop.clone()));

    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let pending = Arc::new(AtomicUsize::new(0));
    let idle = Arc::new(Notify::new());
    let crawl_id = format!("local-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    for (n, url) in args.start.iter().enumerate() {
        pending.fetch_add(1, Ordering::SeqCst);
        let _ = tx.send(Job {
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
    let slots = Arc::new(Semaphore::new(concurrency));
    let tally = Arc::new(Tally::default());
    let max_attempts = config.max_attempts;
    loop {
        let job = tokio::select! {
            _ = stop.cancelled() => break,
            _ = idle.notified() => {
                if pending.load(Ordering::SeqCst) == 0 { break }
                continue;
            }
            job = rx.recv() => match job { Some(job) => job, None => break },
        };
        let permit = Arc::clone(&slots).acquire_owned().await?;
        let (store, pipeline, tx, pending, idle, out, dead_out, tally) = (
            Arc::clone(&store),
            Arc::clone(&pipeline),
            tx.clone(),
            Arc::clone(&pending),
            Arc::clone(&idle),
            Arc::clone(&out),
            dead_out.clone(),
            Arc::clone(&tally),
        );
        let span = info_span!("job", job = %job.id, url = %job.url, rule = %job.rule, rule_version = tracing::field::Empty, crawl = %job.crawl, depth = job.depth);
        tokio::spawn(
            async move {
                let outcome = pipeline.process(&store, &job).await;
                drop(permit);
                match outcome {
                    JobOutcome::Done { items, follow_ups } => {
                        tally.pages.fetch_add(1, Ordering::Relaxed);
                        tally.items.fetch_add(items.len() as u64, Ordering::Relaxed);
                        let mut lines = Vec::new();
                        for item in &items {
                            lines.extend(item.encode());
                            lines.push(b'\n');
                        }
                        let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
                        if let Err(e) = out.write_all(&lines).and_then(|()| out.flush()) {
                            error!(cause = %e, "cannot write items");
                        }
                        drop(out);
                        info!(items = items.len(), follow_ups = follow_ups.len(), "job done");
                        pending.fetch_add(follow_ups.len(), Ordering::SeqCst);
                        for f in follow_ups {
                            let _ = tx.send(f);
                        }
                    }
                    JobOutcome::Retry { reason, error, after } if job.attempt.saturating_add(1) < max_attempts => {
                        tally.retries.fetch_add(1, Ordering::Relaxed);
                        let level = usize::try_from(job.attempt).unwrap_or(usize::MAX).min(RETRY_DELAYS_MS.len() - 1);
                        let wait = after.unwrap_or(Duration::from_millis(RETRY_DELAYS_MS[level]));
                        warn!(reason = %reason, cause = %error, retry_in_ms = wait.as_millis() as u64, "job will be retried");
                        let mut again = job.clone();
                        again.attempt += 1;
                        pending.fetch_add(1, Ordering::SeqCst);
                        let (tx, idle_again) = (tx.clone(), Arc::clone(&idle));
                        tokio::spawn(async move {
                            tokio::time::sleep(wait).await;
                            let _ = tx.send(again);
                            idle_again.notify_one();
                        });
                    }
                    JobOutcome::Retry { reason, error, .. } | JobOutcome::Dead { reason, error } => {
                        let reason = reason.to_string();
                        error!(reason = %reason, cause = %error, "job failed for good");
                        *tally.dead.lock().unwrap_or_else(PoisonError::into_inner).entry(reason.clone()).or_default() += 1;
                        if let Some(dead) = dead_out {
                            let line = serde_json::json!({"job": job, "reason": reason, "error": error});
                            let mut dead = dead.lock().unwrap_or_else(PoisonError::into_inner);
                            let _ = writeln!(dead, "{line}");
                        }
                    }
                }
                pending.fetch_sub(1, Ordering::SeqCst);
                idle.notify_one();
            }
            .instrument(span),
        );
    }
    // Let jobs still running finish.
    let _ = slots
        .acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX))
        .await;
    watcher.abort();
    let dead = tally
        .dead
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let usage = crate::usage::of("self");
    let (cpu_s, peak_rss_kb) = (usage.cpu_s, usage.peak_rss_kb);
    info!(
        cpu_s,
        peak_rss_kb,
        pages = tally.pages.load(Ordering::Relaxed),
        items = tally.items.load(Ordering::Relaxed),
        retries = tally.retries.load(Ordering::Relaxed),
        dead = ?dead,
        out = %args.out.display(),
        "crawl finished"
    );
    Ok(())
}

/// Reloads modules whose file changed, as a push would: a newer version, checked first.
async fn watch(root: RulesRoot, store: Arc<RuleStore>, stop: CancellationToken) {
    // The sha256 last tried per module, so a broken file is reported once, not every tick.
    let mut tried: BTreeMap<String, String> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let (sources, _) = root.scan();
        let live = store.snapshot();
        for source in sources {
            if live
                .source(&source.name)
                .is_some_and(|s| s.sha256 == source.sha256)
                || tried.get(source.name.as_str()) == Some(&source.sha256)
            {
                continue;
            }
            tried.insert(source.name.to_string(), source.sha256.clone());
            let version = store.snapshot().max_version() + 1;
            let update = ModuleSource::new(source.name.clone(), source.text.clone(), version);
            let store = Arc::clone(&store);
            let result = tokio::task::spawn_blocking(move || {
                let result = store.apply(update);
                store.housekeep();
                result
            })
            .await;
            match result {
                Ok(Ok(_)) => {
                    info!(worker = "local", module = %source.name, version, sha256 = %source.sha256, "rule reloaded")
                }
                Ok(Err(e)) => {
                    error!(worker = "local", module = %source.name, version, sha256 = %source.sha256, stage = %e.stage, error = %e.message, "rule reload failed")
                }
                Err(e) => error!(cause = %e, "reload panicked"),
            }
        }
    }
}
