//! The fault matrix (docs/RELIABILITY.md): kill -9, a connection closed by the broker, the
//! broker restarted, pushes missed while down or disconnected, hostile rules at job time,
//! and garbage on every queue. The broker restart runs alone (`TestBroker::exclusive`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use crawlfleet_bus::message::{Item, Job};
use crawlfleet_tests::{
    Route, RulesDir, TestBroker, TestSite, WorkerProc, fleet, one_job, page_job, push_and_wait,
    run_publisher, tag_and_version, tagged_rule, update_body, versions,
};

const SECOND: Duration = Duration::from_secs(1);

fn repo_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

fn shop_fixtures() -> PathBuf {
    repo_rules().join("shop/fixtures")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_job_redelivers_the_job_to_another_worker() {
    let mut broker = TestBroker::new("kill9").await;
    let page =
        std::fs::read_to_string(shop_fixtures().join("travel-kettle.html")).expect("fixture");
    let slow = Route::Slow {
        delay: 3 * SECOND,
        then: Box::new(Route::Html(page)),
    };
    let site = TestSite::start([("/p/travel-kettle".to_owned(), slow)].into()).await;
    let pair = fleet(&broker.prefix, &repo_rules(), 2, &["--prefetch", "1"]).await;
    let Ok([a, b]) = <[WorkerProc; 2]>::try_from(pair) else {
        panic!("a fleet of two")
    };
    broker
        .enqueue(&[page_job(
            "j-kill",
            site.url("/p/travel-kettle"),
            "shop.product",
        )])
        .await;

    // Kill whichever worker took the job, mid-fetch.
    let deadline = tokio::time::Instant::now() + 10 * SECOND;
    let a_has_it = loop {
        if !a.events("job started").is_empty() {
            break true;
        }
        if !b.events("job started").is_empty() {
            break false;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no worker started the job"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (killed, mut survivor) = if a_has_it { (a, b) } else { (b, a) };
    let killed_id = killed.id.clone();
    let mut killed = killed;
    killed.kill9();

    let items = broker.items(1, 30 * SECOND).await;
    assert_eq!(items.len(), 1, "the job was lost with the killed worker");
    assert_eq!(items[0].worker, survivor.id);
    assert_ne!(items[0].worker, killed_id);
    assert!(survivor.alive());
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_reconnects_catches_up_on_missed_pushes_and_keeps_working() {
    let mut broker = TestBroker::new("reconnect").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let w = WorkerProc::start_ready(
        &broker.prefix,
        rules.path(),
        &["--reconnect-min-ms", "10000", "--reconnect-max-ms", "10000"],
    )
    .await;
    let bound = w.events("control queue bound").len();

    broker.close_worker_connection(&w.id).await;
    w.wait_for("broker session lost; reconnecting", |_| true, 10 * SECOND)
        .await;
    let lost = std::time::Instant::now();
    // Pushed while the worker is disconnected: its control queue is gone with the connection.
    broker
        .send_control_raw(&update_body("shop.a", &tagged_rule("v1"), 1), "missed")
        .await;

    // Not at once: the backoff (10 s, jittered down by at most half) comes first. Closing the
    // lost connections before it takes at most 2 s each, so without it the worker would be
    // back within 4.5 s.
    w.wait_count("control queue bound", bound + 1, 30 * SECOND)
        .await;
    let waited = lost.elapsed();
    assert!(
        waited >= Duration::from_millis(4500),
        "reconnected {waited:?} after the loss, before the backoff"
    );
    w.wait_for(
        "caught up with the history",
        |v| v["applied"] == 1,
        20 * SECOND,
    )
    .await;
    w.wait_count("worker ready", 2, 10 * SECOND).await;
    assert_eq!(
        versions(&mut broker, 1).await,
        [(w.id.clone(), "shop.a".to_owned(), 1)]
    );

    // And it still takes the next push, and jobs.
    let file = rules.scratch("a.lua", &tagged_rule("v2"));
    push_and_wait(&broker.prefix, "shop.a", &file, &[]).await;
    let items = one_job(&mut broker, "j-after", "shop.a").await;
    assert_eq!(tag_and_version(&items), Some((Some("v2"), 2)));
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_down_during_a_push_runs_it_before_its_first_job() {
    let mut broker = TestBroker::new("down").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let file = rules.scratch("a.lua", &tagged_rule("v1"));
    let out = run_publisher(
        &broker.prefix,
        &["push-rule", "shop.a", file.to_str().unwrap_or_default()],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let site = TestSite::one_page().await;
    broker
        .enqueue(&[page_job("j-first", site.url("/x"), "shop.a")])
        .await;

    let w = WorkerProc::start(&broker.prefix, rules.path(), &[]).await;
    let items = broker.items(1, 20 * SECOND).await;
    assert_eq!(
        tag_and_version(&items),
        Some((Some("v1"), 1)),
        "{}",
        w.dump()
    );
    let caught_up = w.events("caught up with the history");
    assert_eq!(
        caught_up.first().map(|v| v["applied"].clone()),
        Some(1.into())
    );
    broker.cleanup().await;
}

/// Adds each item's id under its page's last path segment.
fn record(got: &mut BTreeMap<String, BTreeSet<String>>, items: Vec<Item>) {
    for item in items {
        let page = item.url.rsplit('/').next().unwrap_or_default().to_owned();
        got.entry(page).or_default().insert(item.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarting_mid_crawl_loses_nothing() {
    let mut broker = TestBroker::exclusive("restart").await;
    let site = TestSite::start(TestSite::shop_routes(
        &shop_fixtures(),
        Some(Duration::from_millis(500)),
    ))
    .await;
    let args = [
        "--reconnect-min-ms",
        "200",
        "--reconnect-max-ms",
        "2000",
        "--redis-url",
        "redis://127.0.0.1:6379/",
        "--dedup-ttl-s",
        "600",
    ];
    let mut workers = fleet(&broker.prefix, &repo_rules(), 3, &args).await;
    let out = run_publisher(
        &broker.prefix,
        &["enqueue", &site.url("/"), "--rule", "shop.index"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    // Page → the ids its items carried (a redelivered page must repeat its id).
    let mut got: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    record(&mut got, broker.items(1, 30 * SECOND).await);
    assert_eq!(got.len(), 1, "the crawl had not started");

    broker.restart_broker(3 * SECOND).await;
    broker.reconnect().await;
    for w in &workers {
        w.wait_for("worker ready", |_| true, 60 * SECOND).await;
        let deadline = tokio::time::Instant::now() + 60 * SECOND;
        while w.events("worker ready").len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not reconnect:\n{}",
                w.id,
                w.dump()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Every product page's item arrives (some possibly twice, with the same id).
    let expected: BTreeSet<&str> = [
        "steel-kettle",
        "glass-kettle",
        "retro-kettle-2024",
        "travel-kettle",
        "flaky-kettle",
        "slow-kettle",
        "espresso-mug",
    ]
    .into();
    let deadline = tokio::time::Instant::now() + 90 * SECOND;
    while got.keys().map(String::as_str).collect::<BTreeSet<_>>() != expected {
        if tokio::time::Instant::now() > deadline {
            let flaky: Vec<String> = workers
                .iter()
                .flat_map(|w| {
                    w.dump()
                        .lines()
                        .filter(|l| l.contains("flaky"))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            panic!(
                "items lost: got {got:?}\nlog lines about flaky-kettle:\n{}",
                flaky.join("\n")
            );
        }
        record(&mut got, broker.items(1, 2 * SECOND).await);
    }
    // Duplicates (jobs redelivered across the restart) carry the id of the first copy.
    record(&mut got, broker.items(usize::MAX, 2 * SECOND).await);
    for (page, ids) in &got {
        assert_eq!(ids.len(), 1, "{page}: items with different ids {ids:?}");
    }
    for w in &mut workers {
        assert!(w.alive(), "{}", w.dump());
    }
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_that_loop_or_bomb_at_job_time_are_dead_lettered_and_the_worker_goes_on() {
    let mut broker = TestBroker::new("hostile").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write(
        "hostile.r",
        r#"return { parse = function(page)
            if string.find(page.url, "loop") then while true do pcall(function() while true do end end) end end
            if string.find(page.url, "bomb") then local t = {} while true do t[#t + 1] = string.rep("x", 1e6) .. #t end end
            return { items = { { url = page.url } } }
        end }"#,
    );
    let w =
        WorkerProc::start_ready(&broker.prefix, rules.path(), &["--call-budget-ms", "300"]).await;
    let routes = ["/loop", "/bomb", "/ok1", "/ok2", "/ok3", "/ok4"]
        .iter()
        .map(|p| (p.to_string(), Route::Html("<p>page</p>".to_owned())))
        .collect();
    let site = TestSite::start(routes).await;
    let jobs: Vec<Job> = ["/loop", "/bomb", "/ok1", "/ok2", "/ok3", "/ok4"]
        .iter()
        .map(|p| page_job(p, site.url(p), "hostile.r"))
        .collect();
    broker.enqueue(&jobs).await;
    let items = broker.items(4, 20 * SECOND).await;
    assert_eq!(items.len(), 4, "good jobs did not all finish");
    let dead = broker.dead_letters(2, 10 * SECOND).await;
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|(_, h)| h["x-crawlfleet-reason"].clone())
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["rule_budget", "rule_memory"]);
    let mut w = w;
    assert!(w.alive());
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_past_its_deadline_is_failed_and_settled() {
    let mut broker = TestBroker::new("deadline").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let slow = Route::Slow {
        delay: 10 * SECOND,
        then: Box::new(Route::Html("<p>late</p>".to_owned())),
    };
    let site = TestSite::start([("/slow".to_owned(), slow)].into()).await;
    let w = WorkerProc::start_ready(
        &broker.prefix,
        rules.path(),
        &["--job-deadline-s", "1", "--max-attempts", "2"],
    )
    .await;
    broker
        .enqueue(&[page_job("j-late", site.url("/slow"), "shop.a")])
        .await;
    // Attempt 1 runs out (1 s) and is retried (1 s later); attempt 2 runs out and is the last.
    let dead = broker.dead_letters(1, 15 * SECOND).await;
    let headers = dead.first().map(|(_, h)| h.clone()).unwrap_or_default();
    assert_eq!(
        headers.get("x-crawlfleet-reason").map(String::as_str),
        Some("deadline_exceeded (gave up after 2 attempts)"),
        "{dead:?}\n{}",
        w.dump()
    );
    let retried = w.events("job will be retried");
    assert_eq!(retried.len(), 1, "{}", w.dump());
    assert_eq!(retried[0]["reason"], "deadline_exceeded", "{}", w.dump());
    assert_eq!(
        dead[0].0["attempt"], 1,
        "the dead letter is the retried job"
    );
    assert_eq!(broker.depth(&broker.topology().jobs_queue()).await, 0);
    broker.assert_nothing_unacked().await;
    broker.cleanup().await;
}
