//! A rule: one loaded version of a module with a `parse` function, pinned by the jobs using it.

use std::collections::BTreeMap;

use crate::instance::Instance;
use crate::{CallError, ModuleName, ModuleSource, Page, ParseOutput, RuleSettings};

/// One immutable, callable version of a rule. Jobs hold an `Arc<Rule>` from start to finish,
/// so a reload never changes the code a running job sees; the Lua state is freed when the
/// last holder drops it.
pub struct Rule {
    name: ModuleName,
    source: ModuleSource,
    /// Helpers this version was built with: name → (version, sha256).
    deps: BTreeMap<ModuleName, (u64, String)>,
    instance: Instance,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("version", &self.version())
            .field("sha256", &self.source.sha256)
            .finish_non_exhaustive()
    }
}

impl Rule {
    pub(crate) fn new(
        source: ModuleSource,
        instance: Instance,
        sources: &BTreeMap<ModuleName, ModuleSource>,
    ) -> Rule {
        let deps = instance
            .deps
            .iter()
            .filter_map(|d| {
                sources
                    .get(d)
                    .map(|s| (d.clone(), (s.version, s.sha256.clone())))
            })
            .collect();
        Rule {
            name: source.name.clone(),
            source,
            deps,
            instance,
        }
    }

    pub fn name(&self) -> &ModuleName {
        &self.name
    }

    /// The effective version: the newest push among this module and the helpers it requires,
    /// so a helper reload shows up in the version items carry.
    pub fn version(&self) -> u64 {
        self.deps
            .values()
            .map(|(v, _)| *v)
            .fold(self.source.version, u64::max)
    }

    /// The sha256 of this module's own source.
    pub fn sha256(&self) -> &str {
        &self.source.sha256
    }

    /// The module's own declared `version` field, if any.
    pub fn label(&self) -> Option<&str> {
        self.instance.label.as_deref()
    }

    pub fn source(&self) -> &ModuleSource {
        &self.source
    }

    /// Helpers this version was built with: name → (version, sha256).
    pub fn deps(&self) -> &BTreeMap<ModuleName, (u64, String)> {
        &self.deps
    }

    pub(crate) fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Crawl settings the module declares (`max_depth`, `keep_query`, a `follow` hook).
    pub fn settings(&self) -> &RuleSettings {
        &self.instance.settings
    }

    /// Runs `parse(page, ctx)` on this version, within its time and memory budget.
    /// Blocking: call it from a blocking thread, not an async task.
    pub fn parse(&self, page: Page, ctx: &serde_json::Value) -> Result<ParseOutput, CallError> {
        self.instance.call_parse(&self.name, page, ctx)
    }

    /// Asks the module's `follow(url, ctx)` hook which of `urls` to follow (all of them
    /// when it has no hook). Blocking, like `parse`.
    pub fn follow(&self, urls: &[String], ctx: &serde_json::Value) -> Result<Vec<bool>, CallError> {
        self.instance.call_follow(&self.name, urls, ctx)
    }
}
