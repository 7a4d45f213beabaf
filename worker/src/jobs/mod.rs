//! The broker-backed job loop: consume jobs with manual ack, dead-letter those delivered too
//! often (`deliveries.rs`), run the others (`attempt.rs`), publish what each produced, or its
//! retry or dead letter (`policy.rs` decides which), with publisher confirms, and only then
//! ack (`settle.rs`).

pub(crate) mod attempt;
mod deliveries;
pub(crate) mod policy;
mod settle;

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use crawlfleet_bus::message::Job;
use crawlfleet_bus::{Inbox, Incoming, Outbox, Topology};
use crawlfleet_engine::RuleStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, warn};

use crate::admin::Metrics;
use crate::crawl::Pipeline;
use deliveries::Verdict;

/// The longest the job channel is kept open after the consumer stopped, for the jobs in
/// flight to ack (the drain's grace is shorter).
const HOLD_INBOX_AFTER_STOP: std::time::Duration = std::time::Duration::from_secs(600);

/// What the job loop holds, across broker sessions: the pipeline that runs a job, the rules
/// it runs, and what settling needs.
pub(crate) struct Runner {
    /// This worker's id, named in the dead letters it writes.
    pub(crate) worker: String,
    pub(crate) topology: Topology,
    pub(crate) pipeline: Pipeline,
    /// Shared with the control plane, which reloads the rules in it.
    pub(crate) store: Arc<RuleStore>,
    /// Attempts of a job before a transient failure dead-letters it.
    pub(crate) max_attempts: u32,
    /// How long one job (fetch + rule) may take before it is failed and settled.
    pub(crate) deadline: Duration,
    pub(crate) metrics: Arc<Metrics>,
}

pub(crate) async fn run(
    runner: Arc<Runner>,
    mut inbox: Inbox<Job>,
    outbox: Arc<Outbox>,
    tracker: TaskTracker,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    // Cancelled by a job that found the outbox's channel closed by the broker: no job can be
    // settled on it any more, so the session ends and the next one opens a fresh channel.
    let outbox_lost = CancellationToken::new();
    loop {
        let incoming = tokio::select! {
            biased;
            _ = stop.cancelled() => {
                if let Err(e) = inbox.cancel().await {
                    warn!(cause = %e, "cannot cancel the job consumer");
                }
                // The jobs still running ack through the inbox's channel: dropping it now
                // would close the channel under them, and the broker would run them again.
                // It is kept until the drain ends (bounded, should the tracker never close).
                let drained = tracker.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(HOLD_INBOX_AFTER_STOP, drained.wait()).await;
                    drop(inbox);
                });
                return Ok(());
            }
            _ = outbox_lost.cancelled() => bail!("the broker closed the job outbox's channel"),
            next = inbox.next() => match next {
                None => bail!("the job consumer ended"),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(incoming)) => incoming,
            },
        };
        let (runner, outbox, lost) = (
            Arc::clone(&runner),
            Arc::clone(&outbox),
            outbox_lost.clone(),
        );
        tracker.spawn(async move {
            process(&runner, &outbox, incoming).await;
            if !outbox.is_open() {
                lost.cancel();
            }
        });
    }
}

async fn process(runner: &Runner, outbox: &Outbox, incoming: Incoming<Job>) {
    let Incoming {
        message,
        raw,
        headers,
        redelivered,
        delivery_count,
        settle,
        ..
    } = incoming;
    let max = runner.topology.max_deliveries();
    match deliveries::verdict(delivery_count, redelivered, &headers, max) {
        Verdict::Run => {}
        Verdict::Exhausted(count) => {
            settle::exhausted(runner, outbox, &raw, count, settle).await;
            return;
        }
        Verdict::Recount(count) => {
            settle::recounted(runner, outbox, &raw, count, settle).await;
            return;
        }
    }
    let job = match message {
        Ok(job) => job,
        Err(e) => {
            settle::garbage(runner, outbox, &raw, &e.to_string(), settle).await;
            return;
        }
    };
    let span = attempt::span(&job);
    async {
        let deadline = Some(runner.deadline);
        let outcome = attempt::run(&runner.pipeline, &runner.store, &job, deadline).await;
        settle::outcome(runner, outbox, job, outcome, settle).await;
    }
    .instrument(span)
    .await;
}
