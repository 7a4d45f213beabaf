//! What became of a job: done (items and follow-ups to publish), retry later, or dead.

use std::time::Duration;

use crawlfleet_bus::message::{Item, Job};

#[derive(Debug)]
pub(crate) enum Outcome {
    Done {
        items: Vec<Item>,
        follow_ups: Vec<Job>,
    },
    /// A transient failure: try again after a backoff (or `after`, from `Retry-After`).
    Retry {
        reason: String,
        error: String,
        after: Option<Duration>,
    },
    /// A permanent failure: to the dead-letter queue with its reason.
    Dead { reason: String, error: String },
}

impl Outcome {
    pub(crate) fn retry(reason: impl Into<String>, error: impl Into<String>) -> Outcome {
        Outcome::Retry {
            reason: reason.into(),
            error: error.into(),
            after: None,
        }
    }

    pub(crate) fn dead(reason: impl Into<String>, error: impl Into<String>) -> Outcome {
        Outcome::Dead {
            reason: reason.into(),
            error: error.into(),
        }
    }
}
