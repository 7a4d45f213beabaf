//! Answers a ping with this worker's identity, counters and live module versions.

use crawlfleet_bus::message::{ModuleState, Ping, Pong};

use crate::app::Worker;

pub(super) fn pong(worker: &Worker, ping: Ping) -> Pong {
    let modules = worker
        .store
        .snapshot()
        .modules()
        .into_iter()
        .map(|m| ModuleState {
            module: m.name.to_string(),
            version: m.version,
            sha256: m.sha256,
            rule: m.is_rule,
        })
        .collect();
    Pong {
        ping_id: ping.ping_id,
        worker: worker.identity.id.clone(),
        host: worker.identity.host.clone(),
        uptime_s: worker.identity.started.elapsed().as_secs(),
        jobs_done: worker.pipeline.metrics.jobs_with("done"),
        jobs_failed: worker.pipeline.metrics.jobs_with("dead"),
        modules,
    }
}
