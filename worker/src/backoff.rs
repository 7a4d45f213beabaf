//! Capped exponential backoff with jitter, for reconnecting to the broker.

use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The wait before the next attempt: `min * 2^attempt`, capped, then jittered down by up
    /// to half so that a fleet does not reconnect in lockstep.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.attempt.min(20));
        self.attempt += 1;
        let base = self.min.saturating_mul(factor).min(self.max);
        let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32; // 0..1000 per mille
        base - base.mul_f64(f64::from(jitter) / 2000.0)
    }

    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_its_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let full = Duration::from_millis(100 * 2u64.pow(i as u32)).min(Duration::from_secs(2));
            assert!(
                *d <= full && *d >= full / 2,
                "attempt {i}: {d:?} vs {full:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
