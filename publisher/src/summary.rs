//! The `--wait` report: one line per worker, then `applied 2/3 — failed: …; missing: …`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crawlfleet_bus::message::{ReloadReply, ReloadStatus};

pub(crate) struct Summary {
    expected: Vec<String>,
    replies: BTreeMap<String, ReloadReply>,
}

impl Summary {
    pub(crate) fn new(expected: &[String], replies: BTreeMap<String, ReloadReply>) -> Summary {
        Summary {
            expected: expected.to_vec(),
            replies,
        }
    }

    fn applied(r: &ReloadReply) -> bool {
        matches!(r.status, ReloadStatus::Applied | ReloadStatus::Unchanged)
    }

    /// Every expected worker applied it (and there was at least one).
    pub(crate) fn complete(&self) -> bool {
        !self.expected.is_empty()
            && self
                .expected
                .iter()
                .all(|w| self.replies.get(w).is_some_and(Self::applied))
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let mut workers: Vec<&String> = self.expected.iter().collect();
        workers.extend(self.replies.keys().filter(|w| !self.expected.contains(w)));
        for w in &workers {
            let line = match self.replies.get(*w) {
                None => format!("{w:<12} missing  (no reply)"),
                Some(r) => {
                    let ms = r.elapsed_us as f64 / 1000.0;
                    match r.status {
                        ReloadStatus::Applied | ReloadStatus::Unchanged => format!(
                            "{w:<12} {:<8} v{} sha256 {} in {ms:.1} ms",
                            if r.status == ReloadStatus::Applied {
                                "applied"
                            } else {
                                "unchanged"
                            },
                            r.version.unwrap_or(0),
                            r.sha256.as_deref().map_or("?", |s| &s[..s.len().min(12)]),
                        ),
                        ReloadStatus::Skipped => {
                            format!("{w:<12} skipped  (not chosen for this push)")
                        }
                        ReloadStatus::Failed => format!(
                            "{w:<12} failed   [{}] {}",
                            r.stage.as_deref().unwrap_or("?"),
                            r.error.as_deref().unwrap_or("")
                        ),
                    }
                }
            };
            let _ = writeln!(out, "{line}");
        }
        let applied = self
            .expected
            .iter()
            .filter(|w| self.replies.get(*w).is_some_and(Self::applied))
            .count();
        let failed: Vec<String> = workers
            .iter()
            .filter_map(|w| {
                let r = self.replies.get(*w)?;
                (r.status == ReloadStatus::Failed)
                    .then(|| format!("{w} ({})", r.error.as_deref().unwrap_or("?")))
            })
            .collect();
        let missing: Vec<&str> = self
            .expected
            .iter()
            .filter(|w| !self.replies.contains_key(*w))
            .map(String::as_str)
            .collect();
        let _ = write!(out, "applied {applied}/{}", self.expected.len());
        let mut parts = Vec::new();
        if !failed.is_empty() {
            parts.push(format!("failed: {}", failed.join(", ")));
        }
        if !missing.is_empty() {
            parts.push(format!("missing: {}", missing.join(", ")));
        }
        if self.expected.is_empty() {
            parts.push("no live worker answered the ping, or none was chosen".to_owned());
        }
        if !parts.is_empty() {
            let _ = write!(out, " — {}", parts.join("; "));
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(worker: &str, status: ReloadStatus, error: Option<&str>) -> ReloadReply {
        ReloadReply {
            worker: worker.to_owned(),
            host: "h".to_owned(),
            status,
            push_id: Some("p".to_owned()),
            module: Some("m".to_owned()),
            version: Some(3),
            sha256: Some("ab".repeat(32)),
            stage: error.map(|_| "compile".to_owned()),
            error: error.map(str::to_owned),
            elapsed_us: 1500,
        }
    }

    #[test]
    fn renders_the_summary_line() {
        let expected = vec!["w-1".to_owned(), "w-2".to_owned(), "w-3".to_owned()];
        let mut replies = BTreeMap::new();
        replies.insert("w-1".to_owned(), reply("w-1", ReloadStatus::Applied, None));
        replies.insert(
            "w-2".to_owned(),
            reply(
                "w-2",
                ReloadStatus::Failed,
                Some("syntax error at line 4: x"),
            ),
        );
        let s = Summary::new(&expected, replies);
        assert!(!s.complete());
        let text = s.render();
        assert!(
            text.ends_with("applied 1/3 — failed: w-2 (syntax error at line 4: x); missing: w-3\n"),
            "{text}"
        );
    }

    #[test]
    fn all_applied_is_complete() {
        let expected = vec!["w-1".to_owned()];
        let mut replies = BTreeMap::new();
        replies.insert("w-1".to_owned(), reply("w-1", ReloadStatus::Applied, None));
        let s = Summary::new(&expected, replies);
        assert!(s.complete());
        assert!(s.render().ends_with("applied 1/1\n"));
        assert!(!Summary::new(&[], BTreeMap::new()).complete());
    }
}
