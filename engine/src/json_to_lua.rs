//! JSON as a rule sees it in Lua (`ctx`, `page.meta`, `page:json()`, the state `migrate`
//! receives): JSON `null` is `nil`.

use mlua::{Lua, LuaSerdeExt, Value};

/// How JSON becomes Lua: `null` is `nil`.
fn options() -> mlua::serde::SerializeOptions {
    mlua::serde::SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
}

/// JSON to Lua, with JSON `null` as `nil`.
pub(crate) fn to_lua(lua: &Lua, value: &serde_json::Value) -> mlua::Result<Value> {
    lua.to_value_with(value, options())
}
