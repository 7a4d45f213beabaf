//! The express lane: updates relayed by Redis are live before the broker's copy, which is
//! then settled and answered without a second reload; a lane that is down, or carries
//! garbage or bad updates, changes nothing the broker path guarantees.

use std::time::Duration;

use crawlfleet_bus::ExpressLane;
use crawlfleet_bus::message::{ControlMessage, Encode, ReloadStatus, Reply};
use crawlfleet_tests::{
    RulesDir, TestBroker, WorkerProc, fleet, one_job, run_publisher, shop_a_update,
    tag_and_version, tagged_rule,
};
use serde_json::Value;

const SECOND: Duration = Duration::from_secs(1);
const REDIS: &str = "redis://127.0.0.1:6379/";
/// What a worker logs for a body on the express lane that is not a message.
const GARBAGE: &str = "garbage on the express lane (ignored; the broker's copy is reported)";

/// `push-rule shop.a --wait`, relaying on the express lane at `express`.
async fn push(
    broker: &TestBroker,
    rules: &RulesDir,
    source: &str,
    express: &str,
) -> crawlfleet_tests::CliOutput {
    let file = rules.scratch("a.lua", source);
    run_publisher(
        &broker.prefix,
        &[
            "push-rule",
            "shop.a",
            file.to_str().unwrap_or_default(),
            "--wait",
            "--express-url",
            express,
        ],
    )
    .await
}

fn via(line: &Value) -> &str {
    line["via"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_express_push_is_live_first_and_the_broker_copy_is_answered_without_a_second_reload() {
    let mut broker = TestBroker::new("express").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let workers = fleet(&broker.prefix, rules.path(), 2, &["--express-url", REDIS]).await;
    for w in &workers {
        w.wait_for("express lane subscribed", |_| true, 10 * SECOND)
            .await;
    }

    // The express copy alone first: live from it, with no broker message to settle.
    let update = ControlMessage::Update(shop_a_update(&tagged_rule("v1"), 1, "p-express"));
    let lane = ExpressLane::new(REDIS, broker.topology()).expect("lane");
    assert_eq!(lane.publish(&update.encode()).await.expect("publish"), 2);
    for w in &workers {
        let reloaded = w.wait_count("rule reloaded", 1, 5 * SECOND).await;
        assert_eq!(via(&reloaded[0]), "express", "{}", w.dump());
    }
    // Then the broker's copy: settled and answered with the express outcome, no second reload.
    broker.send_control(&update, "p-express").await;
    let replies = broker.replies(2, 10 * SECOND).await;
    assert_eq!(replies.len(), 2, "{replies:?}");
    for r in &replies {
        assert!(
            matches!(r, Reply::Reload(r) if r.status == ReloadStatus::Applied && r.version == Some(1)),
            "{r:?}"
        );
    }
    for w in &workers {
        let answered = w
            .wait_count(
                "update already applied from the express lane",
                1,
                5 * SECOND,
            )
            .await;
        assert_eq!(answered.len(), 1, "{}", w.dump());
        assert_eq!(w.events("rule reloaded").len(), 1, "{}", w.dump());
    }

    // Through the publisher: one reload per worker, from whichever copy came first.
    let out = push(&broker, &rules, &tagged_rule("v2"), REDIS).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("express lane: handed to 2"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("applied 2/2"), "{}", out.stdout);
    for w in &workers {
        let reloaded = w.wait_count("rule reloaded", 2, 5 * SECOND).await;
        assert_eq!(reloaded.len(), 2, "{}", w.dump());
    }
    let unacked = broker.unacked().await;
    for w in &workers {
        assert_eq!(unacked.get(&w.queue), Some(&0), "{unacked:?}");
    }
    // New jobs run the new version.
    let items = one_job(&mut broker, "j-express", "shop.a").await;
    assert_eq!(tag_and_version(&items), Some((Some("v2"), 2)));
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_that_is_down_or_carries_garbage_and_bad_updates_changes_nothing() {
    let broker = TestBroker::new("express-bad").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    // Nothing listens on port 1: this worker never gets the lane.
    let down = WorkerProc::start(
        &broker.prefix,
        rules.path(),
        &["--express-url", "redis://127.0.0.1:1/"],
    )
    .await;
    let mut up = WorkerProc::start(&broker.prefix, rules.path(), &["--express-url", REDIS]).await;
    down.ready().await;
    up.ready().await;
    down.wait_for(
        "cannot subscribe to the express lane",
        |_| true,
        10 * SECOND,
    )
    .await;
    up.wait_for("express lane subscribed", |_| true, 10 * SECOND)
        .await;

    let lane = ExpressLane::new(REDIS, broker.topology()).expect("lane");
    // Garbage, a non-update (a ping: ignored quietly), then garbage again, which the lane
    // delivers after the ping: three garbage lines mean all four were handled.
    for garbage in [
        &b"not json"[..],
        b"{\"type\":\"update\"}",
        b"{\"type\":\"ping\",\"ping_id\":\"x\"}",
        b"\xff\xfe",
    ] {
        assert_eq!(lane.publish(garbage).await.expect("publish"), 1);
    }
    let garbage = up.wait_count(GARBAGE, 3, 5 * SECOND).await;
    assert_eq!(garbage.len(), 3, "{}", up.dump());
    for event in ["rule reloaded", "rule reload failed"] {
        assert!(up.events(event).is_empty(), "{}", up.dump());
    }
    assert!(up.alive(), "{}", up.dump());

    // A module that fails as it loads, through both lanes: refused by both workers, reported,
    // nothing replaced.
    let out = push(
        &broker,
        &rules,
        "error('refused at load')\nreturn {}",
        REDIS,
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("applied 0/2"), "{}", out.stdout);
    let failed = up.wait_count("rule reload failed", 2, 5 * SECOND).await;
    let mut vias: Vec<&str> = failed.iter().map(via).collect();
    vias.sort_unstable();
    assert_eq!(
        vias,
        ["express", "push"],
        "a failure is not remembered: the broker copy is tried"
    );
    assert_eq!(
        down.wait_count("rule reload failed", 1, 5 * SECOND)
            .await
            .len(),
        1
    );

    // A good update: the worker without the lane takes it from the broker.
    let out = push(&broker, &rules, &tagged_rule("v2"), REDIS).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("express lane: handed to 1"),
        "{}",
        out.stdout
    );
    assert_eq!(
        via(&down.wait_count("rule reloaded", 1, 5 * SECOND).await[0]),
        "push"
    );
    // The other takes it from whichever copy comes first (on an idle broker, either may), once.
    let up_reloaded = up.wait_count("rule reloaded", 1, 5 * SECOND).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(up.events("rule reloaded").len(), 1, "{up_reloaded:?}");
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_express_lane_is_down_still_goes_out_through_the_broker() {
    let broker = TestBroker::new("express-down").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let w = WorkerProc::start_ready(&broker.prefix, rules.path(), &[]).await;
    let out = push(&broker, &rules, &tagged_rule("v1"), "redis://127.0.0.1:1/").await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("applied 1/1"), "{}", out.stdout);
    assert!(
        out.stderr.contains("warning") && out.stderr.contains("the broker delivers the update"),
        "{}",
        out.stderr
    );
    assert_eq!(
        via(&w.wait_count("rule reloaded", 1, 5 * SECOND).await[0]),
        "push"
    );
    // Not a Redis URL at all: refused before anything is pushed.
    let out = push(&broker, &rules, &tagged_rule("v1"), "http://x/").await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("--express-url"), "{}", out.stderr);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.events("rule reloaded").len(), 1, "{}", w.dump());
    broker.cleanup().await;
}
