//! A compile-only check of a module's source, for tools that must not run rule code.

use mlua::{Lua, LuaOptions, StdLib};

use crate::lua_error::describe;
use crate::sandbox::rule_chunk;
use crate::{LoadError, ModuleName, Stage};

/// Compiles `source` as module `name` without running it: syntax errors, with line numbers.
pub fn check_syntax(name: &ModuleName, source: &str) -> Result<(), LoadError> {
    let lua = Lua::new_with(StdLib::NONE, LuaOptions::new())
        .map_err(|e| LoadError::new(Stage::Compile, format!("cannot create a Lua state: {e}")))?;
    rule_chunk(&lua, name, source)
        .into_function()
        .map(drop)
        .map_err(|e| LoadError::new(Stage::Compile, describe(&e, name.as_str())))
}
