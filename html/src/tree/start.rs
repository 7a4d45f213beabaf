//! Start tags: where each goes, what it closes first, and when the page needs the full
//! parser.

use super::Builder;
use super::MAX_DEPTH;
use super::table::TableStart;
use crate::Dom;
use crate::NONE;
use crate::Span;
use crate::lexer::TextMode;
use crate::tag::Tag;

impl Builder<'_> {
    /// Handles a start tag; returns how the text after it is to be read when it is not
    /// markup.
    pub(super) fn start(
        &mut self,
        tag: Tag,
        name: Span,
        attrs: (u32, u32),
        self_closing: bool,
    ) -> Option<TextMode> {
        // Inside a `<select>` only options and option groups are built here (as browsers
        // build them: each closes the open option, a group the open group); any other tag
        // there, and an option outside one, is the full parser's.
        if self.in_select() != matches!(tag, Tag::Option | Tag::Optgroup) {
            self.full = true;
            return None;
        }
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
        let in_foreign = self.in_foreign();
        if !in_foreign {
            self.close_before(tag);
        }
        // Formatting elements closed early are reopened before most tags (after what the
        // tag itself closes: a previous option, a button in scope, a paragraph).
        if tag.reconstructs() && self.needs_reconstruction() && (in_foreign || !self.reconstruct())
        {
            self.full = true;
            return None;
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
        self.after_pre = matches!(tag, Tag::Pre | Tag::Listing | Tag::Textarea);
        if foreign {
            return None;
        }
        match tag {
            Tag::Plaintext => Some(TextMode::Rest),
            _ => tag.raw_text().map(|_| TextMode::UntilEndTag),
        }
    }

    /// `<title>`, `<meta>`, `<script>`... before the body go into `<head>`, implied if need be.
    pub(super) fn in_head(&mut self, tag: Tag, name: Span, attrs: (u32, u32)) -> Option<TextMode> {
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
    pub(super) fn close_before(&mut self, tag: Tag) {
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
}
