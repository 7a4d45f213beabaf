//! The fast tree builder: a stack of open elements, the list of active formatting elements,
//! and the WHATWG insertion rules for everything but a set of constructs it does not build
//! (tables, templates, `select`, foreign content, framesets, misnested formatting that would
//! need the adoption agency or reconstruction, ...). On meeting one it stops and says so
//! (`Stop::FullParser`), and the page is built by html5ever instead (`fallback/`): the
//! decision is made while building, never by guessing, so every page gets the tree a browser
//! builds.

use std::collections::HashSet;
use std::sync::Arc;

mod end;
mod formatting;
mod stack;
mod start;
mod table;

use super::lexer::{Lexer, RawAttr, Token};
use super::meter::{Exceeded, MAX_ATTRIBUTES, MAX_NODES, Meter};
use super::tag::Tag;
use super::{Attr, Data, Dom, Element, NONE, Node, NodeId, Span};
use table::Mode;

/// The deepest an element is nested; deeper ones become children of the element at this
/// depth.
pub(super) const MAX_DEPTH: usize = 512;

/// Up to this many attributes on a tag, duplicates are found by a scan; past it, by a set.
const SCAN_ATTRS: usize = 16;

/// Why the fast builder stopped before the end of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Past the meter's bounds.
    Exceeded(Exceeded),
    /// The page has a construct this builder does not build as browsers do.
    FullParser,
}

struct Builder<'a> {
    src: &'a str,
    dom: Dom,
    /// The list of active formatting elements (no markers: the elements that set them send
    /// the page to the full parser).
    formatting: Vec<NodeId>,
    /// The form element pointer.
    form: NodeId,
    /// The previous token was a `<pre>` or `<listing>` start tag (a newline right after it
    /// is dropped).
    after_pre: bool,
    /// Set when the page needs the full parser.
    full: bool,
    /// A `<table>` has been inserted: until then every token is in body (no table mode to
    /// look for).
    saw_table: bool,
    /// Attributes repeated `<html>` and `<body>` tags add, written to the arena once at the
    /// end: merging in place would copy the element's list again at every repetition.
    merged: Vec<Merged>,
    /// The stack of open elements, each with what the per-token checks read of it.
    open: Vec<Open>,
    html: NodeId,
    head: NodeId,
    /// `NONE` until the body starts: before it, head content goes into `<head>`.
    body: NodeId,
}

/// An open element and what the per-token checks read of it, kept beside its id so that
/// they read no node.
#[derive(Clone, Copy)]
struct Open {
    id: NodeId,
    tag: Tag,
    /// Inside `<svg>` or `<math>`.
    foreign: bool,
    /// A `<td>` or `<th>` is open below, with no `<table>`, `<template>` or `<html>` between.
    in_cell: bool,
    /// A `<select>` is open (this element or one below).
    in_select: bool,
}

/// An element's attributes as repeated tags extend them, with their names in lower case.
struct Merged {
    id: NodeId,
    attrs: Vec<Attr>,
    names: HashSet<Vec<u8>>,
}

/// Builds the tree of `source`, or stops where `meter` says (time, nodes, attributes).
pub(super) fn build(source: Arc<str>, meter: &Meter<'_>) -> Result<Dom, Stop> {
    let src: &str = &Arc::clone(&source);
    // NULs are dropped or replaced depending on where they stand: the full parser's work.
    if memchr::memchr(0, src.as_bytes()).is_some() {
        return Err(Stop::FullParser);
    }
    // A node per ~40 bytes of markup is typical; reserving avoids most regrowth.
    let nodes = Vec::with_capacity(src.len() / 40 + 8);
    let mut b = Builder {
        src,
        merged: Vec::new(),
        formatting: Vec::new(),
        form: NONE,
        after_pre: false,
        full: false,
        saw_table: false,
        dom: Dom {
            source,
            nodes,
            attrs: Vec::with_capacity(src.len() / 60 + 8),
            decoded: false,
        },
        open: Vec::with_capacity(32),
        html: NONE,
        head: NONE,
        body: NONE,
    };
    b.new_node(Data::Document);
    let mut lexer = Lexer::new(src);
    while let Some(token) = lexer.next_token() {
        if !meter.tick() {
            break;
        }
        let after_pre = std::mem::take(&mut b.after_pre);
        match token {
            // A newline written as a reference after `<pre>` is dropped too: the full
            // parser sees references as characters.
            Token::Text(span)
                if after_pre && src.as_bytes().get(span.start as usize) == Some(&b'&') =>
            {
                b.full = true;
            }
            Token::Text(span) => b.text(b.skip_pre_newline(span, after_pre)),
            Token::Comment(span) => {
                let parent = b.current().unwrap_or(Dom::ROOT);
                let id = b.new_node(Data::Comment(span));
                b.append(parent, id);
            }
            Token::Start { name, self_closing } => {
                let tag = Tag::from_name(&src.as_bytes()[name.range()]);
                let attrs = b.copy_attrs(lexer.attrs());
                if let Some(mode) = b.start(tag, name, attrs, self_closing) {
                    lexer.set_text_mode(mode, name);
                }
            }
            Token::End { name } => {
                let tag = Tag::from_name(&src.as_bytes()[name.range()]);
                b.end(tag, name);
            }
            Token::Ignored => {}
        }
        if b.full {
            return Err(Stop::FullParser);
        }
        // A token adds a handful of nodes at most, so the cap is checked once per token.
        if b.dom.nodes.len() > MAX_NODES {
            meter.blow(Exceeded::Nodes);
        } else if b.attr_count() > MAX_ATTRIBUTES {
            meter.blow(Exceeded::Attributes);
        }
    }
    // At the end of the page, `<html>`, `<head>` and `<body>` exist, as in every browser tree.
    b.ensure_body();
    b.write_merged();
    meter.result(b.dom).map_err(Stop::Exceeded)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

impl Builder<'_> {
    fn new_node(&mut self, data: Data) -> NodeId {
        let id = NodeId::try_from(self.dom.nodes.len()).unwrap_or(NONE - 1);
        self.dom.nodes.push(Node::detached(data));
        id
    }

    fn append(&mut self, parent: NodeId, child: NodeId) {
        let last = self.dom.nodes[parent as usize].last_child;
        {
            let node = &mut self.dom.nodes[child as usize];
            node.parent = parent;
            node.prev = last;
        }
        if last == NONE {
            self.dom.nodes[parent as usize].first_child = child;
        } else {
            self.dom.nodes[last as usize].next = child;
        }
        self.dom.nodes[parent as usize].last_child = child;
    }

    fn current(&self) -> Option<NodeId> {
        self.open.last().map(|o| o.id)
    }

    fn current_tag(&self) -> Tag {
        self.open.last().map_or(Tag::Other, |o| o.tag)
    }

    /// Pushes `id`, a `tag` element just inserted, on the stack of open elements; its
    /// `foreign` flag is the one `insert` gave it (the current node has not changed since).
    fn push_open(&mut self, id: NodeId, tag: Tag) {
        let foreign = matches!(tag, Tag::Svg | Tag::Math) || self.in_foreign();
        let in_cell = match tag {
            Tag::Td | Tag::Th => true,
            Tag::Html | Tag::Table | Tag::Template => false,
            _ => self.open.last().is_some_and(|o| o.in_cell),
        };
        self.open.push(Open {
            id,
            tag,
            foreign,
            in_cell,
            in_select: tag == Tag::Select || self.in_select(),
        });
    }

    fn is_open(&self, id: NodeId) -> bool {
        self.open.iter().any(|o| o.id == id)
    }

    /// Copies a tag's attributes into the arena, the first of each name winning: a scan for
    /// the few attributes real tags carry, a set for the many a hostile one can.
    fn copy_attrs(&mut self, raw: &[RawAttr]) -> (u32, u32) {
        let start = self.dom.attrs.len();
        let mut names = (raw.len() > SCAN_ATTRS).then(|| HashSet::with_capacity(raw.len()));
        for a in raw {
            let name = &self.src[a.name.range()];
            let seen = match &mut names {
                Some(names) => !names.insert(name.as_bytes().to_ascii_lowercase()),
                None => self.dom.attrs[start..]
                    .iter()
                    .any(|b| self.src[b.name.range()].eq_ignore_ascii_case(name)),
            };
            if !seen {
                self.dom.attrs.push(Attr {
                    name: a.name,
                    value: a.value,
                });
            }
        }
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (clamp(start), clamp(self.dom.attrs.len()))
    }

    /// Every attribute held so far, merged ones included.
    fn attr_count(&self) -> usize {
        self.dom.attrs.len() + self.merged.iter().map(|m| m.attrs.len()).sum::<usize>()
    }

    /// Creates an element and appends it to the current node (or `parent`).
    fn insert(&mut self, parent: NodeId, tag: Tag, name: Span, attrs: (u32, u32)) -> NodeId {
        let foreign = matches!(tag, Tag::Svg | Tag::Math) || self.in_foreign();
        let id = self.new_node(Data::Element(Element {
            tag,
            name,
            attrs,
            foreign,
        }));
        self.append(parent, id);
        id
    }

    /// An element the markup implies but does not write (`html`, `body`, `tbody`...).
    fn implied(&mut self, tag: Tag) -> NodeId {
        let parent = self.current().unwrap_or(Dom::ROOT);
        let id = self.insert(parent, tag, Span::EMPTY, (0, 0));
        self.push_open(id, tag);
        id
    }

    /// Adds the attributes of a repeated `<html>` or `<body>` (the arena's tail, `extra`)
    /// to the element that exists, the first of each name winning. Linear in the attributes
    /// added, however often the tag repeats.
    fn merge_attrs(&mut self, id: NodeId, extra: (u32, u32)) {
        let Some(e) = self.dom.element(id) else {
            return;
        };
        let at = match self.merged.iter().position(|m| m.id == id) {
            Some(at) => at,
            None => {
                let attrs = self.dom.attrs_of(e).to_vec();
                let names = attrs
                    .iter()
                    .map(|a| self.src[a.name.range()].as_bytes().to_ascii_lowercase())
                    .collect();
                self.merged.push(Merged { id, attrs, names });
                self.merged.len() - 1
            }
        };
        let merged = &mut self.merged[at];
        for a in &self.dom.attrs[extra.0 as usize..extra.1 as usize] {
            let name = self.src[a.name.range()].as_bytes().to_ascii_lowercase();
            if merged.names.insert(name) {
                merged.attrs.push(*a);
            }
        }
        // The repeated tag's own copies are no element's: give them back.
        if extra.1 as usize == self.dom.attrs.len() {
            self.dom.attrs.truncate(extra.0 as usize);
        }
    }

    /// Writes the merged lists of `<html>` and `<body>` to the arena, once.
    fn write_merged(&mut self) {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        for merged in std::mem::take(&mut self.merged) {
            let start = self.dom.attrs.len();
            self.dom.attrs.extend(merged.attrs);
            let range = (clamp(start), clamp(self.dom.attrs.len()));
            if let Data::Element(e) = &mut self.dom.nodes[merged.id as usize].data {
                e.attrs = range;
            }
        }
    }

    fn ensure_html(&mut self) {
        if self.html == NONE {
            self.html = self.implied(Tag::Html);
        }
    }

    /// Leaves the head (implied if there was none) for an implied `<body>`.
    fn ensure_body(&mut self) {
        self.ensure_html();
        if self.body == NONE {
            self.open.truncate(1);
            if self.head == NONE {
                self.head = self.implied(Tag::Head);
                self.open.pop();
            }
            self.body = self.implied(Tag::Body);
        }
    }

    /// The text after a `<pre>` or `<listing>` start tag, without its leading newline.
    fn skip_pre_newline(&self, span: Span, after_pre: bool) -> Span {
        let bytes = &self.src.as_bytes()[span.range()];
        let skip = match bytes {
            _ if !after_pre => 0,
            [b'\r', b'\n', ..] => 2,
            [b'\n' | b'\r', ..] => 1,
            _ => 0,
        };
        Span::new(span.start as usize + skip, span.end as usize)
    }

    fn text(&mut self, span: Span) {
        if span.start >= span.end {
            return;
        }
        let bytes = &self.src.as_bytes()[span.range()];
        let current = self.current_tag();
        // A script that opens `<!--` is read in the tokenizer's escaped states, where
        // `<script>` and `</script>` nest: the full parser's work.
        if current == Tag::Script && memchr::memmem::find(bytes, b"<!--").is_some() {
            self.full = true;
            return;
        }
        if self.body == NONE && current.raw_text().is_none() {
            // Before the body, white space goes into the head while it is open, into
            // `<html>` after it, and nowhere before it. Other text starts the body.
            let skip = bytes
                .iter()
                .position(|&b| !is_space(b))
                .unwrap_or(bytes.len());
            if skip > 0 {
                let space = Span::new(span.start as usize, span.start as usize + skip);
                if self.head != NONE && self.current() == Some(self.head) {
                    self.append_text(self.head, space);
                } else if self.head != NONE && !self.is_open(self.head) {
                    self.append_text(self.html, space);
                }
            }
            if skip == bytes.len() {
                return;
            }
            self.ensure_body();
            return self.text(Span::new(span.start as usize + skip, span.end as usize));
        }
        if matches!(self.mode(), Mode::Table | Mode::Section | Mode::Row) {
            // White space in a table stays there; other text is fostered out of it.
            if bytes.iter().all(|&b| is_space(b)) {
                let parent = self.current().unwrap_or(Dom::ROOT);
                self.append_text(parent, span);
            } else {
                self.full = true;
            }
            return;
        }
        // Text reopens formatting elements closed early (`<p><b>1</p>2`: `2` is bold too).
        if current.raw_text().is_none()
            && self.needs_reconstruction()
            && (self.in_foreign() || !self.reconstruct())
        {
            self.full = true;
            return;
        }
        let parent = self.current().unwrap_or(Dom::ROOT);
        self.append_text(parent, span);
    }

    fn append_text(&mut self, parent: NodeId, span: Span) {
        let id = self.new_node(Data::Text(span));
        self.append(parent, id);
    }
}
