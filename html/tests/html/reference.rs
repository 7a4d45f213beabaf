//! The HTML model against html5ever (through scraper), the reference browsers agree with:
//! the same elements match the same selectors, with the same names, text and markup (what a
//! rule reads of an element). Pages are the saved fixtures of `rules/` and a set of malformed
//! snippets, fostered and misnested markup included.

use std::path::Path;

use scraper::{ElementRef, Html, Selector};
use serde_json::{Value, json};

use crate::{parse, select};

/// Selectors every page is checked with; `*` compares every element.
const SELECTORS: &[&str] = &[
    "*",
    "body *",
    "head *",
    "li:nth-child(2)",
    "a[href^='/']",
    "a[href*='?']",
    "div > p",
    "p + p",
    "p ~ p",
    "li:not(.p)",
    "table tr",
    "tbody > tr",
    "table > tr",
    "td:first-child",
    "tr > :last-child",
    "ul li:last-of-type",
    "div:empty",
    ":root",
    "html > body",
    "h1, h2, h3",
    "[class~='price']",
    "[data-sku|='A']",
    "[lang]",
    "#list li",
    "div:has(> p)",
    ":is(td, th):nth-of-type(2)",
    "script",
    "img[alt='']",
];

/// What a rule sees of each element matching `css`: name, text, attributes (as markup) and,
/// under the body, the whole markup.
fn ours(page: &str, css: &str) -> Value {
    let dom = parse(page);
    Value::Array(
        select(&dom, css)
            .into_iter()
            .map(|id| json!({ "name": dom.name(id), "text": dom.visible_text(id), "html": dom.outer_html(id) }))
            .collect(),
    )
}

/// The same, from html5ever's tree.
fn reference(page: &str, css: &str) -> Value {
    let html = Html::parse_document(page);
    let selector = Selector::parse(css).expect("valid selector");
    Value::Array(
        html.select(&selector)
            .map(|e| json!({ "name": e.value().name(), "text": visible_text(e), "html": e.html() }))
            .collect(),
    )
}

/// Drops what may differ by design: the markup of `html` and `head`, whose white space
/// between tags the model does not keep.
fn comparable(mut v: Value) -> Value {
    if let Value::Array(list) = &mut v {
        for el in list {
            if matches!(el["name"].as_str(), Some("html" | "head")) {
                el["html"] = Value::Null;
            }
        }
    }
    v
}

fn assert_same(label: &str, page: &str) {
    for css in SELECTORS {
        let ours = comparable(ours(page, css));
        let reference = comparable(reference(page, css));
        if ours != reference {
            let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
            let (o, r) = (list(&ours), list(&reference));
            let at = o
                .iter()
                .zip(&r)
                .position(|(a, b)| a != b)
                .unwrap_or(o.len().min(r.len()));
            panic!(
                "{label}, `{css}`: {} vs {} matches; first difference at {at}:\n ours: {}\n html5ever: {}",
                o.len(),
                r.len(),
                o.get(at).map_or("-".to_owned(), Value::to_string),
                r.get(at).map_or("-".to_owned(), Value::to_string),
            );
        }
    }
}

#[test]
fn fixture_pages_parse_as_html5ever_parses_them() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let mut pages = 0;
    for dir in std::fs::read_dir(&rules).expect("rules/") {
        let fixtures = dir.expect("entry").path().join("fixtures");
        let Ok(entries) = std::fs::read_dir(&fixtures) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "html") {
                let page = std::fs::read_to_string(&path).expect("fixture");
                assert_same(&path.display().to_string(), &page);
                // The same page built by html5ever (text inside a table sends it there),
                // long enough to be fed in several pieces, a CR LF across some boundary.
                let slow = format!(
                    "<table>fostered</table>{}",
                    page.replace('\n', "\r\n").repeat(4)
                );
                assert_same(&format!("{} on html5ever", path.display()), &slow);
                pages += 1;
            }
        }
    }
    assert!(pages >= 10, "only {pages} fixture pages found");
}

#[test]
fn malformed_markup_parses_as_html5ever_parses_it() {
    let cases: &[(&str, &str)] = &[
        ("no html, head or body", "<title>T</title><p>one<p>two"),
        ("text first", "hello <b>world</b>"),
        ("open paragraphs", "<div><p>a<p>b<div>c</div>d</div>"),
        (
            "open list items",
            "<ul id=list><li class=p>a<li>b<ul><li>c</ul><li>d</ul>",
        ),
        ("definition lists", "<dl><dt>k<dd>v<dt>k2<dd>v2</dl>"),
        (
            "bold reopened",
            "<p><b class=x>one</p>two<div>three</div><p>four",
        ),
        ("misnesting reopened", "<b><i>x</b>y</i>z <u>a<p>b</u>c"),
        (
            "cells keep formatting apart",
            "<b>0<table><tr><td><b>x</td><td>y</td></tr></table>z</b>",
        ),
        (
            "selects",
            "<p>Size <select name=s><option>S<option selected>M<optgroup label=x><option>L</select> ok",
        ),
        (
            "textareas",
            "<form><textarea name=r>\nGreat &amp; <b>cheap</b>\r\n</textarea><textarea>\r\nx</textarea></form>",
        ),
        ("rows and cells", "<table><tr><td>a<td>b<tr><td>c</table>"),
        (
            "sections",
            "<table><thead><tr><th>h<tbody><tr><td>1<tfoot><tr><td>f</table>",
        ),
        (
            "nested tables",
            "<table><tr><td><table><tr><td>in</table><td>out</table>",
        ),
        ("stray end tags", "<div>a</span></p>b</li></div></td>c"),
        ("headings", "<h1>a<h2>b</h1>c"),
        ("br end tag", "<p>a</br>b</p>"),
        ("upper case", "<DIV CLASS=Price><P>A</P></DIV>"),
        (
            "attributes",
            r#"<a href=/x?a=1&amp;b=2 title='q"' data-sku="A-1" data-sku=dup lang>x</a>"#,
        ),
        (
            "entities",
            "<p>Caf&eacute; &amp;&amp &lt;b&gt; &#x20AC;5 &notit; &#128; &bogus;</p>",
        ),
        (
            "entities in attributes",
            r#"<a href="?a=1&copy=2&amp;c&lt;">x</a>"#,
        ),
        ("comments", "<div><!-- c1 -->a<!---->b<!-->c</div><!-- tail"),
        (
            "doctype and pi",
            "<!DOCTYPE html><?xml version='1.0'?><p>x</p>",
        ),
        (
            "script",
            "<script>if (a < b && c) { x = '</div>'; }</script><p>y</p>",
        ),
        (
            "style and title",
            "<title>a &amp; <b>b</b></title><style>p > a { }</style><p>t</p>",
        ),
        ("textarea", "<textarea>x <b>y</b> &amp;</textarea>"),
        (
            "void elements",
            "<p>a<br>b<img src=x alt=''>c<hr>d<input value=v>",
        ),
        ("self-closing html", "<div/>inside<span/>also</div>after"),
        (
            "svg",
            "<p><svg viewBox='0 0 1 1'><path d='M0'/><circle r=1 /></svg>after</p>",
        ),
        (
            "options",
            "<select><option>a<option>b<optgroup><option>c</select>",
        ),
        ("links in links", "<a href=/1>one<a href=/2>two</a>"),
        ("unclosed at the end", "<div><p>a<span>b"),
        ("lone angle brackets", "<p>a < b > c <3 </p>"),
        ("cut-off tag", "<p>a</p><div class=\"x"),
        (
            "body attributes",
            "<body class=a><p>x</p><body class=b id=c>",
        ),
        ("after body", "<body><p>x</p></body></html><p>late</p>"),
        (
            "empty elements",
            "<div></div><div> </div><div><!--c--></div><p></p>",
        ),
        ("noscript", "<noscript><img src=x></noscript><p>y</p>"),
        ("buttons", "<button>a<button>b</button>"),
        ("list in paragraph", "<p>a<ul><li>b</ul>c"),
        (
            "whitespace",
            "  \n<html> <head> <title>t</title> </head> <body> <p> a </p> </body> </html> ",
        ),
    ];
    for (label, page) in cases {
        assert_same(label, page);
    }
}

/// A page nested 5 000 deep (a hostile or broken page) parses into a tree no deeper than
/// browsers build, keeping every element and its text, so no scan of the open elements and
/// no recursion over the tree goes deeper than that.
#[test]
fn absurdly_deep_nesting_is_kept_at_a_bounded_depth() {
    let depth = 5_000;
    let page = format!(
        "{}<b>deep</b>{}",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    // html, body and 510 divs deep; the rest are siblings at that depth.
    let nested = format!("{} b", "div ".repeat(510).trim_end());
    let too_deep = format!("{} b", "div ".repeat(511).trim_end());
    let dom = parse(&page);
    let divs = select(&dom, "div");
    let item = json!({
        "divs": divs.len(),
        "text": divs.first().map(|&div| dom.visible_text(div)),
        "nested": select(&dom, &nested).len(),
        "too_deep": select(&dom, &too_deep).len(),
    });
    assert_eq!(
        item,
        json!({ "divs": depth, "text": "deep", "nested": 1, "too_deep": 0 })
    );
}

/// The constructs the model once departed on (foster parenting, misnested formatting) now
/// come out as in a browser, through the full parser.
#[test]
fn fostered_and_misnested_markup_is_built_as_browsers_do() {
    // Fostered out of the table, before it (scraper's own sink puts it after: the suite's
    // expected tree, which the model passes, says before).
    let names: Vec<Value> = ours("<table><div>moved</div><tr><td>cell</table>", "body > *")
        .as_array()
        .map(|a| a.iter().map(|e| e["name"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(names, [json!("div"), json!("table")]);
    for (page, css) in [
        ("<table><div>moved</div><tr><td>cell</table>", "table div"),
        ("<p><b>bold<p>still bold</b> plain</p>", "b"),
        ("<p><b>bold<p>still bold</b> plain</p>", "p"),
        ("<a href=/1>one<div>two</a>three</div>", "a"),
        ("<ul><li><i>x</li><li>y</ul>", "i"),
        ("<table><tr><td>1</td></tr></table>", "body *"),
    ] {
        assert_eq!(ours(page, css), reference(page, css), "{page} / {css}");
    }
    assert_eq!(
        ours("<p><b>bold<p>still bold</b> plain</p>", "b")
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

/// The text a reader sees, as the page API defines it, over html5ever's tree.
fn visible_text(element: ElementRef<'_>) -> String {
    // The page API's own lists: this checks the walk, not which elements are listed.
    use crawlfleet_html::{BLOCK_ELEMENTS as BLOCK, HIDDEN_ELEMENTS as HIDDEN};
    fn walk(node: ego_tree::NodeRef<'_, scraper::Node>, raw: &mut String) {
        for child in node.children() {
            match child.value() {
                scraper::Node::Text(text) => raw.push_str(text),
                scraper::Node::Element(e) if HIDDEN.contains(&e.name()) => {}
                scraper::Node::Element(e) => {
                    let block = BLOCK.contains(&e.name());
                    if block {
                        raw.push(' ');
                    }
                    walk(child, raw);
                    if block {
                        raw.push(' ');
                    }
                }
                _ => {}
            }
        }
    }
    let mut raw = String::new();
    walk(*element, &mut raw);
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}
