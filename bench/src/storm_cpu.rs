//! Reload storm at a fixed offered load: jobs are fed at a steady rate the fleet keeps up
//! with, so every phase does the same job work, and what a storm adds shows as CPU rather
//! than as lost throughput. The machine's busy CPU per second in each storm, against the
//! mean of the steady phases on both sides, is the storm's cost in CPU while jobs flow;
//! as a share of the cores it is what a saturated fleet would lose to the same storm.

use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::now_us;
use crate::phases::{Phases, Seen};
use crate::workload::Pages;

/// Length of each phase.
const PHASE_US: i64 = 10_000_000;
/// Warm-up at the offered rate before the first phase.
const WARM_US: i64 = 5_000_000;
/// Jobs are fed every this many µs.
const TICK_US: i64 = 10_000;

pub async fn run(
    workers: usize,
    rounds: usize,
    pushes: bool,
    offered: usize,
    pages: Pages,
) -> anyhow::Result<Value> {
    anyhow::ensure!(rounds >= 1, "--rounds: at least 1");
    anyhow::ensure!(offered >= 100, "--offered: at least 100 jobs/s");
    let crate::fleet::Fleet {
        mut broker,
        site,
        workers: procs,
        rules: _rules,
    } = crate::fleet::start("bench-storm-cpu", workers, false, 0, pages).await?;

    let phases = Phases::new(now_us() + WARM_US, rounds, PHASE_US);
    let end = phases.end();
    // The feeder publishes `offered` jobs a second in ticks, on its own connection, from
    // now to the end; it hands its connection back with how many it published.
    let feeder = crawlfleet_tests::TestBroker::with_prefix(&broker.prefix).await;
    let feeding = tokio_util::task::AbortOnDropHandle::new(tokio::spawn(async move {
        let start = now_us();
        let mut fed = 0usize;
        let mut tick = 0i64;
        while start + tick * TICK_US < end {
            tick += 1;
            let due = usize::try_from(tick * TICK_US)? * offered / 1_000_000;
            if due > fed {
                feeder
                    .enqueue(&pages.jobs(&site, due - fed, &format!("cpu-{fed}")))
                    .await;
                fed = due;
            }
            let wait = (start + tick * TICK_US).saturating_sub(now_us()).max(0) as u64;
            tokio::time::sleep(Duration::from_micros(wait)).await;
        }
        anyhow::Ok((feeder, fed))
    }));
    // At each boundary: the machine's busy CPU, the broker's and the workers'.
    let pids: Vec<String> = procs.iter().map(|w| w.pid().to_string()).collect();
    let beside =
        crate::phases::beside(&broker.prefix, &phases, pushes, pages, None, pids, |pids| {
            [
                crate::cpu::machine_busy_s(),
                crate::cpu::broker_s(),
                crate::cpu::of_s(pids),
            ]
        })
        .await;

    let mut seen = Seen::default();
    while now_us() < end {
        seen.record(broker.items(2_000, Duration::from_millis(100)).await);
    }
    let (_feeder, fed) = feeding.await??;
    let (_pusher, version, cpu) = beside.finish().await?;
    crate::phases::drain(&mut broker, &mut seen, fed, Duration::from_secs(60)).await;
    drop(procs);
    broker.cleanup().await;

    let secs = PHASE_US as f64 / 1e6;
    let rates = phases.rates(&seen);
    // CPU-ms per second in each phase, for the machine, the broker and the workers.
    let per_s = |who: usize| -> Vec<f64> {
        (0..phases.count())
            .map(|k| (cpu[k + 1][who] - cpu[k][who]) * 1000.0 / secs)
            .collect()
    };
    let (machine, broker_cpu, workers_cpu) = (per_s(0), per_s(1), per_s(2));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let machine_extra = storm_vs_neighbours(&machine);
    Ok(json!({
        "workers": workers, "rounds": rounds, "storm": pushes, "pages": pages.as_str(),
        "offered_jobs_per_s": offered, "jobs": fed, "pushes": version,
        "jobs_per_s_by_phase": rates,
        // Below the offered rate in some phase: the fleet was saturated, and the CPU
        // comparison does not hold.
        "kept_up": rates.iter().all(|r| *r >= 0.97 * offered as f64),
        "machine_busy_ms_per_s_by_phase": machine,
        "broker_cpu_ms_per_s_by_phase": broker_cpu,
        "workers_cpu_ms_per_s_by_phase": workers_cpu,
        "storm_extra_machine_ms_per_s_by_round": machine_extra,
        "storm_extra_machine_ms_per_s": mean(&machine_extra),
        "storm_extra_broker_ms_per_s": mean(&storm_vs_neighbours(&broker_cpu)),
        "storm_extra_workers_ms_per_s": mean(&storm_vs_neighbours(&workers_cpu)),
        "storm_share_of_cores": mean(&machine_extra) / (crate::cpu::cores() * 1000.0),
        "lost": fed as i64 - seen.len() as i64,
        "half_loaded": seen.half_loaded(),
    }))
}

/// What each storm phase adds to its steady neighbours' mean: one value per round.
pub(crate) fn storm_vs_neighbours(phases: &[f64]) -> Vec<f64> {
    crate::phases::each_storm(phases, |storm, steady| storm - steady)
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_storm_phase_is_taken_against_its_two_neighbours() {
        let phases = [1.0, 4.0, 3.0, 10.0, 5.0];
        assert_eq!(super::storm_vs_neighbours(&phases), vec![2.0, 6.0]);
        assert!(super::storm_vs_neighbours(&[1.0]).is_empty());
    }
}
