//! `worker crawl`'s watch on the rules root: a module whose file changed is reloaded as a
//! push would be, as a newer version, checked first; a broken file is reported once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crawlfleet_engine::{ModuleSource, RuleStore, RulesRoot};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// How often the rules root is checked for changed files.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Reloads modules whose file changed, as a push would: a newer version, checked first.
pub(super) async fn watch(root: RulesRoot, store: Arc<RuleStore>, stop: CancellationToken) {
    // The sha256 last tried per module, so a broken file is reported once, not every tick.
    let mut tried: BTreeMap<String, String> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let (sources, _) = root.scan();
        let live = store.snapshot();
        for source in sources {
            if live
                .source(&source.name)
                .is_some_and(|s| s.sha256 == source.sha256)
                || tried.get(source.name.as_str()) == Some(&source.sha256)
            {
                continue;
            }
            tried.insert(source.name.to_string(), source.sha256.clone());
            let version = store.snapshot().max_version() + 1;
            let update = ModuleSource::new(source.name.clone(), source.text.clone(), version);
            let store = Arc::clone(&store);
            let result = tokio::task::spawn_blocking(move || {
                let result = store.apply(update);
                store.housekeep();
                result
            })
            .await;
            match result {
                Ok(Ok(_)) => {
                    info!(worker = "local", module = %source.name, version, sha256 = %source.sha256, "rule reloaded")
                }
                Ok(Err(e)) => {
                    error!(worker = "local", module = %source.name, version, sha256 = %source.sha256, stage = %e.stage, error = %e.message, "rule reload failed")
                }
                Err(e) => error!(cause = %e, "reload panicked"),
            }
        }
    }
}
