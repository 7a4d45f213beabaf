//! Questions asked of the stack of open elements: scopes, the current node, popping.

use super::Builder;
use crate::NodeId;
use crate::tag::Tag;

impl Builder<'_> {
    /// Closes an open `li` (or `dd`/`dt`) unless a special element other than `address`,
    /// `div` or `p` comes first.
    pub(super) fn close_list_item(&mut self, items: &[Tag]) {
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

    pub(super) fn pop_if(&mut self, tag: Tag) {
        if self.current_tag() == tag {
            self.open.pop();
        }
    }

    /// Whether an element `want` accepts is open, not hidden behind a scope boundary (or one
    /// of `also`).
    pub(super) fn in_scope(&self, want: impl Fn(Tag) -> bool, also: &[Tag]) -> bool {
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
    pub(super) fn in_table_scope(&self, want: impl Fn(Tag) -> bool) -> bool {
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
    pub(super) fn in_foreign(&self) -> bool {
        // Elements inside `<svg>`/`<math>` are marked as they are inserted.
        self.open.last().is_some_and(|o| o.foreign)
    }

    /// Whether the current node is a `<select>` or inside one.
    pub(super) fn in_select(&self) -> bool {
        self.open.last().is_some_and(|o| o.in_select)
    }

    /// Pops up to and including the nearest element `want` accepts; never `<html>`.
    pub(super) fn pop_until(&mut self, want: impl Fn(Tag) -> bool) {
        while self.open.len() > 1 {
            let Some(o) = self.open.pop() else { return };
            if want(o.tag) {
                return;
            }
        }
    }

    /// Whether `node` is open with no scope boundary above it.
    pub(super) fn node_in_scope(&self, node: NodeId) -> bool {
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
}
