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
fn a_reload_into_a_kept_state_is_a_reload_into_a_fresh_one() {
    let store = store(&[("shop.a", &rule_returning("'v0'"))]);
    // A failed update leaves its state idle, and the next update is loaded there: it sees
    // nothing the failed one set.
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

/// Reloads `name` to version `version` with `text`, then does what a worker does between
/// reloads.
fn reload(store: &crawlfleet_engine::RuleStore, name: &str, text: &str, version: u64) {
    store.apply(src(name, text, version)).expect("applies");
    store.housekeep();
}

#[test]
fn a_module_reuses_the_state_of_a_version_that_is_gone() {
    let store = store(&[("shop.a", &rule_returning("'v0'"))]);
    store.housekeep();
    for version in 1..=20 {
        // Each version sets a global and reports the one the version before it set.
        let text = format!(
            "local before = tostring(mark)\nmark = {version}\n\
             return {{ parse = function() return {{ items = {{ {{ before = before }} }} }} end }}"
        );
        reload(&store, "shop.a", &text, version);
        assert_eq!(first_item(&store, "shop.a"), json!({"before": "nil"}));
    }
    // Two spares: version 1 took the first, the second was never needed, as every later
    // version took the state of the version before the last, idle by then.
    assert_eq!(store.states_opened(), 2);
}

#[test]
fn a_pinned_version_keeps_its_state_to_itself() {
    let store = store(&[("shop.a", &rule_returning("'v0'"))]);
    let push = |version: u64| {
        let text = rule_returning(&format!("'v{version}'"));
        reload(&store, "shop.a", &text, version);
    };
    let mut pinned = vec![store.rule("shop.a").expect("live")];
    for version in 1..=3 {
        push(version);
        pinned.push(store.rule("shop.a").expect("live"));
    }
    // Four versions alive at once: each in a state of its own, all callable.
    assert_eq!(store.states_opened(), 4);
    for (version, rule) in pinned.iter().enumerate() {
        let out = rule
            .parse(crate::page("http://x/", json!({})), &json!({}))
            .expect("callable");
        assert_eq!(out.items[0]["v"], format!("v{version}"));
    }
    drop(pinned);
    for version in 4..=8 {
        push(version);
    }
    assert_eq!(store.states_opened(), 4, "the freed states were reused");
}

#[test]
fn a_helper_table_changed_by_one_version_is_fresh_for_the_next() {
    let helper = "return { hits = 0 }";
    let rule = |version: u64| {
        format!(
            "local h = require('lib.count')\nh.hits = h.hits + 1\n\
             return {{ parse = function() return {{ items = {{ {{ hits = h.hits, v = {version} }} }} }} end }}"
        )
    };
    let store = store(&[("lib.count", helper), ("shop.a", &rule(0))]);
    for version in 1..=4 {
        reload(&store, "shop.a", &rule(version), version);
        assert_eq!(
            first_item(&store, "shop.a"),
            json!({"hits": 1, "v": version})
        );
    }
}

#[test]
fn a_reused_state_gives_back_the_memory_of_the_versions_before() {
    // Each version holds 9 MiB of the 16 MiB limit in a global, and requires a helper (so
    // its `require`, which holds its globals, must be let go too); a memory bomb is refused
    // in between. Every version can load only if what the versions before it held in the
    // same state is collected.
    let heavy = |version: u64| {
        format!(
            "local pad = require('lib.pad')\nbig = {{}}\n\
             for i = 1, 144 do big[i] = string.rep('x', 65536 - 8) .. string.format('%8d', i) end\n\
             return {{ parse = function() return {{ items = {{ {{ n = #big + pad.n, v = {version} }} }} }} end }}"
        )
    };
    let bomb = "local t = {} while true do t[#t + 1] = string.rep('y', 65536) .. #t end";
    let store = store(&[("lib.pad", "return { n = 0 }"), ("shop.a", &heavy(0))]);
    store.housekeep();
    for version in 1..=6 {
        if version % 2 == 0 {
            let err = store
                .apply(src("shop.a", bomb, version + 100))
                .expect_err("bomb refused");
            assert_eq!(err.stage, Stage::Memory);
            store.housekeep();
        }
        reload(&store, "shop.a", &heavy(version), version);
        assert_eq!(
            first_item(&store, "shop.a"),
            json!({"n": 144, "v": version})
        );
    }
    assert_eq!(store.states_opened(), 2);
}
