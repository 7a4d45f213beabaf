//! The crawl pipeline, independent of where jobs come from: rule → robots → fetch → parse
//! → items and follow-up jobs, or a retry or a dead letter. The broker-backed job loop
//! (`jobs/`) and the in-process `worker crawl` (`local/`) both run exactly this.

mod dedup;
mod items;
mod links;
mod outcome;
mod pipeline;
mod url_norm;

pub(crate) use dedup::Dedup;
pub(crate) use links::{FoundOn, resolve, verdicts};
pub(crate) use outcome::{FailReason, JobOutcome};
pub(crate) use pipeline::{CrawlSettings, Pipeline};
pub(crate) use url_norm::normalize;
