//! The fast tree builder: a stack of open elements, the list of active formatting elements,
//! and the WHATWG insertion rules for everything but a set of constructs it does not build
//! (tables, templates, `select`, foreign content, framesets, misnested formatting that would
//! need the adoption agency or reconstruction, ...). On meeting one it stops and says so
//! (`Stop::FullParser`), and the page is built by html5ever instead (`fallback.rs`): the
//! decision is made while building, never by guessing, so every page gets the tree a browser
//! builds.

use std::collections::HashSet;
use std::sync::Arc;

use super::lexer::{Lexer, RawAttr, TextMode, Token};
use super::meter::{Exceeded, MAX_ATTRIBUTES, MAX_NODES, Meter};
use super::tag::Tag;
use super::{Attr, Data, Dom, Element, NONE, Node, NodeId, Span};

/// The deepest an element is nested; deeper ones become children of the element at this
/// depth.
pub(super) const MAX_DEPTH: usize = 512;

/// Up to this many attributes on a tag, duplicates are found by a scan; past it, by a set.
const SCAN_ATTRS: usize = 16;

/// Where in a table the builder is: the insertion modes of the spec it implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Body,
    Table,
    Section,
    Row,
    Cell,
}

/// What a start tag does in a table.
enum TableStart {
    Insert,
    Ignore,
    /// Foster parenting, captions, quirks: the full parser's work.
    Full,
    /// The stack changed; handle the tag again.
    Again,
}

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
        if current.raw_text().is_none() && self.needs_reconstruction() {
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

    /// Whether a formatting element is in the list but no longer open: the spec would
    /// reopen it here (reconstruct the active formatting elements), which this builder
    /// leaves to the full parser.
    fn needs_reconstruction(&self) -> bool {
        if self.formatting.is_empty() {
            return false;
        }
        self.since_marker().iter().any(|&f| !self.is_open(f))
    }

    /// The list of active formatting elements after its last marker.
    fn since_marker(&self) -> &[NodeId] {
        let start = self
            .formatting
            .iter()
            .rposition(|&f| f == NONE)
            .map_or(0, |m| m + 1);
        &self.formatting[start..]
    }

    /// The insertion mode, from the current node.
    fn mode(&self) -> Mode {
        if !self.saw_table {
            return Mode::Body;
        }
        match self.current_tag() {
            Tag::Table => Mode::Table,
            Tag::Tbody | Tag::Thead | Tag::Tfoot => Mode::Section,
            Tag::Tr => Mode::Row,
            // A cell leaves a marker on the formatting list while it is open.
            _ if self.open.last().is_some_and(|o| o.in_cell) && self.formatting.contains(&NONE) => {
                Mode::Cell
            }
            _ => Mode::Body,
        }
    }

    /// A start tag in (or for) a table: what it implies, closes or needs.
    fn table_start(&mut self, tag: Tag) -> TableStart {
        let section = matches!(tag, Tag::Tbody | Tag::Thead | Tag::Tfoot);
        let raw = matches!(tag, Tag::Script | Tag::Style);
        match self.mode() {
            Mode::Body | Mode::Cell
                if tag == Tag::Table && self.in_scope(|t| t == Tag::P, &[Tag::Button]) =>
            {
                // Whether a table closes the paragraph depends on the document's quirks mode.
                TableStart::Full
            }
            Mode::Body if section || matches!(tag, Tag::Tr | Tag::Td | Tag::Th) => {
                TableStart::Ignore
            }
            Mode::Body => TableStart::Insert,
            Mode::Table if section || raw => TableStart::Insert,
            Mode::Table if tag == Tag::Tr => {
                self.implied(Tag::Tbody);
                TableStart::Insert
            }
            Mode::Table if matches!(tag, Tag::Td | Tag::Th) => {
                self.implied(Tag::Tbody);
                self.implied(Tag::Tr);
                TableStart::Insert
            }
            Mode::Section if tag == Tag::Tr || raw => TableStart::Insert,
            Mode::Section if matches!(tag, Tag::Td | Tag::Th) => {
                self.implied(Tag::Tr);
                TableStart::Insert
            }
            Mode::Section | Mode::Row if section || tag == Tag::Tr => {
                self.open.pop();
                TableStart::Again
            }
            Mode::Row if matches!(tag, Tag::Td | Tag::Th) || raw => TableStart::Insert,
            Mode::Table | Mode::Section | Mode::Row => TableStart::Full,
            Mode::Cell if section || matches!(tag, Tag::Tr | Tag::Td | Tag::Th) => {
                self.close_cell();
                TableStart::Again
            }
            Mode::Cell => TableStart::Insert,
        }
    }

    /// Closes the open cell: implied end tags, the cell, and formatting back to its marker.
    fn close_cell(&mut self) {
        self.pop_until(|t| matches!(t, Tag::Td | Tag::Th));
        if let Some(marker) = self.formatting.iter().rposition(|&f| f == NONE) {
            self.formatting.truncate(marker);
        }
    }

    /// An end tag inside a table; `true` when it was handled here.
    fn table_end(&mut self, tag: Tag) -> bool {
        let section = matches!(tag, Tag::Tbody | Tag::Thead | Tag::Tfoot);
        match self.mode() {
            Mode::Table | Mode::Section | Mode::Row => {
                match tag {
                    Tag::Table | Tag::Tr if self.in_table_scope(|t| t == tag) => {
                        self.pop_until(|t| t == tag);
                    }
                    _ if section && self.in_table_scope(|t| t == tag) => {
                        self.pop_until(|t| t == tag);
                    }
                    // `</p>` and `</br>` insert elements, which are fostered out.
                    Tag::P | Tag::Br => self.full = true,
                    Tag::Table
                    | Tag::Tr
                    | Tag::Tbody
                    | Tag::Thead
                    | Tag::Tfoot
                    | Tag::Body
                    | Tag::Caption
                    | Tag::Col
                    | Tag::Colgroup
                    | Tag::Html
                    | Tag::Td
                    | Tag::Th => {}
                    _ => return false,
                }
                true
            }
            Mode::Cell => match tag {
                Tag::Td | Tag::Th => {
                    if self.in_table_scope(|t| t == tag) {
                        self.close_cell();
                    }
                    true
                }
                Tag::Body | Tag::Caption | Tag::Col | Tag::Colgroup | Tag::Html => true,
                Tag::Table | Tag::Tr | Tag::Tbody | Tag::Thead | Tag::Tfoot => {
                    if self.in_table_scope(|t| t == tag) {
                        self.close_cell();
                        return self.table_end(tag);
                    }
                    true
                }
                _ => false,
            },
            Mode::Body => false,
        }
    }

    /// Adds a just-inserted formatting element to the list, keeping at most three equal ones
    /// (the "Noah's Ark" clause; equal here means the same attributes as written, a stricter
    /// test than the spec's, which can only make the page go to the full parser sooner).
    fn push_formatting(&mut self, id: NodeId) {
        let start = self.formatting.len() - self.since_marker().len();
        let mut same = self.formatting[start..]
            .iter()
            .enumerate()
            .filter(|(_, f)| self.same_formatting(**f, id))
            .map(|(i, _)| i + start);
        let first = same.next();
        if same.nth(1).is_some()
            && let Some(first) = first
        {
            self.formatting.remove(first);
        }
        self.formatting.push(id);
    }

    fn same_formatting(&self, a: NodeId, b: NodeId) -> bool {
        let (Some(x), Some(y)) = (self.dom.element(a), self.dom.element(b)) else {
            return false;
        };
        if x.tag != y.tag {
            return false;
        }
        let mut ax: Vec<(String, &str)> = self
            .dom
            .attrs_of(x)
            .iter()
            .map(|t| {
                (
                    self.src[t.name.range()].to_ascii_lowercase(),
                    &self.src[t.value.range()],
                )
            })
            .collect();
        let mut ay: Vec<(String, &str)> = self
            .dom
            .attrs_of(y)
            .iter()
            .map(|t| {
                (
                    self.src[t.name.range()].to_ascii_lowercase(),
                    &self.src[t.value.range()],
                )
            })
            .collect();
        ax.sort();
        ay.sort();
        ax == ay
    }

    /// Handles a start tag; returns how the text after it is to be read when it is not
    /// markup.
    fn start(
        &mut self,
        tag: Tag,
        name: Span,
        attrs: (u32, u32),
        self_closing: bool,
    ) -> Option<TextMode> {
        match tag {
            Tag::Html => {
                if self.html == NONE {
                    self.html = self.insert(Dom::ROOT, tag, name, attrs);
                    self.push_open(self.html, tag);
                } else {
                    self.merge_attrs(self.html, attrs);
                }
                return None;
            }
            Tag::Head if self.body == NONE => {
                self.ensure_html();
                if self.head == NONE {
                    self.open.truncate(1);
                    self.head = self.insert(self.html, tag, name, attrs);
                    self.push_open(self.head, tag);
                }
                return None;
            }
            Tag::Head => return None,
            Tag::Body => {
                if self.body == NONE {
                    self.ensure_html();
                    self.open.truncate(1);
                    if self.head == NONE {
                        self.head = self.implied(Tag::Head);
                        self.open.pop();
                    }
                    self.body = self.insert(self.html, tag, name, attrs);
                    self.push_open(self.body, tag);
                } else {
                    self.merge_attrs(self.body, attrs);
                }
                return None;
            }
            _ => {}
        }
        if tag.needs_full_parser()
            || (tag == Tag::Form && self.form != NONE)
            || (tag == Tag::A
                && self
                    .since_marker()
                    .iter()
                    .any(|&f| self.dom.tag(f) == Tag::A))
        {
            self.full = true;
            return None;
        }
        self.ensure_html();
        if self.body == NONE {
            if tag.is_head_content() {
                return self.in_head(tag, name, attrs);
            }
            self.ensure_body();
        }
        match self.table_start(tag) {
            TableStart::Insert => {}
            TableStart::Ignore => return None,
            TableStart::Full => {
                self.full = true;
                return None;
            }
            TableStart::Again => return self.start(tag, name, attrs, self_closing),
        }
        if self.needs_reconstruction() && !tag.is_table_part() {
            self.full = true;
            return None;
        }
        let in_foreign = self.in_foreign();
        if !in_foreign {
            self.close_before(tag);
        }
        let parent = self.current().unwrap_or(self.body);
        let id = self.insert(parent, tag, name, attrs);
        let foreign = in_foreign || matches!(tag, Tag::Svg | Tag::Math);
        // Past the depth browsers allow (Chromium: 512), elements still go in the tree, at
        // that depth: every scan of the open elements stays bounded, and so does recursion
        // over the tree.
        if tag == Tag::Form {
            self.form = id;
        }
        self.saw_table |= tag == Tag::Table;
        if tag.is_void() || (self_closing && foreign) || self.open.len() >= MAX_DEPTH {
            return None;
        }
        self.push_open(id, tag);
        if tag.is_formatting() {
            self.push_formatting(id);
        }
        if matches!(tag, Tag::Td | Tag::Th) {
            // A cell is a fresh start for formatting: a marker on the list.
            self.formatting.push(NONE);
        }
        self.after_pre = matches!(tag, Tag::Pre | Tag::Listing);
        if foreign {
            return None;
        }
        match tag {
            Tag::Plaintext => Some(TextMode::Rest),
            _ => tag.raw_text().map(|_| TextMode::UntilEndTag),
        }
    }

    /// `<title>`, `<meta>`, `<script>`... before the body go into `<head>`, implied if need be.
    fn in_head(&mut self, tag: Tag, name: Span, attrs: (u32, u32)) -> Option<TextMode> {
        if self.head == NONE {
            self.open.truncate(1);
            self.head = self.implied(Tag::Head);
        }
        let id = self.insert(self.head, tag, name, attrs);
        if tag.is_void() {
            return None;
        }
        // Its text and end tag come next; the element is current until then.
        self.push_open(id, tag);
        tag.raw_text().map(|_| TextMode::UntilEndTag)
    }

    /// What a start tag closes before it is inserted: an open `p`, a previous list item,
    /// option or cell, and the sections and rows a table needs.
    fn close_before(&mut self, tag: Tag) {
        match tag {
            Tag::Li => self.close_list_item(&[Tag::Li]),
            Tag::Dd | Tag::Dt => self.close_list_item(&[Tag::Dd, Tag::Dt]),
            Tag::Option => self.pop_if(Tag::Option),
            Tag::Optgroup => {
                self.pop_if(Tag::Option);
                self.pop_if(Tag::Optgroup);
            }
            // A link or button inside another closes the first.
            Tag::A | Tag::Button if self.in_scope(|t| t == tag, &[]) => {
                self.pop_until(|t| t == tag);
            }
            _ => {}
        }
        if tag.closes_p() && self.in_scope(|t| t == Tag::P, &[Tag::Button]) {
            self.pop_until(|t| t == Tag::P);
        }
        if tag.is_heading() && self.current_tag().is_heading() {
            self.open.pop();
        }
    }

    /// Closes an open `li` (or `dd`/`dt`) unless a special element other than `address`,
    /// `div` or `p` comes first.
    fn close_list_item(&mut self, items: &[Tag]) {
        for i in (0..self.open.len()).rev() {
            let t = self.open[i].tag;
            if items.contains(&t) {
                self.open.truncate(i);
                return;
            }
            if t.is_special() && !matches!(t, Tag::Address | Tag::Div | Tag::P) {
                return;
            }
        }
    }

    fn pop_if(&mut self, tag: Tag) {
        if self.current_tag() == tag {
            self.open.pop();
        }
    }

    /// Whether an element `want` accepts is open, not hidden behind a scope boundary (or one
    /// of `also`).
    fn in_scope(&self, want: impl Fn(Tag) -> bool, also: &[Tag]) -> bool {
        for o in self.open.iter().rev() {
            let t = o.tag;
            if want(t) {
                return true;
            }
            if t.bounds_scope() || also.contains(&t) {
                return false;
            }
        }
        false
    }

    /// Whether an element `want` accepts is open inside the nearest table (or at all).
    fn in_table_scope(&self, want: impl Fn(Tag) -> bool) -> bool {
        for o in self.open.iter().rev() {
            let t = o.tag;
            if want(t) {
                return true;
            }
            if matches!(t, Tag::Html | Tag::Table | Tag::Template) {
                return false;
            }
        }
        false
    }

    /// Whether the current node is inside `<svg>` or `<math>`, where `<x/>` closes itself.
    fn in_foreign(&self) -> bool {
        // Elements inside `<svg>`/`<math>` are marked as they are inserted.
        self.open.last().is_some_and(|o| o.foreign)
    }

    /// Pops up to and including the nearest element `want` accepts; never `<html>`.
    fn pop_until(&mut self, want: impl Fn(Tag) -> bool) {
        while self.open.len() > 1 {
            let Some(o) = self.open.pop() else { return };
            if want(o.tag) {
                return;
            }
        }
    }

    fn end(&mut self, tag: Tag, name: Span) {
        // After raw text, the lexer hands over the element's own end tag: it closes it.
        if self.current_tag().raw_text().is_some() {
            self.open.pop();
            return;
        }
        if self.body == NONE && !matches!(tag, Tag::Body | Tag::Html | Tag::Br | Tag::Head) {
            // Before the body, other end tags are ignored.
            return;
        }
        if self.table_end(tag) {
            return;
        }
        match tag {
            // The body and html stay open to the end: content after them still belongs there.
            Tag::Body | Tag::Html => self.ensure_body(),
            Tag::Head if self.head == NONE && self.body == NONE => {
                // `</head>` before any head: an empty one, closed.
                self.ensure_html();
                self.open.truncate(1);
                self.head = self.implied(Tag::Head);
                self.open.pop();
            }
            Tag::Head => self.pop_if(Tag::Head),
            Tag::P => {
                if !self.in_scope(|t| t == Tag::P, &[Tag::Button]) {
                    // `</p>` with no open `p` makes an empty one, as browsers do.
                    self.ensure_body();
                    if self.needs_reconstruction() {
                        self.full = true;
                        return;
                    }
                    self.implied(Tag::P);
                }
                self.pop_until(|t| t == Tag::P);
            }
            Tag::Br => {
                // `</br>` is a `<br>`, which reopens formatting elements first.
                self.ensure_body();
                if self.needs_reconstruction() {
                    self.full = true;
                    return;
                }
                let parent = self.current().unwrap_or(self.body);
                self.insert(parent, Tag::Br, Span::EMPTY, (0, 0));
            }
            t if t.is_heading() => {
                if self.in_scope(Tag::is_heading, &[]) {
                    self.pop_until(Tag::is_heading);
                }
            }
            Tag::Li => {
                if self.in_scope(|t| t == Tag::Li, &[Tag::Ol, Tag::Ul]) {
                    self.pop_until(|t| t == Tag::Li);
                }
            }
            Tag::Form => self.end_form(),
            t if t.is_formatting() => self.end_formatting(t, name),
            t if t.ends_in_scope() => {
                if self.in_scope(|x| x == t, &[]) {
                    self.pop_until(|x| x == t);
                }
            }
            t => self.end_any_other(t, name),
        }
    }

    /// `</form>`: the form element pointer's element leaves the stack if it is the current
    /// node once implied end tags are generated; anywhere else, the full parser removes it
    /// from the middle of the stack.
    fn end_form(&mut self) {
        let node = std::mem::replace(&mut self.form, NONE);
        if node == NONE || !self.node_in_scope(node) {
            return;
        }
        while matches!(
            self.current_tag(),
            Tag::Dd
                | Tag::Dt
                | Tag::Li
                | Tag::Optgroup
                | Tag::Option
                | Tag::P
                | Tag::Rb
                | Tag::Rp
                | Tag::Rt
                | Tag::Rtc
        ) {
            self.open.pop();
        }
        if self.current() == Some(node) {
            self.open.pop();
        } else {
            self.full = true;
        }
    }

    /// Whether `node` is open with no scope boundary above it.
    fn node_in_scope(&self, node: NodeId) -> bool {
        for o in self.open.iter().rev() {
            if o.id == node {
                return true;
            }
            if o.tag.bounds_scope() {
                return false;
            }
        }
        false
    }

    /// The end tag of a formatting element: the adoption agency's simple cases (the element
    /// is current, or only ordinary elements are open inside it); the others, where elements
    /// are moved and reopened, go to the full parser.
    fn end_formatting(&mut self, tag: Tag, name: Span) {
        if let Some(&Open {
            id: current,
            tag: t,
            ..
        }) = self.open.last()
            && t == tag
            && !self.formatting.contains(&current)
        {
            self.open.pop();
            return;
        }
        let start = self.formatting.len() - self.since_marker().len();
        let Some(pos) = self.formatting[start..]
            .iter()
            .rposition(|&f| self.dom.tag(f) == tag)
            .map(|p| p + start)
        else {
            return self.end_any_other(tag, name);
        };
        let element = self.formatting[pos];
        let Some(at) = self.open.iter().position(|o| o.id == element) else {
            self.formatting.remove(pos);
            return;
        };
        if !self.node_in_scope(element) {
            return;
        }
        if self.open[at + 1..].iter().any(|o| o.tag.is_special()) {
            self.full = true;
            return;
        }
        self.open.truncate(at);
        self.formatting.remove(pos);
    }

    /// "Any other end tag": closes the nearest open element of that name, unless a special
    /// element stands in the way.
    fn end_any_other(&mut self, tag: Tag, name: Span) {
        let name = &self.src[name.range()];
        for i in (1..self.open.len()).rev() {
            let o = self.open[i];
            let same = if tag == Tag::Other {
                o.tag == Tag::Other
                    && self
                        .dom
                        .element(o.id)
                        .is_some_and(|e| self.src[e.name.range()].eq_ignore_ascii_case(name))
            } else {
                o.tag == tag
            };
            if same {
                self.open.truncate(i);
                return;
            }
            if o.tag.is_special() {
                return;
            }
        }
    }
}
