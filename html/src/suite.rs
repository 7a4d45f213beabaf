//! The html5lib tree-construction suite (the spec's own test inputs and expected trees,
//! `tests/html5lib/`, MIT) against the model: each document input's tree, dumped in
//! the suite's format, compared with the expected `#document` on element names, attributes,
//! text and nesting (doctypes and comments are not compared). Scripting is on, as in the
//! browser inspector rule authors read (so `<noscript>` holds text); `#script-off` cases are
//! skipped.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::meter::Meter;
use super::{Data, Dom, NodeId};

/// The attributes html5ever puts in a namespace on foreign elements.
const ADJUSTED: &[&str] = &[
    "xlink:actuate",
    "xlink:arcrole",
    "xlink:href",
    "xlink:role",
    "xlink:show",
    "xlink:title",
    "xlink:type",
    "xml:lang",
    "xml:space",
    "xmlns:xlink",
];

/// One test: its input and expected dump entries.
struct Case {
    file: String,
    data: String,
    expected: Vec<(usize, String)>,
}

/// The suite's cases with a `#document` (fragment cases are skipped: pages are documents).
fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/html5lib");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/html5lib")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read .dat");
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        for block in text
            .split("\n#data\n")
            .map(|b| b.trim_start_matches("#data\n"))
        {
            let mut sections: BTreeMap<&str, String> = BTreeMap::new();
            let mut current = "";
            for line in block.split('\n') {
                if line.starts_with('#')
                    && !line.starts_with("#{")
                    && line.len() < 40
                    && line[1..]
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '-')
                {
                    current = &line[1..];
                    sections.entry(current).or_default();
                    continue;
                }
                let s = sections.entry(current).or_default();
                if !s.is_empty() || current == "data" && !s.is_empty() {
                    s.push('\n');
                }
                if current == "data"
                    && s.is_empty()
                    && sections.get("data").is_some_and(String::is_empty)
                {
                    // first data line
                }
                let s = sections.entry(current).or_default();
                s.push_str(line);
            }
            if sections.contains_key("document-fragment") || sections.contains_key("script-off") {
                continue;
            }
            let (Some(data), Some(doc)) = (sections.get(""), sections.get("document")) else {
                continue;
            };
            out.push(Case {
                file: file.clone(),
                data: data.clone(),
                expected: entries(doc.trim_end_matches('\n')),
            });
        }
    }
    out
}

/// The entries of a dump (`| ` lines, continuation lines joined), without doctypes and
/// comments: (depth, text).
fn entries(dump: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for line in dump.split('\n') {
        match line.strip_prefix("| ") {
            Some(rest) => {
                let depth = (rest.len() - rest.trim_start_matches(' ').len()) / 2;
                out.push((depth, rest.trim_start_matches(' ').to_owned()));
            }
            None => {
                if let Some(last) = out.last_mut() {
                    last.1.push('\n');
                    last.1.push_str(line);
                }
            }
        }
    }
    out.retain(|(_, t)| !t.starts_with("<!--") && !t.starts_with("<!DOCTYPE"));
    out
}

impl Dom {
    /// The tree in the suite's dump format, without comments.
    fn dump(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        self.dump_children(Dom::ROOT, 0, &mut out);
        out
    }

    fn dump_children(&self, id: NodeId, depth: usize, out: &mut Vec<(usize, String)>) {
        for child in self.children(id) {
            match &self.node(child).data {
                Data::Element(e) => {
                    let name = self.name(child);
                    let ns = match (e.foreign, self.foreign_root(child)) {
                        (true, Some(root)) => format!("{root} "),
                        _ => String::new(),
                    };
                    out.push((depth, format!("<{ns}{name}>")));
                    let mut attrs: Vec<(String, String)> = self
                        .attrs_of(e)
                        .iter()
                        .map(|a| {
                            let name = self.slice(a.name);
                            let name = if e.foreign {
                                name.to_owned()
                            } else {
                                name.to_ascii_lowercase()
                            };
                            let value = self.attr_text(self.slice(a.value));
                            // Foreign elements' xlink/xml/xmlns attributes are namespaced.
                            let spaced = e.foreign && ADJUSTED.contains(&name.as_str());
                            let name = if spaced {
                                name.replacen(':', " ", 1)
                            } else {
                                name
                            };
                            (name, value.into_owned())
                        })
                        .collect();
                    attrs.sort();
                    for (n, v) in attrs {
                        out.push((depth + 1, format!("{n}=\"{v}\"")));
                    }
                    if e.tag == super::tag::Tag::Template {
                        out.push((depth + 1, "content".to_owned()));
                        // The contents are a fragment under the template (html5ever's tree),
                        // or its children (the fast builder's).
                        let first = self.node(child).first_child;
                        let holder = if first != super::NONE
                            && matches!(self.node(first).data, Data::Document)
                        {
                            first
                        } else {
                            child
                        };
                        self.dump_children(holder, depth + 2, out);
                    } else {
                        self.dump_children(child, depth + 1, out);
                    }
                }
                Data::Text(span) => {
                    let text = self.text_node(child, *span);
                    match out.last_mut() {
                        // Adjacent text nodes are one in the spec's tree.
                        Some((d, t))
                            if *d == depth
                                && t.starts_with('"')
                                && self.node(child).prev != super::NONE
                                && matches!(
                                    self.node(self.node(child).prev).data,
                                    Data::Text(_)
                                ) =>
                        {
                            t.pop();
                            t.push_str(&text);
                            t.push('"');
                        }
                        _ => out.push((depth, format!("\"{text}\""))),
                    }
                }
                Data::Comment(_) | Data::Document => {}
            }
        }
    }

    /// `svg` or `math`: the foreign root an element is inside.
    fn foreign_root(&self, mut id: NodeId) -> Option<&'static str> {
        loop {
            match self.tag(id) {
                super::tag::Tag::Svg => return Some("svg"),
                super::tag::Tag::Math => return Some("math"),
                _ => {}
            }
            let parent = self.node(id).parent;
            if parent == super::NONE || !self.is_element(parent) {
                return None;
            }
            id = parent;
        }
    }
}

/// Every page the repository saves under rules/ takes the fast builder.
#[test]
fn fixture_pages_take_the_fast_builder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let mut stack = vec![root];
    let (mut pages, mut full) = (0, Vec::new());
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "html") {
                let page = std::fs::read_to_string(&path).expect("page");
                let dom =
                    Dom::parse(Arc::from(page.as_str()), &Meter::unbounded()).expect("parses");
                pages += 1;
                if dom.decoded {
                    full.push(path.display().to_string());
                }
            }
        }
    }
    assert!(pages >= 5, "only {pages} saved pages found");
    assert!(full.is_empty(), "these took the full parser: {full:?}");
}

/// Which ordinary damage keeps a page on the fast builder, and which sends it to html5ever:
/// each case is spliced into an otherwise clean product page.
#[test]
fn ordinary_damage_takes_the_path_it_should() {
    const PAGE: &str = "<!doctype html><html lang=en><head><meta charset=utf-8><title>Kettle\
        </title></head><body><main><div class=product><h1>Kettle</h1>DAMAGE<p>Price \
        <span class=price>12</span></p><table><tr><th>Weight</th><td>1 kg</td></tr></table>\
        </div></main></body></html>";
    let fast = [
        ("dropped </p>", "<p>one<p>two"),
        ("dropped </li>", "<ul><li>one<li>two</ul>"),
        (
            "dropped </td> and </tr>",
            "<table><tr><td>a<td>b<tr><td>c</table>",
        ),
        ("dropped </dd> and </dt>", "<dl><dt>a<dd>b<dt>c<dd>d</dl>"),
        ("stray end tags", "</div></span></b><div>x</div>"),
        ("formatting closed in order", "<p><b><i>x</i></b></p>"),
        (
            "formatting around a block",
            "<font color=red><div>x</div></font>",
        ),
        ("dropped </body> and </html>", "<div>x"),
        ("dashes in text", "a -- b --> c"),
        (
            "dropped </option>",
            "<select name=size><option>S<option selected>M</select>",
        ),
        (
            "option groups",
            "<select><optgroup label=a><option>1<optgroup><option>2</select>",
        ),
        (
            "a <b> left open across paragraphs",
            "<p>one <b>two</p><p>three</p>",
        ),
        ("misnested formatting", "<p><b>one <i>two</b> three</i></p>"),
        (
            "a review form",
            "<form><textarea name=r>\nGreat &amp; <b>cheap</b></textarea></form>",
        ),
    ];
    let full = [
        (
            "formatting closed across a block",
            "<b>one<div>two</b>three</div>",
        ),
        (
            "text inside a table",
            "<table>stray<tr><td>a</td></tr></table>",
        ),
        (
            "a block closed after its formatting",
            "<font color=red><div>x</font></div>",
        ),
        ("a link inside a link", "<a href=/x>one <a href=/y>two</a>"),
        (
            "a select holding more than options",
            "<select><option>a<hr><option>b</select>",
        ),
        (
            "a form inside a table",
            "<table><form><tr><td>x</td></tr></form></table>",
        ),
    ];
    let mut wrong = Vec::new();
    for (cases, want_full) in [(&fast[..], false), (&full[..], true)] {
        for (what, damage) in cases {
            let page = PAGE.replace("DAMAGE", damage);
            let dom = Dom::parse(Arc::from(page.as_str()), &Meter::unbounded()).expect("parses");
            if dom.decoded != want_full {
                wrong.push(format!("{what}: full parser {}", dom.decoded));
            }
        }
    }
    let clean = Dom::parse(Arc::from(PAGE.replace("DAMAGE", "")), &Meter::unbounded());
    assert!(
        !clean.expect("parses").decoded,
        "the clean page takes the fast builder"
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The suite's document cases: at least 99.5 % exact, and every other one listed in
/// [`KNOWN`] with its reason. Prints each mismatch with `--nocapture`.
#[test]
fn html5lib_tree_construction() {
    let cases = cases();
    let total = cases.len();
    let (mut passed, mut fast) = (0, 0);
    let mut unexplained = Vec::new();
    for case in &cases {
        let dom = Dom::parse(Arc::from(case.data.as_str()), &Meter::unbounded()).expect("parses");
        let got = dom.dump();
        fast += usize::from(!dom.decoded);
        if got == case.expected {
            passed += 1;
            continue;
        }
        println!(
            "{} {:?}\n  want {:?}\n  got  {:?}",
            case.file, case.data, case.expected, got
        );
        if !KNOWN.iter().any(|(data, _)| *data == case.data) {
            unexplained.push(format!("{}: {:?}", case.file, case.data));
        }
    }
    println!(
        "html5lib: {passed} of {total} document cases exact ({:.2} %), {fast} by the fast builder",
        100.0 * passed as f64 / total as f64
    );
    assert!(total > 1500, "only {total} cases read");
    assert!(
        unexplained.is_empty(),
        "failing, not listed in KNOWN: {unexplained:#?}"
    );
    assert!(
        passed * 1000 >= total * 995,
        "{passed} of {total} is under 99.5 %"
    );
}

/// The cases the model does not build as the suite expects, and why.
const KNOWN: &[(&str, &str)] = &[
    (
        "<select><button><selectedcontent></button><option>X",
        "html5ever leaves cloning the selected option into <selectedcontent> (customizable \
         select, new in the spec in 2025) to its sink, and the sink does not do it yet",
    ),
    (
        "<select><button><selectedcontent></button><option>x<i>i<b>ib</i>b",
        "the same: <selectedcontent> is left empty",
    ),
    (
        "<select><button><selectedcontent></button><option>X<option>Y",
        "the same: <selectedcontent> is left empty",
    ),
    (
        "<select><button><selectedcontent></button><option>X<option selected>Y",
        "the same: <selectedcontent> is left empty",
    ),
];
