//! Polite, guarded fetching: the destination policy (public addresses only, unless allowed),
//! robots.txt, per-host and global concurrency, a minimum delay between requests to a host,
//! timeouts, redirects followed one checked hop at a time, a body size cap and gzip/br.

mod client;
mod policy;
mod politeness;
mod resolver;
mod robots;
mod robots_cache;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use client::Answer;
pub(crate) use client::FetchSettings;
pub(crate) use policy::Policy;
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

/// Why a fetch produced no response; `label` is the reason a failed job carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchReason {
    Timeout,
    Connect,
    Network,
    TooManyRedirects,
    BadRedirect,
    BodyTooLarge,
    BadUrl,
    /// The destination is not a public address and private hosts are not allowed.
    DestinationRefused,
    /// A redirect hop leads where robots.txt disallows.
    RobotsDisallowed,
}

impl FetchReason {
    pub(crate) fn label(self) -> &'static str {
        match self {
            FetchReason::Timeout => "timeout",
            FetchReason::Connect => "connect",
            FetchReason::Network => "network",
            FetchReason::TooManyRedirects => "too_many_redirects",
            FetchReason::BadRedirect => "bad_redirect",
            FetchReason::BodyTooLarge => "body_too_large",
            FetchReason::BadUrl => "bad_url",
            FetchReason::DestinationRefused => "destination_refused",
            FetchReason::RobotsDisallowed => "robots_disallowed",
        }
    }

    /// Whether trying again later may help.
    fn transient(self) -> bool {
        matches!(
            self,
            FetchReason::Timeout | FetchReason::Connect | FetchReason::Network
        )
    }
}

impl std::fmt::Display for FetchReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Why a fetch produced no response.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum FetchError {
    /// Worth retrying later: connection refused or reset, timeout.
    #[error("{reason}: {error}")]
    Transient { reason: FetchReason, error: String },
    /// Retrying will not help: too many redirects, body too large, bad URL, robots.txt.
    #[error("{reason}: {error}")]
    Permanent { reason: FetchReason, error: String },
}

impl FetchError {
    fn new(reason: FetchReason, error: String) -> FetchError {
        if reason.transient() {
            FetchError::Transient { reason, error }
        } else {
            FetchError::permanent(reason, error)
        }
    }

    fn permanent(reason: FetchReason, error: String) -> FetchError {
        FetchError::Permanent { reason, error }
    }

    pub(crate) fn reason(&self) -> FetchReason {
        match self {
            FetchError::Transient { reason, .. } | FetchError::Permanent { reason, .. } => *reason,
        }
    }
}

/// A boxed fetch, for robots.txt (which a fetch may itself be waiting on).
type Fetching<'a> = Pin<Box<dyn Future<Output = Result<Fetched, FetchError>> + Send + 'a>>;

pub(crate) struct Fetcher {
    client: reqwest::Client,
    policy: Policy,
    politeness: Politeness,
    robots: Robots,
    max_body: usize,
    max_redirects: usize,
}

impl Fetcher {
    pub(crate) fn new(settings: &FetchSettings) -> anyhow::Result<Fetcher> {
        Ok(Fetcher {
            client: client::build(settings)?,
            policy: Policy {
                allow_private: settings.allow_private_hosts,
            },
            politeness: Politeness::new(
                settings.global_concurrency,
                settings.per_host_concurrency,
                settings.per_host_delay,
            ),
            robots: Robots::new(&settings.user_agent, settings.obey_robots),
            max_body: settings.max_body_bytes,
            max_redirects: settings.max_redirects,
        })
    }

    /// Whether robots.txt lets us fetch `url` (fetching and caching it first if needed).
    /// A destination the policy refuses needs no robots.txt: its fetch is refused with that
    /// reason.
    pub(crate) async fn allowed(&self, url: &Url) -> bool {
        if self.policy.check_url(url).is_err() {
            return true;
        }
        self.robots.allowed(self, url).await
    }

    /// Whether `url` is allowed by an already-cached robots.txt (no fetch); `None` when the
    /// host's robots.txt is not known yet.
    pub(crate) fn allowed_cached(&self, url: &Url) -> Option<bool> {
        self.robots.allowed_cached(url)
    }

    /// GETs `url` politely, following redirects. Every hop, the first included, must pass
    /// the destination policy and robots.txt; each waits for its own host's turn.
    pub(crate) async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.follow(url, true).await
    }

    /// Like `get`, without asking robots.txt: for robots.txt itself.
    fn get_robots_txt<'a>(&'a self, url: &'a Url) -> Fetching<'a> {
        Box::pin(self.follow(url, false))
    }

    async fn follow(&self, url: &Url, obey_robots: bool) -> Result<Fetched, FetchError> {
        let mut url = url.clone();
        for hop in 0..=self.max_redirects {
            if let Err(refused) = self.policy.check_url(&url) {
                return Err(FetchError::permanent(
                    FetchReason::DestinationRefused,
                    refused.to_string(),
                ));
            }
            if obey_robots && !self.robots.allowed(self, &url).await {
                return Err(FetchError::permanent(
                    FetchReason::RobotsDisallowed,
                    format!("robots.txt disallows {url} (after {hop} redirects)"),
                ));
            }
            let answer = {
                let delay = self.robots.crawl_delay(&url);
                let _permit = self.politeness.acquire(&origin(&url), delay).await;
                client::get(&self.client, &url, self.max_body).await?
            };
            match answer {
                Answer::Response(fetched) => return Ok(fetched),
                Answer::Redirect(location) => {
                    let next = next_hop(&url, &location)?;
                    tracing::debug!(from = %url, to = %next, hop = hop + 1, "following a redirect");
                    url = next;
                }
            }
        }
        Err(FetchError::permanent(
            FetchReason::TooManyRedirects,
            format!("more than {} redirects", self.max_redirects),
        ))
    }
}

/// Where a redirect from `from` to `location` leads: an http(s) URL without fragment.
fn next_hop(from: &Url, location: &str) -> Result<Url, FetchError> {
    match from.join(location) {
        Ok(mut to) if matches!(to.scheme(), "http" | "https") && to.has_host() => {
            to.set_fragment(None);
            Ok(to)
        }
        _ => Err(FetchError::permanent(
            FetchReason::BadRedirect,
            format!("{from} redirects to `{location}`, not an http(s) URL"),
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher(allow_private_hosts: bool) -> Fetcher {
        Fetcher::new(&FetchSettings {
            user_agent: "crawlfleet-test".to_owned(),
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            max_redirects: 5,
            max_body_bytes: 1024,
            global_concurrency: 4,
            per_host_concurrency: 1,
            per_host_delay: Duration::ZERO,
            obey_robots: true,
            allow_private_hosts,
        })
        .expect("fetcher")
    }

    #[tokio::test]
    async fn private_destinations_are_refused_by_literal_and_by_name() {
        let f = fetcher(false);
        for url in [
            "http://127.0.0.1:9/x",
            "http://[::1]:9/",
            "http://localhost:9/x",
        ] {
            let url = Url::parse(url).expect("url");
            assert!(f.allowed(&url).await, "no robots.txt asked of {url}");
            let e = f.get(&url).await.expect_err("refused");
            assert_eq!(e.reason().label(), "destination_refused", "{url}: {e}");
            assert!(matches!(e, FetchError::Permanent { .. }), "{e}");
        }
        // Allowed, the same fetch gets as far as connecting (nothing listens on port 9: its
        // robots.txt is unreachable, so the page is not fetched).
        let open = fetcher(true);
        let e = open
            .get(&Url::parse("http://127.0.0.1:9/x").expect("url"))
            .await
            .expect_err("nothing listens");
        assert_eq!(e.reason().label(), "robots_disallowed", "{e}");
    }

    #[test]
    fn redirects_lead_only_to_http_urls() {
        let from = Url::parse("http://a.test/x/y?q#f").expect("url");
        let to = |l: &str| next_hop(&from, l).map(|u| u.to_string());
        assert_eq!(to("/z#frag").expect("hop"), "http://a.test/z");
        assert_eq!(to("z").expect("hop"), "http://a.test/x/z");
        assert_eq!(to("https://b.test/").expect("hop"), "https://b.test/");
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ftp://b.test/",
            "http://",
        ] {
            assert_eq!(
                next_hop(&from, bad).expect_err(bad).reason().label(),
                "bad_redirect",
                "{bad}"
            );
        }
    }
}
