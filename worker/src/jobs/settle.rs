//! Settling a job: publish its items and follow-ups, or its retry, or its dead letter, wait
//! for the broker's confirms, and only then ack. If publishing fails, the job is requeued:
//! nothing it produced is lost, at worst produced twice (with the same ids).

use std::time::Duration;

use crawlfleet_bus::message::{Encode, Job};
use crawlfleet_bus::{BusError, Headers, Outbox, RETRY_DELAYS_MS, Settle};
use tracing::{error, info, warn};

use crate::app::Worker;
use crate::crawl::Outcome;

pub(super) async fn outcome(
    worker: &Worker,
    outbox: &Outbox,
    mut job: Job,
    outcome: Outcome,
    settle: Settle,
) {
    let topology = &worker.topology;
    let published = match outcome {
        Outcome::Done { items, follow_ups } => {
            let r = async {
                outbox
                    .publish_all(&topology.items_exchange(), "", &items)
                    .await?;
                outbox
                    .publish_all("", &topology.jobs_queue(), &follow_ups)
                    .await
            }
            .await;
            if r.is_ok() {
                let metrics = &worker.pipeline.metrics;
                metrics.job(&job.rule, "done");
                metrics.items(&job.rule, items.len());
                info!(
                    items = items.len(),
                    follow_ups = follow_ups.len(),
                    "job done"
                );
            }
            r
        }
        Outcome::Retry {
            reason,
            error,
            after,
        } if job.attempt + 1 < worker.max_attempts => {
            let level = retry_level(job.attempt, after);
            job.attempt += 1;
            let r = outbox
                .publish_all("", &topology.retry_queue(level), std::slice::from_ref(&job))
                .await;
            if r.is_ok() {
                worker.pipeline.metrics.job(&job.rule, "retried");
                warn!(reason, cause = %error, attempt = job.attempt, retry_in_ms = RETRY_DELAYS_MS[level], "job will be retried");
            }
            r
        }
        Outcome::Retry { reason, error, .. } => {
            let reason = format!("{reason} (gave up after {} attempts)", job.attempt + 1);
            dead_letter(
                worker,
                outbox,
                &job.rule,
                &job.encode(),
                &reason,
                &error,
                job.attempt,
            )
            .await
        }
        Outcome::Dead { reason, error } => {
            dead_letter(
                worker,
                outbox,
                &job.rule,
                &job.encode(),
                &reason,
                &error,
                job.attempt,
            )
            .await
        }
    };
    finish(published, settle).await;
}

/// A body that is not a job: dead-lettered as it came, with the reason.
pub(super) async fn garbage(
    worker: &Worker,
    outbox: &Outbox,
    raw: &[u8],
    error: &str,
    settle: Settle,
) {
    // Counted under the rule the body claims, if it is JSON that names one.
    let rule = serde_json::from_slice::<serde_json::Value>(raw)
        .ok()
        .and_then(|j| j["rule"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let r = dead_letter(worker, outbox, &rule, raw, "invalid_job", error, 0).await;
    finish(r, settle).await;
}

async fn dead_letter(
    worker: &Worker,
    outbox: &Outbox,
    rule: &str,
    body: &[u8],
    reason: &str,
    error: &str,
    attempt: u32,
) -> Result<(), BusError> {
    let headers: Headers = vec![
        ("x-crawlfleet-reason".to_owned(), reason.to_owned()),
        ("x-crawlfleet-error".to_owned(), error.to_owned()),
        ("x-crawlfleet-attempt".to_owned(), attempt.to_string()),
        ("x-crawlfleet-worker".to_owned(), worker.identity.id.clone()),
    ];
    let r = outbox
        .publish_bytes("", &worker.topology.dead_queue(), body, None, &headers)
        .await;
    if r.is_ok() {
        worker.pipeline.metrics.job(rule, "dead");
        error!(reason, cause = %error, "job dead-lettered");
    }
    r
}

async fn finish(published: Result<(), BusError>, settle: Settle) {
    let settled = match published {
        Ok(()) => settle.ack().await,
        Err(e) => {
            error!(cause = %e, "job requeued: what it produced was not confirmed by the broker");
            settle.requeue().await
        }
    };
    if let Err(e) = settled {
        warn!(cause = %e, "cannot settle a job; the broker will redeliver it");
    }
}

/// The retry queue for the next attempt: exponential by attempt, or the first level that
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

    #[test]
    fn backoff_doubles_and_honours_retry_after() {
        assert_eq!(retry_level(0, None), 0);
        assert_eq!(retry_level(2, None), 2);
        assert_eq!(retry_level(50, None), RETRY_DELAYS_MS.len() - 1);
        assert_eq!(retry_level(0, Some(Duration::from_secs(3))), 2);
        assert_eq!(
            retry_level(0, Some(Duration::from_secs(3600))),
            RETRY_DELAYS_MS.len() - 1
        );
    }
}
