//! Applying one rule update: validate, compile and check in scratch states, swap, and log
//! exactly one `rule reloaded` or `rule reload failed` event.

use std::time::Instant;

use crawlfleet_bus::DecodeError;
use crawlfleet_bus::message::{ReloadReply, ReloadStatus, RuleUpdate};
use crawlfleet_engine::{Change, LoadError, ModuleName, ModuleSource, Stage, sha256_hex};
use tracing::{debug, error, info};

use super::Plane;

/// How to settle the update and what to reply.
pub(crate) struct ReloadOutcome {
    pub(crate) reply: ReloadReply,
    /// Ack (the outcome is final and fine to forget) or reject without requeue.
    pub(crate) ack: bool,
}

/// Where an update came from, logged as `via`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via {
    /// Pushed to this worker's control queue.
    Push,
    /// Replayed from the history stream at start-up or after a reconnect.
    CatchUp,
    /// Relayed by the express lane (Redis), ahead of the broker's copy.
    Express,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Push => "push",
            Via::CatchUp => "catch-up",
            Via::Express => "express",
        }
    }
}

/// What is known of the update for logs and replies, even when it failed early.
#[derive(Default)]
struct UpdateSummary {
    push_id: Option<String>,
    module: Option<String>,
    version: Option<u64>,
    sha256: Option<String>,
}

/// What loading an update came to.
struct Loaded {
    /// The sha256 of the source found, when loading got that far.
    sha256: Option<String>,
    result: Result<Change, LoadError>,
}

impl Loaded {
    fn failed(stage: Stage, error: String) -> Loaded {
        Loaded {
            sha256: None,
            result: Err(LoadError::new(stage, error)),
        }
    }
}

/// How a reload ends: the reply's status, stage and error, and how the message is settled.
struct Verdict {
    status: ReloadStatus,
    stage: Option<String>,
    error: Option<String>,
    ack: bool,
}

pub(crate) async fn apply(
    plane: &Plane,
    update: Result<RuleUpdate, DecodeError>,
    via: Via,
) -> ReloadOutcome {
    let started = Instant::now();
    if let Ok(u) = &update
        && !u.selects(&plane.identity.id)
    {
        debug!(worker = %plane.identity.id, module = %u.module, version = u.version, push_id = %u.push_id, "update not for this worker (targeted push)");
        return skipped(plane, u);
    }
    let (mut summary, result) = match update {
        Err(e) => (
            UpdateSummary::default(),
            Err(LoadError::new(Stage::Decode, e.to_string())),
        ),
        Ok(u) => {
            let mut summary = UpdateSummary {
                push_id: Some(u.push_id.clone()),
                module: Some(u.module.clone()),
                version: Some(u.version),
                sha256: u.sha256.clone(),
            };
            let loaded = load(plane, u, via).await;
            summary.sha256 = loaded.sha256.or(summary.sha256);
            (summary, loaded.result)
        }
    };
    let took = started.elapsed();
    let elapsed_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    let id = &plane.identity.id;
    let module = summary.module.as_deref().unwrap_or("");
    let sha256 = summary.sha256.as_deref().unwrap_or("");
    let push_id = summary.push_id.as_deref().unwrap_or("");
    let version = summary.version.unwrap_or(0);
    let verdict = match &result {
        Ok(change) => {
            let (unchanged, reloaded) = match change {
                Change::Unchanged => (true, String::new()),
                Change::Applied { reloaded } => {
                    let names: Vec<&str> = reloaded.iter().map(|n| n.as_str()).collect();
                    (false, names.join(","))
                }
            };
            info!(
                worker = %id, module, version, sha256, elapsed_us, push_id, unchanged,
                reloaded = %reloaded, via = via.as_str(), "rule reloaded"
            );
            Verdict {
                status: if unchanged {
                    ReloadStatus::Unchanged
                } else {
                    ReloadStatus::Applied
                },
                stage: None,
                error: None,
                ack: true,
            }
        }
        Err(e) => {
            error!(
                worker = %id, module, version, sha256, elapsed_us, push_id,
                stage = %e.stage, error = %e.message, via = via.as_str(), "rule reload failed"
            );
            Verdict {
                status: ReloadStatus::Failed,
                stage: Some(e.stage.to_string()),
                error: Some(e.message.clone()),
                // A stale version is final and harmless: ack it — unless pushes are signed,
                // where a replayed old version is an attack (anti-rollback) and is rejected.
                ack: e.stage == Stage::Version && plane.trusted_keys.is_empty(),
            }
        }
    };
    plane.metrics.reload(module, verdict.status, took);
    summary.sha256 = summary.sha256.filter(|s| !s.is_empty());
    ReloadOutcome {
        reply: ReloadReply {
            worker: id.clone(),
            host: plane.identity.host.clone(),
            status: verdict.status,
            push_id: summary.push_id,
            module: summary.module,
            version: summary.version,
            sha256: summary.sha256,
            stage: verdict.stage,
            error: verdict.error,
            elapsed_us,
        },
        ack: verdict.ack,
    }
}

/// Validates `u`, finds its source and applies it.
async fn load(plane: &Plane, u: RuleUpdate, via: Via) -> Loaded {
    if let Err(e) = verified(plane, &u) {
        return Loaded::failed(Stage::Signature, e.to_string());
    }
    let name = match ModuleName::new(&u.module) {
        Ok(name) => name,
        Err(e) => return Loaded::failed(Stage::Decode, e.to_string()),
    };
    let text = match u.source {
        Some(text) => match plane.root.check(&name, &u.path) {
            Ok(_) => text,
            Err(e) => return Loaded::failed(Stage::Path, e.to_string()),
        },
        None => match plane.root.read(&name, &u.path) {
            Ok(text) => text,
            Err(e) => return Loaded::failed(Stage::Path, e.to_string()),
        },
    };
    let actual = sha256_hex(text.as_bytes());
    if let Some(expected) = &u.sha256
        && !expected.eq_ignore_ascii_case(&actual)
    {
        let error = format!("sha256 mismatch: the update says {expected}, the source is {actual}");
        return Loaded {
            sha256: Some(actual),
            result: Err(LoadError::new(Stage::Checksum, error)),
        };
    }
    let source = ModuleSource::new(name, text, u.version);
    let store = &plane.store;
    // Every module Lua evaluates here is bounded by the load budget. The control loop owns a
    // one-thread runtime whose other tasks only feed it, so it runs Lua in place: the thread
    // hand-off of `block_in_place` cost more CPU than a small reload. Catch-up runs on the
    // job runtime, where blocking a thread would hold up jobs.
    let run = || store.apply(source);
    let result = match via {
        Via::CatchUp => tokio::task::block_in_place(run),
        Via::Push | Via::Express => run(),
    };
    Loaded {
        sha256: Some(actual),
        result: result.map(|a| a.change),
    }
}

/// With trusted keys, whether `u` is signed by one of them for this worker's fleet (its
/// prefix): a push signed for another fleet, or re-aimed by editing its targets, fails.
/// Without keys, every update passes.
pub(crate) fn verified(
    plane: &Plane,
    u: &RuleUpdate,
) -> Result<(), crawlfleet_bus::signature::SignatureError> {
    if plane.trusted_keys.is_empty() {
        return Ok(());
    }
    crawlfleet_bus::signature::verify(u, &plane.trusted_keys, &plane.prefix)
}

/// The reply to an update that targets other workers.
fn skipped(plane: &Plane, u: &RuleUpdate) -> ReloadOutcome {
    ReloadOutcome {
        reply: ReloadReply {
            worker: plane.identity.id.clone(),
            host: plane.identity.host.clone(),
            status: ReloadStatus::Skipped,
            push_id: Some(u.push_id.clone()),
            module: Some(u.module.clone()),
            version: Some(u.version),
            sha256: u.sha256.clone(),
            stage: None,
            error: None,
            elapsed_us: 0,
        },
        ack: true,
    }
}
