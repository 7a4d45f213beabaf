//! An element's markup (`:html()`, `:inner_html()`), written the way browsers serialize a
//! tree: names in lower case, attribute values double-quoted, text escaped.

use super::{Data, Dom, NodeId};

impl Dom {
    /// The element with its own tags.
    pub fn outer_html(&self, id: NodeId) -> String {
        let mut out = String::new();
        self.write_node(id, &mut out);
        out
    }

    /// The element's content, without its own tags.
    pub fn inner_html(&self, id: NodeId) -> String {
        let mut out = String::new();
        for child in self.children(id) {
            self.write_node(child, &mut out);
        }
        out
    }

    fn write_node(&self, id: NodeId, out: &mut String) {
        match &self.node(id).data {
            Data::Document => {
                for child in self.children(id) {
                    self.write_node(child, out);
                }
            }
            Data::Element(e) => {
                let name = self.name(id);
                out.push('<');
                out.push_str(&name);
                for a in self.attrs_of(e) {
                    out.push(' ');
                    let attr_name = self.slice(a.name);
                    if e.foreign {
                        out.push_str(attr_name);
                    } else {
                        out.push_str(&attr_name.to_ascii_lowercase());
                    }
                    out.push_str("=\"");
                    let value = self.attr_text(self.slice(a.value));
                    escape(&value, true, out);
                    out.push('"');
                }
                out.push('>');
                if e.tag.is_void() {
                    return;
                }
                for child in self.children(id) {
                    self.write_node(child, out);
                }
                out.push_str("</");
                out.push_str(&name);
                out.push('>');
            }
            Data::Text(span) => {
                let text = self.text_node(id, *span);
                let parent = self.tag(self.node(id).parent);
                // As html5ever writes them: `noscript` content is escaped like any text.
                let raw = parent.raw_text() == Some(false) && parent != super::Tag::Noscript;
                if raw || parent == super::Tag::Plaintext {
                    out.push_str(&text);
                } else {
                    escape(&text, false, out);
                }
            }
            Data::Comment(span) => {
                out.push_str("<!--");
                out.push_str(self.slice(*span));
                out.push_str("-->");
            }
        }
    }
}

/// Escapes `&`, `<`, `>`, no-break spaces and, in attributes, `"`.
fn escape(text: &str, attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            '"' if attribute => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}
