//! Crawl cost: one worker crawls the generated shop (`worker crawl`, and the broker-backed
//! worker), at a given concurrency: pages/s, CPU-seconds per 1000 pages, peak RSS, and
//! whether every item is exactly what the generator expects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crawlfleet_bus::message::Job;
use crawlfleet_tests::{TestBroker, WorkerProc};
use crawlfleet_worker::usage;
use serde_json::{Value, json};

use crate::site::{Shop, Site, expected};

fn repo_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

/// Items by product number, from item URLs `…/p/prod-N`.
fn correct(items: &BTreeMap<usize, Value>, shop: &Shop) -> usize {
    (0..shop.products())
        .filter(|p| items.get(p) == Some(&expected(*p)))
        .count()
}

fn product_of(url: &str) -> Option<usize> {
    url.rsplit_once("/p/prod-")
        .and_then(|(_, n)| n.parse().ok())
}

/// `worker crawl` in one process, no broker.
pub async fn local(bin_dir: &Path, shop: Shop, concurrency: usize) -> anyhow::Result<Value> {
    let site = Site::start(shop).await?;
    let dir = std::env::temp_dir().join(format!(
        "crawlfleet-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("items.jsonl");
    let c = concurrency.to_string();
    let started = Instant::now();
    let mut cmd = std::process::Command::new(bin_dir.join("worker"));
    cmd.arg("crawl")
        .arg("--rules")
        .arg(repo_rules())
        .args([
            "--rule",
            "shop.index",
            "--start",
            &site.url("/"),
            "--log-format",
            "json",
            // The generated shop listens on 127.0.0.1.
            "--allow-private-hosts",
        ])
        .args([
            "--jobs",
            &c,
            "--concurrency",
            &c,
            "--per-host-concurrency",
            &c,
        ])
        .arg("--out")
        .arg(&out)
        .env("RUST_LOG", "warn,crawlfleet_worker::local=info");
    let output = tokio::task::spawn_blocking(move || cmd.output()).await??;
    let wall = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "worker crawl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let finished: Value = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "crawl finished")
        .ok_or_else(|| anyhow::anyhow!("no `crawl finished` line"))?;
    let mut items = BTreeMap::new();
    for line in std::fs::read_to_string(&out)?.lines() {
        let item: Value = serde_json::from_str(line)?;
        if let Some(p) = item["url"].as_str().and_then(product_of) {
            items.insert(p, item["fields"].clone());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let pages = finished["pages"].as_f64().unwrap_or(0.0);
    let cpu = finished["cpu_s"].as_f64().unwrap_or(0.0);
    Ok(json!({
        "mode": "worker crawl", "concurrency": concurrency, "products": shop.products(),
        "pages": pages, "wall_s": wall, "pages_per_s": pages / wall,
        "cpu_s": cpu, "cpu_s_per_1000_pages": cpu / pages * 1000.0,
        "peak_rss_mb": finished["peak_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
        "items_correct": correct(&items, &shop), "items": items.len(),
        "requests_served": site.requests.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

/// The broker-backed worker, fed one seed job.
pub async fn broker(shop: Shop, concurrency: usize) -> anyhow::Result<Value> {
    let site = Site::start(shop).await?;
    let mut broker = TestBroker::new(&format!("bench-crawl-{concurrency}")).await;
    let c = concurrency.to_string();
    let args = [
        "--prefetch",
        &c,
        "--concurrency",
        &c,
        "--per-host-concurrency",
        &c,
    ];
    let quiet = [(
        "RUST_LOG",
        "info,crawlfleet_worker::crawl=warn,crawlfleet_worker::jobs=warn",
    )];
    let w = WorkerProc::start_with_env(&broker.prefix, &repo_rules(), &args, &quiet).await;
    w.ready().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = usage::of(&w.pid().to_string());
    let started = Instant::now();
    let seed = Job {
        id: "seed".to_owned(),
        url: site.url("/"),
        rule: "shop.index".to_owned(),
        depth: 0,
        meta: json!({}),
        attempt: 0,
        crawl: "bench".to_owned(),
        max_depth: None,
    };
    broker.enqueue(&[seed]).await;
    let mut items = BTreeMap::new();
    let mut last = Instant::now();
    while items.len() < shop.products() && last.elapsed() < Duration::from_secs(20) {
        for item in broker.items(1_000, Duration::from_millis(500)).await {
            last = Instant::now();
            if let Some(p) = product_of(&item.url) {
                items.insert(p, serde_json::Value::Object(item.fields));
            }
        }
    }
    let wall = started.elapsed().as_secs_f64() - last.elapsed().as_secs_f64();
    let after = usage::of(&w.pid().to_string());
    let pages = items.len() as f64
        + (shop.categories * shop.per_category.div_ceil(shop.per_page)) as f64
        + 1.0;
    let cpu = after.cpu_s - before.cpu_s;
    drop(w);
    broker.cleanup().await;
    Ok(json!({
        "mode": "broker worker", "concurrency": concurrency, "products": shop.products(),
        "pages": pages, "wall_s": wall, "pages_per_s": pages / wall,
        "cpu_s": cpu, "cpu_s_per_1000_pages": cpu / pages * 1000.0,
        "idle_rss_mb": before.rss_kb as f64 / 1024.0, "peak_rss_mb": after.peak_rss_kb as f64 / 1024.0,
        "items_correct": correct(&items, &shop), "items": items.len(),
    }))
}
