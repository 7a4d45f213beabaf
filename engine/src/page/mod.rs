//! The page a rule parses, as Lua sees it: `page.url`, `page.status`, `page.headers`,
//! `page.body`, `page.meta`, `page:select(css)`, `page:select_one(css)`, `page:json()` and
//! `page:urljoin(href)`. Elements (`element.rs`) offer `:text()`, `:attr(name)`, `:html()`,
//! `:inner_html()`, `:select(css)` and `:select_one(css)`.

mod document;
mod element;
mod selectors;

use std::collections::BTreeMap;
use std::sync::Arc;

use mlua::{LuaSerdeExt, UserData, UserDataFields, UserDataMethods};

use document::Document;
pub(crate) use selectors::SelectorCache;

/// A fetched page, handed to a rule's `parse`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The final URL (after redirects).
    pub url: String,
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body as text (decoded with the response's charset).
    pub body: String,
    /// The job's meta, for convenience (also in `ctx.meta`).
    pub meta: serde_json::Value,
}

/// The most values `page:json()` converts (each costs tens of bytes outside the Lua memory
/// limit while the document is converted).
pub(crate) const MAX_JSON_VALUES: usize = 500_000;

/// The Lua userdata of a page. The HTML is parsed on first use, once.
pub(crate) struct LuaPage {
    page: Page,
    base: Option<url::Url>,
    document: Document,
}

impl LuaPage {
    pub(crate) fn new(page: Page) -> LuaPage {
        let base = url::Url::parse(&page.url).ok();
        let document = Document::new(Arc::from(page.body.as_str()));
        LuaPage {
            page,
            base,
            document,
        }
    }
}

impl UserData for LuaPage {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("url", |_, this| Ok(this.page.url.clone()));
        fields.add_field_method_get("status", |_, this| Ok(this.page.status));
        fields.add_field_method_get("body", |lua, this| lua.create_string(&this.page.body));
        fields.add_field_method_get("headers", |lua, this| {
            let t = lua.create_table()?;
            for (k, v) in &this.page.headers {
                t.raw_set(k.as_str(), v.as_str())?;
            }
            Ok(t)
        });
        fields.add_field_method_get("meta", |lua, this| {
            lua.to_value_with(&this.page.meta, crate::instance::json_to_lua_options())
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("select", |lua, this, css: String| {
            this.document.select_all(lua, &css)
        });
        methods.add_method("select_one", |lua, this, css: String| {
            this.document.select_first(lua, &css)
        });
        methods.add_method("json", |lua, this, ()| {
            // The parsed document lives outside the Lua limit until it is converted: refuse
            // one with more values than that transient copy may hold.
            let values = this
                .page
                .body
                .bytes()
                .filter(|b| matches!(b, b',' | b'[' | b'{'))
                .count();
            if values > MAX_JSON_VALUES {
                return Err(mlua::Error::runtime(format!(
                    "page:json(): the document has more than {MAX_JSON_VALUES} values"
                )));
            }
            let value: serde_json::Value = serde_json::from_str(&this.page.body)
                .map_err(|e| mlua::Error::runtime(format!("page:json(): not JSON: {e}")))?;
            lua.to_value_with(&value, crate::instance::json_to_lua_options())
        });
        methods.add_method("urljoin", |_, this, href: String| {
            Ok(join(this.base.as_ref(), &href))
        });
    }
}

/// `href` resolved against `base`, or `nil` when it is not a usable URL.
fn join(base: Option<&url::Url>, href: &str) -> Option<String> {
    let joined = match base {
        Some(base) => base.join(href.trim()).ok()?,
        None => url::Url::parse(href.trim()).ok()?,
    };
    Some(joined.to_string())
}
