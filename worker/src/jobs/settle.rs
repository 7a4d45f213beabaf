//! Settling a job: publish its items and follow-ups, or its retry, or its dead letter, wait
//! for the broker's confirms, and only then ack. If publishing fails (the broker refused it,
//! or a mandatory publish reached no queue), the job is requeued after a pause: nothing it
//! produced is lost, at worst produced twice (with the same ids).

use std::time::Duration;

use crawlfleet_bus::bounds::{MAX_HEADER_VALUE_BYTES, truncate_text};
use crawlfleet_bus::message::{Decode, Encode, Job, MAX_JOB_BYTES};
use crawlfleet_bus::{BusError, Headers, Outbox, Settle};
use tracing::{error, info, warn};

use super::Runner;
use super::policy::{self, Next};
use crate::admin::Settled;
use crate::crawl::{FailReason, JobOutcome};

/// How long a job whose output could not be published waits before it is requeued, so that
/// a missing queue does not become a hot loop of fetches (each such delivery also counts
/// towards the delivery limit).
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);

pub(super) async fn outcome(
    runner: &Runner,
    outbox: &Outbox,
    job: Job,
    outcome: JobOutcome,
    settle: Settle,
) {
    let topology = &runner.topology;
    let metrics = &runner.metrics;
    let published = match policy::next(&job, outcome, runner.max_attempts) {
        Next::Done { items, follow_ups } => {
            let r = async {
                outbox
                    .publish_all(&topology.items_exchange(), "", &items)
                    .await?;
                outbox
                    .publish_all("", &topology.jobs_queue(), &follow_ups)
                    .await
            }
            .await;
            match r {
                Ok(()) => {
                    metrics.job(&job.rule, Settled::Done);
                    metrics.items(&job.rule, items.len());
                    info!(
                        items = items.len(),
                        follow_ups = follow_ups.len(),
                        "job done"
                    );
                    Ok(())
                }
                Err(e @ BusError::TooLarge { .. }) => {
                    let error = e.to_string();
                    dead_letter(runner, outbox, &job, &FailReason::OutputTooLarge, &error).await
                }
                Err(e) => Err(e),
            }
        }
        Next::Retry {
            again,
            level,
            reason,
            error,
        } => {
            let r = outbox
                .publish_all(
                    "",
                    &topology.retry_queue(level),
                    std::slice::from_ref(&again),
                )
                .await;
            if r.is_ok() {
                metrics.job(&job.rule, Settled::Retried);
                let retry_in_ms = policy::retry_delay_ms(level);
                warn!(reason = %reason, cause = %bounded(&error), attempt = again.attempt, retry_in_ms, "job will be retried");
            }
            r
        }
        Next::Dead { reason, error } => dead_letter(runner, outbox, &job, &reason, &error).await,
    };
    finish(runner, &job.rule, published, settle).await;
}

/// A body that is not a job: dead-lettered as it came, with the reason.
pub(super) async fn garbage(
    runner: &Runner,
    outbox: &Outbox,
    raw: &[u8],
    error: &str,
    settle: Settle,
) {
    let rule = claimed_rule(raw);
    let reason = FailReason::InvalidJob;
    let r = dead_letter_raw(runner, outbox, &rule, raw, &reason, error, 0).await;
    finish(runner, &rule, r, settle).await;
}

/// A job delivered `count` times without being settled: dead-lettered as it came, not run.
pub(super) async fn exhausted(
    runner: &Runner,
    outbox: &Outbox,
    raw: &[u8],
    count: u32,
    settle: Settle,
) {
    let rule = claimed_rule(raw);
    let attempt = Job::decode(raw).map_or(0, |j| j.attempt);
    let error = format!(
        "delivered {count} times without being settled (each time a worker crashed or hung \
         on it, or it was requeued); --max-deliveries is {}",
        runner.topology.max_deliveries()
    );
    let reason = FailReason::DeliveryLimit;
    let r = dead_letter_raw(runner, outbox, &rule, raw, &reason, &error, attempt).await;
    finish(runner, &rule, r, settle).await;
}

/// A classic queue's redelivered job: re-published with its delivery count, then acked.
pub(super) async fn recounted(
    runner: &Runner,
    outbox: &Outbox,
    raw: &[u8],
    count: u32,
    settle: Settle,
) {
    let r = super::deliveries::recount(runner, outbox, raw, count).await;
    if r.is_ok() {
        warn!(
            deliveries = count,
            max_deliveries = runner.topology.max_deliveries(),
            "job redelivered; queued again with its delivery count"
        );
    }
    finish(runner, &claimed_rule(raw), r, settle).await;
}

/// The rule a body names, if it is a JSON job of bounded size that names one (for metrics).
fn claimed_rule(raw: &[u8]) -> String {
    if raw.len() > MAX_JOB_BYTES {
        return String::new();
    }
    serde_json::from_slice::<serde_json::Value>(raw)
        .ok()
        .and_then(|j| j["rule"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn dead_letter(
    runner: &Runner,
    outbox: &Outbox,
    job: &Job,
    reason: &FailReason,
    error: &str,
) -> Result<(), BusError> {
    let body = job.encode();
    dead_letter_raw(runner, outbox, &job.rule, &body, reason, error, job.attempt).await
}

async fn dead_letter_raw(
    runner: &Runner,
    outbox: &Outbox,
    rule: &str,
    body: &[u8],
    reason: &FailReason,
    error: &str,
    attempt: u32,
) -> Result<(), BusError> {
    let reason = reason.to_string();
    // The outbox bounds every header; the log line is bounded the same way.
    let headers: Headers = vec![
        ("x-crawlfleet-reason".to_owned(), reason.clone()),
        ("x-crawlfleet-error".to_owned(), error.to_owned()),
        ("x-crawlfleet-attempt".to_owned(), attempt.to_string()),
        ("x-crawlfleet-worker".to_owned(), runner.worker.clone()),
    ];
    let r = outbox
        .publish_bytes("", &runner.topology.dead_queue(), body, None, &headers)
        .await;
    if r.is_ok() {
        runner.metrics.job(rule, Settled::Dead);
        error!(reason = %bounded(&reason), cause = %bounded(error), "job dead-lettered");
    }
    r
}

async fn finish(runner: &Runner, rule: &str, published: Result<(), BusError>, settle: Settle) {
    let settled = match published {
        Ok(()) => settle.ack().await,
        Err(e) => {
            runner.metrics.job(rule, Settled::Requeued);
            match &e {
                BusError::Unroutable {
                    exchange,
                    routing_key,
                    ..
                } => error!(
                    cause = %e,
                    exchange = %exchange,
                    routing_key = %routing_key,
                    "job requeued: what it produced reached no queue"
                ),
                _ => error!(
                    cause = %e,
                    "job requeued: what it produced was not confirmed by the broker"
                ),
            }
            tokio::time::sleep(REQUEUE_PAUSE).await;
            settle.requeue().await
        }
    };
    if let Err(e) = settled {
        warn!(cause = %e, "cannot settle a job; the broker will redeliver it");
    }
}

/// Text from a job or a page, bounded for a log line.
fn bounded(text: &str) -> std::borrow::Cow<'_, str> {
    truncate_text(text, MAX_HEADER_VALUE_BYTES)
}
