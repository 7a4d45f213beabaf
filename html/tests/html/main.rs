//! The HTML model's tests against html5ever (through scraper), the reference browsers agree
//! with: the saved fixture pages, malformed snippets and generated tag soup.

mod fuzz;
mod reference;

use std::sync::Arc;

use crawlfleet_html::{Dom, Meter, NodeId, parse_selector};

/// The tree of `page`, built with no deadline.
pub fn parse(page: &str) -> Dom {
    Dom::parse(Arc::from(page), &Meter::unbounded()).expect("parses")
}

/// Every element of `dom` matching `css`, in document order.
pub fn select(dom: &Dom, css: &str) -> Vec<NodeId> {
    let selector = parse_selector(css).unwrap_or_else(|e| panic!("{css}: {e}"));
    dom.select(None, &selector, usize::MAX, &Meter::unbounded())
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}
