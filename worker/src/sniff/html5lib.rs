//! The html5lib encoding tests (`html5lib-encoding/`): each document, served with no
//! charset in its header, sniffs to the encoding the suite expects.

use encoding_rs::Encoding;

use super::{PRESCAN_BYTES, decode};

/// Every `(file, data, expected label)` of the suite's `#data` / `#encoding` format.
fn cases() -> Vec<(&'static str, Vec<u8>, String)> {
    let files: [(&str, &[u8]); 3] = [
        ("tests1.dat", include_bytes!("html5lib-encoding/tests1.dat")),
        ("tests2.dat", include_bytes!("html5lib-encoding/tests2.dat")),
        (
            "test-yahoo-jp.dat",
            include_bytes!("html5lib-encoding/test-yahoo-jp.dat"),
        ),
    ];
    let mut out = Vec::new();
    for (file, text) in files {
        for case in split(text, b"#data\n").into_iter().skip(1) {
            let at = find(case, b"#encoding\n").expect("an #encoding section");
            let data = case[..at].strip_suffix(b"\n").unwrap_or(&case[..at]);
            let expected = String::from_utf8_lossy(&case[at + 10..]);
            let expected = expected
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            out.push((file, data.to_vec(), expected));
        }
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut text: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(text, separator) {
        parts.push(&text[..at]);
        text = &text[at + separator.len()..];
    }
    parts.push(text);
    parts
}

#[test]
fn every_html5lib_encoding_case_sniffs_as_expected() {
    let cases = cases();
    let prescan_cases = cases
        .iter()
        .filter(|(_, data, _)| data.len() <= PRESCAN_BYTES)
        .count();
    // The suite as copied: 82 documents, 75 of them within the prescan's 1024 bytes (the
    // others declare their encoding later, for the tree builder to find).
    assert_eq!((cases.len(), prescan_cases), (82, 75));
    let mut failures = Vec::new();
    for (i, (file, data, expected)) in cases.iter().enumerate() {
        let want = Encoding::for_label(expected.as_bytes()).expect("a known label");
        // No TLD (an IP address): an undeclared ASCII page is windows-1252, the suite's default.
        let got = decode(data, Some("text/html"), "http://127.0.0.1/").encoding;
        if got.encoding != want {
            failures.push(format!(
                "{file} case {i} ({} bytes): expected {}, got {} ({})",
                data.len(),
                want.name(),
                got.encoding.name(),
                got.source.label()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
