//! Items as published: the rule's fields plus where, when and by which rule version.

use crawlfleet_bus::message::{Item, Job};
use crawlfleet_engine::{Rule, sha256_hex};
use serde_json::{Map, Value};

/// Wraps a rule's extracted fields as items of `page_url`.
pub(super) fn build(
    job: &Job,
    rule: &Rule,
    page_url: &str,
    worker: &str,
    fetched_at_ms: u64,
    extracted: Vec<Map<String, Value>>,
) -> Vec<Item> {
    extracted
        .into_iter()
        .map(|fields| Item {
            id: item_id(page_url, &job.rule, &fields),
            crawl: job.crawl.clone(),
            job: job.id.clone(),
            url: page_url.to_owned(),
            rule: job.rule.clone(),
            rule_version: rule.version(),
            rule_sha256: rule.sha256().to_owned(),
            worker: worker.to_owned(),
            fetched_at_ms,
            fields,
        })
        .collect()
}

/// 32 hex digits of sha256(url, rule, fields as canonical JSON with sorted keys): the same
/// page, rule and item always give the same id, so redelivery duplicates are recognisable.
pub(crate) fn item_id(url: &str, rule: &str, fields: &Map<String, Value>) -> String {
    let canonical = serde_json::to_string(fields).unwrap_or_default();
    let mut hash = sha256_hex(format!("{url}\n{rule}\n{canonical}").as_bytes());
    hash.truncate(32);
    hash
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::item_id;

    fn fields(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn ids_are_stable_and_distinguish_items() {
        let a = item_id("http://x/1", "shop.p", &fields(json!({"sku": "A", "p": 1})));
        let same = item_id("http://x/1", "shop.p", &fields(json!({"p": 1, "sku": "A"})));
        let other = item_id("http://x/1", "shop.p", &fields(json!({"sku": "B", "p": 1})));
        assert_eq!(a, same);
        assert_ne!(a, other);
        assert_eq!(a.len(), 32);
    }
}
