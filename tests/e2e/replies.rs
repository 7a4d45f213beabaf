//! Where the answers to a push go: straight back to the asker's channel (direct reply-to),
//! and an address that names nobody, forged or left by an asker that has gone, costs a
//! worker nothing.

use std::time::Duration;

use crawlfleet_bus::ReplyTo;
use crawlfleet_bus::message::{ReloadStatus, Reply};
use crawlfleet_tests::{RulesDir, TestBroker, WorkerProc, tagged_rule, update_body};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_address_that_names_nobody_costs_the_worker_nothing() {
    let mut broker = TestBroker::new("replies").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let worker = WorkerProc::start_ready(&broker.prefix, rules.path(), &[]).await;

    let nobody = [
        "amq.rabbitmq.reply-to.forged".to_owned(),
        format!("{}.no-such-queue", broker.prefix),
    ];
    for (version, queue) in (1..).zip(nobody) {
        let reply = ReplyTo {
            queue,
            correlation_id: Some(format!("lost-{version}")),
        };
        let update = update_body("shop.a", &tagged_rule(&format!("v{version}")), version);
        broker.send_update_replying_to(&update, &reply).await;
    }
    let reloaded = worker.wait_count("rule reloaded", 2, 10 * SECOND).await;
    assert_eq!(reloaded.len(), 2, "{}", worker.dump());

    // The next asker still hears back, on the same session.
    broker
        .send_control_raw(&update_body("shop.a", &tagged_rule("v3"), 3), "heard")
        .await;
    let replies = broker.replies(1, 10 * SECOND).await;
    let [Reply::Reload(r)] = replies.as_slice() else {
        panic!(
            "expected one reload reply, got {replies:?}\n{}",
            worker.dump()
        );
    };
    assert_eq!(
        (r.worker.as_str(), r.status, r.version),
        (worker.id.as_str(), ReloadStatus::Applied, Some(3))
    );
    assert!(
        worker.events("cannot send a reply").is_empty(),
        "{}",
        worker.dump()
    );
    assert!(
        worker
            .events("broker session lost; reconnecting")
            .is_empty(),
        "{}",
        worker.dump()
    );
    let unacked = broker.unacked().await;
    assert_eq!(unacked.get(&worker.queue), Some(&0), "{unacked:?}");
    broker.cleanup().await;
}
