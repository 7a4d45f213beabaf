//! Reload storm: 20 pushes/s for 10 s while jobs flow. Job throughput during the storm vs
//! the 10 s before it, jobs lost, and jobs run on a half-loaded rule (an item whose
//! `v`, set by the rule's top level, differs from the rule version it is stamped with).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::reload::{jobs, push_body};

pub async fn run(workers: usize, total_jobs: usize) -> anyhow::Result<Value> {
    let crate::fleet::Fleet {
        mut broker,
        site,
        workers: procs,
        rules: _rules,
    } = crate::fleet::start("bench-storm", workers).await?;
    broker.enqueue(&jobs(&site, total_jobs, "storm")).await;

    let mut seen: HashSet<String> = HashSet::new();
    let (mut half_loaded, mut steady, mut storm) = (0u64, 0u64, 0u64);
    let mut count =
        |items: Vec<crawlfleet_bus::message::Item>, into: &mut u64, seen: &mut HashSet<String>| {
            for item in items {
                if item.fields.get("v").and_then(Value::as_u64) != Some(item.rule_version) {
                    half_loaded += 1;
                }
                if seen.insert(item.job.clone()) {
                    *into += 1;
                }
            }
        };
    // Warm up 2 s (counted as produced, not in either rate), then 10 s of steady state.
    let mut warm = 0u64;
    let items = broker.items(usize::MAX, Duration::from_secs(2)).await;
    count(items, &mut warm, &mut seen);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let items = broker.items(2_000, Duration::from_millis(200)).await;
        count(items, &mut steady, &mut seen);
    }
    let steady_s = started.elapsed().as_secs_f64();
    // The storm: a push every 50 ms, consuming items in between.
    let started = Instant::now();
    let mut version = 0u64;
    while started.elapsed() < Duration::from_secs(10) {
        version += 1;
        broker
            .send_control_raw(&push_body(version, &format!("storm-{version}")), "storm")
            .await;
        let next = Duration::from_millis(50 * version);
        while started.elapsed() < next {
            let wait = next
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1));
            let items = broker.items(2_000, wait).await;
            count(items, &mut storm, &mut seen);
        }
    }
    let storm_s = started.elapsed().as_secs_f64();
    let _ = broker.replies(usize::MAX, Duration::from_millis(500)).await;
    // Drain: every job must produce its item.
    let mut rest = 0u64;
    let drain_started = Instant::now();
    while (seen.len() as u64) < total_jobs as u64
        && drain_started.elapsed() < Duration::from_secs(180)
    {
        let items = broker.items(5_000, Duration::from_secs(1)).await;
        count(items, &mut rest, &mut seen);
    }
    let reloaded: usize = procs.iter().map(|w| w.events("rule reloaded").len()).sum();
    let lost = total_jobs as i64 - seen.len() as i64;
    drop(procs);
    broker.cleanup().await;
    let (steady_rate, storm_rate) = (steady as f64 / steady_s, storm as f64 / storm_s);
    Ok(json!({
        "workers": workers, "jobs": total_jobs, "pushes": version, "reloads_logged": reloaded,
        "steady_jobs_per_s": steady_rate, "storm_jobs_per_s": storm_rate,
        "storm_vs_steady": storm_rate / steady_rate, "lost": lost, "half_loaded": half_loaded,
        "produced_during_warm_up_and_drain": warm + rest,
    }))
}
