//! Tables: the insertion modes inside them this builder implements, and what a start or
//! end tag does there.

use super::Builder;
use crate::NONE;
use crate::tag::Tag;

/// Where in a table the builder is: the insertion modes of the spec it implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Body,
    Table,
    Section,
    Row,
    Cell,
}

/// What a start tag does in a table.
pub(super) enum TableStart {
    Insert,
    Ignore,
    /// Foster parenting, captions, quirks: the full parser's work.
    Full,
    /// The stack changed; handle the tag again.
    Again,
}

impl Builder<'_> {
    /// The insertion mode, from the current node.
    pub(super) fn mode(&self) -> Mode {
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
    pub(super) fn table_start(&mut self, tag: Tag) -> TableStart {
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
    pub(super) fn close_cell(&mut self) {
        self.pop_until(|t| matches!(t, Tag::Td | Tag::Th));
        if let Some(marker) = self.formatting.iter().rposition(|&f| f == NONE) {
            self.formatting.truncate(marker);
        }
    }

    /// An end tag inside a table; `true` when it was handled here.
    pub(super) fn table_end(&mut self, tag: Tag) -> bool {
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
}
