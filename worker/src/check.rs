//! `worker check-rule`: run one rule on a saved page and print what it extracts, as
//! `scrapy parse` does — the rule author's loop before a push.

use std::collections::BTreeMap;
use std::sync::Arc;

use crawlfleet_engine::{Page, Rule, RuleSet, RulesRoot};
use serde_json::json;

use crate::cli::CheckRuleArgs;
use crate::crawl::{FoundOn, resolve, verdicts};
use crate::failure::Failure;

pub fn run(args: &CheckRuleArgs) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let result = report(args);
    if args.stats {
        // What the run cost the process, as an operator sizing workers wants to know.
        let usage = crate::usage::of("self");
        eprintln!(
            "{}",
            json!({"took_ms": started.elapsed().as_millis(), "peak_rss_kb": usage.peak_rss_kb})
        );
    }
    let report = result?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    Ok(())
}

/// What `check-rule` prints: the rule's items and its links (resolved, normalised, with the
/// follow verdict), or why it could not.
pub fn report(args: &CheckRuleArgs) -> Result<serde_json::Value, Failure> {
    let usage = Failure::Usage;
    let root = RulesRoot::open(&args.rules).map_err(|e| {
        usage(format!(
            "cannot open the rules root {}: {e}",
            args.rules.display()
        ))
    })?;
    let body = std::fs::read(&args.page)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.page.display())))?;
    let base = url::Url::parse(&args.url).map_err(|e| usage(format!("--url: {e}")))?;
    let meta = match &args.meta {
        None => json!({}),
        Some(text) => serde_json::from_str(text)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| usage("--meta must be a JSON object".to_owned()))?,
    };
    let (sources, scan_errors) = root.scan();
    for e in scan_errors {
        eprintln!("warning: {} skipped: {}", e.path, e.error);
    }
    let mut errors = Vec::new();
    let limits = crate::config::limits(&args.limits, &mut errors);
    if !errors.is_empty() {
        return Err(usage(errors.join("; ")));
    }
    let (set, failures) = RuleSet::load(sources, &limits);
    for f in &failures {
        eprintln!(
            "warning: module {} did not load: {} ({})",
            f.module, f.error.message, f.error.stage
        );
    }
    let rule: Arc<Rule> = set.rule(&args.module).ok_or_else(|| {
        usage(
            match failures.iter().find(|f| f.module.as_str() == args.module) {
                Some(f) => format!("rule `{}` does not load: {}", args.module, f.error.message),
                None => format!("no rule `{}` under {}", args.module, args.rules.display()),
            },
        )
    })?;
    let content_type = args.content_type.clone().unwrap_or_else(|| {
        let json = args.page.extension().is_some_and(|e| e == "json");
        if json {
            "application/json"
        } else {
            "text/html"
        }
        .to_owned()
    });
    // Decoded exactly as the fleet decodes what it fetches.
    let decoded = crate::sniff::decode(&body, Some(&content_type), base.as_str());
    let page = Page {
        url: base.to_string(),
        status: 200,
        headers: BTreeMap::from([("content-type".to_owned(), content_type)]),
        body: decoded.text,
        encoding: decoded.encoding,
        meta: meta.clone(),
    };
    let ctx = json!({
        "job": "check-rule", "crawl": "check-rule", "depth": 0, "attempt": 0,
        "meta": meta, "url": base.as_str(),
    });
    let output = rule
        .parse(page, &ctx)
        .map_err(|e| Failure::RuleFailed(format!("{} ({})", e, e.reason())))?;
    let found_on = FoundOn {
        url: base.clone(),
        encoding: decoded.encoding.encoding,
    };
    let candidates = resolve(output.links, &found_on, &rule, |name| set.rule(name));
    let follow = verdicts(&rule, &candidates, &base, &ctx)
        .map_err(|e| Failure::RuleFailed(format!("follow hook: {e}")))?;
    let links: Vec<serde_json::Value> = candidates
        .iter()
        .zip(follow)
        .map(|(c, follow)| json!({"url": c.url.as_str(), "rule": c.rule, "meta": c.meta, "follow": follow}))
        .collect();
    Ok(json!({
        "rule": args.module,
        "version": rule.version(),
        "sha256": rule.sha256(),
        "label": rule.label(),
        "encoding": {
            "name": decoded.encoding.encoding.name(),
            "source": decoded.encoding.source.label(),
        },
        "items": output.items,
        "links": links,
    }))
}
