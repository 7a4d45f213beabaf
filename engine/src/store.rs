//! The live rule set of a worker, swapped atomically by reloads.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::sandbox::Sandbox;
use crate::{Change, Limits, LoadError, ModuleSource, Rule, RuleSet};

/// Holds the live [`RuleSet`]. Readers take a snapshot (an `Arc`) and never block on a reload
/// in progress; a reload builds the next set off to the side and swaps it in one store.
///
/// [`RuleStore::housekeep`], run once a reload has been reported, opens the next reload's Lua
/// state ahead of time, off the path of the next push.
pub struct RuleStore {
    live: RwLock<Arc<RuleSet>>,
    /// One reload at a time, so each transaction starts from the set it replaces.
    writer: Mutex<()>,
    limits: Limits,
    /// A blank sandboxed state for the next reload's module; taken by the reload (used or
    /// not, it is never reused), opened again by `housekeep`.
    spare: Mutex<Option<Sandbox>>,
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
            spare: Mutex::new(None),
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
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let (next, change) = current.prepare(update, &self.limits, spare)?;
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

    /// Work a reload leaves for later, to run once it has been reported: opens the spare state
    /// the next reload will use (opening one is a third of a small reload). Blocking.
    pub fn housekeep(&self) {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.is_none() {
            // A state that cannot be opened now is opened by the reload itself, which then
            // reports why.
            *spare = Sandbox::open(&self.limits).ok();
        }
    }
}
