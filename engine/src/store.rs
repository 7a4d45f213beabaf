//! The live rule set of a worker, swapped atomically by reloads.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::pool::StatePool;
use crate::{Change, Limits, LoadError, ModuleSource, Rule, RuleSet};

/// Holds the live [`RuleSet`]. Readers take a snapshot (an `Arc`) and never block on a reload
/// in progress; a reload builds the next set off to the side and swaps it in one store.
///
/// A reload loads the new version in an idle Lua state kept from an earlier version, or a
/// spare one opened ahead of time; [`RuleStore::housekeep`], run once a reload has been
/// reported, trims the kept states and opens the spare, off the path of the next push.
pub struct RuleStore {
    live: RwLock<Arc<RuleSet>>,
    /// One reload at a time, so each transaction starts from the set it replaces.
    writer: Mutex<()>,
    limits: Limits,
    /// The states reloads load new versions in.
    states: Mutex<StatePool>,
}

impl std::fmt::Debug for RuleStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleStore")
            .field("live", &self.snapshot())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A reload that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub change: Change,
}

impl RuleStore {
    pub fn new(set: RuleSet, limits: Limits) -> RuleStore {
        RuleStore {
            live: RwLock::new(Arc::new(set)),
            writer: Mutex::new(()),
            limits,
            states: Mutex::new(StatePool::default()),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The live set. Holding it pins every rule in it.
    pub fn snapshot(&self) -> Arc<RuleSet> {
        Arc::clone(&self.live.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The live version of rule `name`.
    pub fn rule(&self, name: &str) -> Option<Arc<Rule>> {
        self.snapshot().rule(name)
    }

    /// Replaces the whole set (the base layer at start-up).
    pub fn replace(&self, set: RuleSet) {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(
            &mut *self.live.write().unwrap_or_else(PoisonError::into_inner),
            Arc::new(set),
        );
        drop(old);
    }

    /// Compiles, evaluates and checks `update` (and the rules that require it) in scratch
    /// states; swaps the result in only if all of it loaded. Blocking: it runs Lua.
    /// On error the live set is untouched.
    pub fn apply(&self, update: ModuleSource) -> Result<Applied, LoadError> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.snapshot();
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let (next, change) = current.prepare(update, &self.limits, &mut states)?;
        drop(states);
        if change != Change::Unchanged {
            let old = std::mem::replace(
                &mut *self.live.write().unwrap_or_else(PoisonError::into_inner),
                Arc::new(next),
            );
            // Dropped outside the lock; pinned rules live on until their jobs end.
            drop(old);
        }
        Ok(Applied { change })
    }

    /// Work a reload leaves for later, to run once it has been reported: closes the states
    /// no version will use again and opens a spare for a module that has no idle state of
    /// its own. Blocking.
    pub fn housekeep(&self) {
        let live = self.snapshot();
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .housekeep(|module| live.source(module).is_some(), &self.limits);
    }

    /// How many Lua states reloads have opened (a state is reused by a module's later
    /// versions once its own version is gone).
    pub fn states_opened(&self) -> u64 {
        self.states
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .opened()
    }
}
