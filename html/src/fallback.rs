//! The tree as html5ever builds it, for the pages the fast builder (`tree/`) meets a
//! construct on that it does not build exactly: html5ever runs the whole WHATWG algorithm
//! into this sink, which writes the same compact [`Dom`] (names, attribute values and
//! decoded text copied into one buffer that spans index). Bounded like the fast builder:
//! every sink call ticks the meter, the node and attribute caps hold, and once the meter has
//! blown the sink stops recording (html5ever only tokenizes the rest). Nesting past
//! [`MAX_DEPTH`] is flattened at that depth, as the fast builder does.

use std::borrow::Cow;
use std::cell::{Ref, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{Attribute, QualName, local_name, ns, parse_document};

use super::meter::{Exceeded, MAX_ATTRIBUTES, MAX_NODES, Meter};
use super::tag::Tag;
use super::tree::MAX_DEPTH;
use super::{Attr, Data, Dom, Element, NONE, Node, NodeId, Span};

/// Builds the tree of `source` with html5ever.
pub(super) fn build(source: &str, meter: &Meter<'_>) -> Result<Dom, Exceeded> {
    let sink = Sink {
        meter,
        b: RefCell::new(Building::new(source.len())),
    };
    let dom = parse_document(sink, html5ever::ParseOpts::default())
        .one(StrTendril::from_slice(source))?;
    meter.result(dom)
}

struct Sink<'m> {
    meter: &'m Meter<'m>,
    b: RefCell<Building>,
}

struct Building {
    buf: String,
    nodes: Vec<Node>,
    attrs: Vec<Attr>,
    /// The qualified name of every element, by node id (html5ever asks for them).
    names: HashMap<NodeId, QualName>,
    /// Template contents, by template.
    contents: HashMap<NodeId, NodeId>,
    /// Attributes added to an element after it was created (`<html>`, `<body>` repeated),
    /// with the names it has, written to the arena once at the end.
    added: HashMap<NodeId, (Vec<Attr>, HashSet<String>)>,
    /// `annotation-xml` elements that are MathML integration points.
    integration_points: HashSet<NodeId>,
    /// A detached node handed out once the meter has blown.
    scratch: NodeId,
}

fn span(start: usize, end: usize) -> Span {
    Span::new(start, end)
}

impl Building {
    fn new(len: usize) -> Building {
        let mut b = Building {
            buf: String::with_capacity(len),
            nodes: Vec::with_capacity(len / 40 + 8),
            attrs: Vec::new(),
            names: HashMap::new(),
            contents: HashMap::new(),
            added: HashMap::new(),
            integration_points: HashSet::new(),
            scratch: 0,
        };
        b.node(Data::Document);
        b.scratch = b.node(Data::Document);
        b.names.insert(
            b.scratch,
            QualName::new(None, ns!(html), local_name!("div")),
        );
        b
    }

    fn node(&mut self, data: Data) -> NodeId {
        let id = NodeId::try_from(self.nodes.len()).unwrap_or(NONE - 1);
        self.nodes.push(Node::detached(data));
        id
    }

    fn push_str(&mut self, s: &str) -> Span {
        let start = self.buf.len();
        self.buf.push_str(s);
        span(start, self.buf.len())
    }

    fn attr(&mut self, a: &Attribute) -> Attr {
        let name = match &a.name.prefix {
            Some(prefix) => self.push_str(&format!("{prefix}:{}", a.name.local)),
            None => self.push_str(&a.name.local),
        };
        let value = self.push_str(&a.value);
        Attr { name, value }
    }

    fn detach(&mut self, id: NodeId) {
        let (parent, prev, next) = {
            let n = &self.nodes[id as usize];
            (n.parent, n.prev, n.next)
        };
        if parent == NONE {
            return;
        }
        if prev == NONE {
            self.nodes[parent as usize].first_child = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NONE {
            self.nodes[parent as usize].last_child = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        let n = &mut self.nodes[id as usize];
        n.parent = NONE;
        n.prev = NONE;
        n.next = NONE;
    }

    /// Inserts detached `child` into `parent` before `before` (at the end when `NONE`).
    fn insert(&mut self, parent: NodeId, child: NodeId, before: NodeId) {
        let prev = if before == NONE {
            self.nodes[parent as usize].last_child
        } else {
            self.nodes[before as usize].prev
        };
        {
            let n = &mut self.nodes[child as usize];
            n.parent = parent;
            n.prev = prev;
            n.next = before;
        }
        if prev == NONE {
            self.nodes[parent as usize].first_child = child;
        } else {
            self.nodes[prev as usize].next = child;
        }
        if before == NONE {
            self.nodes[parent as usize].last_child = child;
        } else {
            self.nodes[before as usize].prev = child;
        }
    }

    /// Inserts text into `parent` before `before`, joining a text node just before it.
    fn insert_text(&mut self, parent: NodeId, text: &str, before: NodeId) {
        let prev = if before == NONE {
            self.nodes[parent as usize].last_child
        } else {
            self.nodes[before as usize].prev
        };
        if prev != NONE
            && let Data::Text(old) = self.nodes[prev as usize].data
        {
            let joined = if old.end as usize == self.buf.len() {
                self.buf.push_str(text);
                span(old.start as usize, self.buf.len())
            } else {
                let start = self.buf.len();
                self.buf.extend_from_within(old.range());
                self.buf.push_str(text);
                span(start, self.buf.len())
            };
            self.nodes[prev as usize].data = Data::Text(joined);
            return;
        }
        let s = self.push_str(text);
        let id = self.node(Data::Text(s));
        self.insert(parent, id, before);
    }

    fn place(&mut self, parent: NodeId, child: NodeOrText<NodeId>, before: NodeId) {
        match child {
            NodeOrText::AppendNode(id) => {
                self.detach(id);
                self.insert(parent, id, before);
            }
            NodeOrText::AppendText(text) => self.insert_text(parent, &text, before),
        }
    }

    /// Writes added attributes, flattens nesting past the cap, and hands over the tree.
    fn finish(mut self) -> Dom {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        for (id, (extra, _)) in std::mem::take(&mut self.added) {
            if let Data::Element(e) = &self.nodes[id as usize].data {
                let mut list: Vec<Attr> =
                    self.attrs[e.attrs.0 as usize..e.attrs.1 as usize].to_vec();
                list.extend(extra);
                let start = self.attrs.len();
                self.attrs.extend(list);
                let range = (clamp(start), clamp(self.attrs.len()));
                if let Data::Element(e) = &mut self.nodes[id as usize].data {
                    e.attrs = range;
                }
            }
        }
        self.flatten_deep();
        Dom {
            source: Arc::from(self.buf.as_str()),
            nodes: self.nodes,
            attrs: self.attrs,
            decoded: true,
        }
    }

    /// Every node deeper than the cap becomes a child of its ancestor at the cap, in document
    /// order, so no walk of the tree recurses deeper than the fast builder's trees do.
    fn flatten_deep(&mut self) {
        let mut stack = vec![(Dom::ROOT, 0usize)];
        let mut at_cap = Vec::new();
        while let Some((id, depth)) = stack.pop() {
            let mut child = self.nodes[id as usize].first_child;
            while child != NONE {
                if depth + 1 == MAX_DEPTH {
                    at_cap.push(child);
                } else {
                    stack.push((child, depth + 1));
                }
                child = self.nodes[child as usize].next;
            }
        }
        for anchor in at_cap {
            // The anchor's subtree in document order, then re-linked flat under it.
            let mut order = Vec::new();
            let mut walk = vec![anchor];
            while let Some(id) = walk.pop() {
                if id != anchor {
                    order.push(id);
                }
                let mut kids = Vec::new();
                let mut c = self.nodes[id as usize].first_child;
                while c != NONE {
                    kids.push(c);
                    c = self.nodes[c as usize].next;
                }
                walk.extend(kids.into_iter().rev());
            }
            if order
                .iter()
                .all(|&id| self.nodes[id as usize].first_child == NONE)
            {
                continue;
            }
            for &id in &order {
                let n = &mut self.nodes[id as usize];
                n.first_child = NONE;
                n.last_child = NONE;
                n.parent = NONE;
                n.prev = NONE;
                n.next = NONE;
            }
            let a = &mut self.nodes[anchor as usize];
            a.first_child = NONE;
            a.last_child = NONE;
            for id in order {
                self.insert(anchor, id, NONE);
            }
        }
    }
}

impl Sink<'_> {
    /// One step of sink work; `false` once the meter has blown (the sink then records
    /// nothing).
    fn tick(&self) -> bool {
        if !self.meter.tick() {
            return false;
        }
        let b = self.b.borrow();
        if b.nodes.len() > MAX_NODES {
            self.meter.blow(Exceeded::Nodes);
            return false;
        }
        if b.attrs.len() > MAX_ATTRIBUTES {
            self.meter.blow(Exceeded::Attributes);
            return false;
        }
        true
    }
}

/// The tag the model's rules use for a qualified name.
fn tag_of(name: &QualName) -> Tag {
    if name.ns == ns!(html) {
        Tag::from_name(name.local.as_bytes())
    } else if name.local == local_name!("svg") && name.ns == ns!(svg) {
        Tag::Svg
    } else if name.local == local_name!("math") && name.ns == ns!(mathml) {
        Tag::Math
    } else {
        Tag::Other
    }
}

impl TreeSink for Sink<'_> {
    type Handle = NodeId;
    type Output = Result<Dom, Exceeded>;
    type ElemName<'a>
        = Ref<'a, QualName>
    where
        Self: 'a;

    fn finish(self) -> Self::Output {
        Ok(self.b.into_inner().finish())
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> NodeId {
        Dom::ROOT
    }

    fn elem_name<'a>(&'a self, target: &'a NodeId) -> Ref<'a, QualName> {
        Ref::map(self.b.borrow(), |b| {
            b.names
                .get(target)
                .or_else(|| b.names.get(&b.scratch))
                .unwrap_or_else(|| unreachable!("the scratch node always has a name"))
        })
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> NodeId {
        if !self.tick() || !self.meter.charge(attrs.len() as u64) {
            return self.b.borrow().scratch;
        }
        let mut b = self.b.borrow_mut();
        let name_span = b.push_str(&name.local);
        let start = b.attrs.len();
        for a in &attrs {
            let attr = b.attr(a);
            b.attrs.push(attr);
        }
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let range = (clamp(start), clamp(b.attrs.len()));
        let foreign = name.ns != ns!(html);
        let id = b.node(Data::Element(Element {
            tag: tag_of(&name),
            name: name_span,
            attrs: range,
            foreign,
        }));
        if flags.mathml_annotation_xml_integration_point {
            b.integration_points.insert(id);
        }
        b.names.insert(id, name);
        id
    }

    fn create_comment(&self, text: StrTendril) -> NodeId {
        if !self.tick() {
            return self.b.borrow().scratch;
        }
        let mut b = self.b.borrow_mut();
        let s = b.push_str(&text);
        b.node(Data::Comment(s))
    }

    fn create_pi(&self, _target: StrTendril, data: StrTendril) -> NodeId {
        // HTML documents have no processing instructions; html5ever never asks.
        self.create_comment(data)
    }

    fn append(&self, parent: &NodeId, child: NodeOrText<NodeId>) {
        if !self.tick() {
            return;
        }
        let mut b = self.b.borrow_mut();
        if *parent == b.scratch {
            return;
        }
        b.place(*parent, child, NONE);
    }

    fn append_based_on_parent_node(
        &self,
        element: &NodeId,
        prev: &NodeId,
        child: NodeOrText<NodeId>,
    ) {
        let has_parent = self.b.borrow().nodes[*element as usize].parent != NONE;
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev, child);
        }
    }

    fn append_doctype_to_document(
        &self,
        _name: StrTendril,
        _public: StrTendril,
        _system: StrTendril,
    ) {
        // Doctypes keep no node in the model.
    }

    fn get_template_contents(&self, target: &NodeId) -> NodeId {
        let mut b = self.b.borrow_mut();
        if let Some(c) = b.contents.get(target) {
            return *c;
        }
        if *target == b.scratch {
            return b.scratch;
        }
        // The contents are a fragment under the template: walks of the document skip it,
        // its markup is the template's.
        let fragment = b.node(Data::Document);
        b.insert(*target, fragment, NONE);
        b.contents.insert(*target, fragment);
        fragment
    }

    fn same_node(&self, x: &NodeId, y: &NodeId) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &NodeId, child: NodeOrText<NodeId>) {
        if !self.tick() {
            return;
        }
        let mut b = self.b.borrow_mut();
        let parent = b.nodes[*sibling as usize].parent;
        if parent == NONE {
            return;
        }
        b.place(parent, child, *sibling);
    }

    fn add_attrs_if_missing(&self, target: &NodeId, attrs: Vec<Attribute>) {
        if !self.tick() || !self.meter.charge(attrs.len() as u64) {
            return;
        }
        let mut b = self.b.borrow_mut();
        let b = &mut *b;
        let Data::Element(e) = &b.nodes[*target as usize].data else {
            return;
        };
        let range = e.attrs;
        if !b.added.contains_key(target) {
            let names = b.attrs[range.0 as usize..range.1 as usize]
                .iter()
                .map(|a| b.buf[a.name.range()].to_owned())
                .collect();
            b.added.insert(*target, (Vec::new(), names));
        }
        for a in &attrs {
            let name = match &a.name.prefix {
                Some(p) => format!("{p}:{}", a.name.local),
                None => a.name.local.to_string(),
            };
            let known = b
                .added
                .get(target)
                .is_some_and(|(_, names)| names.contains(&name));
            if !known {
                let attr = b.attr(a);
                if let Some((list, names)) = b.added.get_mut(target) {
                    list.push(attr);
                    names.insert(name);
                }
            }
        }
    }

    fn remove_from_parent(&self, target: &NodeId) {
        if !self.tick() {
            return;
        }
        self.b.borrow_mut().detach(*target);
    }

    fn reparent_children(&self, node: &NodeId, new_parent: &NodeId) {
        if !self.tick() {
            return;
        }
        let mut b = self.b.borrow_mut();
        let mut child = b.nodes[*node as usize].first_child;
        while child != NONE && self.meter.tick() {
            let next = b.nodes[child as usize].next;
            b.detach(child);
            b.insert(*new_parent, child, NONE);
            child = next;
        }
    }

    fn is_mathml_annotation_xml_integration_point(&self, handle: &NodeId) -> bool {
        self.b.borrow().integration_points.contains(handle)
    }
}
