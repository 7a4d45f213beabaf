//! A crawl job for one page, as the tests enqueue it, what its item says, and what a worker
//! logs when it runs it.

use std::time::Duration;

use crawlfleet_bus::message::{Item, Job};
use serde_json::Value;

use crate::{TestBroker, TestSite, WorkerProc};

/// Job `id`: `url` parsed by `rule`, at depth 0, following no links.
pub fn page_job(id: &str, url: String, rule: &str) -> Job {
    Job {
        id: id.to_owned(),
        url,
        rule: rule.to_owned(),
        depth: 0,
        meta: serde_json::json!({}),
        attempt: 0,
        crawl: "c-test".to_owned(),
        max_depth: Some(0),
    }
}

/// The `tag` field and rule version of the first of `items`: what the tests' rules stamp on
/// an item, to show which version ran.
pub fn tag_and_version(items: &[Item]) -> Option<(Option<&str>, u64)> {
    items
        .first()
        .map(|i| (i.fields["tag"].as_str(), i.rule_version))
}

/// Enqueues one job on a one-page site for rule `rule` and returns the items it yields (waiting
/// up to 10 s): what the tests run to see which version new jobs get.
pub async fn one_job(broker: &mut TestBroker, id: &str, rule: &str) -> Vec<Item> {
    let site = TestSite::one_page().await;
    broker.enqueue(&[page_job(id, site.url("/x"), rule)]).await;
    broker.items(1, Duration::from_secs(10)).await
}

/// Enqueues `jobs` and waits up to `timeout` for `worker` to log `message`, which it
/// returns (panics with the worker's log otherwise): what the tests run to see a job reach
/// a given step.
pub async fn enqueue_until_logged(
    broker: &TestBroker,
    jobs: &[Job],
    worker: &WorkerProc,
    message: &str,
    timeout: Duration,
) -> Value {
    broker.enqueue(jobs).await;
    worker.wait_for(message, |_| true, timeout).await
}
