//! Reload transactions: version checks, pinning, helper dependents, migration.

use std::sync::Arc;

use crawlfleet_engine::{Change, Stage};
use serde_json::json;

use crate::{first_item, src, store};

fn rule_returning(value: &str) -> String {
    format!("return {{ parse = function() return {{ items = {{ {{ v = {value} }} }} }} end }}")
}

#[test]
fn a_newer_version_is_swapped_in_and_stale_ones_are_refused() {
    let store = store(&[("shop.a", &rule_returning("'v0'"))]);
    let applied = store
        .apply(src("shop.a", &rule_returning("'v5'"), 5))
        .expect("applies");
    assert_eq!(
        applied.change,
        Change::Applied {
            reloaded: vec![crate::src("shop.a", "", 0).name]
        }
    );
    assert_eq!(first_item(&store, "shop.a"), json!({"v": "v5"}));

    let again = store
        .apply(src("shop.a", &rule_returning("'v5'"), 5))
        .expect("redelivery");
    assert_eq!(again.change, Change::Unchanged);

    for stale in [3, 5] {
        let err = store
            .apply(src("shop.a", &rule_returning("'old'"), stale))
            .expect_err("stale");
        assert_eq!(err.stage, Stage::Version);
    }
    assert_eq!(first_item(&store, "shop.a"), json!({"v": "v5"}));
}

#[test]
fn a_running_job_keeps_its_pinned_version() {
    let store = store(&[("shop.a", &rule_returning("'old'"))]);
    let pinned = store.rule("shop.a").expect("live");
    store
        .apply(src("shop.a", &rule_returning("'new'"), 1))
        .expect("applies");
    let out = pinned
        .parse(crate::page("http://x/", json!({})), &json!({}))
        .expect("old version still callable");
    assert_eq!(out.items[0]["v"], "old");
    assert_eq!(first_item(&store, "shop.a"), json!({"v": "new"}));
    // The old version is freed with its last holder.
    let weak = Arc::downgrade(&pinned);
    drop(pinned);
    assert!(weak.upgrade().is_none());
}

#[test]
fn reloading_a_helper_reloads_every_dependent_at_once() {
    let helper =
        "return { price = function(s) return tonumber((s:gsub(',', ''))) end, tag = 'h0' }";
    let user = |n: &str| {
        format!(
            "local p = require('lib.prices') return {{ parse = function() return {{ items = {{ {{ rule = '{n}', tag = p.tag }} }} }} end }}"
        )
    };
    let store = store(&[
        ("lib.prices", helper),
        ("shop.a", &user("a")),
        ("shop.b", &user("b")),
        ("other", &rule_returning("1")),
    ]);
    let other_before = store.rule("other").expect("live");
    let applied = store
        .apply(src(
            "lib.prices",
            "return { price = tonumber, tag = 'h1' }",
            7,
        ))
        .expect("applies");
    let Change::Applied { reloaded } = applied.change else {
        panic!("not applied")
    };
    let reloaded: Vec<&str> = reloaded.iter().map(|n| n.as_str()).collect();
    assert_eq!(reloaded, ["shop.a", "shop.b"]);
    assert_eq!(
        first_item(&store, "shop.a"),
        json!({"rule": "a", "tag": "h1"})
    );
    assert_eq!(
        first_item(&store, "shop.b"),
        json!({"rule": "b", "tag": "h1"})
    );
    assert_eq!(store.rule("shop.a").expect("live").version(), 7);
    assert!(
        Arc::ptr_eq(&other_before, &store.rule("other").expect("live")),
        "unrelated rule rebuilt"
    );
}

#[test]
fn a_helper_that_breaks_a_dependent_is_refused_as_a_whole() {
    let helper = "return { tag = 'h0' }";
    let a = "local p = require('lib.h') return { parse = function() return { items = { { tag = p.tag } } } end }";
    let b = "local p = require('lib.h') local n = p.count + 1 return { parse = function() return { items = { { tag = p.tag } } } end }";
    let store = store(&[
        ("lib.h", "return { tag = 'h0', count = 1 }"),
        ("shop.a", a),
        ("shop.b", b),
    ]);
    let err = store
        .apply(src("lib.h", helper, 1))
        .expect_err("breaks shop.b");
    assert_eq!(err.stage, Stage::Dependent);
    assert!(err.message.contains("shop.b"), "{}", err.message);
    assert_eq!(first_item(&store, "shop.a"), json!({"tag": "h0"}));
    assert_eq!(
        store
            .snapshot()
            .source(&src("lib.h", "", 0).name)
            .expect("live")
            .version,
        0
    );
}

#[test]
fn migrate_carries_state_to_the_new_version() {
    let v0 = "local M = { state = { seen = 0 } } function M.parse() M.state.seen = M.state.seen + 1 return { items = { { seen = M.state.seen } } } end return M";
    let v1 = "local M = { state = { seen = 0 } } function M.migrate(old) return { seen = old.seen + 100 } end function M.parse() M.state.seen = M.state.seen + 1 return { items = { { seen = M.state.seen } } } end return M";
    let store = store(&[("counter", v0)]);
    assert_eq!(first_item(&store, "counter"), json!({"seen": 1}));
    assert_eq!(first_item(&store, "counter"), json!({"seen": 2}));
    store.apply(src("counter", v1, 1)).expect("migrates");
    assert_eq!(first_item(&store, "counter"), json!({"seen": 103}));

    let bad =
        "local M = {} function M.migrate(old) error('cannot') end function M.parse() end return M";
    let err = store
        .apply(src("counter", bad, 2))
        .expect_err("migrate fails");
    assert_eq!(err.stage, Stage::Migrate);
    assert_eq!(first_item(&store, "counter"), json!({"seen": 104}));
}

#[test]
fn a_broken_file_in_the_base_layer_does_not_keep_the_others_from_loading() {
    let sources = vec![
        src("good", &rule_returning("1"), 0),
        src("bad", "return {", 0),
        src("lib.broken", "error('x')", 0),
        src(
            "uses_broken",
            "require('lib.broken') return { parse = function() end }",
            0,
        ),
    ];
    let (set, failures) = crawlfleet_engine::RuleSet::load(sources, &crate::limits());
    let failed: Vec<&str> = failures.iter().map(|f| f.module.as_str()).collect();
    assert_eq!(failed, ["bad", "lib.broken", "uses_broken"]);
    assert!(set.rule("good").is_some());
}

#[test]
fn a_reload_into_the_spare_state_is_a_reload_into_a_fresh_one() {
    let store = store(&[("shop.a", &rule_returning("'v0'"))]);
    // A failed update consumes the spare: the next update gets a new one, not the dirty one.
    store.housekeep();
    let err = store
        .apply(src("shop.a", "leak = 'dirty'\nreturn 42", 1))
        .expect_err("not a rule");
    assert_eq!(err.stage, Stage::Shape);
    store.housekeep();
    let leaky =
        "leak = 'v2'\nreturn { parse = function() return { items = { { v = leak } } } end }";
    store.apply(src("shop.a", leaky, 2)).expect("applies");
    assert_eq!(first_item(&store, "shop.a"), json!({"v": "v2"}));
    // Globals the previous version set are gone, and the budget still holds.
    store.housekeep();
    store
        .apply(src("shop.a", &rule_returning("tostring(leak)"), 3))
        .expect("applies");
    assert_eq!(first_item(&store, "shop.a"), json!({"v": "nil"}));
    store.housekeep();
    let err = store
        .apply(src("shop.a", "while true do end", 4))
        .expect_err("endless");
    assert_eq!(err.stage, Stage::Budget);
    assert_eq!(first_item(&store, "shop.a"), json!({"v": "nil"}));
}
