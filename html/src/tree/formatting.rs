//! The list of active formatting elements: what goes on it (Noah's Ark), when a page
//! would need it reconstructed, and the adoption agency's simple cases.

use super::Open;
use super::{Builder, MAX_DEPTH};
use crate::NONE;
use crate::NodeId;
use crate::Span;
use crate::tag::Tag;

/// The most formatting elements one reconstruction reopens on the fast builder.
const MAX_REOPENED: usize = 32;

impl Builder<'_> {
    /// Whether reconstructing the active formatting elements would reopen any: the last
    /// entry of the list is an element no longer open (the standard's own test).
    pub(super) fn needs_reconstruction(&self) -> bool {
        self.formatting
            .last()
            .is_some_and(|&f| f != NONE && !self.is_open(f))
    }

    /// Reconstructs the active formatting elements: each entry after the last one still
    /// open (or the last marker) is reopened as a copy in the current node, and the copy
    /// takes its place in the list. `false` when the copies would be too many or too deep
    /// for this builder (a page with a run of dozens of unclosed formatting elements goes
    /// to the full parser, which bounds its work by the meter).
    pub(super) fn reconstruct(&mut self) -> bool {
        if !self.needs_reconstruction() {
            return true;
        }
        let start = self.formatting.len() - self.since_marker().len();
        let mut from = self.formatting.len() - 1;
        while from > start && !self.is_open(self.formatting[from - 1]) {
            from -= 1;
        }
        let copies = self.formatting.len() - from;
        if copies > MAX_REOPENED || self.open.len() + copies >= MAX_DEPTH {
            return false;
        }
        for at in from..self.formatting.len() {
            let Some((tag, name, attrs)) = self
                .dom
                .element(self.formatting[at])
                .map(|e| (e.tag, e.name, e.attrs))
            else {
                return false;
            };
            let parent = self.current().unwrap_or(self.body);
            let id = self.insert(parent, tag, name, attrs);
            self.push_open(id, tag);
            self.formatting[at] = id;
        }
        true
    }

    /// The list of active formatting elements after its last marker.
    pub(super) fn since_marker(&self) -> &[NodeId] {
        let start = self
            .formatting
            .iter()
            .rposition(|&f| f == NONE)
            .map_or(0, |m| m + 1);
        &self.formatting[start..]
    }

    /// Adds a just-inserted formatting element to the list, keeping at most three equal ones
    /// (the "Noah's Ark" clause; equal here means the same attributes as written, a stricter
    /// test than the spec's, which can only make the page go to the full parser sooner).
    pub(super) fn push_formatting(&mut self, id: NodeId) {
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

    pub(super) fn same_formatting(&self, a: NodeId, b: NodeId) -> bool {
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

    /// The end tag of a formatting element: the adoption agency's simple cases (the element
    /// is current, or only ordinary elements are open inside it); the others, where elements
    /// are moved and reopened, go to the full parser.
    pub(super) fn end_formatting(&mut self, tag: Tag, name: Span) {
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
}
