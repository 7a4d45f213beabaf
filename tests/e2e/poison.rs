//! Poison on the job queue: jobs whose error texts would not fit a frame, an `attempt` at the
//! integer maximum, jobs redelivered past the delivery limit, and output that reaches no queue.
//! None may cost a worker its session, loop for ever, or be acked into nothing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crawlfleet_bus::bounds::MAX_HEADER_VALUE_BYTES;
use crawlfleet_bus::message::Raw;
use crawlfleet_bus::{Bus, DEFAULT_MAX_DELIVERIES, Inbox, JobQueueType, Topology};
use crawlfleet_tests::{
    AMQP_URL, Route, TestBroker, TestSite, WorkerProc, enqueue_until_logged, http_get, page_job,
};

const SECOND: Duration = Duration::from_secs(1);
const SESSION_LOST: &str = "broker session lost; reconnecting";
const REACHED_NO_QUEUE: &str = "job requeued: what it produced reached no queue";
const NOT_CONFIRMED: &str = "job requeued: what it produced was not confirmed by the broker";

fn repo_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

fn product_page() -> String {
    let file = repo_rules().join("shop/fixtures/travel-kettle.html");
    std::fs::read_to_string(file).expect("fixture")
}

/// Asserts the worker kept its broker session and is alive.
fn assert_session_kept(w: &mut WorkerProc) {
    assert!(w.events(SESSION_LOST).is_empty(), "{}", w.dump());
    assert!(w.alive(), "{}", w.dump());
}

/// Takes the next job of `prefix`'s job queue and requeues it, `times` times in a row, as a
/// consumer that keeps failing on it would (a raw AMQP consumer, no worker).
async fn bounce(prefix: &str, times: usize) {
    let topology = Topology::new(prefix, JobQueueType::Quorum);
    let bus = Bus::connect(AMQP_URL, &format!("test {prefix} bouncer"), topology)
        .await
        .expect("connect");
    let queue = bus.topology().jobs_queue();
    let mut inbox: Inbox<Raw> = bus.inbox(&queue, 1, "bouncer").await.expect("consume");
    for n in 1..=times {
        let incoming = tokio::time::timeout(10 * SECOND, inbox.next())
            .await
            .expect("a delivery within 10 s")
            .expect("consumer open")
            .expect("delivery");
        if n == times {
            // No further delivery to this consumer, which would be returned when it closes.
            inbox.cancel().await.expect("cancel");
        }
        incoming.settle.requeue().await.expect("requeue");
    }
    inbox.close().await;
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_kb_url_answering_404_is_dead_lettered_once_and_the_session_survives() {
    let mut broker = TestBroker::new("poison404").await;
    let site = TestSite::start([("/ok".to_owned(), Route::Html(product_page()))].into()).await;
    let mut w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &[]).await;
    let long = site.url(&format!("/{}", "a".repeat(20_000)));
    broker
        .enqueue(&[
            page_job("j-long", long, "shop.product"),
            page_job("j-ok", site.url("/ok"), "shop.product"),
        ])
        .await;

    let dead = broker.dead_letters(1, 15 * SECOND).await;
    assert_eq!(dead.len(), 1, "{}", w.dump());
    let (body, headers) = &dead[0];
    assert_eq!(body["id"], "j-long");
    assert_eq!(headers["x-crawlfleet-reason"], "http_404", "{headers:?}");
    let error = &headers["x-crawlfleet-error"];
    assert!(error.len() <= MAX_HEADER_VALUE_BYTES, "{}", error.len());
    assert!(error.contains("…[truncated "), "{error}");
    // The job beside it is done.
    let items = broker.items(1, 10 * SECOND).await;
    assert_eq!(items.len(), 1, "{}", w.dump());
    assert_eq!(items[0].job, "j-ok");

    // Dead-lettered once: nothing more arrives, and the session was never lost.
    assert!(broker.dead_letters(1, 2 * SECOND).await.is_empty());
    assert_eq!(w.events("job dead-lettered").len(), 1, "{}", w.dump());
    assert_session_kept(&mut w);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_with_huge_field_names_is_dead_lettered_as_invalid_and_the_session_survives() {
    let mut broker = TestBroker::new("poisonnames").await;
    let mut w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &[]).await;
    let body = format!(
        r#"{{"id": "j-names", "url": "http://127.0.0.1:1/", "rule": "shop.product", "crawl": "c", "{}": 1, "{}": 2}}"#,
        "n".repeat(100_000),
        "é".repeat(50_000)
    );
    broker.enqueue_raw(body.as_bytes()).await;

    let dead = broker.dead_letters(1, 15 * SECOND).await;
    assert_eq!(dead.len(), 1, "{}", w.dump());
    let (body, headers) = &dead[0];
    assert_eq!(body["id"], "j-names", "the body is kept as it came");
    assert_eq!(headers["x-crawlfleet-reason"], "invalid_job");
    let error = &headers["x-crawlfleet-error"];
    assert!(
        error.starts_with("invalid `job` message: unknown field"),
        "{error}"
    );
    assert!(error.len() <= MAX_HEADER_VALUE_BYTES, "{}", error.len());
    assert!(broker.dead_letters(1, 2 * SECOND).await.is_empty());
    assert_session_kept(&mut w);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_at_the_largest_attempt_is_dead_lettered_without_overflow() {
    let mut broker = TestBroker::new("poisonattempt").await;
    let site =
        TestSite::start([("/down".to_owned(), Route::Status(503, "down".to_owned()))].into()).await;
    let mut w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &[]).await;
    let mut job = page_job("j-max", site.url("/down"), "shop.product");
    job.attempt = u32::MAX;
    broker.enqueue(&[job]).await;

    let dead = broker.dead_letters(1, 15 * SECOND).await;
    assert_eq!(dead.len(), 1, "{}", w.dump());
    let (body, headers) = &dead[0];
    assert_eq!(body["attempt"], u32::MAX);
    assert_eq!(
        headers["x-crawlfleet-reason"],
        "http_503 (gave up after 4294967296 attempts)"
    );
    assert_eq!(headers["x-crawlfleet-attempt"], u32::MAX.to_string());
    assert!(w.events("job will be retried").is_empty(), "{}", w.dump());
    assert_session_kept(&mut w);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_redelivered_past_the_limit_ends_in_the_dead_queue_unrun() {
    let mut broker = TestBroker::new("poisonlimit").await;
    let site = TestSite::start([("/p".to_owned(), Route::Html(product_page()))].into()).await;
    let limit = usize::try_from(DEFAULT_MAX_DELIVERIES).expect("limit");

    // Returned one time more than the limit: the broker dead-letters it itself.
    broker
        .enqueue(&[page_job("j-broker", site.url("/p"), "shop.product")])
        .await;
    bounce(&broker.prefix, limit + 1).await;
    // Returned as often as the limit allows: the worker that gets it next dead-letters it.
    broker
        .enqueue(&[page_job("j-worker", site.url("/p"), "shop.product")])
        .await;
    bounce(&broker.prefix, limit).await;

    let mut w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &[]).await;
    let mut dead = broker.dead_letters(2, 15 * SECOND).await;
    assert_eq!(dead.len(), 2, "{dead:?}\n{}", w.dump());
    dead.sort_by_key(|(body, _)| body["id"].as_str().map(str::to_owned));
    let (by_broker, by_worker) = (&dead[0].1, &dead[1].1);
    assert_eq!(dead[0].0["id"], "j-broker");
    assert_eq!(
        by_broker.get("x-first-death-reason").map(String::as_str),
        Some("delivery_limit"),
        "{by_broker:?}"
    );
    assert_eq!(dead[1].0["id"], "j-worker");
    assert_eq!(by_worker["x-crawlfleet-reason"], "delivery_limit");
    assert!(
        by_worker["x-crawlfleet-error"].starts_with(&format!("delivered {limit} times")),
        "{by_worker:?}"
    );
    // Neither was run again: the page was never fetched, no item was published.
    assert!(!site.hits().contains(&"/p".to_owned()), "{:?}", site.hits());
    assert!(broker.items(1, SECOND).await.is_empty());
    assert_session_kept(&mut w);
    broker.cleanup().await;
}

/// `rabbitmqctl delete_queue`, as an operator's mistake would.
async fn delete_queue(queue: String) {
    tokio::task::spawn_blocking(move || {
        let status = Command::new("rabbitmqctl")
            .args(["-q", "delete_queue", &queue])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("rabbitmqctl");
        assert!(status.success(), "delete_queue {queue} failed");
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_items_queue_deleted_a_job_is_requeued_until_it_is_back() {
    let mut broker = TestBroker::new("poisonitems").await;
    let site = TestSite::start([("/p".to_owned(), Route::Html(product_page()))].into()).await;
    let mut w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &[]).await;
    // The same page once while the queue is there: the item id to expect.
    broker
        .enqueue(&[page_job("j-before", site.url("/p"), "shop.product")])
        .await;
    let before = broker.items(1, 10 * SECOND).await;
    assert_eq!(before.len(), 1, "{}", w.dump());
    let items_queue = broker.topology().items_queue();
    delete_queue(items_queue).await;
    // The item reaches no queue: the job is requeued, not acked, and it says where.
    let job = page_job("j-items", site.url("/p"), "shop.product");
    let failed = enqueue_until_logged(&broker, &[job], &w, REACHED_NO_QUEUE, 15 * SECOND).await;
    assert_eq!(failed["exchange"], broker.topology().items_exchange());
    assert_eq!(w.events("job done").len(), 1, "{}", w.dump());
    let metrics = http_get(&format!("{}/metrics", w.admin_url().await))
        .await
        .1;
    assert!(
        metrics.contains("crawlfleet_jobs_total{rule=\"shop.product\",outcome=\"requeued\"}"),
        "{metrics}"
    );

    // The queue comes back (as any fleet member declares it; the test's view connects again,
    // its consumer of the deleted queue was cancelled): the job's item arrives.
    broker.reconnect().await;
    let items = broker.items(1, 15 * SECOND).await;
    assert_eq!(items.len(), 1, "{}", w.dump());
    assert_eq!(items[0].job, "j-items");
    assert_eq!(items[0].id, before[0].id, "the same item, with the same id");
    assert!(
        broker.items(1, 2 * SECOND).await.is_empty(),
        "published twice"
    );
    assert!(broker.dead_letters(1, SECOND).await.is_empty());
    broker.assert_nothing_unacked().await;
    assert_session_kept(&mut w);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_dead_queue_deleted_a_dead_letter_waits_for_it() {
    let mut broker = TestBroker::new("poisondead").await;
    let site = TestSite::start(Default::default()).await;
    let mut w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &[]).await;
    delete_queue(broker.topology().dead_queue()).await;
    let job = page_job("j-gone", site.url("/gone"), "shop.product");
    let failed = enqueue_until_logged(&broker, &[job], &w, REACHED_NO_QUEUE, 15 * SECOND).await;
    assert_eq!(failed["routing_key"], broker.topology().dead_queue());
    assert!(w.events("job dead-lettered").is_empty(), "{}", w.dump());

    let topology = Topology::new(&broker.prefix, JobQueueType::Quorum);
    let bus = Bus::connect(AMQP_URL, "test redeclare", topology)
        .await
        .expect("connect");
    bus.declare_jobs().await.expect("declare");
    bus.close().await;
    let dead = broker.dead_letters(1, 15 * SECOND).await;
    assert_eq!(dead.len(), 1, "{}", w.dump());
    assert_eq!(dead[0].1["x-crawlfleet-reason"], "http_404");
    assert!(broker.dead_letters(1, 2 * SECOND).await.is_empty());
    assert_session_kept(&mut w);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_kills_its_workers_is_dead_lettered_after_the_limit() {
    let mut broker = TestBroker::new("poisonkill").await;
    let hang = Route::Slow {
        delay: 60 * SECOND,
        then: Box::new(Route::Html(product_page())),
    };
    let site = TestSite::start([("/hang".to_owned(), hang)].into()).await;
    broker
        .enqueue(&[page_job("j-kill", site.url("/hang"), "shop.product")])
        .await;
    // The queue was declared with the default limit (as by an older worker, or one with
    // another --max-deliveries): each worker says so, uses it, and counts deliveries itself.
    let flags = ["--max-deliveries", "2", "--prefetch", "1"];
    for _ in 0..2 {
        let mut w = WorkerProc::start(&broker.prefix, &repo_rules(), &flags).await;
        let warning = w
            .wait_for(
                "job queue declared with other delivery-limit arguments; using it as it is",
                |_| true,
                10 * SECOND,
            )
            .await;
        assert_eq!(warning["argument"], "x-delivery-limit", "{warning}");
        w.wait_for("job started", |_| true, 15 * SECOND).await;
        w.kill9();
    }
    let mut w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &flags).await;
    let dead = broker.dead_letters(1, 15 * SECOND).await;
    assert_eq!(dead.len(), 1, "{}", w.dump());
    assert_eq!(dead[0].0["id"], "j-kill");
    assert_eq!(dead[0].1["x-crawlfleet-reason"], "delivery_limit");
    assert!(w.events("job started").is_empty(), "{}", w.dump());
    assert_session_kept(&mut w);
    broker.cleanup().await;
}

/// A fleet on a classic job queue, seen from the test (the harness's `TestBroker` declares
/// quorum queues); its topology is deleted when dropped, even after a panic.
struct ClassicFleet {
    bus: Bus,
    outbox: crawlfleet_bus::Outbox,
}

impl ClassicFleet {
    async fn new(prefix: &str) -> ClassicFleet {
        let topology = Topology::new(prefix, JobQueueType::Classic);
        let bus = Bus::connect(AMQP_URL, &format!("test {prefix}"), topology)
            .await
            .expect("connect");
        let outbox = bus.outbox().await.expect("outbox");
        ClassicFleet { bus, outbox }
    }

    async fn enqueue(&self, job: crawlfleet_bus::message::Job) {
        let queue = self.bus.topology().jobs_queue();
        self.outbox
            .publish_all("", &queue, &[job])
            .await
            .expect("enqueue");
    }

    /// The next dead letter's body and headers, if one comes within `timeout`.
    async fn dead_letter(
        &self,
        timeout: Duration,
    ) -> Option<(
        serde_json::Value,
        std::collections::BTreeMap<String, String>,
    )> {
        let queue = self.bus.topology().dead_queue();
        let mut inbox: Inbox<Raw> = self.bus.inbox(&queue, 1, "test-dead").await.ok()?;
        let incoming = tokio::time::timeout(timeout, inbox.next())
            .await
            .ok()??
            .ok()?;
        let _ = incoming.settle.ack().await;
        let body = serde_json::from_slice(&incoming.raw).unwrap_or_default();
        Some((body, incoming.headers.into_iter().collect()))
    }
}

impl Drop for ClassicFleet {
    fn drop(&mut self) {
        let topology = self.bus.topology().clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(bus) = Bus::connect(AMQP_URL, "test cleanup", topology).await {
                    let _ = bus.delete_topology().await;
                    bus.close().await;
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_classic_queue_the_worker_counts_deliveries_itself() {
    let prefix = TestBroker::fresh_prefix("poisonclassic");
    let flags = [
        "--job-queue-type",
        "classic",
        "--max-deliveries",
        "2",
        "--prefetch",
        "1",
    ];
    let fleet = ClassicFleet::new(&prefix).await;
    // The first worker declares the classic topology.
    let mut first = WorkerProc::start_ready(&prefix, &repo_rules(), &flags).await;
    let hang = Route::Slow {
        delay: 60 * SECOND,
        then: Box::new(Route::Html(product_page())),
    };
    let site = TestSite::start([("/hang".to_owned(), hang)].into()).await;
    fleet
        .enqueue(page_job("j-classic", site.url("/hang"), "shop.product"))
        .await;
    first.wait_for("job started", |_| true, 15 * SECOND).await;
    first.kill9();

    // Redelivered: queued again with its count, run, and its worker killed once more.
    let mut second = WorkerProc::start(&prefix, &repo_rules(), &flags).await;
    let recounted = second
        .wait_for(
            "job redelivered; queued again with its delivery count",
            |_| true,
            15 * SECOND,
        )
        .await;
    assert_eq!(recounted["deliveries"], 1, "{recounted}");
    second.wait_for("job started", |_| true, 15 * SECOND).await;
    second.kill9();

    let mut third = WorkerProc::start_ready(&prefix, &repo_rules(), &flags).await;
    let (body, headers) = fleet
        .dead_letter(15 * SECOND)
        .await
        .unwrap_or_else(|| panic!("no dead letter\n{}", third.dump()));
    assert_eq!(body["id"], "j-classic");
    assert_eq!(headers["x-crawlfleet-reason"], "delivery_limit");
    assert!(
        headers["x-crawlfleet-error"].starts_with("delivered 2 times"),
        "{headers:?}"
    );
    assert!(third.events("job started").is_empty(), "{}", third.dump());
    let jobs = fleet.bus.topology().jobs_queue();
    assert_eq!(fleet.bus.queue_depth(&jobs).await.expect("depth"), 0);
    assert_session_kept(&mut third);
    drop(third);
}

/// Deletes an exchange inside the broker (`rabbitmqctl` has no command for it).
async fn delete_exchange(exchange: String) {
    tokio::task::spawn_blocking(move || {
        let expr = format!(
            "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"{exchange}\">>), false, <<\"test\">>)."
        );
        let out = Command::new("rabbitmqctl")
            .args(["-q", "eval", &expr])
            .output()
            .expect("rabbitmqctl");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.trim() == "ok", "{said}");
    })
    .await
    .expect("join");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_items_exchange_deleted_the_session_is_renewed_and_the_item_arrives() {
    let mut broker = TestBroker::new("poisonexchange").await;
    let site = TestSite::start([("/p".to_owned(), Route::Html(product_page()))].into()).await;
    let w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &[]).await;
    delete_exchange(broker.topology().items_exchange()).await;
    // The publish closes the outbox's channel (no such exchange): the job is requeued and
    // the session renewed, which declares the exchange (and binds the queue) again.
    let job = page_job("j-exchange", site.url("/p"), "shop.product");
    let failed = enqueue_until_logged(&broker, &[job], &w, NOT_CONFIRMED, 15 * SECOND).await;
    assert!(
        failed["cause"]
            .as_str()
            .is_some_and(|c| c.contains("NOT_FOUND")),
        "{failed}"
    );
    w.wait_for(SESSION_LOST, |_| true, 15 * SECOND).await;
    let items = broker.items(1, 20 * SECOND).await;
    assert_eq!(items.len(), 1, "{}", w.dump());
    assert_eq!(items[0].job, "j-exchange");
    assert!(broker.dead_letters(1, SECOND).await.is_empty());
    broker.cleanup().await;
}
