//! Answers a ping with this worker's identity, counters and live module versions.

use crawlfleet_bus::message::{ModuleState, Ping, Pong};

use super::Plane;
use crate::admin::Settled;

pub(super) fn pong(plane: &Plane, ping: Ping) -> Pong {
    let modules = plane
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
        worker: plane.identity.id.clone(),
        host: plane.identity.host.clone(),
        uptime_s: plane.identity.started.elapsed().as_secs(),
        jobs_done: plane.metrics.jobs_with(Settled::Done),
        jobs_failed: plane.metrics.jobs_with(Settled::Dead),
        modules,
    }
}
