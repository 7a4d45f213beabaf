//! Crawling a local shop with a fleet: every expected item exactly as extracted, robots.txt
//! obeyed, fleet-wide dedup through Redis, retries through the broker, dead letters with
//! reasons, a rule pushed mid-crawl, and the rule author's `check-rule` and `crawl`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use crawlfleet_bus::message::{Decode, Item, Job};
use crawlfleet_tests::{TestBroker, TestSite, WorkerProc, fleet, push_and_wait, run_publisher};
use serde_json::Value;

const SECOND: Duration = Duration::from_secs(1);
const REDIS: &str = "redis://127.0.0.1:6379/";

fn shop_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/shop/fixtures")
}

fn repo_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

/// The saved shop as a real site (see `TestSite::shop_routes`).
async fn shop_site(slow_products: Option<Duration>) -> TestSite {
    TestSite::start(TestSite::shop_routes(&shop_fixtures(), slow_products)).await
}

/// Expected product items by page path, from the fixtures' expected files.
fn expected_products() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(shop_fixtures())
        .expect("fixtures")
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") || path.ends_with("site.json") {
            continue;
        }
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        if expected["rule"] != "shop.product" || expected.get("items").is_none() {
            continue;
        }
        let url = expected["url"].as_str().unwrap_or_default();
        let page = url.trim_start_matches("http://shop.test").to_owned();
        for item in expected["items"].as_array().expect("items") {
            out.insert(page.clone(), item.clone());
        }
    }
    out
}

/// Received items by page path.
fn by_path(items: &[Item], site: &TestSite) -> BTreeMap<String, Value> {
    let base = format!("http://{}", site.authority());
    items
        .iter()
        .map(|i| {
            (
                i.url.trim_start_matches(&base).to_owned(),
                Value::Object(i.fields.clone()),
            )
        })
        .collect()
}

fn count(hits: &[String], path: &str) -> usize {
    hits.iter().filter(|h| *h == path).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_crawl_the_shop_completely_and_politely() {
    let mut broker = TestBroker::new("crawl").await;
    let site = shop_site(None).await;
    let dedup = ["--redis-url", REDIS, "--dedup-ttl-s", "600"];
    let mut workers = fleet(&broker.prefix, &repo_rules(), 3, &dedup).await;
    let out = run_publisher(
        &broker.prefix,
        &["enqueue", &site.url("/"), "--rule", "shop.index"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");

    let expected = expected_products();
    assert!(expected.len() >= 7, "fixtures: {expected:?}");
    let mut items = broker.items(expected.len(), 60 * SECOND).await;
    // Nothing more arrives: no duplicates.
    items.extend(broker.items(1, 3 * SECOND).await);
    assert_eq!(
        by_path(&items, &site),
        expected,
        "items differ from the fixtures' expectations"
    );
    assert_eq!(items.len(), expected.len(), "duplicate items: {items:?}");

    let dead = broker.dead_letters(2, 10 * SECOND).await;
    let mut reasons: Vec<(String, String)> = dead
        .iter()
        .map(|(job, headers)| {
            let path = job["url"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            (
                path,
                headers
                    .get("x-crawlfleet-reason")
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("broken-kettle".to_owned(), "rule_error".to_owned()),
            ("gone-kettle".to_owned(), "http_404".to_owned())
        ],
        "{dead:?}"
    );

    let hits = site.hits();
    assert_eq!(
        count(&hits, "/p/members/secret-kettle"),
        0,
        "robots.txt disallowed it: {hits:?}"
    );
    assert_eq!(
        count(&hits, "/p/flaky-kettle"),
        3,
        "two failures, then success: {hits:?}"
    );
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for h in &hits {
        *seen.entry(h.as_str()).or_default() += 1;
    }
    for (path, n) in seen {
        if path != "/p/flaky-kettle" && path != "/robots.txt" {
            assert_eq!(n, 1, "{path} fetched {n} times: {hits:?}");
        }
    }
    assert!(
        count(&hits, "/robots.txt") <= 3,
        "robots.txt is cached per worker: {hits:?}"
    );
    for w in &mut workers {
        assert!(w.alive());
    }
    broker.cleanup().await;
}

/// A version of `source` that tags each item with `edition = "v2"`.
fn tagged_version(source: &str) -> String {
    format!(
        "local base = (function()\n{source}\nend)()\nlocal M = {{}}\nfor k, v in pairs(base) do M[k] = v end\n\
         function M.parse(page, ctx)\n  local r = base.parse(page, ctx)\n  for _, item in ipairs((r and r.items) or {{}}) do item.edition = \"v2\" end\n  return r\nend\nreturn M\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_pushed_mid_crawl_takes_over_without_torn_or_lost_items() {
    let mut broker = TestBroker::new("midcrawl").await;
    let site = shop_site(Some(Duration::from_millis(600))).await;
    let _worker = WorkerProc::start_ready(
        &broker.prefix,
        &repo_rules(),
        &["--per-host-concurrency", "1"],
    )
    .await;
    let out = run_publisher(
        &broker.prefix,
        &["enqueue", &site.url("/"), "--rule", "shop.index"],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");

    let mut items = broker.items(1, 30 * SECOND).await;
    assert_eq!(items.len(), 1, "the crawl produced nothing");
    let source =
        std::fs::read_to_string(repo_rules().join("shop/product.lua")).expect("product rule");
    let file = std::env::temp_dir().join(format!("{}-product.lua", broker.prefix));
    std::fs::write(&file, tagged_version(&source)).expect("write new version");
    push_and_wait(&broker.prefix, "shop.product", &file, &[]).await;
    let _ = std::fs::remove_file(&file);

    let expected = expected_products();
    items.extend(broker.items(expected.len() - 1, 60 * SECOND).await);
    let mut old = 0;
    let mut new = 0;
    for item in &items {
        match (item.rule_version, item.fields.get("edition")) {
            (0, None) => old += 1,
            (v, Some(Value::String(e))) if v >= 1 && e == "v2" => new += 1,
            other => panic!("an item from a half-loaded rule: {other:?} in {item:?}"),
        }
    }
    assert!(old >= 1 && new >= 1, "old {old}, new {new}");
    // No job lost: every product page produced its item.
    let got: Vec<String> = by_path(&items, &site).into_keys().collect();
    let want: Vec<String> = expected.into_keys().collect();
    assert_eq!(got, want);
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_crawl_runs_the_same_pipeline_without_a_broker() {
    let site = shop_site(None).await;
    let dir = std::env::temp_dir().join(format!("crawlfleet-local-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (items_file, dead_file) = (dir.join("items.jsonl"), dir.join("dead.jsonl"));
    let mut cmd =
        std::process::Command::new(crawlfleet_tests::publisher().with_file_name("worker"));
    cmd.arg("crawl")
        .arg("--rules")
        .arg(repo_rules())
        .args(["--rule", "shop.index", "--start", &site.url("/")])
        .arg("--allow-private-hosts")
        .arg("--out")
        .arg(&items_file)
        .arg("--dead")
        .arg(&dead_file)
        .env("RUST_LOG", "warn");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run worker crawl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let items: Vec<Item> = std::fs::read_to_string(&items_file)
        .expect("items file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("item line"))
        .collect();
    assert_eq!(by_path(&items, &site), expected_products());
    let dead: Vec<Value> = std::fs::read_to_string(&dead_file)
        .expect("dead file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("dead line"))
        .collect();
    let mut reasons: Vec<&str> = dead.iter().filter_map(|d| d["reason"].as_str()).collect();
    reasons.sort();
    assert_eq!(reasons, ["http_404", "rule_error"]);
    assert_eq!(count(&site.hits(), "/p/members/secret-kettle"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_rule_prints_what_the_rule_extracts() {
    let page = shop_fixtures().join("steel-kettle.html");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(page.with_extension("json")).expect("expected"),
    )
    .expect("json");
    let got = crawlfleet_tests::check_rule_json(
        "shop.product",
        "http://shop.test/p/steel-kettle",
        &page,
        &repo_rules(),
        &[],
    );
    assert_eq!(got["items"], expected["items"]);
    assert_eq!(got["links"], expected["links"]);

    let missing =
        crawlfleet_tests::check_rule("shop.nope", "http://shop.test/", &page, &repo_rules(), &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no rule `shop.nope`"));
}

/// Garbage on the job queue: (body, reason, a piece of the error header).
fn invalid_jobs() -> Vec<(Vec<u8>, &'static str, &'static str)> {
    // A well-formed job but for its size: only the size cap refuses it (the URL would fail
    // at fetch time, never as `invalid_job`).
    let mut huge =
        br#"{"id": "huge", "url": "http://127.0.0.1:1/", "rule": "shop.index", "crawl": "c", "meta": ""#
            .to_vec();
    huge.resize(2 * 1024 * 1024, b'x');
    huge.extend_from_slice(br#""}"#);
    vec![
        (huge, "invalid_job", "larger than the 1048576-byte limit"),
        (b"not json".to_vec(), "invalid_job", "not valid JSON"),
        (b"\xff\xfe".to_vec(), "invalid_job", "not UTF-8"),
        (
            br#"{"id": 1, "url": "http://x/", "rule": "shop.index", "crawl": "c"}"#.to_vec(),
            "invalid_job",
            "invalid type",
        ),
        (
            br#"{"id": "j", "url": "http://x/", "rule": "shop.index", "crawl": "c", "evil": true}"#
                .to_vec(),
            "invalid_job",
            "unknown field `evil`",
        ),
        (
            br#"{"id": "j2", "url": "http://127.0.0.1:1/", "rule": "no.such.rule", "crawl": "c"}"#
                .to_vec(),
            "unknown_rule",
            "no.such.rule",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_jobs_are_dead_lettered_with_their_reason() {
    let mut broker = TestBroker::new("badjobs").await;
    let w = WorkerProc::start_ready(&broker.prefix, &repo_rules(), &[]).await;
    let cases = invalid_jobs();
    for (body, _, _) in &cases {
        broker.enqueue_raw(body).await;
    }
    let mut dead = broker.dead_letters_raw(cases.len(), 20 * SECOND).await;
    assert_eq!(dead.len(), cases.len(), "{}", w.dump());
    // Each body comes back byte for byte, with its reason and an error that says why.
    for (body, reason, error) in &cases {
        // Garbage comes back byte for byte; a job that decoded (its rule unknown) comes back
        // as the job it decoded to.
        let same = |raw: &Vec<u8>| {
            raw == body
                || (*reason == "unknown_rule"
                    && Job::decode(raw).ok() == Some(Job::decode(body).expect("a job")))
        };
        let at = dead
            .iter()
            .position(|(raw, _)| same(raw))
            .unwrap_or_else(|| {
                panic!(
                    "no dead letter with the body as received: {}",
                    String::from_utf8_lossy(&body[..body.len().min(80)])
                )
            });
        let (_, headers) = dead.remove(at);
        let label = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        assert_eq!(
            headers.get("x-crawlfleet-reason").map(String::as_str),
            Some(*reason),
            "{label}: {headers:?}"
        );
        let said = headers
            .get("x-crawlfleet-error")
            .cloned()
            .unwrap_or_default();
        assert!(said.contains(error), "{label}: `{said}` lacks `{error}`");
    }
    let mut w = w;
    assert!(w.alive(), "{}", w.dump());
    broker.cleanup().await;
}
