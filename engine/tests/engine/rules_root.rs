//! The repository's own `rules/` directory: it loads whole, and its helpers behave.

use std::path::PathBuf;

use crawlfleet_engine::{RuleSet, RulesRoot};
use serde_json::json;

use crate::{limits, store};

fn repo_rules() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

#[test]
fn every_module_in_rules_loads() {
    let root = RulesRoot::open(&repo_rules()).expect("rules/ exists");
    let (sources, errors) = root.scan();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!sources.is_empty());
    let (_, failures) = RuleSet::load(sources, &limits());
    assert!(failures.is_empty(), "{failures:?}");
}

#[test]
fn price_helper_reads_prices_as_shops_write_them() {
    let helper = std::fs::read_to_string(repo_rules().join("lib/prices.lua")).expect("read");
    let probe = r#"
        local p = require("lib.prices")
        return { parse = function(page)
            return { items = { { amount = p.amount(page.meta.text), currency = p.currency(page.meta.text) } } }
        end }
    "#;
    let store = store(&[("lib.prices", &helper), ("probe", probe)]);
    let cases = [
        ("1,299.00 €", json!(1299.0), json!("EUR")),
        ("$ 12.50", json!(12.5), json!("USD")),
        ("1.299,00 EUR", json!(1299.0), json!("EUR")),
        ("£1,299", json!(1299), json!("GBP")),
        ("12 345,5 CHF", json!(12345.5), json!("CHF")),
        ("free", json!(null), json!(null)),
    ];
    let rule = store.rule("probe").expect("live");
    for (text, amount, currency) in cases {
        let out = rule
            .parse(crate::page("http://x/", json!({"text": text})), &json!({}))
            .expect("parse");
        let item = &out.items[0];
        // Integral numbers come back as integers: compare as numbers.
        let got = item.get("amount").and_then(|v| v.as_f64());
        assert_eq!(got, amount.as_f64(), "{text}");
        assert_eq!(
            item.get("currency").cloned().unwrap_or_default(),
            currency,
            "{text}"
        );
    }
}
