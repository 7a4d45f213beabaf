//! Fleet operations as an operator runs them: status and drift, targeted and canary pushes,
//! promote, history and rollback, and signed pushes.

use std::collections::BTreeMap;
use std::time::Duration;

use crawlfleet_bus::message::{ControlMessage, ReloadStatus, Reply, RuleUpdate, Targets};
use crawlfleet_bus::signature;
use crawlfleet_tests::{
    RulesDir, TestBroker, TestSite, WorkerProc, fleet, one_job, page_job, push_and_wait,
    run_publisher, sha256, shop_a_update, tag_and_version, tagged_rule,
};

const SECOND: Duration = Duration::from_secs(1);

async fn status_json(prefix: &str) -> serde_json::Value {
    let out = run_publisher(prefix, &["status", "--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).expect("status --json prints JSON")
}

/// (worker, version of `module`) for every worker in a status report.
fn versions(status: &serde_json::Value, module: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = status["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            let v = w["modules"]
                .as_array()
                .expect("modules")
                .iter()
                .find(|m| m["module"] == module)
                .map(|m| m["version"].as_u64().unwrap_or(0));
            (
                w["worker"].as_str().unwrap_or_default().to_owned(),
                v.unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_versions_and_drift_after_a_targeted_push() {
    let broker = TestBroker::new("status").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let workers = fleet(&broker.prefix, rules.path(), 3, &[]).await;
    let out = run_publisher(&broker.prefix, &["status", "--check"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    for w in &workers {
        assert!(out.stdout.contains(&w.id), "{}", out.stdout);
    }
    assert!(out.stdout.contains("shop.a@v0"), "{}", out.stdout);

    let file = rules.scratch("a.lua", &tagged_rule("v1"));
    let target = workers[0].id.clone();
    let push = push_and_wait(&broker.prefix, "shop.a", &file, &["--workers", &target]).await;
    assert!(push.stdout.contains("applied 1/1"), "{}", push.stdout);

    let out = run_publisher(&broker.prefix, &["status", "--check"]).await;
    assert_eq!(out.code, 1, "drift must fail --check: {out:?}");
    assert!(
        out.stdout.contains("shop.a*@v1") && out.stdout.contains("drift (*): shop.a"),
        "{}",
        out.stdout
    );
    let status = status_json(&broker.prefix).await;
    assert_eq!(status["drift"], serde_json::json!(["shop.a"]));
    let v = versions(&status, "shop.a");
    assert_eq!(v.iter().filter(|(_, v)| *v == 1).count(), 1);
    assert!(v.contains(&(target, 1)));
    broker.cleanup().await;
}

/// Worker ids and a push id fixed so that a 34 % canary chooses some workers and not others.
/// The expected choice is written down from the rule (the first 8 bytes of
/// sha256("<worker>\n<push id>"), big-endian, modulo 10 000, under 3 400), not computed by
/// the code the worker runs: w-one 42 and w-two 2047 are in, w-three 3940 is out.
const CANARY_PUSH: &str = "p-canary-34";
const CANARY_WORKERS: [(&str, bool); 3] = [("w-one", true), ("w-two", true), ("w-three", false)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_lands_on_exactly_the_hashed_workers_and_promote_completes_it() {
    let mut broker = TestBroker::new("canary").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let mut workers = Vec::new();
    for (id, _) in CANARY_WORKERS {
        workers.push(WorkerProc::start(&broker.prefix, rules.path(), &["--worker-id", id]).await);
    }
    for w in &workers {
        w.ready().await;
    }
    let canary = RuleUpdate {
        targets: Some(Targets {
            workers: Vec::new(),
            canary_percent: Some(34.0),
        }),
        ..shop_a_update(&tagged_rule("canary"), 1, CANARY_PUSH)
    };
    broker
        .send_control(&ControlMessage::Update(canary), CANARY_PUSH)
        .await;
    let replies = broker.replies(CANARY_WORKERS.len(), 10 * SECOND).await;
    assert_eq!(replies.len(), CANARY_WORKERS.len(), "{replies:?}");
    let got: BTreeMap<String, ReloadStatus> = replies
        .into_iter()
        .filter_map(|r| match r {
            Reply::Reload(r) => Some((r.worker, r.status)),
            Reply::Pong(_) => None,
        })
        .collect();
    let expected: BTreeMap<String, ReloadStatus> = CANARY_WORKERS
        .iter()
        .map(|(id, chosen)| {
            let status = if *chosen {
                ReloadStatus::Applied
            } else {
                ReloadStatus::Skipped
            };
            ((*id).to_owned(), status)
        })
        .collect();
    assert_eq!(got, expected);
    let mut chosen: Vec<(String, u64)> = CANARY_WORKERS
        .iter()
        .map(|(id, chosen)| ((*id).to_owned(), u64::from(*chosen)))
        .collect();
    chosen.sort();
    assert_eq!(
        versions(&status_json(&broker.prefix).await, "shop.a"),
        chosen
    );

    let promote = run_publisher(&broker.prefix, &["promote", "shop.a", "--wait"]).await;
    assert_eq!(promote.code, 0, "{promote:?}");
    assert!(promote.stdout.contains("applied 3/3"), "{}", promote.stdout);
    let promoted: Vec<(String, u64)> = chosen.into_iter().map(|(id, _)| (id, 2)).collect();
    assert_eq!(
        versions(&status_json(&broker.prefix).await, "shop.a"),
        promoted
    );
    let check = run_publisher(&broker.prefix, &["status", "--check"]).await;
    assert_eq!(check.code, 0, "{check:?}");
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_rule_everywhere_and_items_carry_it() {
    let mut broker = TestBroker::new("rollback").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let workers = fleet(&broker.prefix, rules.path(), 2, &[]).await;
    for tag in ["good", "bad"] {
        let file = rules.scratch(&format!("{tag}.lua"), &tagged_rule(tag));
        push_and_wait(&broker.prefix, "shop.a", &file, &[]).await;
    }
    let back = run_publisher(&broker.prefix, &["rollback", "shop.a", "--wait"]).await;
    assert_eq!(back.code, 0, "{back:?}");
    assert!(
        back.stdout.contains("rolled back to v1 as shop.a v3")
            && back.stdout.contains("applied 2/2"),
        "{}",
        back.stdout
    );

    let history = run_publisher(&broker.prefix, &["history", "shop.a"]).await;
    assert_eq!(history.code, 0, "{history:?}");
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", history.stdout);
    assert!(
        lines[0].contains(" v1 ") && lines[2].contains(" v3 "),
        "{}",
        history.stdout
    );

    let items = one_job(&mut broker, "j-rb", "shop.a").await;
    assert_eq!(tag_and_version(&items), Some((Some("good"), 3)));
    let bad = run_publisher(&broker.prefix, &["rollback", "shop.a", "--to", "9"]).await;
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("no v9 of `shop.a`"), "{}", bad.stderr);
    drop(workers);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keys_only_correctly_signed_newer_pushes_apply() {
    let mut broker = TestBroker::new("signed").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let (secret, public) = signature::generate().expect("keys");
    let key = signature::secret_key(&secret).expect("secret");
    let (stranger_secret, _) = signature::generate().expect("keys");
    let stranger = signature::secret_key(&stranger_secret).expect("secret");
    let workers = fleet(
        &broker.prefix,
        rules.path(),
        1,
        &["--trusted-keys", &public],
    )
    .await;
    let w = &workers[0];

    // A correctly signed push applies (through the CLI).
    let key_file = rules.scratch("signing.key", &secret);
    let good = rules.scratch("good.lua", &tagged_rule("signed"));
    let key_path = key_file.to_str().unwrap_or_default();
    push_and_wait(&broker.prefix, "shop.a", &good, &["--sign-key", key_path]).await;
    let applied_v = 1;

    let mut old_signed = shop_a_update(&tagged_rule("old"), applied_v, "p-old");
    signature::sign(&mut old_signed, &key, &broker.prefix).expect("sign");
    let mut wrong = shop_a_update(&tagged_rule("evil"), 10, "p-wrong");
    signature::sign(&mut wrong, &stranger, &broker.prefix).expect("sign");
    let mut tampered = shop_a_update(&tagged_rule("fine"), 11, "p-tamper");
    signature::sign(&mut tampered, &key, &broker.prefix).expect("sign");
    let evil = tagged_rule("evil");
    tampered.sha256 = Some(sha256(&evil));
    tampered.source = Some(evil);
    let cases: Vec<(&str, RuleUpdate, &str)> = vec![
        (
            "unsigned",
            shop_a_update(&tagged_rule("evil"), 12, "p-unsigned"),
            "signature",
        ),
        ("signed by an unknown key", wrong, "signature"),
        ("tampered source", tampered, "signature"),
        ("replayed old version", old_signed, "version"),
    ];
    for (name, u, stage) in cases {
        broker.send_control(&ControlMessage::Update(u), name).await;
        let replies = broker.replies(1, 10 * SECOND).await;
        let Some(Reply::Reload(r)) = replies.first() else {
            panic!("{name}: no reply")
        };
        assert_eq!(
            (r.status, r.stage.as_deref()),
            (ReloadStatus::Failed, Some(stage)),
            "{name}: {r:?}"
        );
    }
    assert_eq!(
        w.wait_count("rule reload failed", 4, 5 * SECOND)
            .await
            .len(),
        4,
        "{}",
        w.dump()
    );
    // Every refusal was settled by rejecting: nothing unacked, and still the signed version.
    broker.assert_nothing_unacked().await;
    let out = run_publisher(&broker.prefix, &["status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(versions(&status, "shop.a"), [(w.id.clone(), applied_v)]);
    broker.cleanup().await;
}

/// Parses the Prometheus text format strictly enough to catch malformed output:
/// sample name → value, for every sample line.
fn parse_prometheus(text: &str) -> std::collections::BTreeMap<String, f64> {
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let kind = rest.split_whitespace().next().unwrap_or("");
            assert!(kind == "HELP" || kind == "TYPE", "bad comment line: {line}");
            if kind == "TYPE" {
                let t = rest.split_whitespace().nth(2).unwrap_or("");
                assert!(
                    ["counter", "gauge", "histogram"].contains(&t),
                    "bad type: {line}"
                );
            }
            continue;
        }
        let (name, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let metric = name.split('{').next().unwrap_or("");
        assert!(
            !metric.is_empty()
                && metric
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if let Some(labels) = name.strip_prefix(metric) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "bad labels: {line}"
            );
        }
        samples.insert(name.to_owned(), value);
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_move_as_a_crawl_and_a_reload_happen() {
    let mut broker = TestBroker::new("metrics").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let workers = fleet(&broker.prefix, rules.path(), 1, &[]).await;
    let admin = workers[0].admin_url().await;
    assert_eq!(
        crawlfleet_tests::http_get(&format!("{admin}/healthz"))
            .await
            .0,
        200
    );
    assert_eq!(
        crawlfleet_tests::http_get(&format!("{admin}/readyz"))
            .await
            .0,
        200
    );
    assert_eq!(
        crawlfleet_tests::http_get(&format!("{admin}/nope")).await.0,
        404
    );

    let (status, before) = crawlfleet_tests::http_get(&format!("{admin}/metrics")).await;
    assert_eq!(status, 200);
    let before = parse_prometheus(&before);
    assert_eq!(before.get("crawlfleet_broker_connected"), Some(&1.0));
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("crawlfleet_rule_version_info{module=\"shop.a\",version=\"0\""))
    );

    let file = rules.scratch("a.lua", &tagged_rule("v1"));
    push_and_wait(&broker.prefix, "shop.a", &file, &[]).await;
    let site = TestSite::one_page().await;
    let job = page_job("j-m", site.url("/x"), "shop.a");
    broker.enqueue(&[job]).await;
    assert_eq!(broker.items(1, 10 * SECOND).await.len(), 1);

    // The item can reach us a moment before the worker counts the job: scrape until it has.
    let done = "crawlfleet_jobs_total{rule=\"shop.a\",outcome=\"done\"}";
    let mut after = Default::default();
    for _ in 0..50 {
        after = parse_prometheus(
            &crawlfleet_tests::http_get(&format!("{admin}/metrics"))
                .await
                .1,
        );
        if after.contains_key(done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after: std::collections::BTreeMap<String, f64> = after;
    let get = |k: &str| after.get(k).copied().unwrap_or(0.0);
    assert_eq!(
        get("crawlfleet_reloads_total{module=\"shop.a\",outcome=\"applied\"}"),
        1.0,
        "{after:?}"
    );
    assert_eq!(
        get("crawlfleet_jobs_total{rule=\"shop.a\",outcome=\"done\"}"),
        1.0
    );
    assert_eq!(get("crawlfleet_items_total{rule=\"shop.a\"}"), 1.0);
    assert_eq!(get("crawlfleet_fetch_duration_seconds_count"), 1.0);
    assert_eq!(get("crawlfleet_lua_call_duration_seconds_count"), 1.0);
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("crawlfleet_rule_version_info{module=\"shop.a\",version=\"1\""))
    );
    broker.cleanup().await;
}
