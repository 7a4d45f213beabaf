//! An element of a page, as Lua sees it: a handle on the shared document and a node id.

use std::sync::{Arc, Mutex, PoisonError};

use ego_tree::NodeId;
use mlua::{UserData, UserDataFields, UserDataMethods};
use scraper::{ElementRef, Html};

use super::document::{first, select_in};

pub(crate) struct LuaElement {
    html: Arc<Mutex<Html>>,
    id: NodeId,
}

impl LuaElement {
    pub(crate) fn new(html: Arc<Mutex<Html>>, id: NodeId) -> LuaElement {
        LuaElement { html, id }
    }

    /// Runs `f` on this element.
    fn with<R>(&self, f: impl FnOnce(ElementRef<'_>) -> R) -> mlua::Result<R> {
        let doc = self.html.lock().unwrap_or_else(PoisonError::into_inner);
        let element = doc
            .tree
            .get(self.id)
            .and_then(ElementRef::wrap)
            .ok_or_else(|| mlua::Error::runtime("element no longer exists"))?;
        Ok(f(element))
    }
}

/// Elements whose contents are not text a reader sees.
const HIDDEN: &[&str] = &["script", "style", "noscript", "template", "head"];

/// Elements that separate words: text on either side never runs together.
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

/// The text a reader sees: text nodes joined as written (so `Caf<em>é</em>` is one word),
/// block elements separating words, scripts and styles left out, white space collapsed.
pub(crate) fn visible_text(element: ElementRef<'_>) -> String {
    fn walk(node: ego_tree::NodeRef<'_, scraper::Node>, raw: &mut String) {
        for child in node.children() {
            match child.value() {
                scraper::Node::Text(text) => raw.push_str(text),
                scraper::Node::Element(e) if HIDDEN.contains(&e.name()) => {}
                scraper::Node::Element(e) => {
                    let block = BLOCK.contains(&e.name());
                    if block {
                        raw.push(' ');
                    }
                    walk(child, raw);
                    if block {
                        raw.push(' ');
                    }
                }
                _ => {}
            }
        }
    }
    let mut raw = String::new();
    walk(*element, &mut raw);
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl UserData for LuaElement {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("name", |_, this| this.with(|e| e.value().name().to_owned()));
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("text", |_, this, ()| this.with(visible_text));
        methods.add_method("attr", |_, this, name: String| {
            this.with(|e| e.value().attr(&name).map(str::to_owned))
        });
        methods.add_method("html", |_, this, ()| this.with(|e| e.html()));
        methods.add_method("inner_html", |_, this, ()| this.with(|e| e.inner_html()));
        methods.add_method("select", |lua, this, css: String| {
            select_in(lua, &this.html, Some(this.id), &css, usize::MAX)
        });
        methods.add_method("select_one", |lua, this, css: String| {
            first(lua, &this.html, Some(this.id), &css)
        });
    }
}
