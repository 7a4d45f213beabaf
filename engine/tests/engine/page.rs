//! The page API rules see: one Lua expression per case, evaluated against a small page.

use serde_json::{Value, json};

use crate::{html_page, store};

const HTML: &str = r#"<!doctype html><html><head><title>Caf&eacute; &amp; Bar</title></head>
<body>
  <ul id="list">
    <li class="p" data-sku="A-1"><a href="/p/1?ref=x#top">First   item</a> <span class="price">1,299.00 &euro;</span></li>
    <li class="p" data-sku="B-2"><a href="p/2">Second</a><span class="price">$ 12.50</span></li>
  </ul>
  <table class="spec"><tr><th>Weight</th><td> 1.2 kg </td></tr></table>
  <div id="mixed"><p>Caf<em>é</em> 1,299<sup>.00</sup></p><p>next</p><script>var x = 1;</script><style>.a{}</style></div>
</body></html>"#;

/// Evaluates `expr` inside `parse` (with `page` in scope) and returns it as JSON.
fn eval(expr: &str) -> Value {
    let rule = format!(
        "return {{ parse = function(page, ctx) return {{ items = {{ {{ v = {expr} }} }} }} end }}"
    );
    let store = store(&[("probe", &rule)]);
    let out = store
        .rule("probe")
        .expect("live")
        .parse(html_page("http://shop.test/c/kitchen", HTML), &json!({}))
        .unwrap_or_else(|e| panic!("{expr}: {e}"));
    out.items[0].get("v").cloned().unwrap_or(Value::Null)
}

#[test]
fn page_api_cases() {
    let cases: &[(&str, Value)] = &[
        ("page.url", json!("http://shop.test/c/kitchen")),
        ("page.status", json!(200)),
        ("page.headers['content-type']", json!("text/html")),
        ("page:select_one('title'):text()", json!("Café & Bar")),
        ("#page:select('li.p')", json!(2)),
        ("page:select('li.p')[1]:attr('data-sku')", json!("A-1")),
        ("page:select('li.p')[2]:attr('missing')", Value::Null),
        ("page:select_one('li.p a'):text()", json!("First item")),
        (
            "page:select_one('li.p'):select_one('.price'):text()",
            json!("1,299.00 €"),
        ),
        ("#page:select_one('#list'):select('a')", json!(2)),
        ("page:select_one('td'):text()", json!("1.2 kg")),
        ("page:select_one('th'):html()", json!("<th>Weight</th>")),
        (
            "page:select_one('tr'):inner_html()",
            json!("<th>Weight</th><td> 1.2 kg </td>"),
        ),
        ("page:select_one('td').name", json!("td")),
        ("page:select_one('.nothing')", Value::Null),
        ("page:urljoin('p/2')", json!("http://shop.test/c/p/2")),
        (
            "page:urljoin('/p/1?ref=x#top')",
            json!("http://shop.test/p/1?ref=x#top"),
        ),
        (
            "page:urljoin('https://other.test/x')",
            json!("https://other.test/x"),
        ),
        ("#page.body > 100", json!(true)),
        (
            "page:select_one('#mixed'):text()",
            json!("Café 1,299.00 next"),
        ),
        ("page:select_one('tr'):text()", json!("Weight 1.2 kg")),
        ("array()", json!([])),
        ("array({ 'a' })", json!(["a"])),
    ];
    for (expr, expected) in cases {
        assert_eq!(&eval(expr), expected, "{expr}");
    }
}

#[test]
fn json_pages_and_bad_selectors() {
    let rule = r#"return { parse = function(page)
        if page.meta.mode == "json" then return { items = { page:json() } } end
        return { items = { { n = #page:select("a[") } } }
    end }"#;
    let store = store(&[("probe", rule)]);
    let r = store.rule("probe").expect("live");
    let mut page = crate::page("http://api.test/x", json!({"mode": "json"}));
    page.body = r#"{"name": "kettle", "tags": ["a", "b"]}"#.to_owned();
    let out = r.parse(page, &json!({})).expect("json page");
    assert_eq!(
        Value::Object(out.items[0].clone()),
        json!({"name": "kettle", "tags": ["a", "b"]})
    );

    let err = r
        .parse(crate::page("http://x/", json!({})), &json!({}))
        .expect_err("bad css");
    assert!(err.to_string().contains("bad CSS selector `a[`"), "{err}");
}

#[test]
fn rule_settings_and_follow_hook() {
    let rule = r#"return {
        max_depth = 3, keep_query = { "page" },
        follow = function(url) return string.find(url, "/p/") ~= nil end,
        parse = function() end,
    }"#;
    let store = store(&[("r", rule)]);
    let r = store.rule("r").expect("live");
    assert_eq!(r.settings().max_depth, Some(3));
    assert_eq!(
        r.settings().keep_query.as_deref(),
        Some(&["page".to_owned()][..])
    );
    let urls = ["http://a/p/1".to_owned(), "http://a/about".to_owned()];
    assert_eq!(r.follow(&urls, &json!({})).expect("hook"), [true, false]);
}
