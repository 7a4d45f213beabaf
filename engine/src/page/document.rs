//! The parsed HTML of a page, shared by the page and its elements, parsed on first use.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ego_tree::NodeId;
use mlua::{Lua, Table, Value};
use scraper::{ElementRef, Html};

use super::element::LuaElement;
use super::selectors::SelectorCache;

/// Source text and, once a rule selects from it, its parsed tree.
pub(crate) struct Document {
    source: Arc<str>,
    html: OnceLock<Arc<Mutex<Html>>>,
}

impl Document {
    pub(crate) fn new(source: Arc<str>) -> Document {
        Document {
            source,
            html: OnceLock::new(),
        }
    }

    pub(crate) fn html(&self) -> Arc<Mutex<Html>> {
        Arc::clone(
            self.html
                .get_or_init(|| Arc::new(Mutex::new(Html::parse_document(&self.source)))),
        )
    }

    /// Every element matching `css` under `scope` (the whole document when `None`).
    pub(crate) fn select_all(
        &self,
        lua: &Lua,
        scope: Option<NodeId>,
        css: &str,
    ) -> mlua::Result<Table> {
        select_in(lua, &self.html(), scope, css, usize::MAX)
    }

    /// The first element matching `css`, or `nil`.
    pub(crate) fn select_first(
        &self,
        lua: &Lua,
        scope: Option<NodeId>,
        css: &str,
    ) -> mlua::Result<Value> {
        first(lua, &self.html(), scope, css)
    }
}

pub(crate) fn first(
    lua: &Lua,
    html: &Arc<Mutex<Html>>,
    scope: Option<NodeId>,
    css: &str,
) -> mlua::Result<Value> {
    let found = select_in(lua, html, scope, css, 1)?;
    found.raw_get(1)
}

/// Up to `limit` elements matching `css` under `scope`, as a Lua list of element userdata.
pub(crate) fn select_in(
    lua: &Lua,
    html: &Arc<Mutex<Html>>,
    scope: Option<NodeId>,
    css: &str,
    limit: usize,
) -> mlua::Result<Table> {
    let selector = SelectorCache::get(lua, css)?;
    let ids: Vec<NodeId> = {
        let doc = html.lock().unwrap_or_else(PoisonError::into_inner);
        match scope {
            None => doc.select(&selector).take(limit).map(|e| e.id()).collect(),
            Some(id) => match doc.tree.get(id).and_then(ElementRef::wrap) {
                Some(element) => element
                    .select(&selector)
                    .take(limit)
                    .map(|e| e.id())
                    .collect(),
                None => Vec::new(),
            },
        }
    };
    let list = lua.create_table_with_capacity(ids.len(), 0)?;
    for (i, id) in ids.into_iter().enumerate() {
        list.raw_set(i + 1, LuaElement::new(Arc::clone(html), id))?;
    }
    Ok(list)
}
