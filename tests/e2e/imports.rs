//! No import circle between the top-level modules of a crate. Each file's `use crate::…` and
//! `use super::…` statements, and the `crate::…` / `super::…` paths in its code, name the
//! top-level modules it depends on (a name the crate root re-exports counts as the module it
//! comes from); among those modules the dependencies must form no cycle. A module's use of
//! its own submodules is its own business, and the crate root may use every module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A source file: its path under `src/` and its text.
type Source = (PathBuf, String);

/// Every source file of the library (or binary) whose root is in `src`, without the other
/// crate roots (`main.rs` beside a `lib.rs`, `src/bin/`).
fn read_crate(src: &Path) -> Vec<Source> {
    let has_lib = src.join("lib.rs").is_file();
    let mut out = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(src).expect("under src").to_path_buf();
            if path.is_dir() {
                if rel != Path::new("bin") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && !(has_lib && rel == Path::new("main.rs"))
            {
                out.push((rel, std::fs::read_to_string(&path).expect("read source")));
            }
        }
    }
    out
}

/// The module path of a file: `page/document.rs` is `page::document`, `page/mod.rs` is
/// `page`, the crate root is empty.
fn module_of(path: &Path) -> Vec<String> {
    let mut parts: Vec<String> = path
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// `line` without its `//` comment.
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |at| &line[..at])
}

/// The paths of a use tree (`crate::{a::B, C as D}`), each as its segments.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or_default();
        return vec![
            path.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        ];
    };
    let prefix: Vec<String> = tree[..open]
        .split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|rest| prefix.iter().cloned().chain(rest).collect())
        .collect()
}

/// The `crate::…`, `super::…` and `self::…` paths written in a line of code (not in a `use`).
fn paths_in(line: &str) -> Vec<Vec<String>> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        for (at, _) in line.match_indices(start) {
            let before = line[..at].chars().next_back();
            if before.is_some_and(|c| ident(c) || c == '$' || c == ':') {
                continue;
            }
            let rest = &line[at..];
            let end = rest
                .find(|c: char| !(ident(c) || c == ':'))
                .unwrap_or(rest.len());
            out.push(
                rest[..end]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    out
}

/// Each path a file names, with its line number and the inline modules (`mod tests { … }`)
/// it is written in.
fn named_paths(text: &str) -> Vec<(usize, Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    // Inline modules open here: (indentation, name). rustfmt closes each with a `}` at the
    // indentation it opened at.
    let mut inline: Vec<(usize, String)> = Vec::new();
    let mut statement: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let line = code(line);
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if inline
            .last()
            .is_some_and(|(at, _)| *at == indent && trimmed == "}")
        {
            inline.pop();
            continue;
        }
        let names: Vec<String> = inline.iter().map(|(_, m)| m.clone()).collect();
        if let Some((first, mut text)) = statement.take() {
            text.push_str(trimmed);
            match text.strip_suffix(';') {
                Some(tree) => {
                    out.extend(expand(tree).into_iter().map(|p| (first, p, names.clone())))
                }
                None => statement = Some((first, text)),
            }
            continue;
        }
        let declaration = trimmed.trim_start_matches("pub ").trim_start();
        let declaration = match declaration.strip_prefix("pub(") {
            Some(rest) => rest.split_once(')').map_or(rest, |(_, r)| r).trim_start(),
            None => declaration,
        };
        if let Some(module) = declaration
            .strip_prefix("mod ")
            .and_then(|m| m.strip_suffix(" {"))
        {
            inline.push((indent, module.trim().to_owned()));
        } else if let Some(tree) = declaration.strip_prefix("use ") {
            match tree.strip_suffix(';') {
                Some(tree) => {
                    out.extend(expand(tree).into_iter().map(|p| (n + 1, p, names.clone())))
                }
                None => statement = Some((n + 1, tree.to_owned())),
            }
        } else {
            out.extend(
                paths_in(line)
                    .into_iter()
                    .map(|p| (n + 1, p, names.clone())),
            );
        }
    }
    out
}

/// `path`, written in module `here`, from the crate root; `None` for a path outside the
/// crate (a dependency, `std`) or relative to `here` (its own submodules).
fn absolute(here: &[String], path: &[String]) -> Option<Vec<String>> {
    let (first, mut rest) = path.split_first()?;
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" => here.to_vec(),
        "super" => {
            let mut base = here.to_vec();
            base.pop();
            base
        }
        _ => return None,
    };
    while let Some(("super", more)) = rest.split_first().map(|(s, r)| (s.as_str(), r)) {
        base.pop();
        rest = more;
    }
    Some(base.into_iter().chain(rest.iter().cloned()).collect())
}

/// The dependencies between the top-level modules of the crate made of `files`: (from, to)
/// with where the first one is written (`file:line`).
fn dependencies(files: &[Source]) -> BTreeMap<(String, String), String> {
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|(path, _)| module_of(path).into_iter().next())
        .collect();
    // What the crate root imports or re-exports from a module, by name.
    let mut exported: BTreeMap<String, String> = BTreeMap::new();
    for (_, text) in files.iter().filter(|(p, _)| module_of(p).is_empty()) {
        for (_, used, inline) in named_paths(text) {
            let used = match used.first().map(String::as_str) {
                Some("crate" | "self") => used[1..].to_vec(),
                _ => used,
            };
            if let (true, Some(module), Some(name)) = (inline.is_empty(), used.first(), used.last())
                && modules.contains(module)
                && used.len() > 1
            {
                exported.insert(name.clone(), module.clone());
            }
        }
    }
    let mut edges = BTreeMap::new();
    for (path, text) in files {
        let here = module_of(path);
        let Some(from) = here.first() else {
            continue;
        };
        for (line, used, inline) in named_paths(text) {
            let scope: Vec<String> = here.iter().cloned().chain(inline).collect();
            let Some(target) = absolute(&scope, &used) else {
                continue;
            };
            let to = match target.first() {
                Some(m) if modules.contains(m) => m.clone(),
                Some(name) => match exported.get(name) {
                    Some(m) => m.clone(),
                    None => continue,
                },
                None => continue,
            };
            if &to != from {
                edges
                    .entry((from.clone(), to))
                    .or_insert_with(|| format!("{}:{line}", path.display()));
            }
        }
    }
    edges
}

/// A cycle among `edges`, as the `from -> to (file:line)` steps that close it.
fn cycle(edges: &BTreeMap<(String, String), String>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for &start in next.keys() {
        // Depth-first, with the path from `start` on a stack of (node, next child index).
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        while let Some((node, child)) = stack.last().copied() {
            let children = next.get(node).map(Vec::as_slice).unwrap_or_default();
            let Some(&to) = children.get(child) else {
                done.insert(node);
                stack.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            if let Some(at) = stack.iter().position(|(n, _)| *n == to) {
                let mut ring: Vec<&str> = stack[at..].iter().map(|(n, _)| *n).collect();
                ring.push(to);
                let steps = ring
                    .windows(2)
                    .map(|w| {
                        let key = (w[0].to_owned(), w[1].to_owned());
                        format!("{} -> {} ({})", w[0], w[1], edges[&key])
                    })
                    .collect();
                return Some(steps);
            }
            if !done.contains(to) {
                stack.push((to, 0));
            }
        }
    }
    None
}

fn assert_no_cycle(krate: &str) {
    let files = read_crate(&repo().join(krate).join("src"));
    assert!(files.len() > 3, "{krate}: only {} files read", files.len());
    let edges = dependencies(&files);
    assert!(
        !edges.is_empty(),
        "{krate}: no dependency between modules found"
    );
    if let Some(steps) = cycle(&edges) {
        panic!(
            "{krate}: its modules import each other in a circle:\n  {}",
            steps.join("\n  ")
        );
    }
}

#[test]
fn the_engine_modules_import_no_circle() {
    assert_no_cycle("engine");
}

#[test]
fn the_html_modules_import_no_circle() {
    assert_no_cycle("html");
}

#[test]
fn the_worker_modules_import_no_circle() {
    assert_no_cycle("worker");
}

/// The check itself, on small made-up crates: every way of naming a module makes an edge,
/// a module's own submodules and inline test modules make none, and a circle is found.
#[test]
fn the_check_finds_a_circle_and_only_a_circle() {
    let file = |path: &str, text: &str| (PathBuf::from(path), text.to_owned());
    let base = vec![
        file(
            "lib.rs",
            "mod a;\nmod b;\nmod c;\n\npub use c::{Thing, other::Other};\n",
        ),
        file(
            "a/mod.rs",
            "//! A. Mentions crate::c in a comment.\nmod inner;\n\nuse crate::{b::B, Other};\n",
        ),
        file("a/inner.rs", "use super::super::b;\nuse super::A;\n"),
        file(
            "b.rs",
            "fn f() {\n    let _ = crate::Thing::new();\n}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
        file("c/mod.rs", "pub mod other;\nuse self::other::Other;\n"),
        file("c/other.rs", "use super::Thing;\nuse std::fmt;\n"),
    ];
    let edges = dependencies(&base);
    let pairs: Vec<(&str, &str)> = edges
        .keys()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    assert_eq!(pairs, [("a", "b"), ("a", "c"), ("b", "c")]);
    assert_eq!(cycle(&edges), None);

    let closing = [
        ("c/other.rs", "use crate::a;\n"),
        ("c/other.rs", "fn f() {\n    super::super::a::g();\n}\n"),
        ("c/mod.rs", "use super::{\n    a::{self, A},\n    b,\n};\n"),
        ("c/mod.rs", "pub(crate) use crate::b::B as Bee;\n"),
    ];
    for (path, text) in closing {
        let mut files = base.clone();
        files.push(file(path, text));
        let steps = cycle(&dependencies(&files));
        assert!(steps.is_some(), "no circle found with {path}: {text:?}");
    }
}
