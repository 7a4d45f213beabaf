//! `publisher history`: the pushed versions of a module, from the broker's history stream.

use crawlfleet_bus::message::RuleUpdate;

use crate::cli::{Global, HistoryArgs};
use crate::fleet::Fleet;
use crate::trust::{Refusal, Trust, trusted_keys};
use crate::{Failure, Finished};

pub(crate) async fn run(global: &Global, args: &HistoryArgs) -> Result<Finished, Failure> {
    let trust = Trust::new(trusted_keys(args.trusted_keys.as_deref())?, &global.prefix);
    let fleet = Fleet::connect(global).await?;
    let mut history = fleet.history().await?;
    fleet.close().await;
    history.retain(|u| args.module.as_ref().is_none_or(|m| &u.module == m));
    // Retention re-appends copies of a push: list each push once.
    let mut seen = std::collections::HashSet::new();
    history.retain(|u| seen.insert(u.push_id.clone()));
    if history.is_empty() {
        println!("no pushes in the history");
        return Ok(Finished::Done);
    }
    for u in &history {
        let standing = Standing::of(&trust, u);
        if args.json {
            let line = serde_json::json!({
                "module": u.module, "version": u.version, "sha256": u.sha256,
                "pushed_at_ms": u.pushed_at_ms, "pushed_by": u.pushed_by, "push_id": u.push_id,
                "targets": u.targets, "signed": u.signature.is_some(),
                "verified": standing.verified(), "refused": standing.refused(),
            });
            println!("{line}");
        } else {
            println!("{}", row(u, &standing));
        }
    }
    Ok(Finished::Done)
}

/// What the history says of an entry's signature: only what was checked.
enum Standing {
    /// Verified against the trusted keys.
    Verified,
    /// Not to be built on, and why.
    Refused(Refusal),
    /// No keys given: a signature it carries was not checked.
    Unchecked { signed: bool },
}

impl Standing {
    fn of(trust: &Trust, u: &RuleUpdate) -> Standing {
        match trust.check(u) {
            Err(why) => Standing::Refused(why),
            Ok(()) if trust.verifies() => Standing::Verified,
            Ok(()) => Standing::Unchecked {
                signed: u.signature.is_some(),
            },
        }
    }

    /// `null` when nothing was verified.
    fn verified(&self) -> Option<bool> {
        match self {
            Standing::Verified => Some(true),
            Standing::Refused(Refusal::Signature(_)) => Some(false),
            Standing::Refused(Refusal::Checksum) | Standing::Unchecked { .. } => None,
        }
    }

    fn refused(&self) -> Option<String> {
        match self {
            Standing::Refused(why) => Some(why.to_string()),
            _ => None,
        }
    }

    fn label(&self) -> String {
        match self {
            Standing::Verified => "  signed".to_owned(),
            Standing::Refused(why) => format!("  REFUSED: {why}"),
            Standing::Unchecked { signed: true } => "  signature not checked".to_owned(),
            Standing::Unchecked { signed: false } => String::new(),
        }
    }
}

fn row(u: &RuleUpdate, standing: &Standing) -> String {
    let when = u.pushed_at_ms.map_or_else(|| "-".to_owned(), iso8601);
    let sha = u.sha256.as_deref().map_or("-", |s| &s[..s.len().min(12)]);
    let targets = match &u.targets {
        None => "all".to_owned(),
        Some(t) => {
            let mut parts = Vec::new();
            if !t.workers.is_empty() {
                parts.push(t.workers.join(","));
            }
            if let Some(p) = t.canary_percent {
                parts.push(format!("canary {p}%"));
            }
            parts.join(" ")
        }
    };
    format!(
        "{when}  {:<20} v{:<5} {sha}  {:<24} {:<18} {}{}",
        u.module,
        u.version,
        u.pushed_by.as_deref().unwrap_or("-"),
        u.push_id,
        targets,
        standing.label()
    )
    .trim_end()
    .to_owned()
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC), by the civil-from-days algorithm.
pub(crate) fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(super::iso8601(1_795_294_698_712), "2026-11-21T20:58:18Z");
    }
}
