//! Hostile modules: each must fail at the expected stage, and the worker's other rules live on.

use crawlfleet_engine::{CallError, Stage, check_syntax};
use serde_json::json;

use crate::{first_item, src, store};

const GOOD: &str = "return { parse = function(page) return { items = { { ok = true } } } end }";

/// Pushes `text` as a new version of `shop.a` onto a store that serves GOOD and expects the
/// given stage, with `needle` in the message; the old version must keep serving.
fn check_refused(text: &str, stage: Stage, needle: &str) {
    let store = store(&[("shop.a", GOOD), ("shop.b", GOOD)]);
    let err = store
        .apply(src("shop.a", text, 1))
        .expect_err("hostile update must be refused");
    assert_eq!(err.stage, stage, "{text}: {err}");
    assert!(
        err.message.contains(needle),
        "{text}: `{}` lacks `{needle}`",
        err.message
    );
    assert_eq!(first_item(&store, "shop.a"), json!({"ok": true}));
    assert_eq!(first_item(&store, "shop.b"), json!({"ok": true}));
    assert_eq!(store.rule("shop.a").expect("live").version(), 0);
}

#[test]
fn hostile_top_levels_are_refused_at_their_stage() {
    let cases: &[(&str, Stage, &str)] = &[
        ("return {", Stage::Compile, "syntax error at line 1"),
        ("local x = 1\nlocal y = = 2", Stage::Compile, "at line 2"),
        ("\x1bLuaQ\0binary", Stage::Compile, "syntax error"),
        (
            "local t = nil\nreturn t.x",
            Stage::Evaluate,
            "runtime error at line 2",
        ),
        ("error('boom')", Stage::Evaluate, "boom"),
        ("while true do end", Stage::Budget, "time budget"),
        (
            "for i = 1, 1e12 do local _ = i * 2 end",
            Stage::Budget,
            "time budget",
        ),
        (
            "while true do pcall(function() while true do end end) end",
            Stage::Budget,
            "time budget",
        ),
        (
            "local co = coroutine.wrap(function() while true do end end) co()",
            Stage::Budget,
            "time budget",
        ),
        (
            "local function f() return f() end return f()",
            Stage::Evaluate,
            "stack overflow",
        ),
        (
            "string.find(string.rep('a', 200000), string.rep('a*', 40) .. 'b')",
            Stage::Budget,
            "time budget",
        ),
        (
            "local t = {} while true do t[#t + 1] = string.rep('x', 65536) .. #t end",
            Stage::Memory,
            "memory limit",
        ),
        (
            "local s = string.rep('x', 1024 * 1024 * 64)",
            Stage::Memory,
            "memory limit",
        ),
        ("return 42", Stage::Shape, "must return a table"),
        (
            "return { parse = 3 }",
            Stage::Shape,
            "`parse` must be a function",
        ),
        (
            "return { version = {} , parse = function() end }",
            Stage::Shape,
            "`version`",
        ),
        (
            "return { migrate = 'x', parse = function() end }",
            Stage::Shape,
            "`migrate`",
        ),
        ("return {}", Stage::Shape, "`parse` is missing"),
        (
            "return require('shop.nope')",
            Stage::Evaluate,
            "not in the rule set",
        ),
        ("return require('shop.a')", Stage::Evaluate, "require cycle"),
        (
            "return require('../etc/passwd')",
            Stage::Evaluate,
            "module name",
        ),
    ];
    for (text, stage, needle) in cases {
        check_refused(text, *stage, needle);
    }
}

#[test]
fn only_whitelisted_globals_are_visible() {
    let probe = r#"
        local names = { "io", "package", "debug", "dofile", "loadfile", "load", "loadstring",
            "getfenv", "setfenv", "collectgarbage", "newproxy", "gcinfo", "module", "require_disk" }
        local seen = {}
        for _, n in ipairs(names) do if _G[n] ~= nil then seen[#seen + 1] = n end end
        for k in pairs(os) do if k ~= "clock" and k ~= "date" and k ~= "time" and k ~= "difftime" then seen[#seen + 1] = "os." .. k end end
        return { parse = function() return { items = { { seen = table.concat(seen, ",") } } } end }
    "#;
    let store = store(&[("probe", probe)]);
    assert_eq!(first_item(&store, "probe"), json!({"seen": ""}));
}

#[test]
fn builtins_are_read_only_and_not_shared() {
    let vandal = r#"
        local ok1 = pcall(function() string.len = nil end)
        local ok2 = pcall(function() string.upper = function() return "pwned" end end)
        local ok3 = pcall(function() getmetatable("").__index = {} end)
        local ok4 = pcall(function() math.floor = nil end)
        return { parse = function() return { items = { { w = tostring(ok1 or ok2 or ok3 or ok4) } } } end }
    "#;
    let victim = "return { parse = function() return { items = { { up = string.upper('a'), len = ('abc'):len() } } } end }";
    let store = store(&[("vandal", vandal), ("victim", victim)]);
    assert_eq!(first_item(&store, "vandal"), json!({"w": "false"}));
    assert_eq!(first_item(&store, "victim"), json!({"up": "A", "len": 3}));
}

#[test]
fn globals_written_by_one_rule_are_not_seen_by_another() {
    let writer =
        "leak = 'secret' return { parse = function() return { items = { { v = leak } } } end }";
    let reader = "return { parse = function() return { items = { { v = tostring(leak) } } } end }";
    let store = store(&[("writer", writer), ("reader", reader)]);
    assert_eq!(first_item(&store, "writer"), json!({"v": "secret"}));
    assert_eq!(first_item(&store, "reader"), json!({"v": "nil"}));
}

#[test]
fn hostile_calls_end_with_a_clear_error_and_the_rule_keeps_working() {
    let rule = r#"
        return { parse = function(page)
            local mode = page.meta.mode
            if mode == "loop" then while true do end end
            if mode == "pcall" then while true do pcall(function() while true do end end) end end
            if mode == "swallow" then pcall(function() while true do end end) end
            if mode == "memory" then local t = {} while true do t[#t + 1] = string.rep("y", 65536) .. #t end end
            if mode == "error" then error("bad page") end
            if mode == "output" then return { items = { 1 } } end
            return { items = { { mode = mode } } }
        end }
    "#;
    let store = store(&[("r", rule)]);
    let r = store.rule("r").expect("live");
    let call = |mode: &str| r.parse(crate::page("http://x/", json!({"mode": mode})), &json!({}));
    type Case<'a> = (&'a str, fn(&CallError) -> bool);
    let cases: &[Case] = &[
        ("loop", |e| matches!(e, CallError::Budget(300))),
        ("pcall", |e| matches!(e, CallError::Budget(_))),
        ("swallow", |e| matches!(e, CallError::Budget(_))),
        ("memory", |e| matches!(e, CallError::Memory(16))),
        (
            "error",
            |e| matches!(e, CallError::Runtime(m) if m.contains("line 8") && m.contains("bad page")),
        ),
        ("output", |e| matches!(e, CallError::BadOutput(_))),
    ];
    for (mode, expected) in cases {
        let err = call(mode).expect_err(mode);
        assert!(expected(&err), "{mode}: unexpected {err:?}");
        let ok = call("fine").expect("the rule still works after a failed call");
        assert_eq!(ok.items[0]["mode"], "fine");
    }
}

#[test]
fn syntax_check_reports_the_line() {
    let name = crawlfleet_engine::ModuleName::new("x.y").expect("valid");
    assert!(check_syntax(&name, "return {}").is_ok());
    let err = check_syntax(&name, "local a = 1\nreturn {").expect_err("syntax error");
    assert!(
        err.message.starts_with("syntax error at line 2"),
        "{}",
        err.message
    );
}

#[test]
fn log_and_print_are_available_to_rules() {
    let rule = r#"
        log.info("loaded", { n = 1 })
        print("hello", 2)
        return { parse = function() log.warn("parsing") return { items = { { ok = true } } } end }
    "#;
    let store = store(&[("logs", rule)]);
    assert_eq!(first_item(&store, "logs"), json!({"ok": true}));
}
