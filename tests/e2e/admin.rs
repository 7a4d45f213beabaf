//! The admin endpoint under a flood: connections past its cap are closed at once, idle ones
//! are dropped, and `/metrics` keeps answering; out of file descriptors, its accept loop
//! pauses instead of spinning.

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

/// CPU time (user + system) of process `pid` so far, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which ends with the last `)`): utime and stime are the
    // 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().expect("a number"))
        .collect();
    fields.iter().sum()
}

/// Sets the soft limit on open files of `pid` (`prlimit`, util-linux).
fn limit_open_files(pid: u32, soft: &str) {
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")])
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_accept_loop_backs_off_instead_of_spinning() {
    let broker = TestBroker::new("adminemfile").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", "return { parse = function() end }");
    let w = WorkerProc::start_ready(&broker.prefix, rules.path(), &[]).await;
    let url = w.admin_url().await;
    let authority = url.trim_start_matches("http://").to_owned();
    let pid = w.pid();
    let soft = std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .expect("limits")
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        .expect("the soft limit");

    // No descriptor left: a connection waiting in the backlog cannot be accepted (EMFILE).
    limit_open_files(pid, "3");
    let _waiting = TcpStream::connect(&authority).await.expect("connect");
    tokio::time::sleep(SECOND).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(3 * SECOND).await;
    let used = cpu_ticks(pid) - before;
    limit_open_files(pid, &soft);
    assert!(
        used < 60,
        "the worker used {used} ticks of CPU in 3 s (300 = one core) while out of descriptors"
    );
    let failed = w.events("admin accept failed");
    let longest = failed
        .iter()
        .filter_map(|e| e["retry_in_ms"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(
        !failed.is_empty() && failed.len() < 100 && longest >= 250,
        "{} failed accepts, longest pause {longest} ms",
        failed.len()
    );

    // Descriptors back: the next attempt (within the 1 s cap) serves again.
    let mut answered = None;
    let started = tokio::time::Instant::now();
    while started.elapsed() < 10 * SECOND && answered.is_none() {
        answered = try_get(&authority, "/metrics").await;
    }
    assert_eq!(answered, Some(200), "/metrics after the limit was restored");
    broker.cleanup().await;
}
