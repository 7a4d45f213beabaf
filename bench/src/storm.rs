//! Reload storm: 20 pushes/s for 10 s while jobs flow. Job throughput during the storm vs
//! the steady state on both sides of it, jobs lost, and jobs run on a half-loaded rule (an
//! item whose `v`, set by the rule's top level, differs from the rule version it is stamped
//! with).
//!
//! Throughput is counted where it happens: each item is put in the phase its page was fetched
//! in (`fetched_at_ms`, stamped by the worker), not the phase the bench happened to read it in.
//! The job queue is filled before the phases with more than they use (publishing jobs costs
//! the broker about as much as delivering them, so feeding during the phases would halve the
//! throughput measured); a safety net tops it up should it run low, and says so.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crawlfleet_worker::usage;

use crate::clock::now_us;
use crate::workload::Pages;

/// Jobs enqueued before the phases: more than 4 workers do in 40 s on this machine.
const PRELOAD: usize = 300_000;
/// Should the queue run this low anyway, it is topped up (and `topped_up` says so).
const BACKLOG: usize = 20_000;
/// Jobs enqueued at a time when the backlog runs low.
const BATCH: usize = 8_000;
/// Length of each phase.
const PHASE: Duration = Duration::from_secs(10);

/// One run: `pushes` says whether the middle phase gets its storm (off: an A/A run that
/// checks the harness itself, whose ratio should be 1).
pub async fn run(
    workers: usize,
    pushes: bool,
    express: bool,
    pages: Pages,
) -> anyhow::Result<Value> {
    let crate::fleet::Fleet {
        mut broker,
        site,
        workers: procs,
        rules: _rules,
    } = crate::fleet::start("bench-storm", workers, express, pages).await?;
    let lane = crate::fleet::lane(express, &broker)?;

    // job id → (fetched at, half-loaded)
    let mut seen: HashMap<String, (u64, bool)> = HashMap::new();
    let mut enqueued = 0usize;
    let record = |items: Vec<crawlfleet_bus::message::Item>,
                  seen: &mut HashMap<String, (u64, bool)>| {
        for item in items {
            let half = item.fields.get("v").and_then(Value::as_u64) != Some(item.rule_version);
            let entry = seen
                .entry(item.job.clone())
                .or_insert((item.fetched_at_ms, false));
            entry.1 |= half;
        }
    };
    // Enqueues batches until `to` jobs wait beyond the `done` ones; returns how many it added.
    let mut feed = async |broker: &crawlfleet_tests::TestBroker, done: usize, to: usize| {
        let before = enqueued;
        while enqueued < done + to {
            broker
                .enqueue(&pages.jobs(&site, BATCH, &format!("storm-{enqueued}")))
                .await;
            enqueued += BATCH;
        }
        enqueued - before
    };

    // Warm up 8 s (the broker settles after taking the preload), then three phases of
    // `PHASE`: steady, storm, steady.
    feed(&broker, 0, PRELOAD).await;
    let mut topped_up = 0usize;
    let warm_until = now_us() + 8_000_000;
    while now_us() < warm_until {
        let items = broker.items(2_000, Duration::from_millis(100)).await;
        record(items, &mut seen);
        topped_up += feed(&broker, seen.len(), BACKLOG).await;
    }
    let phase_us = i64::try_from(PHASE.as_micros())?;
    let t0 = now_us();
    let (storm_from, storm_to, t3) = (t0 + phase_us, t0 + 2 * phase_us, t0 + 3 * phase_us);
    // The pushes keep their own schedule on their own connection, whatever the consuming and
    // feeding below are doing. Dropping a `TestBroker` tears the prefix down, so the pusher
    // is handed back and kept until the end.
    let pusher = crawlfleet_tests::TestBroker::with_prefix(&broker.prefix).await;
    let pushing = tokio::spawn(async move {
        let mut version = 0u64;
        loop {
            let at = storm_from + 50_000 * version as i64;
            if !pushes || at >= storm_to {
                return (pusher, version);
            }
            let wait = at.saturating_sub(now_us()).max(0) as u64;
            tokio::time::sleep(Duration::from_micros(wait)).await;
            version += 1;
            let body = pages.push_body(version, &format!("storm-{version}"));
            match &lane {
                Some(lane) => {
                    pusher.send_control_express(&body, "storm", lane).await;
                }
                None => pusher.send_control_raw(&body, "storm").await,
            }
        }
    });
    // CPU of the broker and of the workers at each phase boundary: where a storm's cost lands.
    let pids: Vec<String> = procs.iter().map(|w| w.pid().to_string()).collect();
    let sampling = tokio::spawn(async move {
        let mut samples = Vec::new();
        for at in [t0, storm_from, storm_to, t3] {
            let wait = at.saturating_sub(now_us()).max(0) as u64;
            tokio::time::sleep(Duration::from_micros(wait)).await;
            samples.push(cpu_now(&pids));
        }
        samples
    });
    while now_us() < t3 {
        let items = broker.items(2_000, Duration::from_millis(100)).await;
        record(items, &mut seen);
        topped_up += feed(&broker, seen.len(), BACKLOG).await;
    }
    let (pusher, version) = pushing.await?;
    let cpu = sampling.await?;
    let _ = broker.replies(usize::MAX, Duration::from_millis(500)).await;

    // Drain: every job enqueued must produce its item.
    let drain_started = std::time::Instant::now();
    while seen.len() < enqueued && drain_started.elapsed() < Duration::from_secs(180) {
        let items = broker.items(5_000, Duration::from_secs(1)).await;
        record(items, &mut seen);
    }
    let reloaded: usize = procs.iter().map(|w| w.events("rule reloaded").len()).sum();
    drop(procs);
    broker.cleanup().await;
    drop(pusher);

    let in_window = |from: i64, to: i64| {
        seen.values()
            .filter(|(at, _)| (from / 1000..to / 1000).contains(&(*at as i64)))
            .count() as f64
            / ((to - from) as f64 / 1e6)
    };
    let (before, during, after) = (
        in_window(t0, storm_from),
        in_window(storm_from, storm_to),
        in_window(storm_to, t3),
    );
    let steady = (before + after) / 2.0;
    // CPU-ms per 1000 jobs in each phase, for the broker and for the workers together.
    let per_k = |who: fn(&(f64, f64)) -> f64, phase: usize, rate: f64| {
        let secs = phase_us as f64 / 1e6;
        (who(&cpu[phase + 1]) - who(&cpu[phase])) * 1000.0 / (rate * secs / 1000.0)
    };
    let broker_cpu: Vec<f64> = (0..3)
        .map(|i| per_k(|c| c.0, i, [before, during, after][i]))
        .collect();
    let workers_cpu: Vec<f64> = (0..3)
        .map(|i| per_k(|c| c.1, i, [before, during, after][i]))
        .collect();
    Ok(json!({
        "express": express, "pages": pages.as_str(), "workers": workers, "storm": pushes, "jobs": enqueued, "pushes": version,
        "reloads_logged": reloaded,
        "steady_before_jobs_per_s": before, "storm_jobs_per_s": during,
        "steady_after_jobs_per_s": after,
        "storm_vs_steady": during / steady,
        "lost": enqueued as i64 - seen.len() as i64,
        "half_loaded": seen.values().filter(|(_, half)| *half).count(),
        "topped_up_during_phases": topped_up,
        "broker_cpu_ms_per_1000_jobs": broker_cpu, "workers_cpu_ms_per_1000_jobs": workers_cpu,
    }))
}

/// CPU seconds so far of the broker (`beam.smp`) and of the worker processes `pids`.
fn cpu_now(pids: &[String]) -> (f64, f64) {
    let broker = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .find(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "beam.smp")
        })
        .map_or(0.0, |e| usage::of(&e.file_name().to_string_lossy()).cpu_s);
    let workers = pids.iter().map(|p| usage::of(p).cpu_s).sum();
    (broker, workers)
}
