//! The run both storm benchmarks (`storm`, `storm-cpu`) make: phases from a start instant,
//! steady and storm alternating (steady, storm, steady, …, steady); a pusher on its own
//! connection pushing every 50 ms through the storms; CPU sampled at each phase boundary;
//! each item counted in the phase its page was fetched in; each storm taken against the
//! mean of its two steady neighbours, which cancels a linear drift.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio_util::task::AbortOnDropHandle;

use crawlfleet_tests::TestBroker;

use crate::clock::now_us;
use crate::workload::Pages;

/// The phases' boundaries, µs since the epoch: `rounds` storms, each between two steady
/// phases of its own.
pub(crate) struct Phases {
    pub(crate) bounds: Vec<i64>,
}

impl Phases {
    /// `2 × rounds + 1` phases of `phase_us` each, the first starting at `t0`.
    pub(crate) fn new(t0: i64, rounds: usize, phase_us: i64) -> Phases {
        let phases = 2 * rounds as i64 + 1;
        Phases {
            bounds: (0..=phases).map(|k| t0 + k * phase_us).collect(),
        }
    }

    /// How many phases there are.
    pub(crate) fn count(&self) -> usize {
        self.bounds.len() - 1
    }

    /// When the last phase ends.
    pub(crate) fn end(&self) -> i64 {
        self.bounds[self.count()]
    }

    /// Jobs per second in each phase, by when their pages were fetched.
    pub(crate) fn rates(&self, seen: &Seen) -> Vec<f64> {
        self.bounds
            .windows(2)
            .map(|w| seen.rate(w[0], w[1]))
            .collect()
    }
}

/// Each storm phase (the odd ones) against the mean of the steady phases on both sides of
/// it: `against(storm, steady)`, one value per round.
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

/// What runs beside the phases: the pusher and the CPU sampler.
pub(crate) struct Beside<T> {
    pushing: AbortOnDropHandle<(TestBroker, u64)>,
    sampling: tokio::task::JoinHandle<Vec<T>>,
}

/// Opens the pusher's own connection to `prefix` and starts it pushing through the storms
/// of `phases` (if `pushes`; relayed on `lane` if any), then the sampler, which calls
/// `sample` with the workers' `pids` at each phase boundary.
pub(crate) async fn beside<T: Send + 'static>(
    prefix: &str,
    phases: &Phases,
    pushes: bool,
    pages: Pages,
    lane: Option<crawlfleet_bus::ExpressLane>,
    pids: Vec<String>,
    sample: impl Fn(&[String]) -> T + Send + 'static,
) -> Beside<T> {
    let pusher = TestBroker::with_prefix(prefix).await;
    let schedule = match pushes {
        true => push_times(&phases.bounds),
        false => Vec::new(),
    };
    Beside {
        pushing: push_on(pusher, schedule, pages, lane),
        sampling: sample_at(phases.bounds.clone(), move || sample(&pids)),
    }
}

impl<T> Beside<T> {
    /// Waits for the last push and the last sample: the pusher (dropping it tears the
    /// prefix down), the last version pushed, and the samples.
    pub(crate) async fn finish(self) -> anyhow::Result<(TestBroker, u64, Vec<T>)> {
        let (pusher, version) = self.pushing.await?;
        let samples = self.sampling.await?;
        Ok((pusher, version, samples))
    }
}

/// Pushes a new version of `bench.r` at each instant of `schedule` (µs since the epoch), on
/// `pusher`'s own connection and relayed on `lane` if any; hands the pusher back (dropping
/// it tears the prefix down) with the last version pushed. Aborted if dropped (Ctrl-C),
/// before the prefix it pushes to is torn down.
fn push_on(
    pusher: TestBroker,
    schedule: Vec<i64>,
    pages: Pages,
    lane: Option<crawlfleet_bus::ExpressLane>,
) -> AbortOnDropHandle<(TestBroker, u64)> {
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

/// Calls `sample` at each instant of `at` (µs since the epoch), on a task of its own.
fn sample_at<T: Send + 'static>(
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

/// Reads items into `seen` until `expected` jobs came back or `limit` passed.
pub(crate) async fn drain(
    broker: &mut TestBroker,
    seen: &mut Seen,
    expected: usize,
    limit: Duration,
) {
    let started = std::time::Instant::now();
    while seen.len() < expected && started.elapsed() < limit {
        seen.record(broker.items(5_000, Duration::from_secs(1)).await);
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn phases_alternate_from_the_start_instant() {
        let phases = super::Phases::new(5, 2, 10);
        assert_eq!(phases.bounds, vec![5, 15, 25, 35, 45, 55]);
        assert_eq!((phases.count(), phases.end()), (5, 55));
    }

    #[test]
    fn each_storm_is_taken_against_its_two_neighbours() {
        let phases = [1.0, 4.0, 3.0, 10.0, 5.0];
        assert_eq!(super::each_storm(&phases, |s, m| s / m), vec![2.0, 2.5]);
        assert_eq!(super::each_storm(&phases, |s, m| s - m), vec![2.0, 6.0]);
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
