//! Delivering one update to the fleet — shared by `push-rule`, `promote` and `rollback`:
//! a version newer than anything pushed or running, targets, an optional signature,
//! history retention, the broadcast, and with `--wait` the per-worker report.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use crawlfleet_bus::ExpressLane;
use crawlfleet_bus::message::{ControlMessage, Pong, RuleUpdate, Targets};
use crawlfleet_engine::{ModuleName, sha256_hex};
use tokio::time::Instant;

use crate::cli::{DeliveryArgs, Global};
use crate::fleet::Fleet;
use crate::summary::Summary;
use crate::trust::{Entry, Trust, Vetted, describe};
use crate::{Failure, Finished};

/// What to deliver.
pub(crate) struct Delivery {
    pub(crate) module: ModuleName,
    pub(crate) source: String,
    pub(crate) version: Option<u64>,
    pub(crate) targets: Option<Targets>,
    /// What the output calls it (`pushed`, `promoted`, `rolled back to v3 as`).
    pub(crate) verb: String,
}

impl Delivery {
    /// An earlier push, from the history, delivered again to every worker as a new version.
    /// Refuses an entry that was not vetted valid: its source is never re-signed or re-sent.
    pub(crate) fn again(
        module: ModuleName,
        entry: &Entry,
        verb: String,
    ) -> Result<Delivery, Failure> {
        let u = &entry.update;
        if let Some(why) = &entry.refused {
            return Err(Failure::usage(format!(
                "refusing to push {} again: {why}",
                describe(u)
            )));
        }
        let source = u.source.clone().ok_or_else(|| {
            Failure::usage(format!(
                "v{} of `{module}` was pushed by path, not inline",
                u.version
            ))
        })?;
        Ok(Delivery {
            module,
            source,
            version: None,
            targets: None,
            verb,
        })
    }
}

/// How a push is delivered (waiting, signing, trust, express lane): `DeliveryArgs`, checked
/// whole before any connection is made.
pub(crate) struct DeliveryOptions {
    wait: bool,
    timeout: Duration,
    signing_key: Option<crawlfleet_bus::signature::SigningKey>,
    /// Which history entries to build on.
    pub(crate) trust: Trust,
    /// The topology prefix, which a signature covers.
    fleet: String,
    express: Option<ExpressLane>,
}

impl DeliveryOptions {
    pub(crate) fn check(args: &DeliveryArgs, global: &Global) -> Result<DeliveryOptions, Failure> {
        if !(args.timeout.is_finite() && args.timeout > 0.0) {
            return Err(Failure::usage(
                "--timeout must be a positive number of seconds",
            ));
        }
        let signing_key = match &args.sign_key {
            None => None,
            Some(path) => {
                let hex = std::fs::read_to_string(path).map_err(|e| {
                    Failure::usage(format!(
                        "cannot read the signing key {}: {e}",
                        path.display()
                    ))
                })?;
                Some(crawlfleet_bus::signature::secret_key(&hex).map_err(|e| {
                    Failure::usage(format!("{} is not a signing key: {e}", path.display()))
                })?)
            }
        };
        let mut trusted = crate::trust::trusted_keys(args.trusted_keys.as_deref())?;
        trusted.extend(signing_key.as_ref().map(|k| k.verifying_key()));
        let express = match args.express_url.as_deref().filter(|u| !u.trim().is_empty()) {
            None => None,
            Some(url) if !url.starts_with("redis://") => {
                return Err(Failure::usage(format!(
                    "--express-url: `{url}` is not a redis:// URL"
                )));
            }
            Some(url) => Some(
                ExpressLane::new(url, &crate::fleet::topology(global))
                    .map_err(|e| Failure::usage(format!("--express-url: {e}")))?,
            ),
        };
        Ok(DeliveryOptions {
            wait: args.wait,
            timeout: Duration::from_secs_f64(args.timeout),
            signing_key,
            trust: Trust::new(trusted, &global.prefix),
            fleet: global.prefix.clone(),
            express,
        })
    }
}

/// Delivers to the fleet; `live` is the membership just pinged (whom to wait for).
pub(crate) async fn deliver(
    fleet: &mut Fleet,
    history: &Vetted,
    live: &BTreeMap<String, Pong>,
    delivery: Delivery,
    options: &DeliveryOptions,
) -> Result<Finished, Failure> {
    let version = match delivery.version {
        Some(v) if v > RuleUpdate::MAX_VERSION => {
            return Err(Failure::usage(format!(
                "--version {v} is above the highest version a worker takes (2^53)"
            )));
        }
        Some(v) => v,
        None => next_version(history, live)?,
    };
    crate::retention::compact(fleet, history).await?;

    let sha256 = sha256_hex(delivery.source.as_bytes());
    let push_id = format!("p-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut update = RuleUpdate {
        module: delivery.module.to_string(),
        path: delivery.module.relative_path(),
        source: Some(delivery.source),
        sha256: Some(sha256.clone()),
        version,
        push_id: push_id.clone(),
        pushed_by: Some(pushed_by()),
        pushed_at_ms: Some(now_ms()),
        targets: delivery.targets,
        ..RuleUpdate::default()
    };
    if let Some(key) = &options.signing_key {
        crawlfleet_bus::signature::sign(&mut update, key, &options.fleet)
            .map_err(|e| Failure::usage(format!("cannot sign: {e}")))?;
    }
    let expected: Vec<String> = live.keys().filter(|w| update.selects(w)).cloned().collect();
    let message = ControlMessage::Update(update);
    match &options.express {
        None => fleet.broadcast(&message, &push_id).await?,
        Some(lane) => match fleet.broadcast_express(&message, &push_id, lane).await? {
            Ok(n) => println!("express lane: handed to {n} subscribed worker(s)"),
            // The broker's copy is on its way: slower, not lost.
            Err(e) => eprintln!("publisher: warning: {e}; the broker delivers the update"),
        },
    }
    tracing::info!(
        module = %delivery.module, version, sha256 = %sha256, push_id = %push_id,
        signed = options.signing_key.is_some(), chosen = expected.len(), live = live.len(), "rule pushed"
    );
    println!(
        "{} {} v{version} sha256 {} (push {push_id}) to {} of {} live worker(s)",
        delivery.verb,
        delivery.module,
        &sha256[..12],
        expected.len(),
        live.len()
    );
    if !options.wait {
        return Ok(Finished::Done);
    }
    let deadline = Instant::now() + options.timeout;
    let mut replies = fleet.reload_replies(&push_id, &expected, deadline).await;
    replies.retain(|w, _| expected.contains(w));
    let summary = Summary::new(&expected, replies);
    print!("{}", summary.render());
    Ok(Finished::complete_if(summary.complete()))
}

/// One more than the newest version pushed (entries that verify only) or running. A live
/// version above the cap cannot come from a real worker (it refuses such updates): it is
/// left out, with a warning, rather than let one forged pong end every later push.
fn next_version(history: &Vetted, live: &BTreeMap<String, Pong>) -> Result<u64, Failure> {
    let mut live_max = 0;
    for pong in live.values() {
        for m in &pong.modules {
            if m.version > RuleUpdate::MAX_VERSION {
                eprintln!(
                    "publisher: warning: ignored worker `{}`'s claim to run v{} of `{}` (above 2^53)",
                    pong.worker.chars().take(64).collect::<String>(),
                    m.version,
                    m.module.chars().take(64).collect::<String>()
                );
            } else {
                live_max = live_max.max(m.version);
            }
        }
    }
    let pushed_max = history.valid().map(|u| u.version).max().unwrap_or(0);
    live_max
        .max(pushed_max)
        .checked_add(1)
        .filter(|v| *v <= RuleUpdate::MAX_VERSION)
        .ok_or_else(|| Failure::usage("the fleet is at the highest version a worker takes (2^53)"))
}

/// `--canary 10%` → 10.0.
pub(crate) fn parse_percent(text: &str) -> Result<f64, Failure> {
    let number = text.trim().trim_end_matches('%');
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(Failure::usage(format!(
            "--canary: `{text}` is not a percentage from 0% to 100%"
        ))),
    }
}

fn pushed_by() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    format!("{user}@{host}")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
