//! Hostile pages and rule outputs: native work (tree building, matching, converting what a
//! rule returns or logs) is bounded like the rule's own code. One line per case: the page,
//! the rule's expression, and the outcome it must have within twice the call budget.

use std::time::{Duration, Instant};

use crawlfleet_engine::{CallError, Limits, MAX_NODES, RuleSet, RuleStore};
use serde_json::{Value, json};

use crate::{html_page, src};

/// The worker's memory limit, and a call budget a page at the caps parses within in a debug
/// build.
const LIMITS: Limits = Limits {
    memory_bytes: 64 * 1024 * 1024,
    load_budget: Duration::from_secs(2),
    call_budget: Duration::from_secs(2),
};

/// What a case must end with.
#[derive(Debug, Clone)]
enum Expect {
    /// `parse` returns one item whose `v` is this.
    Item(Value),
    /// `parse` fails with this reason (`CallError::reason`).
    Fails(&'static str),
    /// Either it finishes or it runs out of time: never anything slower than the bound.
    Bounded,
    /// It ends on a bound: out of time or past the page caps.
    Stops,
}

/// Runs `body` (a Lua block that ends with `return <value>`) as a rule's `parse` on `html`,
/// and checks the outcome and that it ended within twice the call budget.
fn check(name: &str, html: &str, body: &str, expect: Expect) {
    let rule = format!(
        "return {{ parse = function(page, ctx) local v = (function() {body} end)() \
         return {{ items = {{ {{ v = v }} }} }} end }}"
    );
    let (set, failures) = RuleSet::load(vec![src("probe", &rule, 0)], &LIMITS);
    assert!(failures.is_empty(), "{failures:?}");
    let store = RuleStore::new(set, LIMITS);
    let rule = store.rule("probe").expect("live");
    let started = Instant::now();
    let result = rule.parse(html_page("http://hostile.test/", html), &json!({}));
    let took = started.elapsed();
    let bound = LIMITS.call_budget * 2;
    assert!(took < bound, "{name}: took {took:?}, bound {bound:?}");
    match (expect, result) {
        (Expect::Item(want), Ok(out)) => {
            assert_eq!(out.items[0].get("v"), Some(&want), "{name}");
        }
        (Expect::Fails(reason), Err(e)) => assert_eq!(e.reason(), reason, "{name}: {e}"),
        (Expect::Bounded, Ok(_) | Err(CallError::Budget(_))) => {}
        (Expect::Stops, Err(CallError::Budget(_) | CallError::PageTooComplex(_))) => {}
        (expect, got) => panic!("{name}: expected {expect:?}, got {got:?}"),
    }
}

fn repeat(part: &str, n: usize) -> String {
    part.repeat(n)
}

/// `<tag a_0 a_1 ...>`: one tag with `n` distinct attributes.
fn attributes(tag: &str, n: usize) -> String {
    let attrs: String = (0..n).map(|i| format!(" a_{i}")).collect();
    format!("<{tag}{attrs}>")
}

#[test]
fn hostile_pages_are_bounded() {
    let body_tags: String = (0..12_000).map(|i| format!("<body a_{i}>")).collect();
    let deep = format!("{}x", repeat("<div>", 100_000));
    let siblings = format!("{}<b></b>", repeat("<i></i>", 60_000));
    let comments = format!("<p></p>{}<p></p>", repeat("<!---->", 200_000));
    let nodes = repeat("<p>", MAX_NODES + 10);
    let attrs = repeat("<p b c d e>", 300_000);
    let cases: Vec<(&str, String, &str, Expect)> = vec![
        (
            "a normal list page",
            repeat("<li class=p><a href=/x>item</a></li>", 2_000),
            "return #page:select('li.p > a[href]')",
            Expect::Item(json!(2000)),
        ),
        (
            "repeated <body> tags merge in linear memory",
            body_tags,
            "return page:select_one('body'):attr('a_11999')",
            Expect::Item(json!("")),
        ),
        (
            "one element with 40 000 attributes",
            attributes("p", 40_000),
            "return page:select_one('p'):attr('a_39999')",
            Expect::Item(json!("")),
        ),
        (
            "duplicate attributes: the first wins",
            format!("{}<p>", repeat("<p x=1 x=2 x=3>", 20)) + &attributes("i x=9", 30),
            "return page:select_one('i'):attr('x')",
            Expect::Item(json!("9")),
        ),
        (
            ":has() on a deeply nested page",
            deep.clone(),
            "return #page:select('div:has(div div div span)')",
            Expect::Bounded,
        ),
        (
            "i:has(~ b) on a page of many siblings",
            siblings,
            "return #page:select('i:has(~ b)')",
            Expect::Bounded,
        ),
        (
            "a <b> left open in every paragraph, reopened in the next",
            repeat("<p><b>x", 50_000),
            "return #page:select('b')",
            Expect::Bounded,
        ),
        (
            // Browsers reopen every one in every paragraph: quadratic, past the node cap.
            "distinct unclosed formatting piling up to be reopened",
            (0..20_000).map(|i| format!("<p><b id={i}>x")).collect(),
            "return #page:select('b')",
            Expect::Fails("page_too_complex"),
        ),
        (
            "a select of 100 000 options",
            format!("<select>{}</select>", repeat("<option>x", 100_000)),
            "return #page:select('option')",
            Expect::Item(json!(100_000)),
        ),
        (
            "sibling steps over many comments",
            comments,
            "return #page:select('p + p, p ~ p, p:nth-last-child(1)')",
            Expect::Bounded,
        ),
        (
            "a page past the node cap",
            nodes.clone(),
            "return #page:select('p')",
            Expect::Fails("page_too_complex"),
        ),
        (
            "a page past the node cap, the error caught by the rule",
            nodes,
            "pcall(page.select, page, 'p') return 1",
            Expect::Fails("page_too_complex"),
        ),
        (
            "misnested links past the node cap, through the full parser",
            repeat("<a>", MAX_NODES + 10),
            "return #page:select('a')",
            Expect::Stops,
        ),
        (
            "fostered elements past the node cap, through the full parser",
            format!("<table>{}", repeat("<i>", MAX_NODES + 10)),
            "return #page:select('i')",
            Expect::Stops,
        ),
        (
            "a page past the attribute cap",
            attrs,
            "return #page:select('[b]')",
            Expect::Fails("page_too_complex"),
        ),
        (
            "page:json() of a document past the value cap",
            format!("[{}0]", "0,".repeat(600_000)),
            "local ok, e = pcall(page.json, page) return tostring(e):match('more than %d+ values')",
            Expect::Item(json!("more than 500000 values")),
        ),
        (
            "page:json() of an ordinary document",
            "{\"a\": [1, 2, {\"b\": null}]}".to_owned(),
            "return page:json().a[2]",
            Expect::Item(json!(2)),
        ),
        (
            "a deep page's text and markup",
            deep,
            "return #page:select_one('body'):text() + #page:select_one('body'):html()",
            Expect::Bounded,
        ),
    ];
    for (name, html, body, expect) in cases {
        check(name, &html, body, expect);
    }
}

#[test]
fn hostile_outputs_and_logs_are_bounded() {
    let cases: &[(&str, &str, Expect)] = &[
        (
            "a table that reuses a subtable, exponential as JSON",
            "local t = {'x'} for i = 1, 60 do t = {t, t} end return t",
            Expect::Fails("rule_output_too_large"),
        ),
        (
            "a wide shared table",
            "local s = string.rep('y', 1024 * 1024) local t = {} for i = 1, 64 do t[i] = s end return t",
            Expect::Fails("rule_output_too_large"),
        ),
        (
            "nesting past the converter's depth",
            "local t = {} for i = 1, 300 do t = {t} end return t",
            Expect::Fails("rule_output"),
        ),
        (
            "log data that reuses a subtable",
            "local t = {'x'} for i = 1, 60 do t = {t, t} end log.info('x', t) return 1",
            Expect::Item(json!(1)),
        ),
        (
            "a huge log message, many times",
            "local s = string.rep('m', 4 * 1024 * 1024) for i = 1, 200 do log.warn(s) end return 1",
            Expect::Item(json!(1)),
        ),
        (
            "print of one large string many times",
            "local s = string.rep('p', 1024 * 1024) print(s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s) return 1",
            Expect::Item(json!(1)),
        ),
        (
            "log data that is not plain data raises",
            "local ok = pcall(log.info, 'x', {f = print}) return ok",
            Expect::Item(json!(false)),
        ),
    ];
    for (name, body, expect) in cases {
        check(name, "<p>x</p>", body, expect.clone());
    }
}
