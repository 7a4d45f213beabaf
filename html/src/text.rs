//! The text a reader sees in an element: text nodes joined as written (so `Caf<em>é</em>` is
//! one word), block elements separating words, scripts and styles left out, white space
//! collapsed.

use super::{Data, Dom, NodeId};

/// Elements whose contents are not text a reader sees.
pub const HIDDEN: &[&str] = &["script", "style", "noscript", "template", "head"];

/// Elements that separate words: text on either side never runs together.
pub const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

impl Dom {
    /// The visible text of element `id`.
    pub fn visible_text(&self, id: NodeId) -> String {
        let mut raw = String::new();
        self.collect_text(id, &mut raw);
        let mut out = String::with_capacity(raw.len());
        for word in raw.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }

    fn collect_text(&self, id: NodeId, raw: &mut String) {
        for child in self.children(id) {
            match &self.node(child).data {
                Data::Text(span) => raw.push_str(&self.text_node(child, *span)),
                Data::Element(_) => {
                    let name = self.name(child);
                    if HIDDEN.contains(&&*name) {
                        continue;
                    }
                    let block = BLOCK.contains(&&*name);
                    if block {
                        raw.push(' ');
                    }
                    self.collect_text(child, raw);
                    if block {
                        raw.push(' ');
                    }
                }
                Data::Comment(_) | Data::Document => {}
            }
        }
    }
}
