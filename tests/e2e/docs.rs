//! The repository's documents name only what exists, and stay short enough to be read.
//!
//! docs/RELIABILITY.md names, for each fault, the test that proves it: every name must be a
//! test that exists. The Test column holds backticked names in three forms:
//! `module::test_fn` (an end-to-end test in `tests/e2e/module.rs`); `` `crate` unit test(s) ``
//! followed by `mod::path::test_fn` or `mod::path::*` (unit tests in `crate/src/mod/path.rs`,
//! an inline `tests` module counting as its parent file); or a path such as
//! `engine/tests/engine/hostile.rs` (a test file that must hold tests).
//!
//! ARCHITECTURE.md's backticked paths and Rust names must exist (see [`is_path`] and
//! [`rust_name`] for what counts as each), every `.rs` file must open with a `//!` line
//! saying what it owns and none runs past 500 lines, ARCHITECTURE.md stays within 200 lines,
//! BENCHMARKS.md within 250, and at most 20 result files are committed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The backticked names in a table cell.
fn names(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The cells of a table row, split on `|` outside backticks.
fn cells(row: &str) -> Vec<String> {
    let (mut out, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    for c in row.trim().trim_matches('|').chars() {
        match c {
            '`' => {
                quoted = !quoted;
                cell.push(c);
            }
            '|' if !quoted => out.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    out.push(cell);
    out
}

/// Whether `source` defines test function `name` (a test attribute among the few lines of
/// attributes right above it).
fn defines_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        let line = line.trim_start();
        (line.starts_with(&format!("fn {name}(")) || line.starts_with(&format!("async fn {name}(")))
            && lines[i.saturating_sub(4)..i].iter().any(|l| {
                let l = l.trim_start();
                l.starts_with("#[test]") || l.starts_with("#[tokio::test")
            })
    })
}

fn holds_tests(source: &str) -> bool {
    source.contains("#[test]") || source.contains("#[tokio::test")
}

/// The source file of module path `modules` in `krate`; a `tests` module with no file of its
/// own is inline in its parent.
fn module_file(krate: &str, modules: &[&str]) -> Option<PathBuf> {
    let mut dir = repo().join(krate).join("src");
    let mut file = None;
    for m in modules {
        let flat = dir.join(format!("{m}.rs"));
        let nested = dir.join(m).join("mod.rs");
        if flat.is_file() {
            file = Some(flat);
        } else if nested.is_file() {
            file = Some(nested);
        } else if *m == "tests" && file.is_some() {
            continue;
        } else {
            return None;
        }
        dir = dir.join(m);
    }
    file
}

/// Why `name` (from a row whose test cell is `cell`) names no test, or `None` if it does.
fn missing(cell: &str, name: &str) -> Option<String> {
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    if name.ends_with(".rs") {
        let path = repo().join(name);
        return (!holds_tests(&read(&path))).then(|| format!("{name}: no test file"));
    }
    let parts: Vec<&str> = name.split("::").collect();
    let (last, modules) = parts.split_last()?;
    let krate = ["worker", "engine", "bus", "publisher"]
        .into_iter()
        .find(|k| cell.contains(&format!("`{k}` unit test")));
    let file = match krate {
        Some(krate) => module_file(krate, modules),
        None => match modules {
            [module] => Some(repo().join("tests/e2e").join(format!("{module}.rs"))),
            _ => None,
        },
    };
    let Some(file) = file else {
        return Some(format!("{name}: no such module"));
    };
    let source = read(&file);
    let found = if *last == "*" {
        holds_tests(&source)
    } else {
        defines_test(&source, last)
    };
    (!found).then(|| format!("{name}: no such test in {}", file.display()))
}

#[test]
fn every_row_of_the_fault_matrix_names_a_test_that_exists() {
    let doc = std::fs::read_to_string(repo().join("docs/RELIABILITY.md")).expect("read doc");
    let rows: Vec<Vec<String>> = doc
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(cells)
        .collect();
    let header = rows.first().expect("the fault matrix");
    let column = header
        .iter()
        .position(|c| c.trim() == "Test")
        .expect("a Test column");
    let mut problems = Vec::new();
    let mut checked = 0;
    for row in rows.iter().skip(2) {
        let cell = row.get(column).map(String::as_str).unwrap_or_default();
        let named: Vec<&str> = names(cell)
            .into_iter()
            .filter(|n| !["worker", "engine", "bus", "publisher"].contains(n))
            .collect();
        if named.is_empty() {
            problems.push(format!("a row names no test: {}", row.join("|")));
        }
        for name in named {
            checked += 1;
            problems.extend(missing(cell, name));
        }
    }
    assert!(
        checked >= rows.len() - 2,
        "{checked} names in {} rows",
        rows.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The check itself: names that exist pass, names that do not fail.
#[test]
fn the_check_tells_a_real_test_from_a_wrong_name() {
    let e2e = "`faults::kill_9_mid_job_redelivers_the_job_to_another_worker`";
    let unit =
        "`worker` unit test `admin::metrics::tests::long_label_values_are_truncated_with_a_marker`";
    let cases = [
        (
            e2e,
            "faults::kill_9_mid_job_redelivers_the_job_to_another_worker",
            true,
        ),
        (e2e, "faults::no_such_test", false),
        (
            e2e,
            "nosuchfile::kill_9_mid_job_redelivers_the_job_to_another_worker",
            false,
        ),
        // A helper, not a test.
        (e2e, "faults::versions", false),
        (
            unit,
            "admin::metrics::tests::long_label_values_are_truncated_with_a_marker",
            true,
        ),
        (unit, "admin::metrics::tests::nope", false),
        (
            "`worker` unit tests `fetch::policy::*`",
            "fetch::policy::*",
            true,
        ),
        (
            "`worker` unit tests `fetch::nope::*`",
            "fetch::nope::*",
            false,
        ),
        // Named as an end-to-end test, but it is a unit test.
        ("`admin::stalls`", "admin::stalls", false),
        ("`bus/tests/fuzz.rs`", "bus/tests/fuzz.rs", true),
        ("`bus/tests/nope.rs`", "bus/tests/nope.rs", false),
    ];
    for (cell, name, exists) in cases {
        assert_eq!(missing(cell, name).is_none(), exists, "{cell} / {name}");
    }
}

/// The repository's files, tracked or new (not ignored), relative to its root.
fn files() -> Vec<String> {
    let out = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(repo())
        .output()
        .expect("run git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    String::from_utf8(out.stdout)
        .expect("UTF-8 file names")
        .lines()
        .filter(|f| repo().join(f).exists())
        .map(String::from)
        .collect()
}

/// The paragraphs of a Markdown document outside fenced code blocks, each with its
/// backticked tokens.
fn paragraphs(doc: &str) -> Vec<Vec<&str>> {
    let (mut out, mut fenced, mut current) = (Vec::new(), false, Vec::new());
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        if line.trim().is_empty() {
            out.push(std::mem::take(&mut current));
        } else {
            current.extend(line.split('`').skip(1).step_by(2));
        }
    }
    out.push(current);
    out
}

/// A repository path, as ARCHITECTURE.md quotes one: path characters only (letters, digits,
/// `_`, `.`, `/`, `-`), not absolute (`/healthz` and `/proc` are not the repository's), and
/// either holding a `/` or ending in `.rs`, `.md` or `.toml`.
fn is_path(token: &str) -> bool {
    let chars = token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c));
    let looks = token.contains('/') || [".rs", ".md", ".toml"].iter().any(|e| token.ends_with(e));
    chars && looks && !token.starts_with('/') && !token.starts_with('-')
}

/// Whether `path` names a file or directory in `files`: from the repository root, or, for a
/// shorter path (`html/meter.rs`, `fixtures/`), as the end of a path inside `scope` (the
/// directory a paragraph is about, such as `engine/`; anywhere without one).
fn names_a_file(path: &str, scope: Option<&str>, files: &[String]) -> bool {
    let path = path.trim_end_matches('/');
    let (end, inside) = (format!("/{path}"), format!("/{path}/"));
    files.iter().any(|f| {
        let from_root = f == path || f.starts_with(&format!("{path}/"));
        let in_scope = scope.is_none_or(|s| f.starts_with(s));
        from_root || (in_scope && (f.ends_with(&end) || f.contains(&inside)))
    })
}

/// A Rust name, as ARCHITECTURE.md quotes one, split into its segments: a path
/// (`bus::DecodeError`, `RuleStore::apply`, `reload::bad_updates_*`, a trailing `*` standing
/// for any ending), a `CamelCase` type, or a function `name()`. Anything else is prose.
fn rust_name(token: &str) -> Option<Vec<&str>> {
    let (name, call) = match token.strip_suffix("()") {
        Some(name) => (name, true),
        None => (token, false),
    };
    let ident = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let segments: Vec<&str> = name.split("::").collect();
    let (last, init) = segments.split_last()?;
    let last_ok = *last == "*" || ident(last.strip_suffix('*').unwrap_or(last));
    if !(last_ok && init.iter().all(|s| ident(s))) {
        return None;
    }
    let camel = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().any(|c| c.is_ascii_lowercase());
    (segments.len() > 1 || camel || call).then_some(segments)
}

/// Every name the workspace defines, at grep level: the name after `fn`, `struct`, `enum`,
/// `trait`, `mod`, `type`, `const` or `static`, an enum variant (a capitalised name opening a
/// line and followed by `,`, `(` or `{`), and every file stem and directory of `files`.
fn defined_names(files: &[String]) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for file in files {
        let parts: Vec<&str> = file.split('/').collect();
        let (leaf, dirs) = parts.split_last().expect("a path has a leaf");
        names.extend(dirs.iter().map(|d| d.to_string()));
        let Some(stem) = leaf.strip_suffix(".rs") else {
            continue;
        };
        names.insert(stem.to_string());
        let source = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
        for line in source.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for pair in words.windows(2) {
                let keyword = [
                    "fn", "struct", "enum", "trait", "mod", "type", "const", "static",
                ];
                if keyword.contains(&pair[0]) {
                    names.insert(ident(pair[1]));
                }
            }
            let head = ident(line.trim_start());
            let rest = line.trim_start()[head.len()..].trim_start();
            let variant = head.starts_with(|c: char| c.is_ascii_uppercase())
                && rest.starts_with([',', '(', '{']);
            if variant {
                names.insert(head);
            }
        }
    }
    names.remove("");
    names
}

/// What ARCHITECTURE.md-like `doc` names that does not exist, one line each.
fn unknown_in(doc: &str, files: &[String], defined: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for tokens in paragraphs(doc) {
        // A paragraph about a top-level directory opens with it: `engine/`.
        let scope = tokens
            .first()
            .filter(|t| t.ends_with('/') && t.matches('/').count() == 1)
            .filter(|t| names_a_file(t, None, files))
            .copied();
        for token in &tokens {
            if is_path(token) {
                if !names_a_file(token, scope, files) {
                    problems.push(format!("`{token}`: no such file or directory"));
                }
            } else if let Some(segments) = rust_name(token) {
                let known = |s: &&str| match s.strip_suffix('*') {
                    Some("") => true,
                    Some(start) => defined.iter().any(|d| d.starts_with(start)),
                    None => defined.contains(*s),
                };
                if let Some(missing) = segments.iter().find(|s| !known(s)) {
                    problems.push(format!(
                        "`{token}`: nothing in the workspace defines `{missing}`"
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn architecture_names_only_paths_and_rust_names_that_exist() {
    let files = files();
    let doc = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).expect("read doc");
    let problems = unknown_in(&doc, &files, &defined_names(&files));
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md:\n{}",
        problems.join("\n")
    );
}

/// The check itself, on a document of its own: what exists passes, a wrong name fails.
#[test]
fn the_architecture_check_tells_real_names_from_wrong_ones() {
    let files = files();
    let defined = defined_names(&files);
    let fine = "**`engine/`**: `store.rs`, `page/mod.rs` and `page/`; `RuleStore::apply`, \
                `Settle`, `bus::DecodeError`, `reload::bad_updates_*`, `faults::*`, `housekeep()`.\n\n\
                `worker/src/priority.rs`, `.ci/run`, `/healthz`, `--wait`, `parse`, `Arc<Rule>`.\n\n\
                ```\n`no/such/file.rs` in a code block\n```\n";
    assert_eq!(unknown_in(fine, &files, &defined), Vec::<String>::new());
    for wrong in [
        "`worker/src/nope.rs`",
        "`worker/src/crawl/`, then `nope/`",
        "**`engine/`** `admin/server.rs` is the worker's",
        "`jobs::run_job`",
        "`RuleStore::no_such_method`",
        "`NoSuchType`",
        "`no_such_function()`",
        "`reload::no_such_test_*`",
        "`README.mdx.md`",
    ] {
        assert_eq!(unknown_in(wrong, &files, &defined).len(), 1, "{wrong}");
    }
}

#[test]
fn every_rust_file_opens_with_a_line_saying_what_it_owns() {
    let unsaid: Vec<String> = files()
        .into_iter()
        .filter(|f| f.ends_with(".rs"))
        .filter(|f| {
            let source = std::fs::read_to_string(repo().join(f)).unwrap_or_default();
            !source.starts_with("//!")
        })
        .collect();
    assert!(unsaid.is_empty(), "no opening `//!` line: {unsaid:?}");
}

#[test]
fn architecture_and_benchmarks_stay_short() {
    for (doc, limit) in [("ARCHITECTURE.md", 200), ("BENCHMARKS.md", 250)] {
        let text = std::fs::read_to_string(repo().join(doc)).expect("read doc");
        let lines = text.lines().count();
        assert!(lines <= limit, "{doc}: {lines} lines, more than {limit}");
    }
    // Only summary results are committed: per-run files are pooled or ignored.
    let results = files()
        .into_iter()
        .filter(|f| f.starts_with("bench/results/"))
        .count();
    assert!(
        results <= 20,
        "{results} files under bench/results/, more than 20"
    );
}

#[test]
fn no_rust_file_runs_past_500_lines() {
    let long: Vec<(String, usize)> = files()
        .into_iter()
        .filter(|f| f.ends_with(".rs"))
        .filter_map(|f| {
            let lines = std::fs::read_to_string(repo().join(&f))
                .unwrap_or_default()
                .lines()
                .count();
            (lines > 500).then_some((f, lines))
        })
        .collect();
    assert!(
        long.is_empty(),
        "one concept per file, at most 500 lines: {long:?}"
    );
}
