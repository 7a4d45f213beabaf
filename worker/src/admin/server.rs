//! A minimal HTTP/1.1 server for three GET paths. One request per connection; anything else
//! is 404 or 405. Enough for Prometheus scrapes and Kubernetes probes, with no framework.
//! Bounded: at most [`MAX_CONNECTIONS`] at once (more are closed on arrival), a request head
//! must arrive within [`HEAD_TIMEOUT`], and accept errors (out of file descriptors) are
//! retried after a growing pause instead of in a busy loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crawlfleet_engine::RuleStore;

use super::Metrics;
use crate::backoff::Backoff;

/// Connections served at once; one more is closed as soon as it is accepted.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one connection may last in all.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// First and longest pause after a failed accept.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// What the admin endpoint can see besides metrics: the rules, once they are loaded.
pub(crate) type Target = Arc<std::sync::OnceLock<Arc<RuleStore>>>;

/// Serves until `shutdown`; the listener is already bound.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    rules: Target,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(addr = %addr, max_connections = MAX_CONNECTIONS, "admin endpoint listening (/metrics, /healthz, /readyz)");
    }
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut pause = Backoff::new(ACCEPT_PAUSE_MIN, ACCEPT_PAUSE_MAX);
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    pause.reset();
                    accepted
                }
                Err(e) => {
                    // EMFILE and friends: the listener stays readable, so retrying at once
                    // would spin. Wait, longer each time, for descriptors to be freed.
                    let wait = pause.next_delay();
                    warn!(cause = %e, retry_in_ms = wait.as_millis() as u64, "admin accept failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(wait) => continue,
                    }
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            debug!("admin endpoint busy; connection closed");
            drop(stream);
            continue;
        };
        let (metrics, rules) = (Arc::clone(&metrics), Arc::clone(&rules));
        tokio::spawn(async move {
            let _ =
                tokio::time::timeout(CONNECTION_TIMEOUT, answer(stream, &metrics, &rules)).await;
            drop(slot);
        });
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics, rules: &Target) -> std::io::Result<()> {
    let Ok(buf) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await else {
        return Ok(());
    };
    let buf = buf?;
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => {
            let store = rules.get().map(|store| &**store);
            (
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics.render(store),
            )
        }
        ("GET", "/healthz") => match metrics.stalls.stalled() {
            None => (200, "text/plain", "ok\n".to_owned()),
            Some(age) => (
                503,
                "text/plain",
                format!("stalled: a rule call has run for {} s\n", age.as_secs()),
            ),
        },
        ("GET", "/readyz") if metrics.is_ready() => (200, "text/plain", "ready\n".to_owned()),
        ("GET", "/readyz") => (
            503,
            "text/plain",
            "not ready: no broker session or rules not loaded\n".to_owned(),
        ),
        ("GET", _) => (404, "text/plain", "not found\n".to_owned()),
        _ => (405, "text/plain", "method not allowed\n".to_owned()),
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The request head, up to 8 KiB.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}
