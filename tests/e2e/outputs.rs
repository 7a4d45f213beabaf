//! ARCHITECTURE's invariant 4: a job is acked only after everything it produced was
//! confirmed; otherwise it is requeued, and run again it publishes the same items, same ids.

use std::collections::BTreeMap;
use std::time::Duration;

use crawlfleet_tests::{
    Route, RulesDir, TestBroker, TestSite, WorkerProc, enqueue_until_logged, page_job,
};

const SECOND: Duration = Duration::from_secs(1);

/// A rule whose every job yields two items, `a` then `b`.
const TWO_ITEMS: &str =
    "return { parse = function(page) return { items = { { part = 'a' }, { part = 'b' } } } end }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_items_are_not_all_confirmed_is_requeued_and_publishes_them_again() {
    let mut broker = TestBroker::new("outputs").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.pair", TWO_ITEMS);
    let site =
        TestSite::start([("/p".to_owned(), Route::Html("<p>two</p>".to_owned()))].into()).await;
    // The items queue holds one message and refuses (nacks) the rest: `a` of the first run
    // is confirmed and kept, `b` (and every later copy) is refused.
    let items_queue = broker.topology().items_queue();
    broker
        .set_queue_policy(
            &items_queue,
            &serde_json::json!({ "max-length": 1, "overflow": "reject-publish" }),
        )
        .await;
    let w = WorkerProc::start_ready(
        &broker.prefix,
        rules.path(),
        &["--max-deliveries", "100", "--reconnect-min-ms", "200"],
    )
    .await;
    // Not acked: requeued, with the reason.
    let job = page_job("j-pair", site.url("/p"), "shop.pair");
    let requeued = "job requeued: what it produced was not confirmed by the broker";
    enqueue_until_logged(&broker, &[job], &w, requeued, 15 * SECOND).await;
    assert!(w.events("job done").is_empty(), "{}", w.dump());
    // The job connection drops while the job holds a confirmed item but no ack (it can have
    // none while the queue refuses `b`): the broker takes the job back.
    broker.close_worker_jobs_connection(&w.id).await;
    w.wait_for("broker session lost; reconnecting", |_| true, 10 * SECOND)
        .await;
    w.wait_count("worker ready", 2, 20 * SECOND).await;
    assert!(w.events("job done").is_empty(), "{}", w.dump());

    // The queue takes everything again: the job runs to the end and publishes both items.
    broker.clear_queue_policies().await;
    w.wait_for("job done", |_| true, 20 * SECOND).await;
    let items = broker.items(3, 10 * SECOND).await;
    assert!(
        broker.items(1, 2 * SECOND).await.is_empty(),
        "more items than the first run's `a` and one full run"
    );
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in &items {
        assert_eq!(item.job, "j-pair");
        let part = item.fields["part"].as_str().unwrap_or_default().to_owned();
        ids.entry(part).or_default().push(item.id.clone());
    }
    let a = ids.get("a").cloned().unwrap_or_default();
    let b = ids.get("b").cloned().unwrap_or_default();
    assert_eq!((a.len(), b.len()), (2, 1), "{items:?}");
    assert_eq!(a[0], a[1], "`a` published again with another id");
    assert_ne!(a[0], b[0]);
    assert_eq!(w.events("job done").len(), 1, "{}", w.dump());
    assert!(broker.dead_letters(1, SECOND).await.is_empty());
    assert_eq!(broker.depth(&broker.topology().jobs_queue()).await, 0);
    broker.assert_nothing_unacked().await;
    broker.cleanup().await;
}
