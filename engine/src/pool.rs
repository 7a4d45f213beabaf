//! The Lua states a worker keeps between reloads: each module's idle states, and one spare.
//!
//! Opening a Luau state, registering the page's types in it and closing it again cost more
//! than a small reload. So a state outlives its versions: once nothing holds the version
//! loaded in it, the module's next version is loaded there instead. A reload only ever takes
//! an *idle* state, one no live or pinned version is loaded in, so every version still has
//! a state to itself: its own memory limit, its own budget, calls that run in parallel with
//! the other versions', and a bad update's garbage kept away from the version serving jobs.
//! What a state keeps from the versions before: their garbage (collected before reuse once
//! it is large) and the compiled selectors of its module.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::sandbox::Sandbox;
use crate::{Limits, ModuleName};

/// A state is collected before reuse once it holds more than this share of its limit.
const COLLECT_ABOVE_DIVISOR: usize = 8;

#[derive(Default)]
pub(crate) struct StatePool {
    /// Every state a module's versions were loaded in since it was last trimmed: idle ones
    /// (held only here) and busy ones (held by a version too).
    by_module: BTreeMap<ModuleName, Vec<Arc<Sandbox>>>,
    /// A blank state for a module that has no idle one.
    spare: Option<Sandbox>,
    /// States opened by this pool, for tests and status.
    opened: u64,
}

impl StatePool {
    /// An idle state for a version of `module`: one of the module's, else the spare, else a
    /// new one.
    pub(crate) fn take(
        &mut self,
        module: &ModuleName,
        limits: &Limits,
    ) -> mlua::Result<Arc<Sandbox>> {
        let states = self.by_module.entry(module.clone()).or_default();
        if let Some(idle) = states.iter().find(|s| Arc::strong_count(s) == 1) {
            if idle.lua.used_memory() > limits.memory_bytes / COLLECT_ABOVE_DIVISOR {
                idle.lua.gc_collect()?;
            }
            return Ok(Arc::clone(idle));
        }
        let fresh = match self.spare.take() {
            Some(spare) => spare,
            None => {
                self.opened += 1;
                Sandbox::open(limits)?
            }
        };
        fresh.dedicate(module);
        let fresh = Arc::new(fresh);
        states.push(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// Takes `state`, in which a version of `module` is loaded, as the module's own: once
    /// that version is gone, the next one may be loaded there.
    pub(crate) fn adopt(&mut self, module: &ModuleName, state: &Arc<Sandbox>) {
        let states = self.by_module.entry(module.clone()).or_default();
        if !states.iter().any(|s| Arc::ptr_eq(s, state)) {
            states.push(Arc::clone(state));
        }
    }

    /// Work for between reloads: keeps at most one idle state per module `is_live` names,
    /// closes the rest, and opens the spare if it was used. Blocking: it runs Lua.
    pub(crate) fn housekeep(&mut self, is_live: impl Fn(&ModuleName) -> bool, limits: &Limits) {
        self.by_module.retain(|module, states| {
            let mut keep_idle = usize::from(is_live(module));
            states.retain(|s| {
                if Arc::strong_count(s) > 1 {
                    return true;
                }
                let keep = keep_idle > 0;
                keep_idle = keep_idle.saturating_sub(1);
                keep
            });
            !states.is_empty()
        });
        if self.spare.is_none() {
            // A state that cannot be opened now is opened by the reload itself, which then
            // reports why.
            self.spare = Sandbox::open(limits).ok();
            self.opened += u64::from(self.spare.is_some());
        }
    }

    /// How many states this pool has opened.
    pub(crate) fn opened(&self) -> u64 {
        self.opened
    }
}
