//! Where `worker crawl` writes: items as JSON Lines, jobs that failed for good as JSON Lines
//! with their reasons, and the counts it reports at the end.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use anyhow::Context as _;
use crawlfleet_bus::message::{Encode, Item, Job};
use tracing::error;

pub(super) struct Sinks {
    items: Mutex<BufWriter<File>>,
    dead: Option<Mutex<File>>,
    tally: Tally,
}

/// What a crawl did, counted as it goes.
#[derive(Default)]
struct Tally {
    pages: AtomicU64,
    items: AtomicU64,
    retries: AtomicU64,
    dead: Mutex<BTreeMap<String, u64>>,
}

/// The counts at the end of a crawl.
#[derive(Debug)]
pub(super) struct Totals {
    pub(super) pages: u64,
    pub(super) items: u64,
    pub(super) retries: u64,
    /// Jobs that failed for good, by reason.
    pub(super) dead: BTreeMap<String, u64>,
}

impl Sinks {
    /// Creates (or truncates) the items file and, when asked for, the dead-letter file.
    pub(super) fn create(items: &Path, dead: Option<&Path>) -> anyhow::Result<Sinks> {
        let items =
            File::create(items).with_context(|| format!("cannot write {}", items.display()))?;
        let dead = match dead {
            Some(path) => {
                Some(Mutex::new(File::create(path).with_context(|| {
                    format!("cannot write {}", path.display())
                })?))
            }
            None => None,
        };
        Ok(Sinks {
            items: Mutex::new(BufWriter::new(items)),
            dead,
            tally: Tally::default(),
        })
    }

    /// A page crawled, with the items it gave.
    pub(super) fn done(&self, items: &[Item]) {
        self.tally.pages.fetch_add(1, Ordering::Relaxed);
        self.tally
            .items
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        let mut lines = Vec::new();
        for item in items {
            lines.extend(item.encode());
            lines.push(b'\n');
        }
        let mut out = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = out.write_all(&lines).and_then(|()| out.flush()) {
            error!(cause = %e, "cannot write items");
        }
    }

    pub(super) fn retried(&self) {
        self.tally.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// A job that failed for good.
    pub(super) fn dead(&self, job: &Job, reason: &str, error: &str) {
        *self
            .tally
            .dead
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(reason.to_owned())
            .or_default() += 1;
        if let Some(dead) = &self.dead {
            let line = serde_json::json!({"job": job, "reason": reason, "error": error});
            let mut dead = dead.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(dead, "{line}");
        }
    }

    pub(super) fn totals(&self) -> Totals {
        Totals {
            pages: self.tally.pages.load(Ordering::Relaxed),
            items: self.tally.items.load(Ordering::Relaxed),
            retries: self.tally.retries.load(Ordering::Relaxed),
            dead: self
                .tally
                .dead
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}
