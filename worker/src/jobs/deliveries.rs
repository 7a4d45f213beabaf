//! The delivery limit, as the worker enforces it: a job whose earlier deliveries ended
//! unsettled `--max-deliveries` times (it crashed or hung a worker each time, or was requeued)
//! is dead-lettered instead of run again.
//!
//! A quorum queue counts deliveries itself (`x-delivery-count`) and also dead-letters past
//! its `x-delivery-limit` (the backstop, should the worker die before settling). A classic
//! queue only says `redelivered`, so the worker keeps the count in a header of its own: a
//! redelivered job is re-published with the count raised, confirmed, and only then is the
//! original acked; the copy is run when it comes back.

use crawlfleet_bus::{Headers, Outbox};

use super::Runner;

/// The header in which the worker counts a job's unsettled deliveries on a classic queue.
pub(super) const DELIVERIES_HEADER: &str = "x-crawlfleet-deliveries";

/// What to do with a delivery before running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Run it.
    Run,
    /// A classic queue's redelivery: re-publish it with this count, then ack the original.
    Recount(u32),
    /// Delivered this many times unsettled: dead-letter it (`delivery_limit`).
    Exhausted(u32),
}

/// The verdict on a delivery: `delivery_count` is the queue's own count (quorum queues),
/// `headers` carry the worker's count (classic queues).
pub(super) fn verdict(
    delivery_count: Option<u32>,
    redelivered: bool,
    headers: &[(String, String)],
    max_deliveries: u32,
) -> Verdict {
    if let Some(count) = delivery_count {
        return if count >= max_deliveries {
            Verdict::Exhausted(count)
        } else {
            Verdict::Run
        };
    }
    let counted = headers
        .iter()
        .find(|(k, _)| k == DELIVERIES_HEADER)
        .map_or(0, |(_, v)| parse_count(v));
    let count = if redelivered {
        counted.saturating_add(1)
    } else {
        counted
    };
    if count >= max_deliveries {
        Verdict::Exhausted(count)
    } else if redelivered {
        Verdict::Recount(count)
    } else {
        Verdict::Run
    }
}

/// A count as a header carries it: digits, saturating at `u32::MAX`; anything else is 0.
fn parse_count(text: &str) -> u32 {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    text.parse().unwrap_or(u32::MAX)
}

/// Re-publishes a classic queue's redelivered job with its count raised (mandatory, confirmed).
pub(super) async fn recount(
    runner: &Runner,
    outbox: &Outbox,
    raw: &[u8],
    count: u32,
) -> Result<(), crawlfleet_bus::BusError> {
    let headers: Headers = vec![(DELIVERIES_HEADER.to_owned(), count.to_string())];
    outbox
        .publish_bytes("", &runner.topology.jobs_queue(), raw, None, &headers)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> Vec<(String, String)> {
        vec![(DELIVERIES_HEADER.to_owned(), v.to_owned())]
    }

    #[test]
    fn quorum_counts_decide_alone() {
        assert_eq!(verdict(None, false, &[], 3), Verdict::Run);
        assert_eq!(verdict(Some(2), true, &[], 3), Verdict::Run);
        assert_eq!(verdict(Some(3), true, &[], 3), Verdict::Exhausted(3));
        assert_eq!(
            verdict(Some(u32::MAX), true, &h("0"), 3),
            Verdict::Exhausted(u32::MAX)
        );
    }

    #[test]
    fn classic_redeliveries_are_counted_in_a_header() {
        assert_eq!(verdict(None, true, &[], 3), Verdict::Recount(1));
        assert_eq!(verdict(None, false, &h("2"), 3), Verdict::Run);
        assert_eq!(verdict(None, true, &h("1"), 3), Verdict::Recount(2));
        assert_eq!(verdict(None, true, &h("2"), 3), Verdict::Exhausted(3));
        assert_eq!(verdict(None, false, &h("7"), 3), Verdict::Exhausted(7));
    }

    #[test]
    fn hostile_counts_saturate_or_count_as_zero() {
        assert_eq!(
            verdict(None, true, &h("99999999999999999999"), 3),
            Verdict::Exhausted(u32::MAX)
        );
        assert_eq!(verdict(None, true, &h("-5"), 3), Verdict::Recount(1));
        assert_eq!(verdict(None, true, &h("1e9"), 3), Verdict::Recount(1));
    }
}
