//! Graceful shutdown: SIGTERM drains the job in flight and exits 0; a second signal exits
//! at once (130) and leaves the job to the broker.

use std::path::PathBuf;
use std::time::Duration;

use crawlfleet_tests::{Route, TestBroker, TestSite, WorkerProc, run_publisher};

const SECOND: Duration = Duration::from_secs(1);

fn repo_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

/// A worker (`--grace-s 10`) running a job whose page takes 1.5 s, SIGTERMed mid-job; returns
/// its exit code and the site (kept serving until the test ends).
async fn sigterm_mid_job(broker: &TestBroker) -> (Option<i32>, TestSite) {
    let page = std::fs::read_to_string(repo_rules().join("shop/fixtures/travel-kettle.html"))
        .expect("fixture");
    let slow = Route::Slow {
        delay: Duration::from_millis(1500),
        then: Box::new(Route::Html(page)),
    };
    let site = TestSite::start([("/p/travel-kettle".to_owned(), slow)].into()).await;
    let w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &["--grace-s", "10"]).await;
    let url = site.url("/p/travel-kettle");
    let out = run_publisher(&broker.prefix, &["enqueue", &url, "--rule", "shop.product"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    w.wait_for("job started", |_| true, 10 * SECOND).await;
    (w.terminate().await, site)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_job_in_flight_finish_and_exits_0() {
    let mut broker = TestBroker::new("sigterm").await;
    let (code, _site) = sigterm_mid_job(&broker).await;
    assert_eq!(code, Some(0), "the worker did not exit cleanly");
    let items = broker.items(1, 5 * SECOND).await;
    assert_eq!(items.len(), 1, "the job in flight was not finished");
    broker.cleanup().await;
}

/// The drained job must be acked before the connection closes: otherwise the broker puts
/// it back and another worker runs it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_acks_the_job_it_drained() {
    let mut broker = TestBroker::new("sigtermack").await;
    let (code, _site) = sigterm_mid_job(&broker).await;
    assert_eq!(code, Some(0), "the worker did not exit cleanly");
    assert_eq!(broker.items(1, 5 * SECOND).await.len(), 1);
    // Nothing held by the closed connection: nothing goes back to the job queue.
    let jobs = broker.topology().jobs_queue();
    for _ in 0..10 {
        assert_eq!(
            broker.depth(&jobs).await,
            0,
            "the job went back to the queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker.assert_nothing_unacked().await;
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let broker = TestBroker::new("twosignals").await;
    let page = Route::Slow {
        delay: Duration::from_secs(20),
        then: Box::new(Route::Html("<p>slow</p>".to_owned())),
    };
    let site = TestSite::start([("/p/slow".to_owned(), page)].into()).await;
    let w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &["--grace-s", "60"]).await;
    let out = run_publisher(
        &broker.prefix,
        &["enqueue", &site.url("/p/slow"), "--rule", "shop.product"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    w.wait_for("job started", |_| true, 10 * SECOND).await;
    let started = std::time::Instant::now();
    let code = w.terminate_twice().await;
    assert_eq!(
        code,
        Some(130),
        "a second signal must exit without the drain"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it waited for the slow job"
    );
    // Unacked when the process ended: the broker puts it back in the job queue.
    let jobs = broker.topology().jobs_queue();
    let deadline = tokio::time::Instant::now() + 10 * SECOND;
    while broker.depth(&jobs).await != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job did not return to the queue"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    broker.cleanup().await;
}
