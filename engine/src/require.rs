//! The engine's `require`: helpers resolved from the rule set being built, never from disk.
//!
//! Each loaded version gets its own `require` in its own environment. A helper's chunk is
//! compiled into that environment, cached for that version only, and recorded as a
//! dependency so that reloading the helper reloads the version's module too. Versions that
//! share a Lua state never share a helper's table.
//!
//! The `require` function holds the version's bookkeeping, which holds Lua handles (the
//! environment, the cached helpers): handles the Lua collector sees as roots. So the
//! bookkeeping is emptied when the version goes ([`Requires`] is a guard); otherwise each
//! version would keep itself alive in a state that outlives it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use mlua::{Lua, RegistryKey, Table, Value};

use crate::sandbox::compile_in;
use crate::{ModuleName, ModuleSource};

/// The sources a module may `require`, by name.
pub(crate) type Sources = BTreeMap<ModuleName, ModuleSource>;

/// One version's `require` bookkeeping, shared by its `require` function and the host.
struct Context {
    sources: Arc<Sources>,
    /// The version's environment; `None` once the version is gone.
    env: Option<Table>,
    cache: HashMap<ModuleName, RegistryKey>,
    loading: Vec<ModuleName>,
    deps: BTreeSet<ModuleName>,
}

type Shared = Arc<Mutex<Context>>;

/// The host's end of a version's `require`. Dropping it lets the version's Lua objects go.
pub(crate) struct Requires(Shared);

impl Requires {
    /// Installs `require` in `env`, the environment of module `module` being loaded.
    pub(crate) fn install(
        lua: &Lua,
        env: &Table,
        module: &ModuleName,
        sources: &Arc<Sources>,
    ) -> mlua::Result<Requires> {
        let shared = Arc::new(Mutex::new(Context {
            sources: Arc::clone(sources),
            env: Some(env.clone()),
            cache: HashMap::new(),
            loading: vec![module.clone()],
            deps: BTreeSet::new(),
        }));
        let inner = Arc::clone(&shared);
        let function = lua.create_function(move |lua, name: String| require(lua, &inner, name))?;
        env.raw_set("require", function)?;
        Ok(Requires(shared))
    }

    /// Every module the version required so far, directly or through other helpers.
    pub(crate) fn deps(&self) -> BTreeSet<ModuleName> {
        lock(&self.0).deps.clone()
    }
}

impl Drop for Requires {
    fn drop(&mut self) {
        let mut ctx = lock(&self.0);
        ctx.env = None;
        ctx.cache.clear();
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Context> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `require(name)`: the cached helper table, or the helper loaded into the version's
/// environment. The lock is never held while Lua runs: a helper may require another.
fn require(lua: &Lua, shared: &Shared, name: String) -> mlua::Result<Value> {
    let name = ModuleName::new(&name).map_err(|e| mlua::Error::runtime(e.to_string()))?;
    let (source, env) = {
        let mut ctx = lock(shared);
        if let Some(key) = ctx.cache.get(&name) {
            return lua.registry_value::<Value>(key);
        }
        if ctx.loading.contains(&name) {
            let chain: Vec<&str> = ctx.loading.iter().map(ModuleName::as_str).collect();
            return Err(mlua::Error::runtime(format!(
                "require cycle: {} -> {name}",
                chain.join(" -> ")
            )));
        }
        let source = ctx.sources.get(&name).cloned().ok_or_else(|| {
            mlua::Error::runtime(format!("module `{name}` is not in the rule set"))
        })?;
        let env = ctx
            .env
            .clone()
            .ok_or_else(|| mlua::Error::runtime("require is not available here"))?;
        ctx.loading.push(name.clone());
        ctx.deps.insert(name.clone());
        (source, env)
    };
    let result = compile_in(lua, &name, &source.text, &env).and_then(|c| c.call::<Value>(()));
    lock(shared).loading.pop();
    let value = result?;
    let mut ctx = lock(shared);
    if ctx.env.is_some() {
        let key = lua.create_registry_value(value.clone())?;
        ctx.cache.insert(name, key);
    }
    Ok(value)
}
