//! The parsed HTML of a page, shared by the page and its elements, parsed on first use.

use std::sync::{Arc, OnceLock};

use mlua::{Lua, Table, Value};

use super::element::LuaElement;
use super::selectors::SelectorCache;
use crate::html::{Dom, NodeId};

/// Source text and, once a rule selects from it, its parsed tree.
pub(crate) struct Document {
    source: Arc<str>,
    dom: OnceLock<Arc<Dom>>,
}

impl Document {
    pub(crate) fn new(source: Arc<str>) -> Document {
        Document {
            source,
            dom: OnceLock::new(),
        }
    }

    fn dom(&self) -> &Arc<Dom> {
        self.dom
            .get_or_init(|| Arc::new(Dom::parse(Arc::clone(&self.source))))
    }

    /// Every element matching `css` in the document.
    pub(crate) fn select_all(&self, lua: &Lua, css: &str) -> mlua::Result<Table> {
        select_in(lua, self.dom(), None, css, usize::MAX)
    }

    /// The first element matching `css`, or `nil`.
    pub(crate) fn select_first(&self, lua: &Lua, css: &str) -> mlua::Result<Value> {
        first(lua, self.dom(), None, css)
    }
}

pub(crate) fn first(
    lua: &Lua,
    dom: &Arc<Dom>,
    scope: Option<NodeId>,
    css: &str,
) -> mlua::Result<Value> {
    let found = select_in(lua, dom, scope, css, 1)?;
    found.raw_get(1)
}

/// Up to `limit` elements matching `css` under `scope` (the whole document when `None`), as a
/// Lua list of element userdata.
pub(crate) fn select_in(
    lua: &Lua,
    dom: &Arc<Dom>,
    scope: Option<NodeId>,
    css: &str,
    limit: usize,
) -> mlua::Result<Table> {
    let selector = SelectorCache::get(lua, css)?;
    let ids = dom.select(scope, &selector, limit);
    let list = lua.create_table_with_capacity(ids.len(), 0)?;
    for (i, id) in ids.into_iter().enumerate() {
        list.raw_set(i + 1, LuaElement::new(Arc::clone(dom), id))?;
    }
    Ok(list)
}
