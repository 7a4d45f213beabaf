//! One job, start to finish: pin the rule, check robots.txt, fetch politely, classify the
//! response, run `parse` on a blocking thread, build items and follow-ups.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crawlfleet_bus::message::Job;
use crawlfleet_engine::{LinkRequest, Page, Rule, RuleStore};
use serde_json::json;
use tracing::{info, warn};
use url::Url;

use super::links::{self, FoundOn};
use super::{Dedup, FailReason, JobOutcome, items, normalize};
use crate::admin::Metrics;
use crate::fetch::{FetchError, FetchReason, Fetcher, retry_after};

/// Pipeline settings that are not about fetching.
#[derive(Debug, Clone)]
pub(crate) struct CrawlSettings {
    /// Depth limit when neither the crawl nor the rule sets one.
    pub(crate) default_max_depth: u32,
}

pub(crate) struct Pipeline {
    fetcher: Fetcher,
    dedup: Dedup,
    settings: CrawlSettings,
    /// Counts fetches and rule calls, which happen here.
    metrics: Arc<Metrics>,
    worker: String,
}

impl Pipeline {
    pub(crate) fn new(
        fetcher: Fetcher,
        dedup: Dedup,
        settings: CrawlSettings,
        worker: &str,
        metrics: Arc<Metrics>,
    ) -> Pipeline {
        Pipeline {
            fetcher,
            dedup,
            settings,
            metrics,
            worker: worker.to_owned(),
        }
    }

    /// Runs `job` on the rule version live now; call it inside the job's span.
    pub(crate) async fn process(&self, store: &RuleStore, job: &Job) -> JobOutcome {
        // Pin the rule version now: the job finishes on it whatever is pushed meanwhile.
        let Some(rule) = store.rule(&job.rule) else {
            return JobOutcome::dead(
                FailReason::UnknownRule,
                format!("no live rule named `{}`", job.rule),
            );
        };
        let span = tracing::Span::current();
        span.record("rule_version", rule.version());
        info!(rule_sha256 = %rule.sha256(), attempt = job.attempt, "job started");

        let keep = rule.settings().keep_query.clone();
        let Some(url) = normalize(&job.url, None, keep.as_deref(), encoding_rs::UTF_8) else {
            return JobOutcome::dead(
                FailReason::InvalidUrl,
                format!("`{}` is not an http(s) URL", job.url),
            );
        };
        if !self.fetcher.allowed(&url).await {
            return JobOutcome::dead(
                FailReason::Fetch(FetchReason::RobotsDisallowed),
                format!("robots.txt disallows {url}"),
            );
        }
        // Seeds too: a later link to this page is then recognised as seen.
        if let Err(e) = self.dedup.claim(&job.crawl, url.as_str(), &job.id).await {
            return JobOutcome::retry(FailReason::DedupUnavailable, format!("{e:#}"));
        }

        let fetch_started = std::time::Instant::now();
        let fetched = self.fetcher.get(&url).await;
        self.metrics.fetch(fetch_started.elapsed());
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(FetchError::Transient { reason, error }) => {
                return JobOutcome::retry(FailReason::Fetch(reason), error);
            }
            Err(FetchError::Permanent { reason, error }) => {
                return JobOutcome::dead(FailReason::Fetch(reason), error);
            }
        };
        let fetched_at_ms = now_ms();
        match fetched.status {
            200..=299 => {}
            408 | 429 | 500..=599 => {
                return JobOutcome::Retry {
                    reason: FailReason::Http(fetched.status),
                    error: format!("{} answered {}", fetched.url, fetched.status),
                    after: retry_after(&fetched.headers),
                };
            }
            status => {
                return JobOutcome::dead(
                    FailReason::Http(status),
                    format!("{} answered {status}", fetched.url),
                );
            }
        }

        let page_url = url::Url::parse(&fetched.url).unwrap_or(url);
        let found_on = FoundOn {
            url: page_url.clone(),
            encoding: fetched.encoding.encoding,
        };
        let page = Page {
            url: fetched.url,
            status: fetched.status,
            headers: fetched.headers,
            body: fetched.body,
            encoding: fetched.encoding,
            meta: job.meta.clone(),
        };
        let ctx = json!({
            "job": job.id, "crawl": job.crawl, "depth": job.depth,
            "attempt": job.attempt, "meta": job.meta, "url": page_url.as_str(),
        });
        let pinned = Arc::clone(&rule);
        let call_ctx = ctx.clone();
        let metrics = Arc::clone(&self.metrics);
        let parsed = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let _in_flight = metrics.stalls.start();
            let parsed = span.in_scope(|| pinned.parse(page, &call_ctx));
            (parsed, started.elapsed())
        })
        .await
        .map(|(parsed, took)| {
            self.metrics.lua_call(took);
            parsed
        });
        let output = match parsed {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return JobOutcome::dead(FailReason::Rule(e.reason()), e.to_string()),
            Err(e) => return JobOutcome::dead(FailReason::RulePanicked, e.to_string()),
        };

        let follow_ups = match self
            .follow_ups(store, &rule, job, &found_on, output.links, ctx)
            .await
        {
            Ok(jobs) => jobs,
            Err(e) => return JobOutcome::retry(FailReason::DedupUnavailable, format!("{e:#}")),
        };
        let items = items::build(
            job,
            &rule,
            page_url.as_str(),
            &self.worker,
            fetched_at_ms,
            output.items,
        );
        JobOutcome::Done { items, follow_ups }
    }

    /// The follow-up jobs for `links` found on `found_on` (where `job`'s URL led) by `job`:
    /// within the depth limit, to follow (`links.rs`) and first claimed by `job` (dedup).
    async fn follow_ups(
        &self,
        store: &RuleStore,
        rule: &Arc<Rule>,
        job: &Job,
        found_on: &FoundOn,
        links: Vec<LinkRequest>,
        ctx: serde_json::Value,
    ) -> anyhow::Result<Vec<Job>> {
        let max_depth = job
            .max_depth
            .or(rule.settings().max_depth)
            .unwrap_or(self.settings.default_max_depth);
        if links.is_empty() || job.depth >= max_depth {
            return Ok(Vec::new());
        }
        // Links resolve against the page (in its encoding); the crawl stays on the job's host.
        let candidates = links::resolve(links, found_on, rule, |name| store.rule(name));
        let crawl_url = Url::parse(&job.url).unwrap_or_else(|_| found_on.url.clone());
        let pinned = Arc::clone(rule);
        let span = tracing::Span::current();
        let (candidates, asked) = tokio::task::spawn_blocking(move || {
            let asked = span.in_scope(|| links::verdicts(&pinned, &candidates, &crawl_url, &ctx));
            (candidates, asked)
        })
        .await?;
        let verdicts = match asked {
            Ok(v) => v,
            Err(e) => {
                warn!(cause = %e, links = candidates.len(), "follow hook failed; no link followed");
                return Ok(Vec::new());
            }
        };

        let robots = |url: &Url| self.fetcher.allowed_cached(url);
        let mut jobs = Vec::new();
        for (id, candidate) in links::to_follow(candidates, verdicts, &job.id, robots) {
            if !self
                .dedup
                .claim(&job.crawl, candidate.url.as_str(), &id)
                .await?
            {
                continue;
            }
            jobs.push(Job {
                id,
                url: candidate.url.to_string(),
                rule: candidate.rule,
                depth: job.depth + 1,
                meta: candidate.meta,
                attempt: 0,
                crawl: job.crawl.clone(),
                max_depth: job.max_depth,
            });
        }
        Ok(jobs)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
