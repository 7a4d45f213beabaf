//! Applying one rule update: validate, compile and check in scratch states, swap, and log
//! exactly one `rule reloaded` or `rule reload failed` event.

use std::time::Instant;

use crawlfleet_bus::DecodeError;
use crawlfleet_bus::message::{ReloadReply, ReloadStatus, RuleUpdate};
use crawlfleet_engine::{Change, LoadError, ModuleName, ModuleSource, Stage, sha256_hex};
use tracing::{debug, error, info};

use super::Plane;

/// How to settle the update and what to reply.
pub(crate) struct Outcome {
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
struct About {
    push_id: Option<String>,
    module: Option<String>,
    version: Option<u64>,
    sha256: Option<String>,
}

pub(crate) async fn apply(
    plane: &Plane,
    update: Result<RuleUpdate, DecodeError>,
    via: Via,
) -> Outcome {
    let started = Instant::now();
    if let Ok(u) = &update
        && !u.selects(&plane.identity.id)
    {
        debug!(worker = %plane.identity.id, module = %u.module, version = u.version, push_id = %u.push_id, "update not for this worker (targeted push)");
        return skipped(plane, u);
    }
    let (mut about, result) = match update {
        Err(e) => (
            About::default(),
            Err(LoadError::new(Stage::Decode, e.to_string())),
        ),
        Ok(u) => {
            let about = About {
                push_id: Some(u.push_id.clone()),
                module: Some(u.module.clone()),
                version: Some(u.version),
                sha256: u.sha256.clone(),
            };
            let (sha, result) = load(plane, u, via).await;
            (
                About {
                    sha256: sha.or(about.sha256.clone()),
                    ..about
                },
                result,
            )
        }
    };
    let took = started.elapsed();
    let elapsed_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    let id = &plane.identity.id;
    let module = about.module.as_deref().unwrap_or("");
    let sha256 = about.sha256.as_deref().unwrap_or("");
    let push_id = about.push_id.as_deref().unwrap_or("");
    let version = about.version.unwrap_or(0);
    let (status, stage, error_text, ack) = match &result {
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
            let status = if unchanged {
                ReloadStatus::Unchanged
            } else {
                ReloadStatus::Applied
            };
            (status, None, None, true)
        }
        Err(e) => {
            error!(
                worker = %id, module, version, sha256, elapsed_us, push_id,
                stage = %e.stage, error = %e.message, via = via.as_str(), "rule reload failed"
            );
            // A stale version is final and harmless: ack it — unless pushes are signed, where
            // a replayed old version is an attack (anti-rollback) and is rejected.
            let ack = e.stage == Stage::Version && plane.trusted_keys.is_empty();
            (
                ReloadStatus::Failed,
                Some(e.stage.to_string()),
                Some(e.message.clone()),
                ack,
            )
        }
    };
    let outcome_label = match status {
        ReloadStatus::Applied => "applied",
        ReloadStatus::Unchanged => "unchanged",
        ReloadStatus::Failed => "failed",
        ReloadStatus::Skipped => "skipped",
    };
    plane.metrics.reload(module, outcome_label, took);
    about.sha256 = about.sha256.filter(|s| !s.is_empty());
    Outcome {
        reply: ReloadReply {
            worker: id.clone(),
            host: plane.identity.host.clone(),
            status,
            push_id: about.push_id,
            module: about.module,
            version: about.version,
            sha256: about.sha256,
            stage,
            error: error_text,
            elapsed_us,
        },
        ack,
    }
}

/// Validates `u`, finds its source and applies it. Returns the source's actual sha256 when
/// it got that far.
async fn load(
    plane: &Plane,
    u: RuleUpdate,
    via: Via,
) -> (Option<String>, Result<Change, LoadError>) {
    if let Err(e) = verified(plane, &u) {
        return (None, Err(LoadError::new(Stage::Signature, e.to_string())));
    }
    let name = match ModuleName::new(&u.module) {
        Ok(name) => name,
        Err(e) => return (None, Err(LoadError::new(Stage::Decode, e.to_string()))),
    };
    let text = match u.source {
        Some(text) => match plane.root.check(&name, &u.path) {
            Ok(_) => text,
            Err(e) => return (None, Err(LoadError::new(Stage::Path, e.to_string()))),
        },
        None => match plane.root.read(&name, &u.path) {
            Ok(text) => text,
            Err(e) => return (None, Err(LoadError::new(Stage::Path, e.to_string()))),
        },
    };
    let actual = sha256_hex(text.as_bytes());
    if let Some(expected) = &u.sha256
        && !expected.eq_ignore_ascii_case(&actual)
    {
        return (
            Some(actual.clone()),
            Err(LoadError::new(
                Stage::Checksum,
                format!("sha256 mismatch: the update says {expected}, the source is {actual}"),
            )),
        );
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
    (Some(actual), result.map(|a| a.change))
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
fn skipped(plane: &Plane, u: &RuleUpdate) -> Outcome {
    Outcome {
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
