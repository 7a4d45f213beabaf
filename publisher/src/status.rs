//! `publisher status`: every live worker and the module versions it runs, with drift marked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crawlfleet_bus::message::Pong;

use crate::cli::{Global, StatusArgs};
use crate::fleet::Fleet;
use crate::{Failure, Finished};

pub(crate) async fn run(global: &Global, args: &StatusArgs) -> Result<Finished, Failure> {
    let mut fleet = Fleet::connect(global).await?;
    let pongs = fleet.ping().await?;
    fleet.close().await;
    let drift = drifting(&pongs);
    if args.json {
        let workers: Vec<&Pong> = pongs.values().collect();
        let report = serde_json::json!({
            "workers": workers.iter().map(|p| serde_json::json!({
                "worker": p.worker, "host": p.host, "uptime_s": p.uptime_s,
                "jobs_done": p.jobs_done, "jobs_failed": p.jobs_failed,
                "modules": p.modules.iter().map(|m| serde_json::json!({
                    "module": m.module, "version": m.version, "sha256": m.sha256, "rule": m.rule,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "drift": drift,
        });
        println!("{report}");
    } else {
        print!("{}", table(&pongs, &drift));
    }
    Ok(Finished::complete_if(!args.check || drift.is_empty()))
}

/// Modules whose (version, sha256) is not the same on every worker that has them.
fn drifting(pongs: &BTreeMap<String, Pong>) -> Vec<String> {
    let mut seen: BTreeMap<&str, BTreeSet<(u64, &str)>> = BTreeMap::new();
    for p in pongs.values() {
        for m in &p.modules {
            seen.entry(&m.module)
                .or_default()
                .insert((m.version, &m.sha256));
        }
    }
    seen.into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(k, _)| k.to_owned())
        .collect()
}

fn table(pongs: &BTreeMap<String, Pong>, drift: &[String]) -> String {
    let mut out = String::new();
    if pongs.is_empty() {
        out.push_str("no live worker answered the ping\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<12} {:<16} {:>8} {:>8} {:>7}  MODULES",
        "WORKER", "HOST", "UPTIME", "DONE", "FAILED"
    );
    for p in pongs.values() {
        let modules: Vec<String> = p
            .modules
            .iter()
            .map(|m| {
                let mark = if drift.contains(&m.module) { "*" } else { "" };
                format!(
                    "{}{mark}@v{}:{}",
                    m.module,
                    m.version,
                    &m.sha256[..m.sha256.len().min(8)]
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<12} {:<16} {:>7}s {:>8} {:>7}  {}",
            p.worker,
            p.host,
            p.uptime_s,
            p.jobs_done,
            p.jobs_failed,
            modules.join(" ")
        );
    }
    let _ = writeln!(out, "{} worker(s)", pongs.len());
    if !drift.is_empty() {
        let _ = writeln!(out, "drift (*): {}", drift.join(", "));
    }
    out
}
