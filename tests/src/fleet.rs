//! A fleet under test: workers started together and ready, and the rule versions they
//! report to a ping.

use std::path::Path;
use std::time::Duration;

use crawlfleet_bus::message::{ControlMessage, Ping, Reply};

use crate::{TestBroker, WorkerProc};

/// Starts `n` workers on `prefix` with `rules` and `extra` flags, then waits until every
/// one is consuming.
pub async fn fleet(prefix: &str, rules: &Path, n: usize, extra: &[&str]) -> Vec<WorkerProc> {
    let mut workers = Vec::new();
    for _ in 0..n {
        workers.push(WorkerProc::start(prefix, rules, extra).await);
    }
    for w in &workers {
        w.ready().await;
    }
    workers
}

/// (worker, module, version) for every module of the workers that answer a fresh ping,
/// sorted; waits until `expected` workers answered or 5 s passed. Replies to earlier
/// messages still queued are skipped.
pub async fn versions(broker: &mut TestBroker, expected: usize) -> Vec<(String, String, u64)> {
    let id = format!("v-{}", uuid::Uuid::new_v4().simple());
    let ping = ControlMessage::Ping(Ping {
        ping_id: id.clone(),
    });
    broker.send_control(&ping, &id).await;
    let mut out = Vec::new();
    let mut answered = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while answered < expected && tokio::time::Instant::now() < deadline {
        for reply in broker.replies(1, Duration::from_secs(1)).await {
            if let Reply::Pong(p) = reply
                && p.ping_id == id
            {
                answered += 1;
                for m in p.modules {
                    out.push((p.worker.clone(), m.module, m.version));
                }
            }
        }
    }
    out.sort();
    out
}
