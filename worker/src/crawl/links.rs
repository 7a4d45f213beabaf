//! From the links a rule returned to the ones to follow: resolve and normalise, ask the
//! rule's `follow` hook (or stay on the crawl's host: the job's own, whatever a redirect led
//! to), skip what a cached robots.txt disallows, and give each its follow-up id. No I/O: the
//! pipeline claims them (dedup) and makes the jobs.

use std::collections::HashSet;
use std::sync::Arc;

use crawlfleet_engine::{LinkRequest, Rule, sha256_hex};
use tracing::debug;
use url::Url;

use super::normalize;

/// The page links were found on: the base they resolve against and the encoding their
/// queries are percent-encoded in (the page's, as browsers do).
#[derive(Debug, Clone)]
pub(crate) struct FoundOn {
    pub(crate) url: Url,
    pub(crate) encoding: &'static encoding_rs::Encoding,
}

/// A link resolved against its page and normalised for the rule it targets.
pub(crate) struct Candidate {
    pub(crate) url: Url,
    pub(crate) rule: String,
    pub(crate) meta: serde_json::Value,
}

/// Resolves `links` found on `page` by `rule`: each is normalised with the `keep_query` of
/// the rule it targets (`rule` itself unless the link names another). Links that are not
/// http(s) URLs are dropped (and logged at debug level).
pub(crate) fn resolve(
    links: Vec<LinkRequest>,
    page: &FoundOn,
    rule: &Rule,
    rule_of: impl Fn(&str) -> Option<Arc<Rule>>,
) -> Vec<Candidate> {
    let mut out = Vec::with_capacity(links.len());
    for link in links {
        let target = link.rule.unwrap_or_else(|| rule.name().to_string());
        let target_rule = rule_of(&target);
        let keep = target_rule
            .as_deref()
            .unwrap_or(rule)
            .settings()
            .keep_query
            .clone();
        match normalize(&link.url, Some(&page.url), keep.as_deref(), page.encoding) {
            Some(url) => out.push(Candidate {
                url,
                rule: target,
                meta: link.meta.unwrap_or_else(|| serde_json::json!({})),
            }),
            None => debug!(href = %link.url, "link skipped: not an http(s) URL"),
        }
    }
    out
}

/// Which candidates to follow: the rule's `follow(url, ctx)` hook decides when it has one,
/// otherwise links stay on the host of `crawl_url` (the job's URL, not where a redirect
/// led). Blocking when there is a hook (it runs Lua).
pub(crate) fn verdicts(
    rule: &Rule,
    candidates: &[Candidate],
    crawl_url: &Url,
    ctx: &serde_json::Value,
) -> Result<Vec<bool>, crawlfleet_engine::CallError> {
    if rule.settings().has_follow {
        let urls: Vec<String> = candidates.iter().map(|c| c.url.to_string()).collect();
        rule.follow(&urls, ctx)
    } else {
        Ok(candidates
            .iter()
            .map(|c| c.url.host_str() == crawl_url.host_str())
            .collect())
    }
}

/// The candidates the verdicts follow and a cached robots.txt does not disallow, each with
/// its follow-up id, once per id (the first one wins): linear in the number of links.
pub(super) fn to_follow(
    candidates: Vec<Candidate>,
    verdicts: Vec<bool>,
    parent: &str,
    robots: impl Fn(&Url) -> Option<bool>,
) -> Vec<(String, Candidate)> {
    let mut ids = HashSet::new();
    let mut out = Vec::new();
    for (candidate, follow) in candidates.into_iter().zip(verdicts) {
        if !follow {
            continue;
        }
        if robots(&candidate.url) == Some(false) {
            debug!(url = %candidate.url, "link skipped: disallowed by robots.txt");
            continue;
        }
        let id = follow_up_id(parent, candidate.url.as_str());
        if ids.insert(id.clone()) {
            out.push((id, candidate));
        }
    }
    out
}

/// Deterministic: a redelivered parent creates the same follow-ups, with the same ids.
fn follow_up_id(parent: &str, url: &str) -> String {
    let mut id = sha256_hex(format!("{parent}\n{url}").as_bytes());
    id.truncate(24);
    format!("j-{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(url: &str) -> Candidate {
        Candidate {
            url: Url::parse(url).expect("url"),
            rule: "r".to_owned(),
            meta: serde_json::json!({}),
        }
    }

    #[test]
    fn each_link_is_followed_once_unless_refused() {
        let urls = [
            "http://a/1",
            "http://a/2",
            "http://a/1",
            "http://a/no",
            "http://a/3",
            "http://a/2",
        ];
        let candidates = urls.iter().map(|u| candidate(u)).collect();
        let verdicts = vec![true, true, true, true, false, true];
        let robots = |u: &Url| Some(u.path() != "/no");
        let kept: Vec<String> = to_follow(candidates, verdicts, "p", robots)
            .into_iter()
            .map(|(id, c)| {
                assert_eq!(id, follow_up_id("p", c.url.as_str()));
                c.url.to_string()
            })
            .collect();
        assert_eq!(kept, ["http://a/1", "http://a/2"]);
    }
}
