//! The broker-backed job loop: consume jobs with manual ack, run each through the crawl
//! pipeline, publish what it produced with publisher confirms, and only then ack.

mod settle;

use std::sync::Arc;

use anyhow::bail;
use crawlfleet_bus::message::Job;
use crawlfleet_bus::{Inbox, Incoming, Outbox};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info_span, warn};

use crate::app::Worker;

pub(crate) async fn run(
    worker: Arc<Worker>,
    mut inbox: Inbox<Job>,
    outbox: Arc<Outbox>,
    tracker: TaskTracker,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let incoming = tokio::select! {
            biased;
            _ = stop.cancelled() => {
                if let Err(e) = inbox.cancel().await {
                    warn!(cause = %e, "cannot cancel the job consumer");
                }
                return Ok(());
            }
            next = inbox.next() => match next {
                None => bail!("the job consumer ended"),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(incoming)) => incoming,
            },
        };
        tracker.spawn(process(Arc::clone(&worker), Arc::clone(&outbox), incoming));
    }
}

async fn process(worker: Arc<Worker>, outbox: Arc<Outbox>, incoming: Incoming<Job>) {
    let Incoming {
        message,
        raw,
        settle,
        ..
    } = incoming;
    let job = match message {
        Ok(job) => job,
        Err(e) => {
            settle::garbage(&worker, &outbox, &raw, &e.to_string(), settle).await;
            return;
        }
    };
    let span = info_span!(
        "job",
        job = %job.id,
        url = %job.url,
        rule = %job.rule,
        rule_version = tracing::field::Empty,
        crawl = %job.crawl,
        depth = job.depth,
    );
    async {
        let deadline = worker.job_deadline;
        let outcome = tokio::time::timeout(deadline, worker.pipeline.process(&worker.store, &job))
            .await
            .unwrap_or_else(|_| {
                crate::crawl::Outcome::retry(
                    "deadline_exceeded",
                    format!("the job ran past its deadline of {} s", deadline.as_secs()),
                )
            });
        settle::outcome(&worker, &outbox, job, outcome, settle).await;
    }
    .instrument(span)
    .await;
}
