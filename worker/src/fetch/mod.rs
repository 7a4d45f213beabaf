//! Polite fetching: robots.txt, per-host and global concurrency, a minimum delay between
//! requests to a host, timeouts, a redirect limit, a body size cap and gzip/br decoding.

mod client;
mod politeness;
mod robots;

use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) use client::FetchSettings;
use politeness::Politeness;
use robots::Robots;
use url::Url;

/// A response, whatever its status.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The final URL, after redirects.
    pub(crate) url: String,
    pub(crate) status: u16,
    pub(crate) headers: BTreeMap<String, String>,
    /// The body decoded as a browser decodes it (`crate::sniff`).
    pub(crate) body: String,
    pub(crate) encoding: crawlfleet_engine::PageEncoding,
}

/// Why a fetch produced no response.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum FetchError {
    /// Worth retrying later: connection refused or reset, timeout.
    #[error("{reason}: {error}")]
    Transient { reason: &'static str, error: String },
    /// Retrying will not help: too many redirects, body too large, bad URL, robots.txt.
    #[error("{reason}: {error}")]
    Permanent { reason: &'static str, error: String },
}

pub(crate) struct Fetcher {
    client: reqwest::Client,
    politeness: Politeness,
    robots: Robots,
    max_body: usize,
}

impl Fetcher {
    pub(crate) fn new(settings: &FetchSettings) -> anyhow::Result<Fetcher> {
        Ok(Fetcher {
            client: client::build(settings)?,
            politeness: Politeness::new(
                settings.global_concurrency,
                settings.per_host_concurrency,
                settings.per_host_delay,
            ),
            robots: Robots::new(&settings.user_agent, settings.obey_robots),
            max_body: settings.max_body_bytes,
        })
    }

    /// Whether robots.txt lets us fetch `url` (fetching and caching it first if needed).
    pub(crate) async fn allowed(&self, url: &Url) -> bool {
        self.robots.allowed(self, url).await
    }

    /// Whether `url` is allowed by an already-cached robots.txt (no fetch); `None` when the
    /// host's robots.txt is not known yet.
    pub(crate) fn allowed_cached(&self, url: &Url) -> Option<bool> {
        self.robots.allowed_cached(url)
    }

    /// GETs `url` politely.
    pub(crate) async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        let host = origin(url);
        let delay = self.robots.crawl_delay(url);
        let _permit = self.politeness.acquire(&host, delay).await;
        client::get(&self.client, url, self.max_body).await
    }
}

/// `scheme://host:port`: the unit of politeness and of robots.txt.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// `Retry-After` in seconds, if the response carries one.
pub(crate) fn retry_after(headers: &BTreeMap<String, String>) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}
