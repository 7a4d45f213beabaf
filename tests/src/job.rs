//! A crawl job for one page, as the tests enqueue it.

use crawlfleet_bus::message::Job;

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
