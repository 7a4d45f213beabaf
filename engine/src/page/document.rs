//! The parsed HTML of a page, shared by the page and its elements, parsed on first use.
//! Parsing and matching are native work inside a rule call: both run against the call's
//! deadline and the HTML model's caps, and a page past those fails the call.

use std::sync::{Arc, OnceLock};

use crawlfleet_html::{Dom, Exceeded, Meter, NodeId};
use mlua::{Lua, Table, Value};

use super::element::LuaElement;
use super::selectors::SelectorCache;
use crate::CallError;
use crate::budget::Budget;

/// Source text and, once a rule selects from it, its parsed tree (or why it has none).
pub(crate) struct Document {
    source: Arc<str>,
    dom: OnceLock<Result<Arc<Dom>, Exceeded>>,
}

impl Document {
    pub(crate) fn new(source: Arc<str>) -> Document {
        Document {
            source,
            dom: OnceLock::new(),
        }
    }

    fn dom(&self, lua: &Lua) -> mlua::Result<&Arc<Dom>> {
        let built = self.dom.get_or_init(|| {
            metered(lua, |meter| Dom::parse(Arc::clone(&self.source), meter)).map(Arc::new)
        });
        match built {
            Ok(dom) => Ok(dom),
            // A deadline that ran out is reported by the budget; a page past the caps, here
            // and on every later select.
            Err(why) => Err(refuse(lua, *why)),
        }
    }

    /// Every element matching `css` in the document.
    pub(crate) fn select_all(&self, lua: &Lua, css: &str) -> mlua::Result<Table> {
        select_in(lua, self.dom(lua)?, None, css, usize::MAX)
    }

    /// The first element matching `css`, or `nil`.
    pub(crate) fn select_first(&self, lua: &Lua, css: &str) -> mlua::Result<Value> {
        first(lua, self.dom(lua)?, None, css)
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
    let ids = metered(lua, |meter| dom.select(scope, &selector, limit, meter))
        .map_err(|why| refuse(lua, why))?;
    let list = lua.create_table_with_capacity(ids.len(), 0)?;
    for (i, id) in ids.into_iter().enumerate() {
        list.raw_set(i + 1, LuaElement::new(Arc::clone(dom), id))?;
    }
    Ok(list)
}

/// Runs native page work with a meter on the state's deadline (none outside a call).
fn metered<T>(
    lua: &Lua,
    work: impl FnOnce(&Meter<'_>) -> Result<T, Exceeded>,
) -> Result<T, Exceeded> {
    let budget = lua.app_data_ref::<Arc<Budget>>().map(|b| Arc::clone(&b));
    match budget {
        Some(budget) => {
            let expired = move || budget.expired();
            work(&Meter::new(&expired))
        }
        None => work(&Meter::unbounded()),
    }
}

/// The Lua error for work that stopped; a page past the caps also fails the whole call,
/// even if the rule catches this error.
fn refuse(lua: &Lua, why: Exceeded) -> mlua::Error {
    if why != Exceeded::Deadline
        && let Some(budget) = lua.app_data_ref::<Arc<Budget>>()
    {
        budget.refuse(CallError::PageTooComplex(why.to_string()));
    }
    mlua::Error::runtime(format!("page_too_complex: {why}"))
}
