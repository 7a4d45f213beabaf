//! An element of a page, as Lua sees it: a handle on the shared document and a node id.

use std::sync::Arc;

use crawlfleet_html::{Dom, NodeId};
use mlua::{UserData, UserDataFields, UserDataMethods};

use super::document::{first, select_in};

pub(crate) struct LuaElement {
    dom: Arc<Dom>,
    id: NodeId,
}

impl LuaElement {
    pub(crate) fn new(dom: Arc<Dom>, id: NodeId) -> LuaElement {
        LuaElement { dom, id }
    }
}

impl UserData for LuaElement {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("name", |_, this| Ok(this.dom.name(this.id).into_owned()));
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("text", |_, this, ()| Ok(this.dom.visible_text(this.id)));
        methods.add_method("attr", |_, this, name: String| {
            Ok(this.dom.attr(this.id, &name).map(|v| v.into_owned()))
        });
        methods.add_method("html", |_, this, ()| Ok(this.dom.outer_html(this.id)));
        methods.add_method("inner_html", |_, this, ()| Ok(this.dom.inner_html(this.id)));
        methods.add_method("select", |lua, this, css: String| {
            select_in(lua, &this.dom, Some(this.id), &css, usize::MAX)
        });
        methods.add_method("select_one", |lua, this, css: String| {
            first(lua, &this.dom, Some(this.id), &css)
        });
    }
}
