//! The anatomy of a push: where the time to its last worker went, to tell a delay before
//! the workers (the pusher, the relay, the network stack) from one worker's wait for a core.

use serde_json::{Value, json};

/// One worker's arrival of a push, in ms from its publish.
pub struct Arrival {
    /// When the worker took the message (live, less its own share).
    pub receipt_ms: f64,
    /// The worker's own share, from taking the message to the swap.
    pub apply_ms: f64,
    /// Which copy made the version live: `express` or `push` (the broker's).
    pub via: String,
}

impl Arrival {
    fn live_ms(&self) -> f64 {
        self.receipt_ms + self.apply_ms
    }
}

/// One push, seen from its pusher and all of its workers.
pub struct Anatomy {
    all_live_ms: f64,
    first_receipt_ms: f64,
    median_receipt_ms: f64,
    last: Arrival,
    /// With the express lane: when the broker had the message (the relay began), and when
    /// Redis answered the relay.
    relay_ms: Option<(f64, f64)>,
    confirm_ms: f64,
}

impl Anatomy {
    /// `arrivals` holds one entry per worker (at least one).
    pub fn of(
        mut arrivals: Vec<Arrival>,
        relay_ms: Option<(f64, f64)>,
        confirm_ms: f64,
    ) -> Anatomy {
        arrivals.sort_by(|a, b| a.receipt_ms.total_cmp(&b.receipt_ms));
        let receipt = |i: usize| arrivals.get(i).map_or(0.0, |a| a.receipt_ms);
        let (first_receipt_ms, median_receipt_ms) = (receipt(0), receipt(arrivals.len() / 2));
        let last = arrivals
            .into_iter()
            .max_by(|a, b| a.live_ms().total_cmp(&b.live_ms()))
            .unwrap_or(Arrival {
                receipt_ms: 0.0,
                apply_ms: 0.0,
                via: String::new(),
            });
        Anatomy {
            all_live_ms: last.live_ms(),
            first_receipt_ms,
            median_receipt_ms,
            last,
            relay_ms,
            confirm_ms,
        }
    }

    /// The `n` pushes slowest to reach their last worker, slowest first.
    pub fn slowest(mut all: Vec<Anatomy>, n: usize) -> Value {
        all.sort_by(|a, b| b.all_live_ms.total_cmp(&a.all_live_ms));
        let round = |x: f64| (x * 100.0).round() / 100.0;
        all.iter()
            .take(n)
            .map(|a| {
                json!({
                    "all_live_ms": round(a.all_live_ms),
                    "broker_had_it_ms": a.relay_ms.map(|r| round(r.0)),
                    "relayed_ms": a.relay_ms.map(|r| round(r.1)),
                    "first_receipt_ms": round(a.first_receipt_ms),
                    "median_receipt_ms": round(a.median_receipt_ms),
                    "last_receipt_ms": round(a.last.receipt_ms),
                    "last_apply_ms": round(a.last.apply_ms),
                    "last_via": a.last.via,
                    "confirm_ms": round(a.confirm_ms),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Anatomy, Arrival};

    fn arrival(receipt_ms: f64, apply_ms: f64) -> Arrival {
        Arrival {
            receipt_ms,
            apply_ms,
            via: "express".into(),
        }
    }

    #[test]
    fn the_last_worker_is_the_last_live_not_the_last_to_take_it() {
        // The second took it last (9 ms) but applied fast; the first was preempted mid-apply.
        let a = Anatomy::of(
            vec![arrival(2.0, 30.0), arrival(9.0, 0.5), arrival(1.0, 0.2)],
            Some((0.3, 1.0)),
            5.0,
        );
        let v = Anatomy::slowest(vec![a], 5);
        assert_eq!(v[0]["all_live_ms"], 32.0);
        assert_eq!(v[0]["last_receipt_ms"], 2.0);
        assert_eq!(v[0]["last_apply_ms"], 30.0);
        assert_eq!(v[0]["first_receipt_ms"], 1.0);
        assert_eq!(v[0]["median_receipt_ms"], 2.0);
        assert_eq!(v[0]["relayed_ms"], 1.0);
    }

    #[test]
    fn slowest_first_and_no_more_than_asked() {
        let all = [3.0, 40.0, 7.0, 25.0]
            .into_iter()
            .map(|ms| Anatomy::of(vec![arrival(ms, 0.0)], None, 1.0))
            .collect();
        let v = Anatomy::slowest(all, 2);
        let live: Vec<&serde_json::Value> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| &p["all_live_ms"])
            .collect();
        assert_eq!(live, [40.0, 25.0]);
        assert!(v[0]["relayed_ms"].is_null());
    }
}
