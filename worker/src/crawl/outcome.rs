//! What became of a job — done (items and follow-ups to publish), retry later, or dead — and
//! why it failed, rendered to the label that logs, dead letters and `worker crawl`'s
//! dead-letter file carry.

use std::fmt;
use std::time::Duration;

use crawlfleet_bus::message::{Item, Job};

use crate::fetch::FetchReason;

#[derive(Debug)]
pub(crate) enum JobOutcome {
    Done {
        items: Vec<Item>,
        follow_ups: Vec<Job>,
    },
    /// A transient failure: try again after a backoff (or `after`, from `Retry-After`).
    Retry {
        reason: FailReason,
        error: String,
        after: Option<Duration>,
    },
    /// A permanent failure: to the dead-letter queue with its reason.
    Dead { reason: FailReason, error: String },
}

impl JobOutcome {
    pub(crate) fn retry(reason: FailReason, error: impl Into<String>) -> JobOutcome {
        JobOutcome::Retry {
            reason,
            error: error.into(),
            after: None,
        }
    }

    pub(crate) fn dead(reason: FailReason, error: impl Into<String>) -> JobOutcome {
        JobOutcome::Dead {
            reason,
            error: error.into(),
        }
    }
}

/// Why a job failed. Its label is its `Display`: the `reason` of log lines and the
/// `x-crawlfleet-reason` header of dead letters, which operators and tests read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FailReason {
    /// The job names no live rule.
    UnknownRule,
    /// The job's URL is not an http(s) URL.
    InvalidUrl,
    /// Fetching failed (robots.txt disallowed it, the host timed out, ...).
    Fetch(FetchReason),
    /// A status that is not a success (retried for 408, 429 and 5xx).
    Http(u16),
    /// The dedup store (Redis) did not answer.
    DedupUnavailable,
    /// The job ran past `--job-deadline-s`.
    DeadlineExceeded,
    /// The rule call failed; the engine's label (`CallError::reason`).
    Rule(&'static str),
    /// The rule call panicked.
    RulePanicked,
    /// The body on the job queue is not a job.
    InvalidJob,
    /// Delivered `--max-deliveries` times without being settled.
    DeliveryLimit,
    /// What the job produced is larger than a message may be.
    OutputTooLarge,
    /// A transient failure, still failing after the last attempt.
    GaveUp {
        last: Box<FailReason>,
        attempts: u64,
    },
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::UnknownRule => f.write_str("unknown_rule"),
            FailReason::InvalidUrl => f.write_str("invalid_url"),
            FailReason::Fetch(reason) => f.write_str(reason.label()),
            FailReason::Http(status) => write!(f, "http_{status}"),
            FailReason::DedupUnavailable => f.write_str("dedup_unavailable"),
            FailReason::DeadlineExceeded => f.write_str("deadline_exceeded"),
            FailReason::Rule(label) => f.write_str(label),
            FailReason::RulePanicked => f.write_str("rule_panicked"),
            FailReason::InvalidJob => f.write_str("invalid_job"),
            FailReason::DeliveryLimit => f.write_str("delivery_limit"),
            FailReason::OutputTooLarge => f.write_str("output_too_large"),
            FailReason::GaveUp { last, attempts } => {
                write!(f, "{last} (gave up after {attempts} attempts)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_ones_operators_read() {
        let cases = [
            (FailReason::Http(503), "http_503"),
            (
                FailReason::Fetch(FetchReason::RobotsDisallowed),
                "robots_disallowed",
            ),
            (FailReason::Rule("rule_budget"), "rule_budget"),
            (
                FailReason::GaveUp {
                    last: Box::new(FailReason::DeadlineExceeded),
                    attempts: 2,
                },
                "deadline_exceeded (gave up after 2 attempts)",
            ),
        ];
        for (reason, label) in cases {
            assert_eq!(reason.to_string(), label);
        }
    }
}
