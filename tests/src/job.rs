//! A crawl job for one page, as the tests enqueue it, and what its item says.

use crawlfleet_bus::message::{Item, Job};

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
