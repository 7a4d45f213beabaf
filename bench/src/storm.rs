//! Reload storm: 20 pushes/s for 10 s while jobs flow. Job throughput during the storm vs
//! the steady state on both sides of it, jobs lost, and jobs run on a half-loaded rule (an
//! item whose `v`, set by the rule's top level, differs from the rule version it is stamped
//! with). With several rounds, storms and steady phases alternate and each storm is compared
//! with its two neighbours: the mean of those ratios is steadier than one storm's.
//!
//! Throughput is counted where it happens: each item is put in the phase its page was fetched
//! in (`fetched_at_ms`, stamped by the worker), not the phase the bench happened to read it in.
//! The job queue is filled before the phases with more than they use (publishing jobs costs
//! the broker about as much as delivering them, so feeding during the phases would halve the
//! throughput measured); a safety net tops it up should it run low, and says so.

use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::now_us;
use crate::phases::{Phases, Seen};
use crate::workload::Pages;

/// Jobs enqueued before the phases: more than 4 workers do in the warm-up and ...
const PRELOAD_BASE: usize = 100_000;
/// ... this many per phase (4 workers take up to ~7 000 tiny jobs/s on this machine).
const PRELOAD_PER_PHASE: usize = 70_000;
/// Should the queue run this low anyway, it is topped up (and `topped_up` says so).
const BACKLOG: usize = 20_000;
/// Jobs enqueued at a time when the backlog runs low.
const BATCH: usize = 8_000;
/// Warm-up per 100 000 jobs preloaded.
const WARM_US_PER_100K: i64 = 4_000_000;
/// Length of each phase.
const PHASE: Duration = Duration::from_secs(10);

/// One run of `rounds` storms, each between two steady phases: `pushes` says whether the
/// storm phases get their pushes (off: an A/A run that checks the harness itself, whose
/// ratio should be 1).
pub async fn run(
    workers: usize,
    rounds: usize,
    pushes: bool,
    express: bool,
    pages: Pages,
) -> anyhow::Result<Value> {
    anyhow::ensure!(rounds >= 1, "--rounds: at least 1");
    let crate::fleet::Fleet {
        mut broker,
        site,
        workers: procs,
        rules: _rules,
    } = crate::fleet::start("bench-storm", workers, express, 0, pages).await?;
    let lane = crate::fleet::lane(express, &broker)?;

    let mut seen = Seen::default();
    let mut enqueued = 0usize;
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

    // Warm up while the broker settles after taking the preload (it is slower for a while
    // after a bigger one: 8 s left the first phase of a 3-round run a third short), then
    // phases of `PHASE`: steady, storm, steady, storm, ..., steady.
    let preload = PRELOAD_BASE + PRELOAD_PER_PHASE * (2 * rounds + 1);
    feed(&broker, 0, preload).await;
    let mut topped_up = 0usize;
    let warm_until = now_us() + WARM_US_PER_100K * i64::try_from(preload.div_ceil(100_000))?;
    while now_us() < warm_until {
        let items = broker.items(2_000, Duration::from_millis(100)).await;
        seen.record(items);
        topped_up += feed(&broker, seen.len(), BACKLOG).await;
    }
    let phase_us = i64::try_from(PHASE.as_micros())?;
    let t0 = now_us();
    let phases = Phases::new(t0, rounds, phase_us);
    let end = phases.end();
    // The pushes keep their own schedule on their own connection, whatever the consuming and
    // feeding below are doing; the CPU of the broker and of the workers is sampled at each
    // phase boundary: where a storm's cost lands.
    let pids: Vec<String> = procs.iter().map(|w| w.pid().to_string()).collect();
    let beside =
        crate::phases::beside(&broker.prefix, &phases, pushes, pages, lane, pids, |pids| {
            (crate::cpu::broker_s(), crate::cpu::of_s(pids))
        })
        .await;
    while now_us() < end {
        let items = broker.items(2_000, Duration::from_millis(100)).await;
        seen.record(items);
        topped_up += feed(&broker, seen.len(), BACKLOG).await;
    }
    let (pusher, version, cpu) = beside.finish().await?;
    let _ = broker.replies(usize::MAX, Duration::from_millis(500)).await;

    // Drain: every job enqueued must produce its item.
    crate::phases::drain(&mut broker, &mut seen, enqueued, Duration::from_secs(180)).await;
    let reloaded: usize = procs.iter().map(|w| w.events("rule reloaded").len()).sum();
    drop(procs);
    broker.cleanup().await;
    drop(pusher);

    let rates = phases.rates(&seen);
    // Second by second over the phases: how the rate drifts within and across them.
    let by_second: Vec<f64> = (t0..end)
        .step_by(1_000_000)
        .map(|from| seen.rate(from, from + 1_000_000))
        .collect();
    let ratios = crate::phases::each_storm(&rates, |storm, steady| storm / steady);
    // CPU-ms per 1000 jobs in each phase, for the broker and for the workers together.
    let per_k = |who: fn(&(f64, f64)) -> f64| -> Vec<f64> {
        let secs = phase_us as f64 / 1e6;
        (0..phases.count())
            .map(|k| (who(&cpu[k + 1]) - who(&cpu[k])) * 1000.0 / (rates[k] * secs / 1000.0))
            .collect()
    };
    let (broker_cpu, workers_cpu) = (per_k(|c| c.0), per_k(|c| c.1));
    Ok(json!({
        "express": express, "pages": pages.as_str(), "workers": workers, "storm": pushes, "jobs": enqueued, "pushes": version,
        "reloads_logged": reloaded, "rounds": rounds,
        "jobs_per_s_by_phase": rates,
        "jobs_per_s_by_second": by_second,
        "storm_vs_steady_by_round": ratios,
        "storm_vs_steady": ratios.iter().sum::<f64>() / rounds as f64,
        "lost": enqueued as i64 - seen.len() as i64,
        "half_loaded": seen.half_loaded(),
        "topped_up_during_phases": topped_up,
        "broker_cpu_ms_per_1000_jobs": broker_cpu, "workers_cpu_ms_per_1000_jobs": workers_cpu,
    }))
}
