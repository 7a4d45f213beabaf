//! robots.txt, fetched once per origin and cached for a day (RFC 9309): a 4xx means no
//! rules; a 5xx or a network failure means "disallow everything" until it is fetched again.
//! The cache is bounded (`robots_cache.rs`); only the first 500 KiB of a file are read.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use texting_robots::Robot;
use url::Url;

use super::robots_cache::{Cache, Cached};
use super::{FetchReason, Fetcher, origin};

/// How long a fetched robots.txt is trusted.
const TTL: Duration = Duration::from_secs(24 * 3600);
/// How long an unreachable robots.txt blocks its origin before it is tried again.
const UNREACHABLE_TTL: Duration = Duration::from_secs(60);
/// Bytes of a robots.txt parsed; the rest is ignored (RFC 9309 §2.5 allows 500 KiB).
const MAX_ROBOTS_BYTES: usize = 500 * 1024;
/// Origins whose robots.txt is kept at once.
const MAX_ORIGINS: usize = 4096;
/// Bytes of robots.txt kept, all origins together.
const MAX_CACHED_BYTES: usize = 32 * 1024 * 1024;

enum Rules {
    AllowAll,
    DisallowAll,
    Parsed(Box<Robot>),
}

struct Entry {
    rules: Rules,
    fetched: Instant,
    ttl: Duration,
    /// Bytes of robots.txt the rules were parsed from.
    bytes: usize,
}

impl Cached for Entry {
    fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.fetched) > self.ttl
    }

    fn weight(&self) -> usize {
        // The parsed rules hold about as much as their source, and an entry costs a little.
        self.bytes + 256
    }
}

pub(super) struct Robots {
    agent: String,
    enabled: bool,
    cache: Mutex<Cache<Entry>>,
}

impl Robots {
    pub(super) fn new(user_agent: &str, enabled: bool) -> Robots {
        // Match on the product token: "crawlfleet/0.1 (+url)" → "crawlfleet".
        let agent = user_agent
            .split(['/', ' '])
            .next()
            .unwrap_or(user_agent)
            .to_owned();
        Robots {
            agent,
            enabled,
            cache: Mutex::new(Cache::new(MAX_ORIGINS, MAX_CACHED_BYTES)),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache<Entry>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) async fn allowed(&self, fetcher: &Fetcher, url: &Url) -> bool {
        if !self.enabled || url.path() == "/robots.txt" {
            return true;
        }
        let key = origin(url);
        let cell = self.cache().cell(&key, Instant::now());
        let entry = cell.get_or_init(|| self.fetch(fetcher, url)).await;
        let allowed = check(&entry.rules, url);
        self.cache().settle(&key, &cell);
        allowed
    }

    pub(super) fn allowed_cached(&self, url: &Url) -> Option<bool> {
        if !self.enabled {
            return Some(true);
        }
        let cache = self.cache();
        let entry = cache.get(&origin(url), Instant::now())?;
        Some(check(&entry.rules, url))
    }

    /// The origin's `Crawl-delay`, once its robots.txt is known.
    pub(super) fn crawl_delay(&self, url: &Url) -> Option<Duration> {
        let cache = self.cache();
        match &cache.get(&origin(url), Instant::now())?.rules {
            Rules::Parsed(robot) => robot
                .delay
                .filter(|d| d.is_finite() && *d > 0.0)
                .map(|d| Duration::from_secs_f32(d.min(60.0))),
            _ => None,
        }
    }

    async fn fetch(&self, fetcher: &Fetcher, url: &Url) -> Entry {
        let mut robots_url = url.clone();
        robots_url.set_path("/robots.txt");
        robots_url.set_query(None);
        robots_url.set_fragment(None);
        let mut bytes = 0;
        let (rules, ttl) = match fetcher.get_robots_txt(&robots_url).await {
            Ok(r) if (200..300).contains(&r.status) => {
                let text = head(&r.body, MAX_ROBOTS_BYTES);
                bytes = text.len();
                match Robot::new(&self.agent, text.as_bytes()) {
                    Ok(robot) => (Rules::Parsed(Box::new(robot)), TTL),
                    Err(e) => {
                        tracing::warn!(url = %robots_url, cause = %e, "robots.txt unreadable; no rules");
                        (Rules::AllowAll, TTL)
                    }
                }
            }
            Ok(r) if (400..500).contains(&r.status) => (Rules::AllowAll, TTL),
            Ok(r) => {
                tracing::warn!(url = %robots_url, status = r.status, "robots.txt unreachable; host blocked for now");
                (Rules::DisallowAll, UNREACHABLE_TTL)
            }
            // A destination the policy refuses: the fetch it was asked for is refused too,
            // with that reason. A redirect into one is a redirect that cannot be followed,
            // which RFC 9309 treats as "unavailable": no rules.
            Err(e) if e.reason() == FetchReason::DestinationRefused => {
                (Rules::AllowAll, UNREACHABLE_TTL)
            }
            Err(e) => {
                tracing::warn!(url = %robots_url, cause = %e, "robots.txt unreachable; host blocked for now");
                (Rules::DisallowAll, UNREACHABLE_TTL)
            }
        };
        Entry {
            rules,
            fetched: Instant::now(),
            ttl,
            bytes,
        }
    }
}

/// The first `max` bytes of `text` at most, cut at a line end when there is one.
fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &text[..end];
    cut.rfind('\n').map_or(cut, |n| &cut[..=n])
}

fn check(rules: &Rules, url: &Url) -> bool {
    match rules {
        Rules::AllowAll => true,
        Rules::DisallowAll => false,
        Rules::Parsed(robot) => robot.allowed(url.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_head_of_a_huge_robots_txt_is_read() {
        assert_eq!(head("User-agent: *\n", 100), "User-agent: *\n");
        let huge = "Disallow: /x\n".repeat(100_000);
        let kept = head(&huge, MAX_ROBOTS_BYTES);
        assert!(kept.len() <= MAX_ROBOTS_BYTES && kept.ends_with('\n'));
        assert_eq!(head("ééé", 3), "é");
    }
}
