//! The worker's metrics, counted where things happen (jobs, fetches, rule calls, reloads,
//! readiness), and their rendering in the Prometheus text format (version 0.0.4) for the
//! admin endpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crawlfleet_bus::message::ReloadStatus;
use crawlfleet_engine::RuleStore;

use super::stalls::Stalls;

/// Seconds: 1 ms … 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Seconds: 10 µs … 1 s, for Lua calls and reloads.
const FAST_BUCKETS: &[f64] = &[
    0.00001, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
];

/// Distinct values a counter's first label (a rule or module name, which comes from
/// messages) takes before further ones are counted together under [`OTHER`]: a stream of
/// jobs naming random rules must not grow the exposition without end.
const MAX_FIRST_LABELS: usize = 256;

/// The first label's value once [`MAX_FIRST_LABELS`] are in use; not a valid module name,
/// so it never collides with one.
const OTHER: &str = "(other)";

/// Longest label value kept, in bytes; a longer one is cut (at a character boundary) and
/// ends with [`TRUNCATED`], so a huge name from a message cannot bloat the exposition.
const MAX_LABEL_BYTES: usize = 128;

/// The marker ending a truncated label value.
const TRUNCATED: &str = "…(truncated)";

/// `value`, cut to [`MAX_LABEL_BYTES`] with the [`TRUNCATED`] marker if it is longer.
fn bounded(value: &str) -> String {
    if value.len() <= MAX_LABEL_BYTES {
        return value.to_owned();
    }
    let mut end = MAX_LABEL_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED}", &value[..end])
}

/// A counter with `N` labels; the first is bounded by [`MAX_FIRST_LABELS`], every value by
/// [`MAX_LABEL_BYTES`].
struct Counter<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    values: Mutex<Series<N>>,
}

struct Series<const N: usize> {
    counts: BTreeMap<[String; N], u64>,
    firsts: BTreeSet<String>,
}

impl<const N: usize> Counter<N> {
    const fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Counter<N> {
        Counter {
            name,
            help,
            labels,
            values: Mutex::new(Series {
                counts: BTreeMap::new(),
                firsts: BTreeSet::new(),
            }),
        }
    }

    fn add(&self, labels: [&str; N], n: u64) {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key = labels.map(bounded);
        if !values.firsts.contains(&key[0]) {
            if values.firsts.len() < MAX_FIRST_LABELS {
                values.firsts.insert(key[0].clone());
            } else {
                key[0] = OTHER.to_owned();
            }
        }
        *values.counts.entry(key).or_default() += n;
    }

    /// The sum over every series whose label `index` is `value`.
    fn total_where(&self, index: usize, value: &str) -> u64 {
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        values
            .counts
            .iter()
            .filter(|(k, _)| k[index] == value)
            .map(|(_, v)| v)
            .sum()
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} counter",
            self.name, self.help, self.name
        );
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, v) in values.counts.iter() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .zip(key)
                .map(|(label, value)| format!("{label}=\"{}\"", escape(value)))
                .collect();
            let _ = writeln!(out, "{}{{{}}} {v}", self.name, labels.join(","));
        }
    }
}

struct Histogram {
    name: &'static str,
    help: &'static str,
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new(name: &'static str, help: &'static str, bounds: &'static [f64]) -> Histogram {
        Histogram {
            name,
            help,
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String) {
        let n = self.name;
        let _ = writeln!(out, "# HELP {n} {}\n# TYPE {n} histogram", self.help);
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "{n}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{n}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{n}_sum {sum}\n{n}_count {count}");
    }
}

/// How a job was settled: the `outcome` label of `crawlfleet_jobs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    Done,
    Retried,
    Dead,
    /// Its output was not confirmed (refused, unroutable, connection lost): back to the queue.
    Requeued,
}

impl Settled {
    fn label(self) -> &'static str {
        match self {
            Settled::Done => "done",
            Settled::Retried => "retried",
            Settled::Dead => "dead",
            Settled::Requeued => "requeued",
        }
    }
}

/// The `outcome` label of `crawlfleet_reloads_total`.
fn reload_label(status: ReloadStatus) -> &'static str {
    match status {
        ReloadStatus::Applied => "applied",
        ReloadStatus::Unchanged => "unchanged",
        ReloadStatus::Failed => "failed",
        ReloadStatus::Skipped => "skipped",
    }
}

/// Everything a worker measures.
pub(crate) struct Metrics {
    jobs: Counter<2>,
    items: Counter<1>,
    reloads: Counter<2>,
    fetch: Histogram,
    reload: Histogram,
    lua: Histogram,
    connected: AtomicBool,
    ready: AtomicBool,
    /// Rule calls in flight, for `/healthz` and the oldest call's age.
    pub(crate) stalls: Stalls,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            jobs: Counter::new(
                "crawlfleet_jobs_total",
                "Jobs settled, by rule and outcome (done, retried, dead).",
                ["rule", "outcome"],
            ),
            // Not by rule version: every push would add a series for good. The live version
            // of each rule is `crawlfleet_rule_version_info`.
            items: Counter::new(
                "crawlfleet_items_total",
                "Items published, by rule.",
                ["rule"],
            ),
            reloads: Counter::new(
                "crawlfleet_reloads_total",
                "Rule updates handled, by module and outcome.",
                ["module", "outcome"],
            ),
            fetch: Histogram::new(
                "crawlfleet_fetch_duration_seconds",
                "Time to fetch a page, politeness waits included.",
                LATENCY_BUCKETS,
            ),
            reload: Histogram::new(
                "crawlfleet_reload_duration_seconds",
                "Time from receiving an update to its outcome.",
                FAST_BUCKETS,
            ),
            lua: Histogram::new(
                "crawlfleet_lua_call_duration_seconds",
                "Time of one call of a rule's parse.",
                FAST_BUCKETS,
            ),
            connected: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            stalls: Stalls::default(),
        }
    }
}

impl Metrics {
    pub(crate) fn job(&self, rule: &str, settled: Settled) {
        self.jobs.add([rule, settled.label()], 1);
    }

    /// Jobs settled so, all rules together.
    pub(crate) fn jobs_with(&self, settled: Settled) -> u64 {
        self.jobs.total_where(1, settled.label())
    }

    pub(crate) fn items(&self, rule: &str, n: usize) {
        if n > 0 {
            self.items.add([rule], n as u64);
        }
    }

    pub(crate) fn reload(&self, module: &str, status: ReloadStatus, took: Duration) {
        self.reloads.add([module, reload_label(status)], 1);
        self.reload.observe(took);
    }

    pub(crate) fn fetch(&self, took: Duration) {
        self.fetch.observe(took);
    }

    pub(crate) fn lua_call(&self, took: Duration) {
        self.lua.observe(took);
    }

    /// Connected to the broker, with rules loaded and consumers running.
    pub(crate) fn set_ready(&self, ready: bool) {
        self.connected.store(ready, Ordering::Relaxed);
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// The whole text exposition; rule versions come from the live rule set.
    pub(crate) fn render(&self, store: Option<&RuleStore>) -> String {
        let mut out = String::with_capacity(4096);
        self.jobs.render(&mut out);
        self.items.render(&mut out);
        self.reloads.render(&mut out);
        self.fetch.render(&mut out);
        self.reload.render(&mut out);
        self.lua.render(&mut out);
        let _ = writeln!(
            out,
            "# HELP crawlfleet_rule_version_info The live version of each module.\n# TYPE crawlfleet_rule_version_info gauge"
        );
        if let Some(store) = store {
            for m in store.snapshot().modules() {
                let _ = writeln!(
                    out,
                    "crawlfleet_rule_version_info{{module=\"{}\",version=\"{}\",sha256=\"{}\"}} 1",
                    escape(&bounded(m.name.as_str())),
                    m.version,
                    m.sha256
                );
            }
        }
        let oldest = self.stalls.oldest().unwrap_or_default().as_secs_f64();
        let _ = writeln!(
            out,
            "# HELP crawlfleet_rule_call_oldest_seconds How long the oldest rule call in flight has run.\n# TYPE crawlfleet_rule_call_oldest_seconds gauge\ncrawlfleet_rule_call_oldest_seconds {oldest}"
        );
        let connected = u8::from(self.connected.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "# HELP crawlfleet_broker_connected Whether the worker holds a working broker session.\n# TYPE crawlfleet_broker_connected gauge\ncrawlfleet_broker_connected {connected}"
        );
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_escapes_labels() {
        let m = Metrics::default();
        m.job("shop.a", Settled::Done);
        m.job("shop.a", Settled::Done);
        m.items("we\"ird", 2);
        m.fetch(Duration::from_millis(30));
        m.job("shop.b", Settled::Done);
        m.job("shop.b", Settled::Dead);
        assert_eq!(
            (m.jobs_with(Settled::Done), m.jobs_with(Settled::Dead)),
            (3, 1)
        );
        let text = m.render(None);
        assert!(
            text.contains("crawlfleet_jobs_total{rule=\"shop.a\",outcome=\"done\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("crawlfleet_items_total{rule=\"we\\\"ird\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("crawlfleet_fetch_duration_seconds_bucket{le=\"0.05\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("crawlfleet_fetch_duration_seconds_bucket{le=\"0.025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("crawlfleet_fetch_duration_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("crawlfleet_broker_connected 0"), "{text}");
    }

    #[test]
    fn rule_labels_from_messages_are_bounded() {
        let m = Metrics::default();
        for k in 0..MAX_FIRST_LABELS + 50 {
            m.job(&format!("junk.r{k}"), Settled::Dead);
        }
        m.job("junk.r0", Settled::Dead);
        let text = m.render(None);
        let series = text
            .lines()
            .filter(|l| l.starts_with("crawlfleet_jobs_total{"))
            .count();
        assert_eq!(series, MAX_FIRST_LABELS + 1, "{text}");
        assert!(
            text.contains("crawlfleet_jobs_total{rule=\"(other)\",outcome=\"dead\"} 50"),
            "{text}"
        );
        assert!(
            text.contains("crawlfleet_jobs_total{rule=\"junk.r0\",outcome=\"dead\"} 2"),
            "{text}"
        );
        // A name seen before the bound keeps its own series for every outcome.
        m.job("junk.r1", Settled::Done);
        assert!(
            m.render(None)
                .contains("crawlfleet_jobs_total{rule=\"junk.r1\",outcome=\"done\"} 1")
        );
        assert_eq!(m.jobs_with(Settled::Dead), MAX_FIRST_LABELS as u64 + 51);
    }

    #[test]
    fn long_label_values_are_truncated_with_a_marker() {
        let m = Metrics::default();
        let long = format!("é{}", "r".repeat(100_000));
        m.job(&long, Settled::Done);
        m.job(&format!("{long}-other"), Settled::Done);
        m.job("short", Settled::Done);
        let text = m.render(None);
        let line = text
            .lines()
            .find(|l| l.contains(TRUNCATED))
            .expect("a truncated series");
        let value = bounded(&long);
        assert!(value.len() <= MAX_LABEL_BYTES + TRUNCATED.len(), "{value}");
        assert!(value.starts_with("ér") && value.ends_with(TRUNCATED));
        assert_eq!(
            line,
            format!("crawlfleet_jobs_total{{rule=\"{value}\",outcome=\"done\"}} 2")
        );
        assert_eq!(bounded("short"), "short");
        // Cut inside a multi-byte character: the cut moves back to its start.
        let wide = "é".repeat(MAX_LABEL_BYTES);
        assert!(bounded(&wide).starts_with(&"é".repeat(MAX_LABEL_BYTES / 2)));
    }
}
