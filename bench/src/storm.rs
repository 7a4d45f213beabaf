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

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use tokio_util::task::AbortOnDropHandle;

use crate::clock::now_us;
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
    let phases = 2 * rounds + 1;
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
    let preload = PRELOAD_BASE + PRELOAD_PER_PHASE * phases;
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
    let bounds: Vec<i64> = (0..=phases as i64).map(|k| t0 + k * phase_us).collect();
    let end = bounds[phases];
    // The pushes keep their own schedule on their own connection, whatever the consuming and
    // feeding below are doing. Dropping a `TestBroker` tears the prefix down, so the pusher
    // is handed back and kept until the end.
    let pusher = crawlfleet_tests::TestBroker::with_prefix(&broker.prefix).await;
    let schedule = match pushes {
        true => push_times(&bounds),
        false => Vec::new(),
    };
    let pushing = push_on(pusher, schedule, pages, lane);
    // CPU of the broker and of the workers at each phase boundary: where a storm's cost lands.
    let pids: Vec<String> = procs.iter().map(|w| w.pid().to_string()).collect();
    let sampling = sample_at(bounds.clone(), move || {
        (crate::cpu::broker_s(), crate::cpu::of_s(&pids))
    });
    while now_us() < end {
        let items = broker.items(2_000, Duration::from_millis(100)).await;
        seen.record(items);
        topped_up += feed(&broker, seen.len(), BACKLOG).await;
    }
    let (pusher, version) = pushing.await?;
    let cpu = sampling.await?;
    let _ = broker.replies(usize::MAX, Duration::from_millis(500)).await;

    // Drain: every job enqueued must produce its item.
    let drain_started = std::time::Instant::now();
    while seen.len() < enqueued && drain_started.elapsed() < Duration::from_secs(180) {
        let items = broker.items(5_000, Duration::from_secs(1)).await;
        seen.record(items);
    }
    let reloaded: usize = procs.iter().map(|w| w.events("rule reloaded").len()).sum();
    drop(procs);
    broker.cleanup().await;
    drop(pusher);

    let rates: Vec<f64> = bounds.windows(2).map(|w| seen.rate(w[0], w[1])).collect();
    // Second by second over the phases: how the rate drifts within and across them.
    let by_second: Vec<f64> = (t0..end)
        .step_by(1_000_000)
        .map(|from| seen.rate(from, from + 1_000_000))
        .collect();
    let ratios = each_storm(&rates, |storm, steady| storm / steady);
    // CPU-ms per 1000 jobs in each phase, for the broker and for the workers together.
    let per_k = |who: fn(&(f64, f64)) -> f64| -> Vec<f64> {
        let secs = phase_us as f64 / 1e6;
        (0..phases)
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

/// Each storm phase (the odd ones) against the mean of the steady phases on both sides of
/// it, which cancels a linear drift: `against(storm, steady)`, one value per round.
pub(crate) fn each_storm(phases: &[f64], against: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    phases
        .windows(3)
        .step_by(2)
        .map(|w| against(w[1], (w[0] + w[2]) / 2.0))
        .collect()
}

/// A push every 50 ms (20 a second) through each storm: the odd phases between `bounds`.
pub(crate) fn push_times(bounds: &[i64]) -> Vec<i64> {
    bounds
        .windows(2)
        .skip(1)
        .step_by(2)
        .flat_map(|phase| (phase[0]..phase[1]).step_by(50_000))
        .collect()
}

/// Pushes a new version of `bench.r` at each instant of `schedule` (µs since the epoch), on
/// `pusher`'s own connection and relayed on `lane` if any; hands the pusher back (dropping
/// it tears the prefix down) with the last version pushed. Aborted if dropped (Ctrl-C),
/// before the prefix it pushes to is torn down.
pub(crate) fn push_on(
    pusher: crawlfleet_tests::TestBroker,
    schedule: Vec<i64>,
    pages: Pages,
    lane: Option<crawlfleet_bus::ExpressLane>,
) -> AbortOnDropHandle<(crawlfleet_tests::TestBroker, u64)> {
    AbortOnDropHandle::new(tokio::spawn(async move {
        let mut version = 0u64;
        for at in schedule {
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
        (pusher, version)
    }))
}

/// What came back of each job, by id: when its page was fetched (`fetched_at_ms`) and
/// whether an item of it ran on a half-loaded rule (its `v`, set by the rule's top level,
/// differs from the version it is stamped with).
#[derive(Default)]
pub(crate) struct Seen(HashMap<String, (u64, bool)>);

impl Seen {
    pub(crate) fn record(&mut self, items: Vec<crawlfleet_bus::message::Item>) {
        for item in items {
            let half = item.fields.get("v").and_then(Value::as_u64) != Some(item.rule_version);
            let entry = self
                .0
                .entry(item.job)
                .or_insert((item.fetched_at_ms, false));
            entry.1 |= half;
        }
    }

    /// Jobs seen so far.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Jobs per second whose page was fetched in `[from, to)` (µs since the epoch).
    pub(crate) fn rate(&self, from: i64, to: i64) -> f64 {
        let window = from / 1000..to / 1000;
        let n = self
            .0
            .values()
            .filter(|(at, _)| window.contains(&(*at as i64)));
        n.count() as f64 / ((to - from) as f64 / 1e6)
    }

    pub(crate) fn half_loaded(&self) -> usize {
        self.0.values().filter(|(_, half)| *half).count()
    }
}

/// Calls `sample` at each instant of `at` (µs since the epoch), on a task of its own.
pub(crate) fn sample_at<T: Send + 'static>(
    at: Vec<i64>,
    sample: impl Fn() -> T + Send + 'static,
) -> tokio::task::JoinHandle<Vec<T>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        for instant in at {
            let wait = instant.saturating_sub(now_us()).max(0) as u64;
            tokio::time::sleep(Duration::from_micros(wait)).await;
            samples.push(sample());
        }
        samples
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_storm_is_taken_against_its_two_neighbours() {
        let phases = [1.0, 4.0, 3.0, 10.0, 5.0];
        assert_eq!(super::each_storm(&phases, |s, m| s / m), vec![2.0, 2.5]);
        assert!(super::each_storm(&[1.0], |s, m| s - m).is_empty());
    }

    #[test]
    fn pushes_every_50_ms_through_the_odd_phases_only() {
        let bounds = [
            0, 10_000_000, 20_000_000, 30_000_000, 40_000_000, 50_000_000,
        ];
        let at = super::push_times(&bounds);
        assert_eq!(at.len(), 400);
        assert_eq!((at[0], at[199]), (10_000_000, 19_950_000));
        assert_eq!((at[200], at[399]), (30_000_000, 39_950_000));
    }
}
