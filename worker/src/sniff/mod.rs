//! Which encoding a page is in, and why, as the WHATWG encoding sniffing algorithm says (a
//! BOM, then the `Content-Type` charset, then the `<meta>` prescan, then detection with
//! `chardetng`, Firefox's detector), and the page decoded with it (`encoding_rs`; invalid
//! bytes become U+FFFD). The fetcher and `worker check-rule` both decode through here.

mod prescan;

use crawlfleet_engine::{EncodingSource, PageEncoding};
use encoding_rs::{Encoding, UTF_8};

/// The prescan reads this much, as the HTML standard says.
pub(crate) const PRESCAN_BYTES: usize = 1024;
/// When the prescan finds nothing, a `<meta>` declaration up to this far into the page still
/// counts: a browser's tree builder honours one found later ("change the encoding"), and
/// the detector's guess is only tentative.
pub(crate) const LATE_META_BYTES: usize = 16 * 1024;
/// Detection reads at most this much, from just before the first byte that is not ASCII:
/// pages of prose in one encoding, and a few milliseconds of `chardetng` at most.
pub(crate) const DETECT_BYTES: usize = 16 * 1024;
/// ASCII context kept before that first byte (for the detector's letter-pair scores).
const DETECT_CONTEXT: usize = 256;

/// A page's text and the encoding it was decoded from.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) text: String,
    pub(crate) encoding: PageEncoding,
}

/// `body`, served as `content_type` from `url`, decoded as a browser decodes it.
pub(crate) fn decode(body: &[u8], content_type: Option<&str>, url: &str) -> Decoded {
    let (encoding, bom_len) = match Encoding::for_bom(body) {
        Some((found, len)) => (
            PageEncoding {
                encoding: found,
                source: EncodingSource::Bom,
            },
            len,
        ),
        None => (sniff_declared(body, content_type, url), 0),
    };
    let (text, _had_errors) = encoding
        .encoding
        .decode_without_bom_handling(&body[bom_len..]);
    Decoded {
        text: text.into_owned(),
        encoding,
    }
}

/// The steps after the BOM: the header's charset, the `<meta>` prescan, detection.
fn sniff_declared(body: &[u8], content_type: Option<&str>, url: &str) -> PageEncoding {
    let pick = |encoding, source| PageEncoding { encoding, source };
    if let Some(found) = content_type
        .and_then(charset_label)
        .and_then(|label| Encoding::for_label(label.as_bytes()))
    {
        return pick(found, EncodingSource::Header);
    }
    if content_type.is_some_and(is_json) {
        // JSON is UTF-8 (RFC 8259); it has no `<meta>` and nothing to detect.
        return pick(UTF_8, EncodingSource::Default);
    }
    if body.is_empty() {
        return pick(UTF_8, EncodingSource::Default);
    }
    // The prescan, then the same scan further for a declaration the tree builder would
    // find later (a prefix's scan is the longer one's up to where the prefix ends).
    for window in [PRESCAN_BYTES, LATE_META_BYTES] {
        if let Some(found) = prescan::prescan(&body[..body.len().min(window)]) {
            return pick(found, EncodingSource::Meta);
        }
        if body.len() <= window {
            break;
        }
    }
    pick(detect(body, url), EncodingSource::Detected)
}

/// The `charset` parameter of a `Content-Type` value, unquoted.
fn charset_label(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// Whether the `Content-Type` names JSON (`application/json`, `…+json`).
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|end| end.eq_ignore_ascii_case("+json"))
}

/// `chardetng`'s guess from a bounded window that starts just before the first byte that is
/// not ASCII (or an ISO-2022-JP escape). A 7-bit page gets the guess for its top-level
/// domain, as in Firefox (windows-1252 mostly: the same text as UTF-8). UTF-8 is otherwise a
/// permitted guess: browsers forbid it to keep authors declaring their pages, a crawler has
/// no authors to teach and undeclared UTF-8 pages to read.
fn detect(body: &[u8], url: &str) -> &'static Encoding {
    let first = body
        .iter()
        .position(|&b| b >= 0x80 || b == 0x1B)
        .unwrap_or(body.len());
    let start = first.saturating_sub(DETECT_CONTEXT);
    let end = body.len().min(start + DETECT_BYTES);
    let window = &body[start..end];
    let allow_utf8 = window.iter().any(|&b| b >= 0x80);
    let whole = end == body.len();
    if allow_utf8 && is_utf8(window, whole) {
        // What `chardetng` answers for valid UTF-8 (when it may), without its scoring.
        return UTF_8;
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(window, whole);
    let tld = tld(url);
    detector.guess(tld.as_deref().map(str::as_bytes), allow_utf8)
}

/// Whether `window` is UTF-8; a sequence cut by the window's end counts when it is not
/// the body's end.
fn is_utf8(window: &[u8], whole: bool) -> bool {
    match std::str::from_utf8(window) {
        Ok(_) => true,
        Err(e) => !whole && e.error_len().is_none(),
    }
}

/// The rightmost label of `url`'s host name, lower-case ASCII (Punycode), for the detector;
/// `None` for an IP address or anything else the detector must not be given.
fn tld(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let Some(url::Host::Domain(domain)) = url.host() else {
        return None;
    };
    let label = domain.trim_end_matches('.').rsplit('.').next()?;
    let valid = !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid.then(|| label.to_owned())
}

#[cfg(test)]
mod html5lib;

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(body: &[u8], content_type: Option<&str>, url: &str) -> (String, &'static str) {
        let d = decode(body, content_type, url);
        assert_eq!(
            d.text,
            d.encoding
                .encoding
                .decode_without_bom_handling(body)
                .0
                .trim_start_matches('\u{feff}'),
            "the text is the body decoded with the encoding reported"
        );
        (
            d.encoding.encoding.name().to_owned(),
            d.encoding.source.label(),
        )
    }

    fn encoded(text: &str, encoding: &'static Encoding) -> Vec<u8> {
        encoding.encode(text).0.into_owned()
    }

    const CHINESE: &str = "热更新爬虫规则：工作进程在运行时接收新的抽取规则，无需重启。\
        每个页面都按照浏览器的方式解码，这样从简体中文网站抽取的条目就不会变成乱码。\
        我们的测试覆盖了声明编码的各种方式，以及完全没有声明编码的页面。";

    #[test]
    fn each_step_in_the_standard_order() {
        let gbk = encoded(&format!("<meta charset=gbk><p>{CHINESE}"), encoding_rs::GBK);
        let url = "http://example.test/";
        // The header wins over the meta; a BOM wins over both.
        assert_eq!(
            sniffed(&gbk, Some("text/html; charset=GB2312"), url),
            ("GBK".to_owned(), "header")
        );
        assert_eq!(
            sniffed(&gbk, Some("text/html; charset=\"Big5\""), url).0,
            "Big5"
        );
        assert_eq!(
            sniffed(&gbk, Some("text/html"), url),
            ("GBK".to_owned(), "meta")
        );
        assert_eq!(sniffed(&gbk, None, url), ("GBK".to_owned(), "meta"));
        let mut bom = b"\xEF\xBB\xBF<meta charset=gbk>".to_vec();
        bom.extend_from_slice(CHINESE.as_bytes());
        assert_eq!(
            sniffed(&bom, Some("text/html; charset=gbk"), url),
            ("UTF-8".to_owned(), "bom")
        );
        assert_eq!(decode(&bom, None, url).text.chars().next(), Some('<'));
        // An unknown header label falls through to the meta.
        assert_eq!(
            sniffed(&gbk, Some("text/html; charset=no-such"), url),
            ("GBK".to_owned(), "meta")
        );
        // Undeclared: detected.
        let bare = encoded(&format!("<p>{CHINESE}"), encoding_rs::GBK);
        assert_eq!(
            sniffed(&bare, Some("text/html"), url),
            ("GBK".to_owned(), "detected")
        );
        let utf8 = format!("<p>{CHINESE}");
        assert_eq!(
            sniffed(utf8.as_bytes(), Some("text/html"), url),
            ("UTF-8".to_owned(), "detected")
        );
        // JSON is UTF-8 unless its header says otherwise.
        assert_eq!(
            sniffed(br#"{"a":"\xC3\xA9"}"#, Some("application/ld+json"), url),
            ("UTF-8".to_owned(), "default")
        );
        assert_eq!(
            sniffed(b"", Some("text/html"), url),
            ("UTF-8".to_owned(), "default")
        );
    }

    #[test]
    fn a_late_declaration_counts_within_its_window_only() {
        let padding = format!("<!-- {} -->", "x".repeat(4000));
        let late = format!("{padding}<meta charset=iso-8859-2><p>plain");
        assert_eq!(
            sniffed(late.as_bytes(), None, "http://x.test/"),
            ("ISO-8859-2".to_owned(), "meta")
        );
        let padding = format!("<!-- {} -->", "x".repeat(LATE_META_BYTES));
        let too_late = format!("{padding}<meta charset=iso-8859-2><p>plain");
        assert_eq!(
            sniffed(too_late.as_bytes(), None, "http://x.test/").1,
            "detected"
        );
    }

    #[test]
    fn detection_uses_the_top_level_domain_and_a_bounded_window() {
        // Two bytes that read as Cyrillic in windows-1251 and as Latin in windows-1252: the
        // domain decides, as in Firefox.
        let body = b"<p>\xEF\xF0\xE8\xE2\xE5\xF2";
        assert_eq!(sniffed(body, None, "http://example.ru/").0, "windows-1251");
        assert_eq!(tld("http://Example.RU./a"), Some("ru".to_owned()));
        assert_eq!(tld("http://127.0.0.1:8080/"), None);
        assert_eq!(tld("http://[::1]/"), None);
        assert_eq!(
            tld("http://xn--p1ai.xn--p1ai/"),
            Some("xn--p1ai".to_owned())
        );
        // Far past the window, bytes are decoded but never read by the detector.
        let mut long = format!("<p>{CHINESE}").into_bytes();
        long.extend(std::iter::repeat_n(b'a', DETECT_BYTES));
        long.extend_from_slice(&encoded("热更新", encoding_rs::GBK));
        let d = decode(&long, None, "http://example.test/");
        assert_eq!(d.encoding.encoding, UTF_8);
        assert!(d.text.ends_with("\u{FFFD}"), "invalid bytes become U+FFFD");
    }

    #[test]
    fn utf8_cut_by_the_window_is_still_utf8() {
        let text = "é".repeat(DETECT_BYTES);
        let bytes = text.as_bytes();
        // A window that ends mid-character with more of the body after it is UTF-8; a body
        // that ends mid-character is not.
        assert!(is_utf8(&bytes[..3], false));
        assert!(!is_utf8(&bytes[..3], true));
        // "<p>" then two-byte characters: the window ends inside one.
        let page = format!("<p>{text}");
        assert_eq!(detect(page.as_bytes(), "http://example.fr/"), UTF_8);
    }

    #[test]
    fn random_bytes_always_decode() {
        let types = [
            None,
            Some("text/html"),
            Some("text/html; charset=gbk"),
            Some("text/html; charset=utf-16"),
            Some("application/json"),
            Some("text/html; charset=iso-2022-kr"),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..3000 {
            let len = usize::try_from(next() % 3000).unwrap_or(0);
            let mut body: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
            if i % 3 == 0 {
                // Mostly markup, for the prescan to chew on.
                let markup = b"<meta charset=\"'/ >!-?abc\x80\xFE";
                for b in &mut body {
                    *b = markup[usize::from(*b) % markup.len()];
                }
            }
            let content_type = types[i % types.len()];
            sniffed(&body, content_type, "http://example.jp/");
        }
    }

    #[test]
    fn content_type_parameters() {
        assert_eq!(charset_label("text/html; charset=gbk"), Some("gbk"));
        assert_eq!(
            charset_label("text/html;CHARSET = \"Shift_JIS\" "),
            Some("Shift_JIS")
        );
        assert_eq!(
            charset_label("text/html; q=1; charset=utf-8"),
            Some("utf-8")
        );
        assert_eq!(charset_label("text/html"), None);
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/LD+JSON"));
        assert!(!is_json("text/html"));
    }
}
