//! docs/RELIABILITY.md names, for each fault, the test that proves it: every name must be a
//! test that exists. The Test column holds backticked names in three forms:
//! `module::test_fn` (an end-to-end test in `tests/e2e/module.rs`); `` `crate` unit test(s) ``
//! followed by `mod::path::test_fn` or `mod::path::*` (unit tests in `crate/src/mod/path.rs`,
//! an inline `tests` module counting as its parent file); or a path such as
//! `engine/tests/engine/hostile.rs` (a test file that must hold tests).

use std::path::{Path, PathBuf};

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
