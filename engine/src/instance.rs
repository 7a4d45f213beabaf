//! One version of a module, evaluated in a sandboxed Lua state with the helpers it
//! `require`s.
//!
//! The version runs in an environment of its own in a state no other live version is
//! loaded in (see `pool.rs`); `require` resolves helpers from the rule set being built.

use std::collections::BTreeSet;
use std::sync::Arc;

use mlua::{Function, Table, Value};

use crate::json_to_lua::to_lua;
use crate::lua_error::{describe, is_memory_error};
use crate::page::LuaPage;
use crate::plain_data::{MAX_OUTPUT_BYTES, PlainDataError, to_json};
use crate::require::{Requires, Sources};
use crate::sandbox::{Sandbox, compile_in};
use crate::{CallError, Limits, LoadError, ModuleName, Page, ParseOutput, RuleSettings, Stage};

/// A loaded version. Its Lua handles are declared before the state they live in, so the
/// state is idle (held only by the pool) only once they are all gone.
pub(crate) struct Instance {
    module: Table,
    parse: Option<Function>,
    migrate: Option<Function>,
    follow: Option<Function>,
    /// Crawl settings the module declares.
    pub(crate) settings: RuleSettings,
    /// The module's own `version` field, if it declares one.
    pub(crate) label: Option<String>,
    /// Every module this one requires, directly or through other helpers.
    pub(crate) deps: BTreeSet<ModuleName>,
    /// Its `require`; dropping it lets the version's Lua objects be collected.
    _requires: Requires,
    sandbox: Arc<Sandbox>,
    limits: Limits,
}

impl Instance {
    /// Compiles and evaluates module `name` from `sources` in a fresh state, and checks the
    /// shape of what it returns.
    pub(crate) fn evaluate(
        name: &ModuleName,
        sources: &Arc<Sources>,
        limits: &Limits,
    ) -> Result<Instance, LoadError> {
        let sandbox = Sandbox::open(limits).map_err(state_error)?;
        sandbox.dedicate(name);
        Self::evaluate_in(Arc::new(sandbox), name, sources, limits)
    }

    /// Like [`Instance::evaluate`], in `sandbox`: a state dedicated to module `name` in
    /// which no other version is live.
    pub(crate) fn evaluate_in(
        sandbox: Arc<Sandbox>,
        name: &ModuleName,
        sources: &Arc<Sources>,
        limits: &Limits,
    ) -> Result<Instance, LoadError> {
        let source = sources.get(name).ok_or_else(|| {
            LoadError::new(
                Stage::Evaluate,
                format!("module `{name}` is not in the rule set"),
            )
        })?;
        let _serial = sandbox.enter();
        let env = sandbox.environment().map_err(state_error)?;
        let requires = Requires::install(&sandbox.lua, &env, name, sources).map_err(state_error)?;

        let chunk = compile_in(&sandbox.lua, name, &source.text, &env)
            .map_err(|e| LoadError::new(Stage::Compile, describe(&e, name.as_str())))?;

        sandbox.budget.arm(limits.load_budget);
        let result = chunk.call::<Value>(());
        let tripped = sandbox.budget.disarm();
        if matches!(&result, Err(e) if is_memory_error(e)) {
            // Give the garbage of the failed load back before the state is used again.
            let _ = sandbox.lua.gc_collect();
        }
        let value = match result {
            _ if tripped => {
                return Err(LoadError::new(
                    Stage::Budget,
                    format!(
                        "top level ran past its time budget of {} ms",
                        sandbox.budget.budget_ms()
                    ),
                ));
            }
            Err(e) if is_memory_error(&e) => {
                return Err(LoadError::new(
                    Stage::Memory,
                    format!(
                        "top level ran past the memory limit of {} MiB",
                        sandbox.memory_mib()
                    ),
                ));
            }
            Err(e) => return Err(LoadError::new(Stage::Evaluate, describe(&e, name.as_str()))),
            Ok(value) => value,
        };

        let shape = |m: String| LoadError::new(Stage::Shape, m);
        let Value::Table(module) = value else {
            return Err(shape(format!(
                "the module must return a table, got {}",
                value.type_name()
            )));
        };
        let function = |field: &str| -> Result<Option<Function>, LoadError> {
            match module.raw_get::<Value>(field).map_err(state_error)? {
                Value::Nil => Ok(None),
                Value::Function(f) => Ok(Some(f)),
                other => Err(shape(format!(
                    "`{field}` must be a function, got {}",
                    other.type_name()
                ))),
            }
        };
        let parse = function("parse")?;
        let migrate = function("migrate")?;
        let follow = function("follow")?;
        let max_depth = match module.raw_get::<Value>("max_depth").map_err(state_error)? {
            Value::Nil => None,
            Value::Integer(n) if n >= 0 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
            Value::Number(n) if n >= 0.0 && n.fract() == 0.0 => Some(n as u32),
            other => {
                return Err(shape(format!(
                    "`max_depth` must be a whole number >= 0, got {}",
                    other.to_string().unwrap_or_default()
                )));
            }
        };
        let keep_query = match module.raw_get::<Value>("keep_query").map_err(state_error)? {
            Value::Nil => None,
            Value::Table(t) => Some(
                t.sequence_values::<String>()
                    .collect::<mlua::Result<Vec<_>>>()
                    .map_err(|_| shape("`keep_query` must be a list of strings".to_owned()))?,
            ),
            other => {
                return Err(shape(format!(
                    "`keep_query` must be a list of strings, got {}",
                    other.type_name()
                )));
            }
        };
        let label = match module.raw_get::<Value>("version").map_err(state_error)? {
            Value::Nil => None,
            v @ (Value::String(_) | Value::Integer(_) | Value::Number(_)) => {
                Some(v.to_string().map_err(state_error)?)
            }
            other => {
                return Err(shape(format!(
                    "`version` must be a string or a number, got {}",
                    other.type_name()
                )));
            }
        };
        let deps = requires.deps();
        let settings = RuleSettings {
            max_depth,
            keep_query,
            has_follow: follow.is_some(),
        };
        Ok(Instance {
            module,
            parse,
            migrate,
            follow,
            settings,
            label,
            deps,
            _requires: requires,
            sandbox: Arc::clone(&sandbox),
            limits: *limits,
        })
    }

    pub(crate) fn is_rule(&self) -> bool {
        self.parse.is_some()
    }

    /// Calls `parse(page, ctx)` within the call budget and validates what it returns.
    pub(crate) fn call_parse(
        &self,
        name: &ModuleName,
        page: Page,
        ctx: &serde_json::Value,
    ) -> Result<ParseOutput, CallError> {
        let parse = self
            .parse
            .as_ref()
            .ok_or_else(|| CallError::NotARule(name.to_string()))?;
        let _serial = self.sandbox.enter();
        let lua = &self.sandbox.lua;
        let args = (lua.create_userdata(LuaPage::new(page)), to_lua(lua, ctx));
        self.sandbox.budget.arm(self.limits.call_budget);
        let result = match args {
            (Ok(page), Ok(ctx)) => parse.call::<Value>((page, ctx)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let tripped = self.sandbox.budget.disarm();
        self.classify(name, tripped, result)
            .and_then(ParseOutput::from_json)
    }

    /// Asks the module's `follow(url, ctx)` hook about each URL, within one call budget.
    /// Without a hook every URL is followed.
    pub(crate) fn call_follow(
        &self,
        name: &ModuleName,
        urls: &[String],
        ctx: &serde_json::Value,
    ) -> Result<Vec<bool>, CallError> {
        let Some(follow) = &self.follow else {
            return Ok(vec![true; urls.len()]);
        };
        let _serial = self.sandbox.enter();
        let lua = &self.sandbox.lua;
        let ctx = to_lua(lua, ctx).map_err(|e| CallError::Runtime(describe(&e, name.as_str())))?;
        self.sandbox.budget.arm(self.limits.call_budget);
        let mut verdicts = Vec::with_capacity(urls.len());
        let mut result = Ok(Value::Nil);
        for url in urls {
            match follow.call::<Value>((url.as_str(), ctx.clone())) {
                Ok(v) => verdicts.push(!matches!(v, Value::Nil | Value::Boolean(false))),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let tripped = self.sandbox.budget.disarm();
        self.classify(name, tripped, result).map(|_| verdicts)
    }

    /// Turns the result of a budgeted call into JSON or a typed error.
    fn classify(
        &self,
        name: &ModuleName,
        tripped: bool,
        result: mlua::Result<Value>,
    ) -> Result<serde_json::Value, CallError> {
        let lua = &self.sandbox.lua;
        let value = match (result, self.sandbox.budget.refused()) {
            _ if tripped => Err(CallError::Budget(self.sandbox.budget.budget_ms())),
            // Native work refused the page or an output, even if the rule caught the error.
            (_, Some(refused)) => Err(refused),
            (Err(e), None) if is_memory_error(&e) => {
                Err(CallError::Memory(self.sandbox.memory_mib()))
            }
            (Err(e), None) => Err(CallError::Runtime(describe(&e, name.as_str()))),
            (Ok(value), None) => self.output(value),
        };
        if matches!(value, Err(CallError::Memory(_))) {
            // Give the garbage of the failed call back before the next job arrives.
            let _ = lua.gc_collect();
        }
        value
    }

    /// A call's result as JSON, within the output bound and still within the call's budget
    /// (measuring it is armed like the call was).
    fn output(&self, value: Value) -> Result<serde_json::Value, CallError> {
        let lua = &self.sandbox.lua;
        self.sandbox.budget.arm(self.limits.call_budget);
        let json = to_json(lua, value, MAX_OUTPUT_BYTES);
        self.sandbox.budget.disarm();
        json.map_err(|e| match e {
            PlainDataError::TooLarge(_) => CallError::OutputTooLarge(format!("the result is {e}")),
            PlainDataError::Deadline => CallError::Budget(self.sandbox.budget.budget_ms()),
            PlainDataError::TooDeep | PlainDataError::Convert(_) => {
                CallError::BadOutput(e.to_string())
            }
        })
    }

    /// The module's `state` field as plain data, for `migrate` in the next version.
    pub(crate) fn state(&self) -> Result<serde_json::Value, String> {
        let _serial = self.sandbox.enter();
        let state = self
            .module
            .raw_get::<Value>("state")
            .map_err(|e| e.to_string())?;
        self.sandbox.budget.arm(self.limits.load_budget);
        let json = to_json(&self.sandbox.lua, state, MAX_OUTPUT_BYTES);
        self.sandbox.budget.disarm();
        json.map_err(|e| format!("the old `state` is not plain data: {e}"))
    }

    /// Runs `migrate(old_state)` (if the module defines it) and stores the result as `state`.
    pub(crate) fn migrate(
        &self,
        name: &ModuleName,
        old_state: &serde_json::Value,
    ) -> Result<(), LoadError> {
        let Some(migrate) = &self.migrate else {
            return Ok(());
        };
        let fail = |m: String| LoadError::new(Stage::Migrate, format!("migrate failed {m}"));
        let _serial = self.sandbox.enter();
        let lua = &self.sandbox.lua;
        let old = to_lua(lua, old_state).map_err(|e| fail(describe(&e, name.as_str())))?;
        self.sandbox.budget.arm(self.limits.load_budget);
        let result = migrate.call::<Value>(old);
        if self.sandbox.budget.disarm() {
            return Err(fail(format!(
                "(ran past its time budget of {} ms)",
                self.sandbox.budget.budget_ms()
            )));
        }
        let new_state = result.map_err(|e| fail(describe(&e, name.as_str())))?;
        self.module
            .raw_set("state", new_state)
            .map_err(|e| fail(describe(&e, name.as_str())))
    }

    pub(crate) fn has_migrate(&self) -> bool {
        self.migrate.is_some()
    }

    /// The state this version is loaded in.
    pub(crate) fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }
}

/// A state a version was to be loaded in could not be opened or set up.
pub(crate) fn state_error(e: mlua::Error) -> LoadError {
    LoadError::new(Stage::Evaluate, format!("cannot prepare a Lua state: {e}"))
}
