//! An immutable rule set and the reload transaction that builds the next one.
//!
//! A transaction compiles and evaluates the new version, and every rule that requires it,
//! each in an idle state of its module; only when all of them load (and migrate) is a new
//! set returned. The caller swaps it in whole, so dependents change together with their
//! helper.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::instance::{Instance, state_error};
use crate::pool::StatePool;
use crate::require::Sources;
use crate::{Limits, LoadError, ModuleName, ModuleSource, Rule, Stage};

/// What a module is in a rule set, for status reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    pub name: ModuleName,
    pub version: u64,
    pub sha256: String,
    /// Whether it has a `parse` function (otherwise it is a helper).
    pub is_rule: bool,
}

/// The outcome of a successful transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The new version is live; `reloaded` lists the rules rebuilt with it (the module itself
    /// when it is a rule, and every rule that requires it).
    Applied { reloaded: Vec<ModuleName> },
    /// The same version with the same sha256 is already live (a redelivered update).
    Unchanged,
}

/// Every module's source and every rule, loaded. Immutable: reloads build a new set.
#[derive(Debug, Default)]
pub struct RuleSet {
    sources: Arc<Sources>,
    rules: BTreeMap<ModuleName, Arc<Rule>>,
}

impl RuleSet {
    /// Loads a base layer (the rules root). Modules that fail to load are left out and
    /// returned with their errors, so one bad file does not keep the others from serving.
    pub fn load(sources: Vec<ModuleSource>, limits: &Limits) -> (RuleSet, Vec<LoadFailure>) {
        let mut all: Sources = sources.into_iter().map(|s| (s.name.clone(), s)).collect();
        let mut failures = Vec::new();
        // Evaluate until no module fails: a helper that fails takes its dependents with it.
        loop {
            let shared = Arc::new(all.clone());
            let mut rules = BTreeMap::new();
            let mut failed = Vec::new();
            for (name, source) in shared.iter() {
                match Instance::evaluate(name, &shared, limits) {
                    Ok(instance) if instance.is_rule() => {
                        let rule = Rule::new(source.clone(), instance, &shared);
                        rules.insert(name.clone(), Arc::new(rule));
                    }
                    Ok(_) => {}
                    Err(e) => failed.push((name.clone(), e)),
                }
            }
            if failed.is_empty() {
                return (
                    RuleSet {
                        sources: shared,
                        rules,
                    },
                    failures,
                );
            }
            for (name, error) in failed {
                all.remove(&name);
                failures.push(LoadFailure {
                    module: name,
                    error,
                });
            }
        }
    }

    /// The live version of rule `name`, pinned for as long as the caller holds it.
    pub fn rule(&self, name: &str) -> Option<Arc<Rule>> {
        let name = ModuleName::new(name).ok()?;
        self.rules.get(&name).cloned()
    }

    /// The live source of module `name` (rule or helper).
    pub fn source(&self, name: &ModuleName) -> Option<&ModuleSource> {
        self.sources.get(name)
    }

    /// Every module, rules and helpers, in name order.
    pub fn modules(&self) -> Vec<ModuleInfo> {
        self.sources
            .values()
            .map(|s| ModuleInfo {
                name: s.name.clone(),
                version: s.version,
                sha256: s.sha256.clone(),
                is_rule: self.rules.contains_key(&s.name),
            })
            .collect()
    }

    /// The newest version of any module in the set.
    pub fn max_version(&self) -> u64 {
        self.sources.values().map(|s| s.version).max().unwrap_or(0)
    }

    /// Builds the set that results from `update`, without touching this one. The new
    /// versions are loaded in idle states from `states`.
    pub(crate) fn prepare(
        &self,
        update: ModuleSource,
        limits: &Limits,
        states: &mut StatePool,
    ) -> Result<(RuleSet, Change), LoadError> {
        let name = update.name.clone();
        if let Some(live) = self.sources.get(&name) {
            if update.version == live.version && update.sha256 == live.sha256 {
                return Ok((self.shallow_clone(), Change::Unchanged));
            }
            if update.version <= live.version {
                return Err(LoadError::new(
                    Stage::Version,
                    format!(
                        "version {} is not newer than the live version {}",
                        update.version, live.version
                    ),
                ));
            }
        }

        let mut next_sources = (*self.sources).clone();
        next_sources.insert(name.clone(), update.clone());
        let next_sources = Arc::new(next_sources);

        let instance = self.evaluate(&name, &next_sources, limits, states)?;
        if !instance.is_rule() && self.rules.contains_key(&name) {
            return Err(LoadError::new(
                Stage::Shape,
                "`parse` is missing, but the live version is a rule",
            ));
        }

        let mut rebuilt: Vec<(ModuleSource, Instance)> = Vec::new();
        if instance.is_rule() {
            rebuilt.push((update, instance));
        }
        for dependent in self
            .rules
            .values()
            .filter(|r| r.name() != &name && r.deps().contains_key(&name))
        {
            let instance = self
                .evaluate(dependent.name(), &next_sources, limits, states)
                .map_err(|e| {
                    LoadError::new(
                        Stage::Dependent,
                        format!(
                            "rule `{}` that requires it fails: {} ({})",
                            dependent.name(),
                            e.message,
                            e.stage
                        ),
                    )
                })?;
            rebuilt.push((dependent.source().clone(), instance));
        }

        for (source, instance) in &rebuilt {
            if !instance.has_migrate() {
                continue;
            }
            let old_state = match self.rules.get(&source.name) {
                Some(old) => old
                    .instance()
                    .state()
                    .map_err(|m| LoadError::new(Stage::Migrate, m))?,
                None => serde_json::Value::Null,
            };
            instance.migrate(&source.name, &old_state)?;
        }

        let mut rules = self.rules.clone();
        let mut reloaded = Vec::new();
        for (source, instance) in rebuilt {
            reloaded.push(source.name.clone());
            let rule = Rule::new(source, instance, &next_sources);
            rules.insert(rule.name().clone(), Arc::new(rule));
        }
        Ok((
            RuleSet {
                sources: next_sources,
                rules,
            },
            Change::Applied { reloaded },
        ))
    }

    /// Evaluates module `name` from `sources` in an idle state of its own, taken from
    /// `states`. The state its live version runs in becomes the module's too, for a later
    /// version once this one is gone.
    fn evaluate(
        &self,
        name: &ModuleName,
        sources: &Arc<Sources>,
        limits: &Limits,
        states: &mut StatePool,
    ) -> Result<Instance, LoadError> {
        if let Some(live) = self.rules.get(name) {
            states.adopt(name, live.instance().sandbox());
        }
        let state = states.take(name, limits).map_err(state_error)?;
        Instance::evaluate_in(state, name, sources, limits)
    }

    fn shallow_clone(&self) -> RuleSet {
        RuleSet {
            sources: Arc::clone(&self.sources),
            rules: self.rules.clone(),
        }
    }
}

/// A module of a base layer that did not load.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub module: ModuleName,
    pub error: LoadError,
}
