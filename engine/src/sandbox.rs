//! A Luau state with a whitelisted environment, a memory limit and a time budget, in which
//! each loaded version gets globals of its own.
//!
//! Whitelist, not blacklist: after the safe standard libraries are opened, every global that
//! is not named below is removed (so `require`, `loadstring`, `getfenv`/`setfenv`,
//! `collectgarbage`, `newproxy`, `gcinfo`, `debug` are gone), `os` keeps only its clock and
//! date functions, and sealing the state (`Lua::sandbox(true)`) makes every builtin table and
//! the string metatable read-only, so one rule cannot change what another sees.
//!
//! A state outlives the versions loaded into it (see `pool.rs`): each version's chunk runs in
//! an [`Sandbox::environment`] of its own, a table that reads through to the sealed builtins
//! and takes the version's own globals, so nothing one version sets is seen by the next.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mlua::chunk::{Chunk, ChunkMode};
use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value, Variadic};

use mlua::LuaSerdeExt as _;

use crate::budget::Budget;
use crate::lua_error::CHUNK_PREFIX;
use crate::plain_data::{MAX_LOG_DATA_BYTES, PlainDataError, to_json, truncated};
use crate::{Limits, ModuleName};

/// Globals a rule may use. Everything else is removed before any rule code runs.
const GLOBALS: &[&str] = &[
    // base library
    "assert",
    "error",
    "getmetatable",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "rawequal",
    "rawget",
    "rawlen",
    "rawset",
    "select",
    "setmetatable",
    "tonumber",
    "tostring",
    "type",
    "typeof",
    "unpack",
    "xpcall",
    "_G",
    "_VERSION",
    // the engine's own
    "array",
    // libraries
    "bit32",
    "coroutine",
    "math",
    "os",
    "string",
    "table",
    "utf8",
];

/// The harmless part of `os`.
const OS_FUNCTIONS: &[&str] = &["clock", "date", "difftime", "time"];

/// One sealed Lua state with its budget, shared by the versions of one module loaded into it.
pub(crate) struct Sandbox {
    pub(crate) lua: Lua,
    pub(crate) budget: Arc<Budget>,
    /// The metatable of every version's environment: reads fall through to the sealed
    /// builtins. Read-only, like them.
    env_meta: Table,
    /// Serialises everything that runs Lua here, so one caller's budget is never re-armed
    /// by another.
    calls: Mutex<()>,
    memory_bytes: usize,
}

impl Sandbox {
    /// A sealed state with only whitelisted globals, a `log` table routed to tracing, the
    /// memory limit and the interrupt-driven budget installed. It belongs to no module until
    /// [`Sandbox::dedicate`] names one, so it can be opened ahead of time.
    pub(crate) fn open(limits: &Limits) -> mlua::Result<Sandbox> {
        let libs = StdLib::COROUTINE
            | StdLib::TABLE
            | StdLib::OS
            | StdLib::STRING
            | StdLib::UTF8
            | StdLib::BIT
            | StdLib::MATH;
        let lua = Lua::new_with(libs, LuaOptions::new())?;
        let globals = lua.globals();

        let mut unwanted = Vec::new();
        for pair in globals.pairs::<Value, Value>() {
            let (key, _) = pair?;
            let keep = match &key {
                Value::String(s) => s.to_str().is_ok_and(|s| GLOBALS.contains(&&*s)),
                _ => false,
            };
            if !keep {
                unwanted.push(key);
            }
        }
        for key in unwanted {
            globals.raw_set(key, Value::Nil)?;
        }

        let os: Table = globals.raw_get("os")?;
        let safe_os = lua.create_table()?;
        for name in OS_FUNCTIONS {
            safe_os.raw_set(*name, os.raw_get::<Value>(*name)?)?;
        }
        globals.raw_set("os", safe_os)?;

        install_log(&lua, &globals)?;
        install_array(&lua, &globals)?;

        let budget = Arc::new(Budget::default());
        let check = Arc::clone(&budget);
        lua.set_interrupt(move |_| check.check());
        // Native page work (tree building, matching) reads the deadline from here.
        lua.set_app_data(Arc::clone(&budget));
        lua.set_memory_limit(limits.memory_bytes)?;

        lua.sandbox(true)?;
        // Sealing put a writable proxy in front of the builtins as the state's globals; the
        // builtins themselves are what every version's environment reads through to.
        let builtins: Table = lua
            .globals()
            .metatable()
            .ok_or_else(|| mlua::Error::runtime("a sealed state has no builtins table"))?
            .raw_get("__index")?;
        let env_meta = lua.create_table()?;
        env_meta.raw_set("__index", builtins)?;
        env_meta.set_readonly(true);

        Ok(Sandbox {
            lua,
            budget,
            env_meta,
            calls: Mutex::new(()),
            memory_bytes: limits.memory_bytes,
        })
    }

    /// Globals for one version: a fresh table that reads through to the sealed builtins and
    /// keeps whatever the version's code assigns. Marked safe so the builtins' fast paths
    /// stay on, as they are for the state's own globals.
    pub(crate) fn environment(&self) -> mlua::Result<Table> {
        let env = self.lua.create_table()?;
        env.set_metatable(Some(self.env_meta.clone()))?;
        env.set_safeenv(true);
        Ok(env)
    }

    /// Takes the state for one call or load: the caller may arm the budget and run Lua.
    pub(crate) fn enter(&self) -> MutexGuard<'_, ()> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Names the module this state is for: its `log` and `print` lines carry that name.
    pub(crate) fn dedicate(&self, module: &ModuleName) {
        self.lua.set_app_data(LogModule(module.to_string()));
    }

    pub(crate) fn memory_mib(&self) -> usize {
        self.memory_bytes / (1024 * 1024)
    }
}

/// `source` as the chunk of `module`, named so errors point at the module's lines. Text
/// only: binary chunks are refused.
pub(crate) fn rule_chunk<'a>(lua: &'a Lua, module: &ModuleName, source: &'a str) -> Chunk<'a> {
    lua.load(source)
        .set_name(format!("={CHUNK_PREFIX}{module}"))
        .set_mode(ChunkMode::Text)
}

/// Compiles `source` as the chunk of `module` in `lua`, with `env` as its globals.
pub(crate) fn compile_in(
    lua: &Lua,
    module: &ModuleName,
    source: &str,
    env: &Table,
) -> mlua::Result<Function> {
    rule_chunk(lua, module, source)
        .set_environment(env.clone())
        .into_function()
}

/// `array(t)`: marks a table as a list, so it becomes a JSON array even when empty.
fn install_array(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    let array = lua.create_function(|lua, t: Option<Table>| {
        let t = match t {
            Some(t) => t,
            None => lua.create_table()?,
        };
        t.set_metatable(Some(lua.array_metatable()))?;
        Ok(t)
    })?;
    globals.raw_set("array", array)
}

/// The module a state is dedicated to, as its log lines name it.
struct LogModule(String);

fn log_module(lua: &Lua) -> String {
    lua.app_data_ref::<LogModule>()
        .map(|m| m.0.clone())
        .unwrap_or_default()
}

/// The longest line `log.*` or `print` writes; the rest is cut off with a marker.
const MAX_LOG_LINE: usize = 16 * 1024;

/// `log.info/warn/error(message, fields?)` and `print(...)`, routed to tracing. Lines are
/// cut at [`MAX_LOG_LINE`] and data past [`MAX_LOG_DATA_BYTES`] is left out, so a rule's
/// logging costs the worker a bounded amount whatever it is given.
fn install_log(lua: &Lua, globals: &Table) -> mlua::Result<()> {
    let log = lua.create_table()?;
    for level in ["info", "warn", "error"] {
        let f = lua.create_function(move |lua, (message, data): (Value, Option<Value>)| {
            let module = log_module(lua);
            let message = display(&message, MAX_LOG_LINE);
            let data = match data {
                None => String::new(),
                Some(v) => match to_json(lua, v, MAX_LOG_DATA_BYTES) {
                    Ok(json) => serde_json::to_string(&json).unwrap_or_default(),
                    Err(e @ PlainDataError::TooLarge(_)) => format!("(left out: {e})"),
                    Err(e) => return Err(mlua::Error::runtime(format!("log data: {e}"))),
                },
            };
            match level {
                "warn" => {
                    tracing::warn!(target: "rule", module = %module, data = %data, "{message}")
                }
                "error" => {
                    tracing::error!(target: "rule", module = %module, data = %data, "{message}")
                }
                _ => tracing::info!(target: "rule", module = %module, data = %data, "{message}"),
            }
            Ok(())
        })?;
        log.raw_set(level, f)?;
    }
    globals.raw_set("log", log)?;

    let print = lua.create_function(move |lua, args: Variadic<Value>| {
        let module = log_module(lua);
        let mut line = String::new();
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                line.push('\t');
            }
            let room = MAX_LOG_LINE.saturating_sub(line.len());
            if room == 0 {
                line.push_str(&format!("…[{} more arguments]", args.len() - i));
                break;
            }
            line.push_str(&display(arg, room));
        }
        tracing::info!(target: "rule", module = %module, "{line}");
        Ok(())
    })?;
    globals.raw_set("print", print)
}

/// A value as a log line shows it, at most `max` bytes of it (strings are not copied
/// whole to be cut).
fn display(v: &Value, max: usize) -> String {
    match v {
        Value::String(s) => {
            let bytes = s.as_bytes();
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
            if bytes.len() > max {
                format!("{head}…[truncated {} bytes]", bytes.len() - max)
            } else {
                head.into_owned()
            }
        }
        Value::Nil => "nil".to_owned(),
        other => {
            let text = other.to_string().unwrap_or_else(|_| format!("{other:?}"));
            truncated(&text, max).into_owned()
        }
    }
}
