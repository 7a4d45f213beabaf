//! Micro figures, in process: the cost of a call into Lua, of parsing a product page with
//! the real rule, of compiling a rule, of a reload, and of what a new version costs besides
//! (the housekeeping after it, its first call).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crawlfleet_engine::{Limits, ModuleName, ModuleSource, Page, RuleSet, RuleStore, check_syntax};
use serde_json::{Value, json};

fn source(path: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../rules")
            .join(path),
    )
    .unwrap_or_default()
}

fn src(name: &str, text: &str, version: u64) -> ModuleSource {
    ModuleSource::new(ModuleName::new(name).expect("name"), text, version)
}

fn page(body: String) -> Page {
    Page {
        url: "http://shop.test/p/prod-42".to_owned(),
        status: 200,
        headers: BTreeMap::from([("content-type".to_owned(), "text/html".to_owned())]),
        body,
        meta: json!({}),
        ..Page::default()
    }
}

/// Mean microseconds of `f` over `n` runs.
fn time_us(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    started.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// Mean microseconds of `f` over `n` runs, each after an untimed `before`.
fn time_after_us(n: usize, mut before: impl FnMut(), mut f: impl FnMut()) -> f64 {
    let mut total = std::time::Duration::ZERO;
    for _ in 0..n {
        before();
        let started = Instant::now();
        f();
        total += started.elapsed();
    }
    total.as_secs_f64() * 1e6 / n as f64
}

pub fn run() -> anyhow::Result<Value> {
    let limits = Limits::default();
    let product = source("shop/product.lua");
    let prices = source("lib/prices.lua");
    let html = crate::site::Shop {
        categories: 1,
        per_category: 100,
        per_page: 50,
    }
    .page("/p/prod-42")
    .ok_or_else(|| anyhow::anyhow!("no page"))?;
    let (set, failures) = RuleSet::load(
        vec![
            src("lib.prices", &prices, 0),
            src("shop.product", &product, 0),
            src(
                "bench.noop",
                "return { parse = function() return nil end }",
                0,
            ),
            src(
                "bench.select",
                "return { parse = function(page) page:select_one('h1') return nil end }",
                0,
            ),
        ],
        &limits,
    );
    anyhow::ensure!(failures.is_empty(), "{failures:?}");
    let store = RuleStore::new(set, limits);
    let ctx = json!({"job": "j", "crawl": "c", "depth": 0, "attempt": 0, "meta": {}});
    let noop = store
        .rule("bench.noop")
        .ok_or_else(|| anyhow::anyhow!("noop"))?;
    let select = store
        .rule("bench.select")
        .ok_or_else(|| anyhow::anyhow!("select"))?;
    let rule = store
        .rule("shop.product")
        .ok_or_else(|| anyhow::anyhow!("product"))?;

    let call_us = time_us(20_000, || {
        let _ = noop.parse(page(String::new()), &ctx);
    });
    let parse_us = time_us(300, || {
        let _ = select.parse(page(html.clone()), &ctx);
    });
    let product_us = time_us(300, || {
        let _ = rule.parse(page(html.clone()), &ctx);
    });
    // The same page with one construct the fast builder leaves to html5ever (text inside
    // the table, which browsers foster out of it): the slow path's cost per page.
    let marker = "<table class=\"specs\">";
    anyhow::ensure!(html.contains(marker), "the product page has no specs table");
    let fostered = html.replacen(marker, &format!("{marker}fostered text"), 1);
    let fallback_parse_us = time_us(300, || {
        let _ = select.parse(page(fostered.clone()), &ctx);
    });
    let fallback_product_us = time_us(300, || {
        let _ = rule.parse(page(fostered.clone()), &ctx);
    });
    let name = ModuleName::new("shop.product")?;
    let compile_us = time_us(2_000, || {
        let _ = check_syntax(&name, &product);
    });
    // As in the worker: what a reload leaves for later (trimming the kept states, opening
    // a spare when one was used) runs between reloads, untimed. Each reload is a new
    // version of `module`.
    let mut version = 0;
    let mut reload_us = |module: &str, text: &str| {
        time_after_us(
            300,
            || store.housekeep(),
            || {
                version += 1;
                let _ = store.apply(src(module, &format!("{text}\n-- {version}"), version));
            },
        )
    };
    let one_module_us = reload_us("shop.product", &product);
    let helper_reload_us = reload_us("lib.prices", &prices);

    // What else a reload costs a worker in process, off the path timed above: the
    // housekeeping after it, and the first call on the new version (in a state new to the
    // module, the page's userdata types are registered and its selectors parsed on first
    // use; in one kept from a version before, they are there already).
    const SELECT: &str = "return { parse = function(page) page:select_one('h1') return nil end }";
    let small = || page("<h1>x</h1>".to_owned());
    let mut next_select = || {
        version += 1;
        let _ = store.apply(src(
            "bench.select",
            &format!("{SELECT}\n-- {version}"),
            version,
        ));
    };
    let housekeep_us = time_after_us(300, &mut next_select, || store.housekeep());
    let first_call_us = {
        let mut total = std::time::Duration::ZERO;
        for _ in 0..300 {
            store.housekeep();
            next_select();
            let fresh = store
                .rule("bench.select")
                .ok_or_else(|| anyhow::anyhow!("select"))?;
            let started = Instant::now();
            let _ = fresh.parse(small(), &ctx);
            total += started.elapsed();
        }
        total.as_secs_f64() * 1e6 / 300.0
    };
    let warm = store
        .rule("bench.select")
        .ok_or_else(|| anyhow::anyhow!("select"))?;
    let warm_call_us = time_us(2_000, || {
        let _ = warm.parse(small(), &ctx);
    });
    Ok(json!({
        "page_bytes": html.len(),
        "lua_call_us": call_us,
        "html_parse_and_one_select_us": parse_us,
        "product_rule_per_page_us": product_us,
        "full_parser_parse_and_one_select_us": fallback_parse_us,
        "full_parser_product_rule_per_page_us": fallback_product_us,
        "compile_us": compile_us,
        "reload_one_module_us": one_module_us,
        "reload_helper_and_dependent_us": helper_reload_us,
        "housekeep_us": housekeep_us,
        "first_call_on_new_version_us": first_call_us,
        "later_call_us": warm_call_us,
    }))
}
