//! robots.txt, fetched once per origin and cached for a day (RFC 9309): a 4xx means no
//! rules; a 5xx or a network failure means "disallow everything" until it is fetched again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use texting_robots::Robot;
use tokio::sync::OnceCell;
use url::Url;

use super::{Fetcher, origin};

/// How long a fetched robots.txt is trusted.
const TTL: Duration = Duration::from_secs(24 * 3600);
/// How long an unreachable robots.txt blocks its origin before it is tried again.
const UNREACHABLE_TTL: Duration = Duration::from_secs(60);

enum Rules {
    AllowAll,
    DisallowAll,
    Parsed(Box<Robot>),
}

struct Entry {
    rules: Rules,
    fetched: Instant,
    ttl: Duration,
}

pub(super) struct Robots {
    agent: String,
    enabled: bool,
    cache: Mutex<HashMap<String, Arc<OnceCell<Entry>>>>,
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
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cell(&self, key: &str) -> Arc<OnceCell<Entry>> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let cell = cache.entry(key.to_owned()).or_default();
        if let Some(entry) = cell.get()
            && entry.fetched.elapsed() > entry.ttl
        {
            *cell = Arc::new(OnceCell::new());
        }
        Arc::clone(cell)
    }

    pub(super) async fn allowed(&self, fetcher: &Fetcher, url: &Url) -> bool {
        if !self.enabled || url.path() == "/robots.txt" {
            return true;
        }
        let key = origin(url);
        let cell = self.cell(&key);
        let entry = cell.get_or_init(|| self.fetch(fetcher, url)).await;
        check(&entry.rules, url)
    }

    pub(super) fn allowed_cached(&self, url: &Url) -> Option<bool> {
        if !self.enabled {
            return Some(true);
        }
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = cache.get(&origin(url))?.get()?;
        Some(check(&entry.rules, url))
    }

    /// The origin's `Crawl-delay`, once its robots.txt is known.
    pub(super) fn crawl_delay(&self, url: &Url) -> Option<Duration> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        match &cache.get(&origin(url))?.get()?.rules {
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
        let (rules, ttl) = match fetcher.get(&robots_url).await {
            Ok(r) if (200..300).contains(&r.status) => {
                match Robot::new(&self.agent, r.body.as_bytes()) {
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
            Err(e) => {
                tracing::warn!(url = %robots_url, cause = %e, "robots.txt unreachable; host blocked for now");
                (Rules::DisallowAll, UNREACHABLE_TTL)
            }
        };
        Entry {
            rules,
            fetched: Instant::now(),
            ttl,
        }
    }
}

fn check(rules: &Rules, url: &Url) -> bool {
    match rules {
        Rules::AllowAll => true,
        Rules::DisallowAll => false,
        Rules::Parsed(robot) => robot.allowed(url.as_str()),
    }
}
