//! The tree as html5ever builds it, for the pages the fast builder (`tree/`) meets a
//! construct on that it does not build exactly: html5ever runs the whole WHATWG algorithm
//! into this sink, which writes the same compact [`Dom`] (names, attribute values and
//! decoded text copied into one buffer that spans index). Bounded like the fast builder:
//! every sink call ticks the meter, the node and attribute caps hold, and once the meter has
//! blown the sink stops recording and html5ever, fed the page in pieces, is given no more of
//! it. Nesting past the fast builder's deepest level is flattened at that depth, as the
//! fast builder does (`building.rs`, the arena the sink writes).

use std::borrow::Cow;
use std::cell::{Ref, RefCell};

use html5ever::interface::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{Attribute, QualName, local_name, ns, parse_document};

mod building;

use super::meter::{Exceeded, MAX_ATTRIBUTES, MAX_NODES, Meter};
use super::tag::Tag;
use super::{Data, Dom, Element, NONE, NodeId};
use building::Building;

/// How much of the page html5ever is given at a time. Between two pieces the meter is read:
/// once it has blown, the rest of the page is not parsed at all (html5ever's own work per
/// token, such as reopening a pile of unclosed formatting elements, is not the sink's to
/// meter, so it must not be handed more input).
const PIECE_BYTES: usize = 4096;

/// Builds the tree of `source` with html5ever.
pub(super) fn build(source: &str, meter: &Meter<'_>) -> Result<Dom, Exceeded> {
    let sink = Sink {
        meter,
        b: RefCell::new(Building::new(source.len())),
    };
    let mut parser = parse_document(sink, html5ever::ParseOpts::default());
    let mut rest = source;
    while !rest.is_empty() && !meter.has_blown() {
        let mut end = rest.len().min(PIECE_BYTES);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (piece, after) = rest.split_at(end);
        parser.process(StrTendril::from_slice(piece));
        rest = after;
    }
    let dom = parser.finish()?;
    meter.result(dom)
}

struct Sink<'m> {
    meter: &'m Meter<'m>,
    b: RefCell<Building>,
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
