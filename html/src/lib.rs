//! The HTML document rules read: a compact tree over the page's source, built in one pass
//! with the WHATWG tree-construction rules real pages depend on (implied `html`/`head`/
//! `body`/`tbody`, void and raw-text elements, auto-closed `p`, `li`, cells and rows), and
//! queried with CSS selectors. Text and attribute values stay spans of the source until a rule
//! reads them. The only crate that parses HTML.

mod entities;
mod fallback;
mod lexer;
mod meter;
mod select;
mod serialize;
#[cfg(test)]
mod suite;
mod tag;
mod text;
mod tree;

use std::borrow::Cow;
use std::sync::Arc;

pub use meter::{Exceeded, MAX_ATTRIBUTES, MAX_NODES, Meter};
pub use select::{SelectorList, parse_selector};
use tag::Tag;
pub use text::{BLOCK as BLOCK_ELEMENTS, HIDDEN as HIDDEN_ELEMENTS};

/// No node (the parent of the document, the sibling of a last child).
const NONE: u32 = u32::MAX;

/// A byte range of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    const EMPTY: Span = Span { start: 0, end: 0 };

    /// Pages are capped far below 4 GiB (the fetcher's body limit); past that, spans clamp.
    fn new(start: usize, end: usize) -> Span {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(end),
        }
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A node id: an index into [`Dom::nodes`].
pub type NodeId = u32;

#[derive(Debug)]
struct Node {
    parent: NodeId,
    first_child: NodeId,
    last_child: NodeId,
    next: NodeId,
    prev: NodeId,
    data: Data,
}

impl Node {
    /// A node linked to nothing yet.
    fn detached(data: Data) -> Node {
        Node {
            parent: NONE,
            first_child: NONE,
            last_child: NONE,
            next: NONE,
            prev: NONE,
            data,
        }
    }
}

#[derive(Debug)]
enum Data {
    Document,
    Element(Element),
    Text(Span),
    Comment(Span),
}

#[derive(Debug)]
struct Element {
    tag: Tag,
    /// The name as written; empty for elements the parser implied (their `tag` is known).
    name: Span,
    /// Range of [`Dom::attrs`].
    attrs: (u32, u32),
    /// Inside `<svg>` or `<math>`, where names keep the case they are written in
    /// (`viewBox`, `clipPath`).
    foreign: bool,
}

#[derive(Debug, Clone, Copy)]
struct Attr {
    name: Span,
    value: Span,
}

/// A parsed page. Immutable once built, so it is shared (`Arc`) by a page and every element
/// handle a rule holds, across threads.
#[derive(Debug)]
pub struct Dom {
    source: Arc<str>,
    nodes: Vec<Node>,
    attrs: Vec<Attr>,
    /// Text and attribute values are stored decoded (a tree html5ever built), not as spans
    /// of the page with references still in them.
    decoded: bool,
}

impl Dom {
    /// The tree of `source`, unless `meter` stops the work first (its deadline, or a page
    /// past [`MAX_NODES`] or [`MAX_ATTRIBUTES`]).
    pub fn parse(source: Arc<str>, meter: &Meter<'_>) -> Result<Dom, Exceeded> {
        match tree::build(Arc::clone(&source), meter) {
            Ok(dom) => Ok(dom),
            Err(tree::Stop::Exceeded(why)) => Err(why),
            Err(tree::Stop::FullParser) => fallback::build(&source, meter),
        }
    }

    /// The document node, parent of `<html>`.
    pub(crate) const ROOT: NodeId = 0;

    fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    fn slice(&self, span: Span) -> &str {
        // Spans are cut at ASCII bytes of valid UTF-8 (`<`, `>`, quotes, spaces, `=`, `/`).
        self.source.get(span.range()).unwrap_or("")
    }

    fn element(&self, id: NodeId) -> Option<&Element> {
        match &self.nodes.get(id as usize)?.data {
            Data::Element(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn is_element(&self, id: NodeId) -> bool {
        self.element(id).is_some()
    }

    fn tag(&self, id: NodeId) -> Tag {
        self.element(id).map_or(Tag::Other, |e| e.tag)
    }

    fn children(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let mut next = self.node(id).first_child;
        std::iter::from_fn(move || {
            let at = next;
            if at == NONE {
                return None;
            }
            next = self.node(at).next;
            Some(at)
        })
    }

    /// The element's name, in lower case.
    pub fn name(&self, id: NodeId) -> Cow<'_, str> {
        match self.element(id) {
            None => Cow::Borrowed(""),
            Some(e) if e.tag != Tag::Other => Cow::Borrowed(e.tag.as_str()),
            Some(e) => {
                let name = self.slice(e.name);
                if !e.foreign && name.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(name.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(name)
                }
            }
        }
    }

    /// Whether the element is named `lower` (a lower-case name).
    fn has_name(&self, e: &Element, lower: &str) -> bool {
        if e.tag != Tag::Other {
            e.tag.as_str() == lower
        } else {
            self.slice(e.name).eq_ignore_ascii_case(lower)
        }
    }

    fn attrs_of(&self, e: &Element) -> &[Attr] {
        &self.attrs[e.attrs.0 as usize..e.attrs.1 as usize]
    }

    /// The raw (undecoded) value of attribute `lower` (a lower-case name).
    fn raw_attr(&self, id: NodeId, lower: &str) -> Option<&str> {
        let e = self.element(id)?;
        self.attrs_of(e)
            .iter()
            .find(|a| self.slice(a.name).eq_ignore_ascii_case(lower))
            .map(|a| self.slice(a.value))
    }

    /// The value of attribute `name` (any case), references decoded.
    pub fn attr(&self, id: NodeId, name: &str) -> Option<Cow<'_, str>> {
        self.decoded_attr(id, &name.to_ascii_lowercase())
    }

    /// The value of attribute `lower` (a lower-case name), references decoded.
    fn decoded_attr(&self, id: NodeId, lower: &str) -> Option<Cow<'_, str>> {
        let raw = self.raw_attr(id, lower)?;
        Some(self.attr_text(raw))
    }

    /// An attribute's value as the page means it.
    fn attr_text<'a>(&'a self, raw: &'a str) -> Cow<'a, str> {
        if self.decoded {
            Cow::Borrowed(raw)
        } else {
            decode(raw, entities::Context::Attribute)
        }
    }

    /// The text of text node `id` as the page means it: references decoded, except inside
    /// raw-text elements (`script`, `style`...).
    fn text_node(&self, id: NodeId, span: Span) -> Cow<'_, str> {
        let raw = self.slice(span);
        if self.decoded {
            return Cow::Borrowed(raw);
        }
        match self.tag(self.node(id).parent).raw_text() {
            Some(false) => newlines(raw),
            _ => decode(raw, entities::Context::Text),
        }
    }
}

/// `raw` with its line breaks as the input stream has them: CR LF and lone CR become LF.
fn newlines(raw: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\r', raw.as_bytes()).is_none() {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

/// `raw` as the page means it: line breaks normalised, then references decoded (so a
/// `&#13;` stays a carriage return).
fn decode(raw: &str, context: entities::Context) -> Cow<'_, str> {
    // Most texts have neither: one scan answers for both.
    if memchr::memchr2(b'\r', b'&', raw.as_bytes()).is_none() {
        return Cow::Borrowed(raw);
    }
    match newlines(raw) {
        Cow::Borrowed(raw) => entities::decode(raw, context),
        Cow::Owned(text) => Cow::Owned(entities::decode(&text, context).into_owned()),
    }
}
