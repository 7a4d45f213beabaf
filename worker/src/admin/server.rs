//! The admin endpoint's HTTP/1.1 server, on hyper: three GET paths, one request per
//! connection; anything else is 404 or 405. Enough for Prometheus scrapes and Kubernetes
//! probes. Bounded: at most [`MAX_CONNECTIONS`] at once (more are closed on arrival), a
//! request head must arrive within [`HEAD_TIMEOUT`] and fit in [`MAX_HEAD_BYTES`], a
//! connection lasts at most [`CONNECTION_TIMEOUT`], and accept errors (out of file
//! descriptors) are retried after a growing pause instead of in a busy loop.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
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
/// The largest request head read (hyper's smallest buffer); a larger one is answered 431.
const MAX_HEAD_BYTES: usize = 8192;
/// How long one connection may last in all.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// First and longest pause after a failed accept.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// The Prometheus text format's content type.
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

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
    let http = http();
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
        let (http, metrics, rules) = (http.clone(), Arc::clone(&metrics), Arc::clone(&rules));
        tokio::spawn(async move {
            answer(&http, stream, metrics, rules).await;
            drop(slot);
        });
    }
}

/// The HTTP/1 settings of every connection: the head's time and size bounds, no keep-alive,
/// and headers in title case with no `Date`, so that a response is byte for byte what
/// probes and scrapers have always been sent.
fn http() -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false)
        .title_case_headers(true)
        .auto_date_header(false);
    http
}

/// Serves the one request of `stream`, within [`CONNECTION_TIMEOUT`].
async fn answer(http: &http1::Builder, stream: TcpStream, metrics: Arc<Metrics>, rules: Target) {
    let service = service_fn(move |request| {
        let response = respond(request.method(), request.uri().path(), &metrics, &rules);
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let connection = http.serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(cause = %e, "admin connection failed"),
        Err(_) => debug!("admin connection timed out"),
    }
}

/// The answer to `method` on `path`.
fn respond(
    method: &Method,
    path: &str,
    metrics: &Metrics,
    rules: &Target,
) -> Response<Full<Bytes>> {
    if method != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    match path {
        "/metrics" => {
            let store = rules.get().map(|store| &**store);
            let mut response = text(StatusCode::OK, metrics.render(store));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_TYPE));
            response
        }
        "/healthz" => match metrics.stalls.stalled() {
            None => text(StatusCode::OK, "ok\n"),
            Some(age) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("stalled: a rule call has run for {} s\n", age.as_secs()),
            ),
        },
        "/readyz" if metrics.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no broker session or rules not loaded\n",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// A `text/plain` response that closes the connection: `Content-Type`, `Content-Length`
/// and `Connection`, in that order.
fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let body: Bytes = body.into();
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(CONTENT_LENGTH, length);
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::metrics::Settled;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on a loopback port for `metrics`, with no worker yet; stopped when dropped.
    async fn server(metrics: &Arc<Metrics>) -> (std::net::SocketAddr, tokio_util::sync::DropGuard) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let target: Target = Arc::new(std::sync::OnceLock::new());
        tokio::spawn(serve(listener, Arc::clone(metrics), target, stop.clone()));
        (addr, stop.drop_guard())
    }

    /// Sends `request` as it is; everything the server answered before it closed.
    async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        String::from_utf8(response).expect("UTF-8")
    }

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
        exchange(addr, request.as_bytes()).await
    }

    fn plain(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn each_path_answers_with_its_status_headers_and_body() {
        let metrics = Arc::new(Metrics::default());
        let (addr, _stop) = server(&metrics).await;
        assert_eq!(get(addr, "/healthz").await, plain("200 OK", "ok\n"));
        assert_eq!(
            get(addr, "/readyz").await,
            plain(
                "503 Service Unavailable",
                "not ready: no broker session or rules not loaded\n"
            )
        );
        metrics.set_ready(true);
        assert_eq!(get(addr, "/readyz").await, plain("200 OK", "ready\n"));
        assert_eq!(
            get(addr, "/nothing").await,
            plain("404 Not Found", "not found\n")
        );
        let post = exchange(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(
            post,
            plain("405 Method Not Allowed", "method not allowed\n")
        );

        metrics.stalls.set_stall_after(Duration::from_millis(10));
        let call = metrics.stalls.start();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(
            get(addr, "/healthz").await,
            plain(
                "503 Service Unavailable",
                "stalled: a rule call has run for 0 s\n"
            )
        );
        drop(call);
    }

    #[tokio::test]
    async fn metrics_are_served_whole_past_the_head_limit() {
        let metrics = Arc::new(Metrics::default());
        for n in 0..300 {
            metrics.job(&format!("shop.rule{n}"), Settled::Done);
        }
        let (addr, _stop) = server(&metrics).await;
        let body = metrics.render(None);
        assert!(body.len() > 2 * MAX_HEAD_BYTES, "{}", body.len());
        let response = get(addr, "/metrics?from=test").await;
        assert_eq!(
            response,
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {METRICS_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        );
    }

    #[tokio::test]
    async fn a_head_too_large_is_refused() {
        let metrics = Arc::new(Metrics::default());
        let (addr, _stop) = server(&metrics).await;
        let request = format!(
            "GET /metrics HTTP/1.1\r\nX-Filler: {}\r\n\r\n",
            "x".repeat(MAX_HEAD_BYTES)
        );
        let response = exchange(addr, request.as_bytes()).await;
        assert!(
            response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{response}"
        );
    }

    #[tokio::test]
    async fn a_head_that_does_not_arrive_in_time_is_dropped_unanswered() {
        let metrics = Arc::new(Metrics::default());
        let (addr, _stop) = server(&metrics).await;
        let started = std::time::Instant::now();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\n")
            .await
            .expect("write");
        let mut response = Vec::new();
        let read = tokio::time::timeout(2 * HEAD_TIMEOUT, stream.read_to_end(&mut response)).await;
        assert!(read.is_ok(), "still open after {:?}", 2 * HEAD_TIMEOUT);
        assert!(
            response.is_empty(),
            "{}",
            String::from_utf8_lossy(&response)
        );
        assert!(started.elapsed() >= HEAD_TIMEOUT, "{:?}", started.elapsed());
    }
}
