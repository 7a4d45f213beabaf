//! The HTTP client (reqwest on rustls, resolving through the destination policy, following
//! no redirect itself) and one request: a response read under a size cap (decoded by
//! `crate::sniff`), or a redirect.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::policy::{Policy, Refused};
use super::resolver::PolicyResolver;
use super::{FetchError, FetchReason, Fetched};

/// Fetch settings, from the worker's config.
#[derive(Debug, Clone)]
pub(crate) struct FetchSettings {
    pub(crate) user_agent: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) max_redirects: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) global_concurrency: usize,
    pub(crate) per_host_concurrency: usize,
    pub(crate) per_host_delay: Duration,
    pub(crate) obey_robots: bool,
    /// Connect to loopback, private, link-local and other non-public addresses too.
    pub(crate) allow_private_hosts: bool,
}

/// What one request produced.
pub(super) enum Answer {
    /// A response to keep, whatever its status.
    Response(Fetched),
    /// A redirect, to this `Location` (not yet resolved against the request's URL).
    Redirect(String),
}

pub(super) fn build(s: &FetchSettings) -> anyhow::Result<reqwest::Client> {
    // rustls needs its crypto provider chosen once per process (ring keeps the build lean).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .user_agent(s.user_agent.clone())
        .connect_timeout(s.connect_timeout)
        .read_timeout(s.read_timeout)
        .timeout(s.read_timeout * 4)
        // Redirects are followed by `Fetcher::get`, which checks every hop first.
        .redirect(reqwest::redirect::Policy::none())
        // Every name is resolved here, through the policy; a proxy would resolve it where
        // the policy cannot see.
        .dns_resolver(Arc::new(PolicyResolver {
            policy: Policy {
                allow_private: s.allow_private_hosts,
            },
        }))
        .no_proxy()
        .pool_max_idle_per_host(s.per_host_concurrency.max(1))
        .build()?)
}

/// One GET of `url`: the response, or where it redirects to.
pub(super) async fn get(
    client: &reqwest::Client,
    url: &Url,
    max_body: usize,
) -> Result<Answer, FetchError> {
    let mut response = client.get(url.clone()).send().await.map_err(classify)?;
    let status = response.status().as_u16();
    if matches!(status, 301 | 302 | 303 | 307 | 308)
        && let Some(location) = response.headers().get(reqwest::header::LOCATION)
    {
        return match location.to_str() {
            Ok(location) if location.len() <= MAX_LOCATION => {
                Ok(Answer::Redirect(location.to_owned()))
            }
            _ => Err(FetchError::permanent(
                FetchReason::BadRedirect,
                format!("{url} answered {status} with an unusable Location"),
            )),
        };
    }
    let final_url = response.url().to_string();
    let headers: BTreeMap<String, String> = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    if response
        .content_length()
        .is_some_and(|n| n > max_body as u64)
    {
        return Err(too_large(max_body));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > max_body {
            return Err(too_large(max_body));
        }
        body.extend_from_slice(&chunk);
    }
    let decoded = crate::sniff::decode(
        &body,
        headers.get("content-type").map(String::as_str),
        &final_url,
    );
    Ok(Answer::Response(Fetched {
        url: final_url,
        status,
        body: decoded.text,
        encoding: decoded.encoding,
        headers,
    }))
}

/// Longest `Location` followed, in bytes (as long as a URL is kept anywhere else).
const MAX_LOCATION: usize = 8192;

fn too_large(max: usize) -> FetchError {
    FetchError::permanent(
        FetchReason::BodyTooLarge,
        format!("the body is larger than {max} bytes"),
    )
}

fn classify(e: reqwest::Error) -> FetchError {
    let error = error_chain(&e);
    let reason = if refused(&e) {
        FetchReason::DestinationRefused
    } else if e.is_timeout() {
        FetchReason::Timeout
    } else if e.is_connect() {
        FetchReason::Connect
    } else if e.is_builder() {
        FetchReason::BadUrl
    } else {
        FetchReason::Network
    };
    FetchError::new(reason, error)
}

/// Whether the policy's resolver refused the destination, somewhere in `e`'s causes.
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<Refused>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// reqwest's message and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
