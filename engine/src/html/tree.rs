//! Building the tree from tokens: a stack of open elements and the subset of the WHATWG
//! insertion rules pages in the wild lean on. Where this departs from the standard (no
//! foster parenting out of tables, no re-opening of misnested formatting elements), the
//! result is still one well-formed tree holding every element and text of the page.

use std::collections::HashSet;
use std::sync::Arc;

use super::lexer::{Lexer, RawAttr, TextMode, Token};
use super::meter::{Exceeded, MAX_ATTRIBUTES, MAX_NODES, Meter};
use super::tag::Tag;
use super::{Attr, Data, Dom, Element, NONE, Node, NodeId, Span};

/// The deepest an element is nested; deeper ones become children of the element at this
/// depth.
const MAX_DEPTH: usize = 512;

/// Up to this many attributes on a tag, duplicates are found by a scan; past it, by a set.
const SCAN_ATTRS: usize = 16;

struct Builder<'a> {
    src: &'a str,
    dom: Dom,
    /// Attributes repeated `<html>` and `<body>` tags add, written to the arena once at the
    /// end: merging in place would copy the element's list again at every repetition.
    merged: Vec<Merged>,
    open: Vec<NodeId>,
    html: NodeId,
    head: NodeId,
    /// `NONE` until the body starts: before it, head content goes into `<head>`.
    body: NodeId,
}

/// An element's attributes as repeated tags extend them, with their names in lower case.
struct Merged {
    id: NodeId,
    attrs: Vec<Attr>,
    names: HashSet<Vec<u8>>,
}

/// Builds the tree of `source`, or stops where `meter` says (time, nodes, attributes).
pub(super) fn build(source: Arc<str>, meter: &Meter<'_>) -> Result<Dom, Exceeded> {
    let src: &str = &Arc::clone(&source);
    // A node per ~40 bytes of markup is typical; reserving avoids most regrowth.
    let nodes = Vec::with_capacity(src.len() / 40 + 8);
    let mut b = Builder {
        src,
        merged: Vec::new(),
        dom: Dom {
            source,
            nodes,
            attrs: Vec::with_capacity(src.len() / 60 + 8),
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
        match token {
            Token::Text(span) => b.text(span),
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
        // A token adds a handful of nodes at most, so the cap is checked once per token.
        if b.dom.nodes.len() > MAX_NODES {
            meter.blow(Exceeded::Nodes);
        } else if b.attr_count() > MAX_ATTRIBUTES {
            meter.blow(Exceeded::Attributes);
        }
    }
    b.write_merged();
    meter.result(b.dom)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

impl Builder<'_> {
    fn new_node(&mut self, data: Data) -> NodeId {
        let id = NodeId::try_from(self.dom.nodes.len()).unwrap_or(NONE - 1);
        self.dom.nodes.push(Node {
            parent: NONE,
            first_child: NONE,
            last_child: NONE,
            next: NONE,
            prev: NONE,
            data,
        });
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
        self.open.last().copied()
    }

    fn current_tag(&self) -> Tag {
        self.current().map_or(Tag::Other, |id| self.dom.tag(id))
    }

    /// Copies a tag's attributes into the arena, the first of each name winning: a scan for
    /// the few attributes real tags carry, a set for the many a hostile one can.
    fn copy_attrs(&mut self, raw: &[RawAttr]) -> (u32, u32) {
        let start = self.dom.attrs.len();
        if raw.len() <= SCAN_ATTRS {
            for a in raw {
                let name = &self.src[a.name.range()];
                let seen = self.dom.attrs[start..]
                    .iter()
                    .any(|b| self.src[b.name.range()].eq_ignore_ascii_case(name));
                if !seen {
                    self.dom.attrs.push(Attr {
                        name: a.name,
                        value: a.value,
                    });
                }
            }
        } else {
            let mut seen = HashSet::with_capacity(raw.len());
            for a in raw {
                let name = self.src[a.name.range()].as_bytes().to_ascii_lowercase();
                if seen.insert(name) {
                    self.dom.attrs.push(Attr {
                        name: a.name,
                        value: a.value,
                    });
                }
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
        self.open.push(id);
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

    fn text(&mut self, span: Span) {
        let bytes = &self.src.as_bytes()[span.range()];
        if self.body == NONE && self.current_tag().raw_text().is_none() {
            // Before the body, white space is layout: dropped. Other text starts the body.
            let Some(skip) = bytes.iter().position(|&b| !is_space(b)) else {
                return;
            };
            self.ensure_body();
            return self.text(Span::new(span.start as usize + skip, span.end as usize));
        }
        let parent = self.current().unwrap_or(Dom::ROOT);
        let id = self.new_node(Data::Text(span));
        self.append(parent, id);
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
                    self.open.push(self.html);
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
                    self.open.push(self.head);
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
                    self.open.push(self.body);
                } else {
                    self.merge_attrs(self.body, attrs);
                }
                return None;
            }
            _ => {}
        }
        self.ensure_html();
        if self.body == NONE {
            if tag.is_head_content() {
                return self.in_head(tag, name, attrs);
            }
            self.ensure_body();
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
        if tag.is_void() || (self_closing && foreign) || self.open.len() >= MAX_DEPTH {
            return None;
        }
        self.open.push(id);
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
        self.open.push(id);
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
            Tag::Tbody | Tag::Thead | Tag::Tfoot | Tag::Caption | Tag::Colgroup => {
                self.clear_to(|t| t == Tag::Table);
            }
            Tag::Tr => {
                self.clear_to(|t| t.is_table_section() || t == Tag::Table);
                if self.current_tag() == Tag::Table {
                    self.implied(Tag::Tbody);
                }
            }
            Tag::Td | Tag::Th => {
                self.clear_to(|t| t == Tag::Tr || t.is_table_section() || t == Tag::Table);
                if self.current_tag() == Tag::Table {
                    self.implied(Tag::Tbody);
                }
                if self.current_tag().is_table_section() {
                    self.implied(Tag::Tr);
                }
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
            let t = self.dom.tag(self.open[i]);
            if items.contains(&t) {
                self.open.truncate(i);
                return;
            }
            if t.is_special() && !matches!(t, Tag::Address | Tag::Div | Tag::P) {
                return;
            }
        }
    }

    /// Within a table, pops the cells and rows open inside the nearest element `stop` accepts.
    fn clear_to(&mut self, stop: impl Fn(Tag) -> bool) {
        if !self.in_table_scope(&stop) {
            return;
        }
        while let Some(id) = self.current() {
            if stop(self.dom.tag(id)) {
                return;
            }
            self.open.pop();
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
        for &id in self.open.iter().rev() {
            let t = self.dom.tag(id);
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
        for &id in self.open.iter().rev() {
            let t = self.dom.tag(id);
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
        self.current()
            .and_then(|id| self.dom.element(id))
            .is_some_and(|e| e.foreign)
    }

    /// Pops up to and including the nearest element `want` accepts; never `<html>`.
    fn pop_until(&mut self, want: impl Fn(Tag) -> bool) {
        while self.open.len() > 1 {
            let Some(id) = self.open.pop() else { return };
            if want(self.dom.tag(id)) {
                return;
            }
        }
    }

    fn end(&mut self, tag: Tag, name: Span) {
        match tag {
            // The body and html stay open to the end: content after them still belongs there.
            Tag::Body | Tag::Html => {}
            Tag::Head => self.pop_if(Tag::Head),
            Tag::P => {
                if !self.in_scope(|t| t == Tag::P, &[Tag::Button]) {
                    // `</p>` with no open `p` makes an empty one, as browsers do.
                    self.ensure_body();
                    self.implied(Tag::P);
                }
                self.pop_until(|t| t == Tag::P);
            }
            Tag::Br => {
                self.ensure_body();
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
            // Rows and tables close the cells left open inside them.
            t if t == Tag::Tr || t == Tag::Table || t.is_table_section() => {
                if self.in_table_scope(|x| x == t) {
                    self.pop_until(|x| x == t);
                }
            }
            Tag::Other => self.end_other(name),
            t => {
                if self.in_scope(|x| x == t, &[]) {
                    self.pop_until(|x| x == t);
                }
            }
        }
    }

    /// `</name>` for a name with no rule of its own: closes the nearest open element of that
    /// name, unless a special element stands in the way.
    fn end_other(&mut self, name: Span) {
        let name = &self.src[name.range()];
        for i in (1..self.open.len()).rev() {
            let id = self.open[i];
            let Some(e) = self.dom.element(id) else {
                continue;
            };
            if e.tag == Tag::Other && self.src[e.name.range()].eq_ignore_ascii_case(name) {
                self.open.truncate(i);
                return;
            }
            if e.tag.is_special() {
                return;
            }
        }
    }
}
