//! The page a rule parses, as Lua sees it: `page.url`, `page.status`, `page.headers`,
//! `page.body`, `page.encoding`, `page.meta`, `page:select(css)`, `page:select_one(css)`,
//! `page:json()` and `page:urljoin(href)` (which percent-encodes a query in the page's
//! encoding, as browsers do). Elements (`element.rs`) offer `:text()`, `:attr(name)`, `:html()`,
//! `:inner_html()`, `:select(css)` and `:select_one(css)`.

mod document;
mod element;
mod selectors;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use mlua::{UserData, UserDataFields, UserDataMethods};

use crate::json_to_lua::to_lua;
use document::Document;

/// A fetched page, handed to a rule's `parse`.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The final URL (after redirects).
    pub url: String,
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// The body as text, decoded as a browser decodes it.
    pub body: String,
    /// The encoding `body` was decoded from, and why.
    pub encoding: PageEncoding,
    /// The job's meta, for convenience (also in `ctx.meta`).
    pub meta: serde_json::Value,
}

/// The encoding a page's bytes were decoded from (`encoding_rs` names: `UTF-8`, `GBK`,
/// `Shift_JIS`, `windows-1252`, …) and what said so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageEncoding {
    pub encoding: &'static encoding_rs::Encoding,
    pub source: EncodingSource,
}

impl Default for PageEncoding {
    fn default() -> PageEncoding {
        PageEncoding {
            encoding: encoding_rs::UTF_8,
            source: EncodingSource::Default,
        }
    }
}

/// What decided a page's encoding, in the order the WHATWG sniffing algorithm asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingSource {
    /// A byte order mark.
    Bom,
    /// The `charset` of the `Content-Type` header.
    Header,
    /// A `<meta charset>` or `<meta http-equiv="Content-Type">` in the document (or, failing
    /// those, an XML declaration opening it).
    Meta,
    /// Nothing declared it: detected from the bytes.
    Detected,
    /// Nothing declared it and nothing was detected (JSON, an empty body): UTF-8.
    Default,
}

impl EncodingSource {
    /// The label rules and reports see (`page.encoding.source`).
    pub fn label(self) -> &'static str {
        match self {
            EncodingSource::Bom => "bom",
            EncodingSource::Header => "header",
            EncodingSource::Meta => "meta",
            EncodingSource::Detected => "detected",
            EncodingSource::Default => "default",
        }
    }
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
        fields.add_field_method_get("encoding", |lua, this| {
            let t = lua.create_table()?;
            t.raw_set("name", this.page.encoding.encoding.name())?;
            t.raw_set("source", this.page.encoding.source.label())?;
            Ok(t)
        });
        fields.add_field_method_get("meta", |lua, this| to_lua(lua, &this.page.meta));
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
            to_lua(lua, &value)
        });
        methods.add_method("urljoin", |_, this, href: String| {
            Ok(join_url(
                this.base.as_ref(),
                &href,
                this.page.encoding.encoding,
            ))
        });
    }
}

/// `href` resolved against `base`, or `nil` when it is not a usable URL. A query is
/// percent-encoded in the page's encoding, as the URL standard says for a document's links.
pub fn join_url(
    base: Option<&url::Url>,
    href: &str,
    encoding: &'static encoding_rs::Encoding,
) -> Option<String> {
    // UTF-16 and `replacement` pages encode URLs in UTF-8 (the standard's "output encoding").
    let encoding = encoding.output_encoding();
    fn encoder(encoding: &'static encoding_rs::Encoding) -> impl Fn(&str) -> Cow<'_, [u8]> {
        move |s| encode_query(encoding, s)
    }
    let encode = encoder(encoding);
    let options = url::Url::options().base_url(base);
    let options = if encoding == encoding_rs::UTF_8 {
        options
    } else {
        options.encoding_override(Some(&encode))
    };
    Some(options.parse(href.trim()).ok()?.to_string())
}

/// `query` in `encoding`, a character it cannot represent written `%26%23<code point>%3B`
/// (the URL standard's "percent-encode after encoding": `&#…;`, percent-encoded).
fn encode_query<'a>(encoding: &'static encoding_rs::Encoding, query: &'a str) -> Cow<'a, [u8]> {
    let (bytes, _, unmappable) = encoding.encode(query);
    if !unmappable {
        return bytes;
    }
    let mut encoder = encoding.new_encoder();
    let mut out = Vec::with_capacity(query.len() * 2 + 16);
    let mut rest = query;
    loop {
        let (result, read) =
            encoder.encode_from_utf8_to_vec_without_replacement(rest, &mut out, true);
        rest = &rest[read..];
        match result {
            encoding_rs::EncoderResult::InputEmpty => return Cow::Owned(out),
            encoding_rs::EncoderResult::OutputFull => out.reserve(rest.len() * 2 + 16),
            encoding_rs::EncoderResult::Unmappable(c) => {
                out.extend_from_slice(format!("%26%23{}%3B", u32::from(c)).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urljoin_encodes_the_query_in_the_page_encoding() {
        let base = url::Url::parse("http://shop.test/c/").ok();
        let cases: &[(&'static encoding_rs::Encoding, &str, Option<&str>)] = &[
            (
                encoding_rs::GBK,
                "search?q=中文#段",
                Some("http://shop.test/c/search?q=%D6%D0%CE%C4#%E6%AE%B5"),
            ),
            (
                encoding_rs::UTF_8,
                "search?q=中文",
                Some("http://shop.test/c/search?q=%E4%B8%AD%E6%96%87"),
            ),
            // The path is always UTF-8; an unmappable character becomes a reference.
            (
                encoding_rs::WINDOWS_1252,
                "/é?q=é&r=中",
                Some("http://shop.test/%C3%A9?q=%E9&r=%26%2320013%3B"),
            ),
            (
                encoding_rs::UTF_16LE,
                "?q=é",
                Some("http://shop.test/c/?q=%C3%A9"),
            ),
            (encoding_rs::GBK, "http://[::1", None),
        ];
        for (encoding, href, expected) in cases {
            let got = join_url(base.as_ref(), href, encoding);
            assert_eq!(got.as_deref(), *expected, "{} {href}", encoding.name());
        }
    }
}
