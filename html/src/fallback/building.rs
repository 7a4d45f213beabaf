//! The arena html5ever's sink writes into: nodes, attributes and names as the page is built,
//! turned into a `Dom` at the end.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use html5ever::interface::NodeOrText;
use html5ever::{Attribute, QualName, local_name, ns};

use crate::tree::MAX_DEPTH;
use crate::{Attr, Data, Dom, NONE, Node, NodeId, Span};
pub(super) struct Building {
    pub(super) buf: String,
    pub(super) nodes: Vec<Node>,
    pub(super) attrs: Vec<Attr>,
    /// The qualified name of every element, by node id (html5ever asks for them).
    pub(super) names: HashMap<NodeId, QualName>,
    /// Template contents, by template.
    pub(super) contents: HashMap<NodeId, NodeId>,
    /// Attributes added to an element after it was created (`<html>`, `<body>` repeated),
    /// with the names it has, written to the arena once at the end.
    pub(super) added: HashMap<NodeId, (Vec<Attr>, HashSet<String>)>,
    /// `annotation-xml` elements that are MathML integration points.
    pub(super) integration_points: HashSet<NodeId>,
    /// A detached node handed out once the meter has blown.
    pub(super) scratch: NodeId,
}

pub(super) fn span(start: usize, end: usize) -> Span {
    Span::new(start, end)
}

impl Building {
    pub(super) fn new(len: usize) -> Building {
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

    pub(super) fn node(&mut self, data: Data) -> NodeId {
        let id = NodeId::try_from(self.nodes.len()).unwrap_or(NONE - 1);
        self.nodes.push(Node::detached(data));
        id
    }

    pub(super) fn push_str(&mut self, s: &str) -> Span {
        let start = self.buf.len();
        self.buf.push_str(s);
        span(start, self.buf.len())
    }

    pub(super) fn attr(&mut self, a: &Attribute) -> Attr {
        let name = match &a.name.prefix {
            Some(prefix) => self.push_str(&format!("{prefix}:{}", a.name.local)),
            None => self.push_str(&a.name.local),
        };
        let value = self.push_str(&a.value);
        Attr { name, value }
    }

    pub(super) fn detach(&mut self, id: NodeId) {
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
    pub(super) fn insert(&mut self, parent: NodeId, child: NodeId, before: NodeId) {
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
    pub(super) fn insert_text(&mut self, parent: NodeId, text: &str, before: NodeId) {
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

    pub(super) fn place(&mut self, parent: NodeId, child: NodeOrText<NodeId>, before: NodeId) {
        match child {
            NodeOrText::AppendNode(id) => {
                self.detach(id);
                self.insert(parent, id, before);
            }
            NodeOrText::AppendText(text) => self.insert_text(parent, &text, before),
        }
    }

    /// Writes added attributes, flattens nesting past the cap, and hands over the tree.
    pub(super) fn finish(mut self) -> Dom {
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
    pub(super) fn flatten_deep(&mut self) {
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
