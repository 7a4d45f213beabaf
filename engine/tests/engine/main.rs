//! The engine's tests: sandbox, budgets and reload transactions, driven by small Lua sources.

mod hostile;
mod page;
mod reload;
mod rules_root;
mod sandbox;

use std::time::Duration;

use crawlfleet_engine::{Limits, ModuleName, ModuleSource, Page, RuleSet, RuleStore};

/// Tight limits so hostile cases end quickly.
pub fn limits() -> Limits {
    Limits {
        memory_bytes: 16 * 1024 * 1024,
        load_budget: Duration::from_millis(300),
        call_budget: Duration::from_millis(300),
    }
}

pub fn src(name: &str, text: &str, version: u64) -> ModuleSource {
    ModuleSource::new(ModuleName::new(name).expect("valid name"), text, version)
}

/// A store holding `modules` (name, source) at version 0; panics if any fails to load.
pub fn store(modules: &[(&str, &str)]) -> RuleStore {
    let sources = modules.iter().map(|(n, t)| src(n, t, 0)).collect();
    let (set, failures) = RuleSet::load(sources, &limits());
    assert!(failures.is_empty(), "base layer failed: {failures:?}");
    RuleStore::new(set, limits())
}

/// Calls rule `name` with an empty page and returns its first item.
pub fn first_item(store: &RuleStore, name: &str) -> serde_json::Value {
    let rule = store.rule(name).expect("rule is live");
    let out = rule
        .parse(
            page("http://x/", serde_json::json!({})),
            &serde_json::json!({}),
        )
        .expect("parse succeeds");
    serde_json::Value::Object(out.items.into_iter().next().expect("one item"))
}

/// A page at `url` with the job meta `meta` and an empty body.
pub fn page(url: &str, meta: serde_json::Value) -> Page {
    Page {
        url: url.to_owned(),
        status: 200,
        meta,
        ..Page::default()
    }
}

/// A page at `url` with `html` as its body.
pub fn html_page(url: &str, html: &str) -> Page {
    Page {
        url: url.to_owned(),
        status: 200,
        body: html.to_owned(),
        headers: [("content-type".to_owned(), "text/html".to_owned())].into(),
        ..Page::default()
    }
}
