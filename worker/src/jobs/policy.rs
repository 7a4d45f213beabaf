//! The retry policy, one for the broker worker and `worker crawl`: a transient failure is
//! tried again after a delay that grows with the attempt (or the first one that waits out
//! `Retry-After`), until the job has had `max_attempts`; after that, and for a permanent
//! failure, the job is dead.

use std::time::Duration;

use crawlfleet_bus::RETRY_DELAYS_MS;
use crawlfleet_bus::message::{Item, Job};

use crate::crawl::{FailReason, JobOutcome};

/// What is to become of a job, given what became of its attempt.
#[derive(Debug)]
pub(crate) enum Next {
    /// Publish (or write) what it produced.
    Done {
        items: Vec<Item>,
        follow_ups: Vec<Job>,
    },
    /// Run `again` (the job with its attempt raised) after the delay of retry level `level`.
    Retry {
        again: Job,
        level: usize,
        reason: FailReason,
        error: String,
    },
    /// Dead-letter it with this reason.
    Dead { reason: FailReason, error: String },
}

/// What to do next with `job`, whose attempt came to `outcome`.
pub(crate) fn next(job: &Job, outcome: JobOutcome, max_attempts: u32) -> Next {
    // The attempt this one was, counted without overflow whatever the job said.
    let attempts = u64::from(job.attempt) + 1;
    match outcome {
        JobOutcome::Done { items, follow_ups } => Next::Done { items, follow_ups },
        JobOutcome::Retry {
            reason,
            error,
            after,
        } if attempts < u64::from(max_attempts) => {
            let mut again = job.clone();
            // attempts < max_attempts <= u32::MAX: the next attempt fits.
            again.attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
            Next::Retry {
                again,
                level: retry_level(job.attempt, after),
                reason,
                error,
            }
        }
        JobOutcome::Retry { reason, error, .. } => Next::Dead {
            reason: FailReason::GaveUp {
                last: Box::new(reason),
                attempts,
            },
            error,
        },
        JobOutcome::Dead { reason, error } => Next::Dead { reason, error },
    }
}

/// How long retry level `level` waits.
pub(crate) fn retry_delay(level: usize) -> Duration {
    Duration::from_millis(retry_delay_ms(level))
}

/// How long retry level `level` waits, in milliseconds (as logs report it).
pub(crate) fn retry_delay_ms(level: usize) -> u64 {
    RETRY_DELAYS_MS[level.min(RETRY_DELAYS_MS.len() - 1)]
}

/// The retry level for the next attempt: exponential by attempt, or the first level that
/// waits at least `Retry-After`.
fn retry_level(attempt: u32, after: Option<Duration>) -> usize {
    let last = RETRY_DELAYS_MS.len() - 1;
    match after {
        Some(after) => RETRY_DELAYS_MS
            .iter()
            .position(|ms| Duration::from_millis(*ms) >= after)
            .unwrap_or(last),
        None => usize::try_from(attempt).unwrap_or(last).min(last),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(attempt: u32) -> Job {
        Job {
            id: "j".to_owned(),
            url: "http://a/".to_owned(),
            rule: "r".to_owned(),
            depth: 0,
            meta: serde_json::json!({}),
            attempt,
            crawl: "c".to_owned(),
            max_depth: None,
        }
    }

    fn transient() -> JobOutcome {
        JobOutcome::retry(FailReason::Http(503), "503")
    }

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        assert_eq!(retry_level(0, None), 0);
        assert_eq!(retry_level(2, None), 2);
        assert_eq!(retry_level(50, None), RETRY_DELAYS_MS.len() - 1);
        assert_eq!(retry_level(u32::MAX, None), RETRY_DELAYS_MS.len() - 1);
        assert_eq!(retry_level(0, Some(Duration::from_secs(3))), 2);
        assert_eq!(
            retry_level(0, Some(Duration::from_secs(3600))),
            RETRY_DELAYS_MS.len() - 1
        );
    }

    #[test]
    fn transient_failures_are_retried_until_the_last_attempt() {
        match next(&job(1), transient(), 3) {
            Next::Retry { again, level, .. } => assert_eq!((again.attempt, level), (2, 1)),
            other => panic!("not a retry: {other:?}"),
        }
        match next(&job(2), transient(), 3) {
            Next::Dead { reason, .. } => {
                assert_eq!(reason.to_string(), "http_503 (gave up after 3 attempts)");
            }
            other => panic!("not dead: {other:?}"),
        }
        match next(&job(u32::MAX), transient(), u32::MAX) {
            Next::Dead { reason, .. } => {
                assert_eq!(
                    reason.to_string(),
                    "http_503 (gave up after 4294967296 attempts)"
                );
            }
            other => panic!("not dead: {other:?}"),
        }
    }
}
