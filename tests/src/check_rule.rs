//! `worker check-rule` run as a rule author runs it: one module, one saved page, a rules root.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `worker check-rule MODULE --url URL --page PAGE --rules RULES`, then `extra` flags.
pub fn check_rule(module: &str, url: &str, page: &Path, rules: &Path, extra: &[&str]) -> Output {
    Command::new(crate::worker())
        .args(["check-rule", module, "--url", url])
        .arg("--page")
        .arg(page)
        .arg("--rules")
        .arg(rules)
        .args(extra)
        .output()
        .expect("run worker check-rule")
}

/// The same, which must succeed: what it printed, as JSON.
pub fn check_rule_json(
    module: &str,
    url: &str,
    page: &Path,
    rules: &Path,
    extra: &[&str],
) -> serde_json::Value {
    let out = check_rule(module, url, page, rules, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("check-rule prints JSON")
}
