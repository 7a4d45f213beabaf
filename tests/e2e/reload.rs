//! Hot reload across a fleet: applied everywhere, acked only after the swap, bad updates
//! refused without harm, pinned versions for running jobs, and helpers.

use std::time::Duration;

use crawlfleet_bus::message::{ControlMessage, Job, ReloadStatus, Reply, RuleUpdate};
use crawlfleet_tests::{
    Route, RulesDir, TestBroker, TestSite, WorkerProc, enqueue_until_logged, fleet, page_job,
    push_and_wait, sha256, tagged_rule, update_body, versions,
};
use serde_json::Value;

const SECOND: Duration = Duration::from_secs(1);

/// A site with pages `/1`, `/2` and `/3`.
async fn site() -> TestSite {
    let routes = (1..=3)
        .map(|n| {
            (
                format!("/{n}"),
                Route::Html(format!("<html><body><p>page {n}</p></body></html>")),
            )
        })
        .collect();
    TestSite::start(routes).await
}

fn job(site: &TestSite, rule: &str, n: usize) -> Job {
    page_job(&format!("job-{n}"), site.url(&format!("/{n}")), rule)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_apply_a_push_and_ack_only_after_the_swap() {
    let broker = TestBroker::new("apply").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let workers = fleet(&broker.prefix, rules.path(), 3, &[]).await;

    let new_source = tagged_rule("v1");
    let file = rules.scratch("a.lua", &new_source);
    let out = push_and_wait(&broker.prefix, "shop.a", &file, &[]).await;
    assert!(out.stdout.contains("applied 3/3"), "{}", out.stdout);

    let sha = sha256(&new_source);
    for w in &workers {
        let reloaded = w.wait_count("rule reloaded", 1, 5 * SECOND).await;
        assert_eq!(reloaded.len(), 1, "worker {} logged {reloaded:?}", w.id);
        assert_eq!(reloaded[0]["sha256"], Value::from(sha.clone()));
        assert_eq!(reloaded[0]["module"], "shop.a");
        assert!(
            out.stdout.contains(&w.id),
            "{} missing from {}",
            w.id,
            out.stdout
        );
    }
    let unacked = broker.unacked().await;
    for w in &workers {
        assert_eq!(unacked.get(&w.queue), Some(&0), "{unacked:?}");
    }
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_stays_unacked_until_the_new_version_is_live() {
    let mut broker = TestBroker::new("ackorder").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let workers = fleet(
        &broker.prefix,
        rules.path(),
        1,
        &["--load-budget-ms", "20000"],
    )
    .await;
    let w = &workers[0];

    // A version whose top level takes ~4 s to evaluate: the swap happens only after that.
    let slow = format!(
        "local t = os.clock() while os.clock() - t < 4 do end {}",
        tagged_rule("v1")
    );
    let update = RuleUpdate {
        module: "shop.a".to_owned(),
        path: "shop/a.lua".to_owned(),
        sha256: Some(sha256(&slow)),
        source: Some(slow),
        version: 1,
        push_id: "p-slow".to_owned(),
        pushed_by: None,
        ..RuleUpdate::default()
    };
    broker
        .send_control(&ControlMessage::Update(update), "p-slow")
        .await;

    // While it evaluates, the broker holds the update unacknowledged and v0 still serves.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = broker.unacked().await;
    assert_eq!(
        during.get(&w.queue),
        Some(&1),
        "the update was acked before the swap: {during:?}"
    );
    assert!(w.events("rule reloaded").is_empty());

    let replies = broker.replies(1, 30 * SECOND).await;
    let Some(Reply::Reload(r)) = replies.first() else {
        panic!("no reply: {replies:?}")
    };
    assert_eq!(r.status, ReloadStatus::Applied);
    assert_eq!(broker.unacked().await.get(&w.queue), Some(&0));
    assert_eq!(
        versions(&mut broker, 1).await,
        [(w.id.clone(), "shop.a".to_owned(), 1)]
    );
    broker.cleanup().await;
}

/// One bad update: how it is sent, and the stage every worker must report.
struct Bad {
    name: &'static str,
    body: Vec<u8>,
    stage: &'static str,
}

fn update_json(module: &str, path: &str, source: &str, sha: &str, version: u64) -> Vec<u8> {
    serde_json::json!({
        "type": "update", "module": module, "path": path, "source": source,
        "sha256": sha, "version": version, "push_id": format!("p-{module}-{version}"),
    })
    .to_string()
    .into_bytes()
}

/// The workers that sent `replies`, sorted (one entry per reply).
fn answered_by(replies: &[Reply]) -> Vec<String> {
    let mut ids: Vec<String> = replies
        .iter()
        .map(|r| match r {
            Reply::Reload(r) => r.worker.clone(),
            Reply::Pong(p) => p.worker.clone(),
        })
        .collect();
    ids.sort();
    ids
}

fn fleet_ids(workers: &[WorkerProc]) -> Vec<String> {
    let mut ids: Vec<String> = workers.iter().map(|w| w.id.clone()).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_updates_leave_every_worker_alive_and_serving_the_previous_version() {
    let mut broker = TestBroker::new("bad").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    rules.write("lib.tag", "return { tag = 'h0', n = 1 }");
    rules.write("shop.b", "local t = require('lib.tag') local x = t.n + 1 return { parse = function() return { items = { { tag = t.tag } } } end }");
    let outside = std::env::temp_dir().join(format!("{}-outside.lua", broker.prefix));
    std::fs::write(&outside, tagged_rule("evil")).expect("write outside file");
    std::os::unix::fs::symlink(&outside, rules.path().join("shop/evil.lua")).expect("symlink");
    let mut workers = fleet(&broker.prefix, rules.path(), 3, &[]).await;

    let cases = vec![
        Bad { name: "invalid JSON", body: b"{\"type\": \"update\", ".to_vec(), stage: "decode" },
        Bad { name: "not UTF-8", body: b"\xff\xfe\xfd".to_vec(), stage: "decode" },
        Bad { name: "huge body", body: vec![b' '; 5 * 1024 * 1024], stage: "decode" },
        Bad { name: "unknown fields", body: br#"{"type":"update","module":"shop.a","path":"shop/a.lua","version":9,"push_id":"p","exec":"rm -rf /"}"#.to_vec(), stage: "decode" },
        Bad { name: "missing fields", body: br#"{"type":"update","module":"shop.a"}"#.to_vec(), stage: "decode" },
        Bad { name: "wrong types", body: br#"{"type":"update","module":"shop.a","path":"shop/a.lua","version":"9","push_id":"p"}"#.to_vec(), stage: "decode" },
        Bad { name: "unknown path", body: serde_json::json!({"type":"update","module":"shop.zz","path":"shop/zz.lua","version":9,"push_id":"p-zz"}).to_string().into_bytes(), stage: "path" },
        Bad { name: "escaping path", body: update_json("shop.a", "../../etc/passwd", "return {}", &sha256("return {}"), 9), stage: "path" },
        Bad { name: "absolute path", body: update_json("shop.a", "/etc/shop/a.lua", "return {}", &sha256("return {}"), 9), stage: "path" },
        Bad { name: "symlink out of the root", body: serde_json::json!({"type":"update","module":"shop.evil","path":"shop/evil.lua","version":9,"push_id":"p-evil"}).to_string().into_bytes(), stage: "path" },
        Bad { name: "sha256 mismatch", body: update_json("shop.a", "shop/a.lua", &tagged_rule("v9"), &sha256("something else"), 9), stage: "checksum" },
        Bad { name: "syntax error", body: update_body("shop.a", "return {\n parse = function(\n x = = 1", 9), stage: "compile" },
        Bad { name: "top-level runtime error", body: update_body("shop.a", "local t = nil\nreturn t.x", 9), stage: "evaluate" },
        Bad { name: "top-level endless loop", body: update_body("shop.a", "while true do end", 9), stage: "budget" },
        Bad { name: "top-level endless loop in pcall", body: update_body("shop.a", "while true do pcall(function() while true do end end) end", 9), stage: "budget" },
        Bad { name: "top-level memory bomb", body: update_body("shop.a", "local t = {} while true do t[#t+1] = string.rep('x', 1e6) .. #t end", 9), stage: "memory" },
        Bad { name: "not a rule module", body: update_body("shop.a", "return 42", 9), stage: "shape" },
        Bad { name: "helper that breaks a dependent", body: update_body("lib.tag", "return { tag = 'h1' }", 9), stage: "dependent" },
    ];
    for (i, case) in cases.iter().enumerate() {
        let correlation = format!("c{i}");
        broker.send_control_raw(&case.body, &correlation).await;
        let replies = broker.replies(3, 15 * SECOND).await;
        assert_eq!(replies.len(), 3, "{}: replies {replies:?}", case.name);
        for reply in &replies {
            let Reply::Reload(r) = reply else {
                panic!("{}: not a reload reply: {reply:?}", case.name)
            };
            assert_eq!(r.status, ReloadStatus::Failed, "{}: {r:?}", case.name);
            assert_eq!(r.stage.as_deref(), Some(case.stage), "{}: {r:?}", case.name);
            assert!(
                r.error.as_deref().is_some_and(|e| !e.is_empty()),
                "{}: {r:?}",
                case.name
            );
        }
        for w in &mut workers {
            assert!(w.alive(), "{}: worker {} died", case.name, w.id);
            assert_eq!(
                w.wait_count("rule reload failed", i + 1, 5 * SECOND)
                    .await
                    .len(),
                i + 1,
                "{}: worker {}",
                case.name,
                w.id
            );
        }
    }

    // A stale version: v2 applies, then v1 is refused (and acked: retrying cannot help).
    broker
        .send_control_raw(&update_body("shop.a", &tagged_rule("v2"), 2), "ok2")
        .await;
    let applied = broker.replies(3, 15 * SECOND).await;
    assert_eq!(answered_by(&applied), fleet_ids(&workers), "{applied:?}");
    assert!(
        applied
            .iter()
            .all(|r| matches!(r, Reply::Reload(r) if r.status == ReloadStatus::Applied)),
        "{applied:?}"
    );
    broker
        .send_control_raw(&update_body("shop.a", &tagged_rule("stale"), 1), "stale")
        .await;
    let refused = broker.replies(3, 15 * SECOND).await;
    assert_eq!(answered_by(&refused), fleet_ids(&workers), "{refused:?}");
    for reply in refused {
        let Reply::Reload(r) = reply else {
            panic!("not a reload reply")
        };
        assert_eq!(
            (r.status, r.stage.as_deref()),
            (ReloadStatus::Failed, Some("version")),
            "{r:?}"
        );
        assert!(
            r.error.as_deref().unwrap_or("").contains("not newer"),
            "{r:?}"
        );
    }

    // Everything above, garbage included, is in the history: a worker that starts now skips
    // the garbage and the refused versions and converges to v2.
    let late = WorkerProc::start_ready(&broker.prefix, rules.path(), &[]).await;
    let caught = late.events("caught up with the history");
    assert_eq!(
        caught.first().map(|v| v["applied"].clone()),
        Some(1.into()),
        "{}",
        late.dump()
    );
    workers.push(late);

    // Every worker still serves v2 of shop.a and the original helper, and nothing is unacked.
    let live = versions(&mut broker, 4).await;
    for w in &workers {
        assert!(
            live.contains(&(w.id.clone(), "shop.a".to_owned(), 2)),
            "{live:?}"
        );
        assert!(
            live.contains(&(w.id.clone(), "lib.tag".to_owned(), 0)),
            "{live:?}"
        );
    }
    let site = site().await;
    broker
        .enqueue(&[job(&site, "shop.a", 1), job(&site, "shop.b", 2)])
        .await;
    let items = broker.items_by_job(2, 10 * SECOND).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(
        (items[0].fields["tag"].as_str(), items[0].rule_version),
        (Some("v2"), 2)
    );
    assert_eq!(
        (items[1].fields["tag"].as_str(), items[1].rule_version),
        (Some("h0"), 0)
    );
    broker.assert_nothing_unacked().await;
    let _ = std::fs::remove_file(outside);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_progress_finishes_on_the_old_version_and_the_next_uses_the_new() {
    let mut broker = TestBroker::new("pinned").await;
    let rules = RulesDir::new(&broker.prefix);
    // v0 takes 2 s per page.
    rules.write("shop.a", "return { parse = function(page) local t = os.clock() while os.clock() - t < 2 do end return { items = { { tag = 'old' } } } end }");
    let workers = fleet(&broker.prefix, rules.path(), 1, &[]).await;
    let w = &workers[0];

    let site = site().await;
    enqueue_until_logged(
        &broker,
        &[job(&site, "shop.a", 1)],
        w,
        "job started",
        10 * SECOND,
    )
    .await;
    let file = rules.scratch("a.lua", &tagged_rule("new"));
    push_and_wait(&broker.prefix, "shop.a", &file, &[]).await;
    // The push landed while job-1 was still running.
    assert!(
        w.events("job done").is_empty(),
        "job-1 finished before the push: {}",
        w.dump()
    );

    broker.enqueue(&[job(&site, "shop.a", 2)]).await;
    let items = broker.items_by_job(2, 15 * SECOND).await;
    let got: Vec<(&str, &str, u64)> = items
        .iter()
        .map(|i| {
            (
                i.job.as_str(),
                i.fields["tag"].as_str().unwrap_or(""),
                i.rule_version,
            )
        })
        .collect();
    assert_eq!(got, [("job-1", "old", 0), ("job-2", "new", 1)]);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_a_helper_reloads_its_dependents_together() {
    let mut broker = TestBroker::new("helper").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("lib.tag", "return { tag = 'h0' }");
    for name in ["shop.a", "shop.b"] {
        rules.write(name, "local t = require('lib.tag') return { parse = function() return { items = { { tag = t.tag } } } end }");
    }
    rules.write("shop.c", &tagged_rule("c0"));
    let workers = fleet(&broker.prefix, rules.path(), 2, &[]).await;

    let file = rules.scratch("tag.lua", "return { tag = 'h1' }");
    push_and_wait(&broker.prefix, "lib.tag", &file, &[]).await;
    for w in &workers {
        let reloaded = w.wait_count("rule reloaded", 1, 5 * SECOND).await;
        assert_eq!(reloaded.len(), 1, "{}", w.dump());
        assert_eq!(
            reloaded[0]["reloaded"], "shop.a,shop.b",
            "one event, both dependents"
        );
    }
    let site = site().await;
    broker
        .enqueue(&[
            job(&site, "shop.a", 1),
            job(&site, "shop.b", 2),
            job(&site, "shop.c", 3),
        ])
        .await;
    let items = broker.items_by_job(3, 10 * SECOND).await;
    let got: Vec<(&str, &str, u64)> = items
        .iter()
        .map(|i| {
            (
                i.rule.as_str(),
                i.fields["tag"].as_str().unwrap_or(""),
                i.rule_version,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("shop.a", "h1", 1),
            ("shop.b", "h1", 1),
            ("shop.c", "c0", 0)
        ]
    );
    broker.cleanup().await;
}
