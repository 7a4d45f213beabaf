//! An update published while a worker is still starting (loading its rules root) is applied:
//! from the history during start-up or from its control queue after it.

use std::time::Duration;

use crawlfleet_bus::message::{ReloadStatus, Reply};
use crawlfleet_tests::{RulesDir, TestBroker, WorkerProc, tagged_rule, update_body, versions};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_published_while_a_worker_starts_is_applied() {
    let mut broker = TestBroker::new("startup").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    // Loading the rules root takes ~2 s, so the push below lands mid-start-up.
    rules.write(
        "shop.slow",
        &format!(
            "local t = os.clock() while os.clock() - t < 2 do end {}",
            tagged_rule("s")
        ),
    );
    let w = WorkerProc::start(&broker.prefix, rules.path(), &["--load-budget-ms", "10000"]).await;
    assert!(
        w.events("worker ready").is_empty(),
        "start-up was not slow enough to test this"
    );

    broker
        .send_control_raw(&update_body("shop.a", &tagged_rule("v1"), 1), "early")
        .await;
    let replies = broker.replies(1, 30 * SECOND).await;
    let Some(Reply::Reload(r)) = replies.first() else {
        panic!("no reply: {replies:?}\n{}", w.dump())
    };
    // Applied from the history during start-up, or from the queue after it: either way live.
    assert!(
        matches!(r.status, ReloadStatus::Applied | ReloadStatus::Unchanged) && r.worker == w.id,
        "{r:?}"
    );
    assert!(
        versions(&mut broker, 1)
            .await
            .contains(&(w.id.clone(), "shop.a".to_owned(), 1))
    );
    broker.cleanup().await;
}
