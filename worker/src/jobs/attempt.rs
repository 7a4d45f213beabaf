//! One attempt at a job, wherever it came from (the broker or `worker crawl`'s queue): in
//! the job's span, through the crawl pipeline, failed as `deadline_exceeded` should it run
//! past its deadline.

use std::time::Duration;

use crawlfleet_bus::bounds::{MAX_HEADER_VALUE_BYTES, truncate_text};
use crawlfleet_bus::message::Job;
use crawlfleet_engine::RuleStore;
use tracing::{Span, info_span};

use crate::crawl::{FailReason, JobOutcome, Pipeline};

/// The span of a job's log lines; its fields come from the job, bounded.
pub(crate) fn span(job: &Job) -> Span {
    info_span!(
        "job",
        job = %truncate_text(&job.id, MAX_HEADER_VALUE_BYTES),
        url = %truncate_text(&job.url, MAX_HEADER_VALUE_BYTES),
        rule = %truncate_text(&job.rule, MAX_HEADER_VALUE_BYTES),
        rule_version = tracing::field::Empty,
        crawl = %truncate_text(&job.crawl, MAX_HEADER_VALUE_BYTES),
        depth = job.depth,
    )
}

/// Runs `job` on the rules live in `store`, within `deadline` when there is one; call it in
/// the job's [`span`].
pub(crate) async fn run(
    pipeline: &Pipeline,
    store: &RuleStore,
    job: &Job,
    deadline: Option<Duration>,
) -> JobOutcome {
    let Some(deadline) = deadline else {
        return pipeline.process(store, job).await;
    };
    tokio::time::timeout(deadline, pipeline.process(store, job))
        .await
        .unwrap_or_else(|_| {
            JobOutcome::retry(
                FailReason::DeadlineExceeded,
                format!("the job ran past its deadline of {} s", deadline.as_secs()),
            )
        })
}
