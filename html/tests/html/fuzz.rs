//! A differential fuzz of the HTML model: thousands of generated documents (tag soup from a
//! hostile alphabet: tables, templates, foreign content, broken comments and attributes,
//! runs of deep nesting), each parsed and queried as a rule reads a page. None may panic or
//! run past a rule call's budget, and on every document without a `<template>` the model
//! finds exactly the elements html5ever builds (each start tag carries a unique `id`).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crawlfleet_html::{Dom, Meter, parse_selector};
use scraper::{Html, Selector};

/// Documents per run; the generator is seeded, so a failure names its document.
const DOCUMENTS: u64 = 1500;
/// The deadline of each document's work: the engine tests' call budget.
const BUDGET: Duration = Duration::from_millis(300);

const TAGS: &[&str] = &[
    "div",
    "p",
    "span",
    "a",
    "b",
    "i",
    "em",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "td",
    "th",
    "tbody",
    "thead",
    "caption",
    "h1",
    "h2",
    "form",
    "button",
    "select",
    "option",
    "optgroup",
    "svg",
    "math",
    "template",
    "body",
    "html",
    "head",
    "title",
    "br",
    "img",
    "input",
    "section",
    "nav",
    "custom-el",
    "font",
    "nobr",
    "pre",
    "textarea",
    "script",
    "style",
    "xmp",
    "iframe",
    "noscript",
    "colgroup",
    "col",
    "frameset",
    "hr",
    "image",
];

const JUNK: &[&str] = &[
    "<!--",
    "-->",
    "<!---->",
    "<!doctype html>",
    "<![CDATA[x]]>",
    "<?php ?>",
    "</>",
    "<",
    ">",
    "&amp;",
    "&lt;",
    "&#x110000;",
    "&notin",
    "\u{0}",
    "\r\n",
    " ",
    "text",
    "é",
    "=\"",
    "'",
    "</ p>",
    "<a <b>",
    "<p/>",
];

/// Documents with a template are fuzzed for panics and time only: selectors do not see
/// template contents (as in browsers), while scraper's tree walk does.
const NOT_YET: &[&str] = &["<template"];

/// xorshift64*: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

/// One generated document; every start tag gets a unique id.
fn document(rng: &mut Rng) -> String {
    // Half the documents keep to what the differential check compares.
    let tags: Vec<&str> = if rng.below(2) == 0 {
        TAGS.to_vec()
    } else {
        TAGS.iter()
            .copied()
            .filter(|t| !NOT_YET.contains(&format!("<{t}").as_str()))
            .collect()
    };
    let mut out = String::new();
    let mut id = 0;
    for _ in 0..rng.below(120) + 1 {
        match rng.below(10) {
            0..=4 => {
                let tag = tags[rng.below(tags.len())];
                id += 1;
                let extra = match rng.below(4) {
                    0 => " class=c x='1' x=2",
                    1 => " href=\"/a?b=1&amp;c\"",
                    _ => "",
                };
                out.push_str(&format!("<{tag} id=e{id}{extra}>"));
            }
            5..=6 => out.push_str(&format!("</{}>", tags[rng.below(tags.len())])),
            7 => {
                let tag = tags[rng.below(8)];
                for _ in 0..rng.below(40) {
                    id += 1;
                    out.push_str(&format!("<{tag} id=e{id}>"));
                }
            }
            _ => out.push_str(JUNK[rng.below(JUNK.len())]),
        }
    }
    out
}

/// The ids of every element in html5ever's tree.
fn reference_ids(page: &str) -> BTreeSet<String> {
    let html = Html::parse_document(page);
    let selector = Selector::parse("[id]").expect("selector");
    // From the root element (and it): `Html::select` also walks nodes the parser detached.
    let root = html.root_element();
    root.select(&selector)
        .chain(std::iter::once(root))
        .filter_map(|e| e.value().attr("id").map(str::to_owned))
        .collect()
}

/// What a rule reads of `page` within `meter`: the ids of the elements that have one, and
/// the text and markup of the root element; the ids are returned.
fn probe(page: &str, meter: &Meter<'_>) -> Result<BTreeSet<String>, String> {
    let dom = Dom::parse(Arc::from(page), meter).map_err(|e| e.to_string())?;
    let select = |css: &str| {
        let selector = parse_selector(css).map_err(|e| e.to_string())?;
        dom.select(None, &selector, usize::MAX, meter)
            .map_err(|e| e.to_string())
    };
    let ids = select("[id]")?
        .into_iter()
        .filter_map(|id| dom.attr(id, "id").map(|v| v.into_owned()))
        .collect();
    if let Some(&root) = select(":root")?.first() {
        let _ = (dom.visible_text(root), dom.outer_html(root));
    }
    Ok(ids)
}

#[test]
fn generated_documents_never_panic_stay_bounded_and_lose_no_element() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut compared = 0;
    for case in 0..DOCUMENTS {
        let page = document(&mut rng);
        let started = Instant::now();
        let expired = || started.elapsed() > BUDGET;
        let ours = probe(&page, &Meter::new(&expired))
            .unwrap_or_else(|e| panic!("document {case} failed: {e}\n{page}"));
        assert!(
            started.elapsed() < BUDGET * 2 + Duration::from_millis(50),
            "document {case} took {:?}",
            started.elapsed()
        );
        if NOT_YET.iter().any(|c| page.contains(c)) {
            continue;
        }
        compared += 1;
        let reference = reference_ids(&page);
        let only_reference: Vec<&String> = reference.difference(&ours).collect();
        let only_ours: Vec<&String> = ours.difference(&reference).collect();
        assert!(
            only_reference.is_empty() && only_ours.is_empty(),
            "document {case}: only html5ever has {only_reference:?}, only the model has \
             {only_ours:?}\n{page}"
        );
    }
    // The comparison is not vacuous: a fair share of the documents take part in it.
    assert!(
        compared >= DOCUMENTS / 10,
        "only {compared} documents compared"
    );
}
