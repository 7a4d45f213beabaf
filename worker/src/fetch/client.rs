//! The HTTP client (reqwest on rustls) and reading a body under a size cap (decoded by
//! `crate::sniff`).

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use super::{FetchError, Fetched};

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
}

pub(super) fn build(s: &FetchSettings) -> anyhow::Result<reqwest::Client> {
    // rustls needs its crypto provider chosen once per process (ring keeps the build lean).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .user_agent(s.user_agent.clone())
        .connect_timeout(s.connect_timeout)
        .read_timeout(s.read_timeout)
        .timeout(s.read_timeout * 4)
        .redirect(reqwest::redirect::Policy::limited(s.max_redirects))
        .pool_max_idle_per_host(s.per_host_concurrency.max(1))
        .build()?)
}

pub(super) async fn get(
    client: &reqwest::Client,
    url: &Url,
    max_body: usize,
) -> Result<Fetched, FetchError> {
    let mut response = client.get(url.clone()).send().await.map_err(classify)?;
    let status = response.status().as_u16();
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
    Ok(Fetched {
        url: final_url,
        status,
        body: decoded.text,
        encoding: decoded.encoding,
        headers,
    })
}

fn too_large(max: usize) -> FetchError {
    FetchError::Permanent {
        reason: "body_too_large",
        error: format!("the body is larger than {max} bytes"),
    }
}

fn classify(e: reqwest::Error) -> FetchError {
    let error = error_chain(&e);
    if e.is_redirect() {
        FetchError::Permanent {
            reason: "too_many_redirects",
            error,
        }
    } else if e.is_timeout() {
        FetchError::Transient {
            reason: "timeout",
            error,
        }
    } else if e.is_connect() {
        FetchError::Transient {
            reason: "connect",
            error,
        }
    } else if e.is_builder() {
        FetchError::Permanent {
            reason: "bad_url",
            error,
        }
    } else {
        FetchError::Transient {
            reason: "network",
            error,
        }
    }
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
