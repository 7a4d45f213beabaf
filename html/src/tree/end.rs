//! End tags: what each closes, by the rules for its kind of element.

use super::Builder;
use crate::NONE;
use crate::Span;
use crate::tag::Tag;

impl Builder<'_> {
    pub(super) fn end(&mut self, tag: Tag, name: Span) {
        // After raw text, the lexer hands over the element's own end tag: it closes it.
        if self.current_tag().raw_text().is_some() {
            self.open.pop();
            return;
        }
        // Inside a `<select>`, only its own end tags and its options' are built here.
        if self.in_select() && !matches!(tag, Tag::Option | Tag::Optgroup | Tag::Select) {
            self.full = true;
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
    pub(super) fn end_form(&mut self) {
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

    /// "Any other end tag": closes the nearest open element of that name, unless a special
    /// element stands in the way.
    pub(super) fn end_any_other(&mut self, tag: Tag, name: Span) {
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
