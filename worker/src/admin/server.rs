//! A minimal HTTP/1.1 server for three GET paths. One request per connection; anything else
//! is 404 or 405. Enough for Prometheus scrapes and Kubernetes probes, with no framework.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::Metrics;
use crate::app::Worker;

/// What the admin endpoint can see: metrics always, the worker once it is built.
pub(crate) type Target = Arc<std::sync::OnceLock<Arc<Worker>>>;

/// Serves until `shutdown`; the listener is already bound.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    worker: Target,
    shutdown: CancellationToken,
) {
    if let Ok(addr) = listener.local_addr() {
        info!(addr = %addr, "admin endpoint listening (/metrics, /healthz, /readyz)");
    }
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    debug!(cause = %e, "admin accept failed");
                    continue;
                }
            },
        };
        let (metrics, worker) = (Arc::clone(&metrics), Arc::clone(&worker));
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), answer(stream, &metrics, &worker))
                .await;
        });
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics, worker: &Target) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => {
            let store = worker.get().map(|w| &w.store);
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
