//! Every example rule in `rules/` against its saved pages: `fixtures/X.html` is checked with
//! `check-rule`'s own code against `fixtures/X.json` (`{rule, url, meta?, items, links}` or
//! `{rule, url, error}`), and every rule module has at least one fixture.

use std::path::{Path, PathBuf};

use crawlfleet_worker::check::report;
use crawlfleet_worker::cli::{CheckRuleArgs, LimitArgs};
use serde_json::Value;

fn rules_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

/// All `(page, expected)` pairs under `rules/*/fixtures/`.
fn fixtures() -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut dirs = vec![rules_root()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read rules dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "html")
                && path.parent().is_some_and(|p| p.ends_with("fixtures"))
            {
                let expected = path.with_extension("json");
                let text = std::fs::read_to_string(&expected)
                    .unwrap_or_else(|_| panic!("{} has no {}", path.display(), expected.display()));
                out.push((
                    path,
                    serde_json::from_str(&text).expect("expected file is JSON"),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Runs `module` on `page` as if fetched from `url` (with the job meta `expected.meta`, if
/// any) and compares with `expected`.
fn check_rule(module: &str, page: &Path, url: &str, expected: &Value) {
    let args = CheckRuleArgs {
        module: module.to_owned(),
        page: page.to_path_buf(),
        url: url.to_owned(),
        rules: rules_root(),
        meta: expected.get("meta").map(Value::to_string),
        content_type: None,
        stats: false,
        limits: LimitArgs {
            lua_memory_mb: "64".to_owned(),
            load_budget_ms: "2000".to_owned(),
            call_budget_ms: "2000".to_owned(),
        },
    };
    let name = page.display();
    match (report(&args), expected.get("error")) {
        (Ok(got), None) => {
            assert_eq!(got["items"], expected["items"], "{name}: items differ");
            assert_eq!(got["links"], expected["links"], "{name}: links differ");
        }
        (Err(failure), Some(Value::String(needle))) => {
            let message = failure.to_string();
            assert!(
                message.contains(needle.as_str()),
                "{name}: error `{message}` lacks `{needle}`"
            );
        }
        (Ok(got), Some(_)) => panic!("{name}: expected an error, got {got}"),
        (Err(failure), _) => panic!("{name}: {failure}"),
    }
}

#[test]
fn every_fixture_extracts_what_is_expected() {
    let all = fixtures();
    assert!(!all.is_empty(), "no fixtures under rules/");
    for (page, expected) in &all {
        let module = expected["rule"].as_str().expect("`rule` in expected file");
        let url = expected["url"].as_str().expect("`url` in expected file");
        check_rule(module, page, url, expected);
    }
}

#[test]
fn every_rule_module_has_a_fixture() {
    let root = crawlfleet_engine::RulesRoot::open(&rules_root()).expect("rules/");
    let (sources, _) = root.scan();
    let (set, failures) =
        crawlfleet_engine::RuleSet::load(sources, &crawlfleet_engine::Limits::default());
    assert!(failures.is_empty(), "{failures:?}");
    let covered: Vec<String> = fixtures()
        .iter()
        .map(|(_, e)| e["rule"].as_str().unwrap_or_default().to_owned())
        .collect();
    let untested: Vec<String> = set
        .modules()
        .into_iter()
        .filter(|m| m.is_rule && !covered.contains(&m.name.to_string()))
        .map(|m| m.name.to_string())
        .collect();
    assert!(untested.is_empty(), "rules without fixtures: {untested:?}");
}
