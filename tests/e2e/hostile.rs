//! The hostile corpus against the real binaries: pages and rule outputs built to exhaust a
//! worker, one line each with what it must end in and the bounds it must meet (time as a
//! multiple of the call budget, peak memory as the Lua limit plus the documented margin),
//! and one hostile page through a real worker and broker, which must cost that job only.

use std::time::Duration;

use crawlfleet_tests::{Route, RulesDir, TestBroker, TestSite, WorkerProc, http_get, page_job};
use serde_json::Value;

/// The call budget the corpus runs with.
const BUDGET_MS: u64 = 1000;
/// The Lua memory limit it runs with.
const LUA_MB: u64 = 64;
/// What native page work may add on top of the Lua limit: the page (as bytes, as text, as
/// the tree's source, and as a Lua string if the rule reads it: at most 4 × 8 MiB), the tree
/// at its caps (~40 MiB) and the process itself. docs/RELIABILITY.md names this margin.
const MARGIN_MB: u64 = 96;

/// Outcome a case must have: the items' `v`, or the reason the rule failed with.
enum Expect {
    Value(&'static str),
    Reason(&'static str),
    /// Finishes or runs out of budget (`rule_budget`), within the bounds either way.
    Bounded,
}

/// Runs `worker check-rule` on `page` with a rule whose `parse` runs `body`, and checks the
/// outcome, the time and the peak memory.
fn check(rules: &RulesDir, name: &str, page: &str, body: &str, expect: Expect) {
    let module = format!("probe.c{}", name.len() ^ body.len());
    rules.write(
        &module,
        &format!(
            "return {{ parse = function(page, ctx) local v = (function() {body} end)() \
             return {{ items = {{ {{ v = v }} }} }} end }}"
        ),
    );
    let file = rules.scratch(&format!("{module}.html"), page);
    let (budget, lua_mb) = (BUDGET_MS.to_string(), LUA_MB.to_string());
    let out = crawlfleet_tests::check_rule(
        &module,
        "http://hostile.test/",
        &file,
        rules.path(),
        &[
            "--stats",
            "--call-budget-ms",
            &budget,
            "--lua-memory-mb",
            &lua_mb,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stats: Value = stderr
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{name}: no stats line in {stderr}"));
    let took_ms = stats["took_ms"].as_u64().expect("took_ms");
    let peak_mb = stats["peak_rss_kb"].as_u64().expect("peak_rss_kb") / 1024;
    eprintln!("{name}: {took_ms} ms, peak {peak_mb} MiB");
    assert!(
        took_ms <= 2 * BUDGET_MS,
        "{name}: took {took_ms} ms, bound {} ms",
        2 * BUDGET_MS
    );
    assert!(
        peak_mb <= LUA_MB + MARGIN_MB,
        "{name}: peak RSS {peak_mb} MiB, bound {} MiB",
        LUA_MB + MARGIN_MB
    );
    let printed: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    let value = printed.as_ref().map(|p| p["items"][0]["v"].clone());
    match expect {
        Expect::Value(want) => assert_eq!(value, Some(Value::from(want)), "{name}: {stderr}"),
        Expect::Reason(reason) => {
            assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
            assert!(stderr.contains(&format!("({reason})")), "{name}: {stderr}");
        }
        Expect::Bounded => assert!(
            out.status.success() || stderr.contains("(rule_budget)"),
            "{name}: {stderr}"
        ),
    }
}

#[test]
fn the_hostile_corpus_meets_its_bounds_in_the_real_binary() {
    let rules = RulesDir::new(&format!("hostile-{}", std::process::id()));
    let body_tags: String = (0..12_000).map(|i| format!("<body a_{i}>")).collect();
    let many_attrs = format!(
        "<p{}>",
        (0..40_000).map(|i| format!(" a_{i}")).collect::<String>()
    );
    let deep = format!("{}x", "<div>".repeat(100_000));
    let siblings = format!("{}<b></b>", "<i></i>".repeat(60_000));
    // Up to the fetcher's 8 MiB body cap.
    let at_cap = "<p>x".repeat(2 * 1024 * 1024);
    let text_at_cap = "x".repeat(8 * 1024 * 1024 - 16);
    let cases: Vec<(&str, &str, &str, Expect)> = vec![
        (
            "95 KB of repeated <body a_N> tags",
            &body_tags,
            "return page:select_one('body'):attr('a_11999')",
            Expect::Value(""),
        ),
        (
            "one element with 40 000 attributes",
            &many_attrs,
            "return page:select_one('p'):attr('a_39999')",
            Expect::Value(""),
        ),
        (
            ":has() on a page nested 100 000 deep",
            &deep,
            "return #page:select('div:has(div div div span)')",
            Expect::Bounded,
        ),
        (
            "i:has(~ b) on 60 000 siblings",
            &siblings,
            "return #page:select('i:has(~ b)')",
            Expect::Bounded,
        ),
        (
            "an 8 MiB page of 2 million tags",
            &at_cap,
            "return #page:select('p')",
            Expect::Reason("page_too_complex"),
        ),
        (
            "an 8 MiB page of text, read whole many times",
            &text_at_cap,
            "local n = 0 for i = 1, 50 do n = n + #page.body + #page:select_one('body'):text() end return n",
            Expect::Bounded,
        ),
        (
            "a result that reuses a subtable 60 levels deep",
            "<p>x</p>",
            "local t = {'x'} for i = 1, 60 do t = {t, t} end return t",
            Expect::Reason("rule_output_too_large"),
        ),
        (
            "log data that reuses a subtable 60 levels deep",
            "<p>x</p>",
            "local t = {'x'} for i = 1, 60 do t = {t, t} end log.info('x', t) return 'logged'",
            Expect::Value("logged"),
        ),
        (
            "print of one 1 MiB string, 16 times a call, 100 calls",
            "<p>x</p>",
            "local s = string.rep('p', 1024 * 1024) for i = 1, 100 do print(s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s) end return 'printed'",
            Expect::Value("printed"),
        ),
    ];
    for (name, page, body, expect) in cases {
        check(&rules, name, page, body, expect);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_page_costs_its_job_only() {
    let mut broker = TestBroker::new("hostilepage").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write(
        "probe.count",
        "return { parse = function(page) return { items = { { n = #page:select('p') } } } end }",
    );
    let site = TestSite::start(
        [
            ("/bomb".to_owned(), Route::Html("<p>".repeat(600_000))),
            ("/ok".to_owned(), Route::Html("<p>1<p>2".to_owned())),
        ]
        .into(),
    )
    .await;
    let w =
        WorkerProc::start_ready(&broker.prefix, rules.path(), &["--call-budget-ms", "3000"]).await;
    broker
        .enqueue(&[
            page_job("j-bomb", site.url("/bomb"), "probe.count"),
            page_job("j-ok", site.url("/ok"), "probe.count"),
        ])
        .await;
    let dead = broker.dead_letters(1, Duration::from_secs(30)).await;
    assert_eq!(
        dead[0].1.get("x-crawlfleet-reason").map(String::as_str),
        Some("page_too_complex"),
        "{dead:?}"
    );
    let items = broker.items(1, Duration::from_secs(30)).await;
    assert_eq!(items[0].fields["n"], 2);
    let (status, body) = http_get(&format!("{}/healthz", w.admin_url().await)).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert_eq!(broker.depth(&broker.topology().jobs_queue()).await, 0);
    broker.cleanup().await;
}
