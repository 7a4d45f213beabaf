//! The admin endpoint under a flood: connections past its cap are closed at once, idle ones
//! are dropped, and `/metrics` keeps answering.

use std::time::Duration;

use crawlfleet_tests::{RulesDir, TestBroker, WorkerProc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECOND: Duration = Duration::from_secs(1);

/// A GET that tolerates a refused, reset or closed connection: the status, if one came.
async fn try_get(authority: &str, path: &str) -> Option<u16> {
    let attempt = async {
        let mut stream = TcpStream::connect(authority).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let ok = text.contains("crawlfleet_jobs_total");
        text.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .filter(|_| ok)
    };
    tokio::time::timeout(2 * SECOND, attempt)
        .await
        .ok()
        .flatten()
}

/// Whether the server closes `stream` within `within` (EOF or reset), sending nothing.
async fn closed_within(mut stream: TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_past_the_cap_does_not_stop_metrics() {
    let broker = TestBroker::new("adminflood").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", "return { parse = function() end }");
    let w = WorkerProc::start(&broker.prefix, rules.path(), &[]).await;
    let url = w.admin_url().await;
    let authority = url.trim_start_matches("http://").to_owned();
    let listening = w
        .wait_for(
            "admin endpoint listening (/metrics, /healthz, /readyz)",
            |_| true,
            SECOND,
        )
        .await;
    let cap = listening["max_connections"]
        .as_u64()
        .expect("max_connections in the log") as usize;
    assert!(cap > 0 && cap <= 1024, "{cap}");
    let excess = 32;

    // Open the flood, in order, and never send a byte.
    let mut flood = Vec::new();
    for _ in 0..cap + excess {
        flood.push(TcpStream::connect(&authority).await.expect("connect"));
    }
    let started = tokio::time::Instant::now();
    let checks: Vec<_> = flood
        .into_iter()
        .map(|s| tokio::spawn(closed_within(s, SECOND)))
        .collect();
    let mut closed = 0;
    for c in checks {
        closed += usize::from(c.await.expect("join"));
    }
    assert!(
        closed >= excess,
        "only {closed} of the {excess} connections past the cap of {cap} were closed at once"
    );
    assert!(
        closed < cap + excess,
        "every connection was closed at once: the cap served none"
    );

    // The idle ones are dropped soon enough for a scrape to get through.
    let mut answered = None;
    while started.elapsed() < 15 * SECOND {
        answered = try_get(&authority, "/metrics").await;
        if answered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        answered,
        Some(200),
        "/metrics did not answer during the flood"
    );
    broker.cleanup().await;
}
