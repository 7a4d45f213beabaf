//! URL normalisation before dedup: fragment dropped, host lower-cased, default port removed,
//! and only the query parameters that the rule says matter, in a stable order. A query keeps
//! its bytes: one a GBK page percent-encoded in GBK stays GBK.

use encoding_rs::Encoding;
use url::Url;
use url::form_urlencoded::byte_serialize;

/// `href` resolved against `base` (its query percent-encoded in `encoding`, the encoding of
/// the page it is on, as browsers do) and normalised; `None` when it is not an http(s) URL.
pub(crate) fn normalize(
    href: &str,
    base: Option<&Url>,
    keep_query: Option<&[String]>,
    encoding: &'static Encoding,
) -> Option<Url> {
    let mut url = Url::parse(&crawlfleet_engine::join_url(base, href, encoding)?).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    url.set_fragment(None);
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = url
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .filter(|(k, _)| keep_query.is_none_or(|keep| keep.iter().any(|q| q.as_bytes() == k)))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                let (k, v): (String, String) =
                    (byte_serialize(k).collect(), byte_serialize(v).collect());
                format!("{k}={v}")
            })
            .collect();
        url.set_query(Some(&query.join("&")));
    }
    Some(url)
}

/// One `application/x-www-form-urlencoded` name or value as bytes (`+` is a space, `%XX` a
/// byte), whatever encoding they are in.
fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if hex(i + 1).is_some() && hex(i + 2).is_some() => {
                let (hi, lo) = (hex(i + 1).unwrap_or(0), hex(i + 2).unwrap_or(0));
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_cases() {
        let base = Url::parse("http://Shop.Test:80/c/kitchen?page=2").ok();
        let keep = ["page".to_owned()];
        let cases: &[(&str, Option<&[String]>, Option<&str>)] = &[
            ("/p/1#reviews", None, Some("http://shop.test/p/1")),
            ("p/1", None, Some("http://shop.test/c/p/1")),
            ("HTTP://SHOP.TEST/p/1", None, Some("http://shop.test/p/1")),
            ("/p/1?b=2&a=1", None, Some("http://shop.test/p/1?a=1&b=2")),
            (
                "/c?utm_source=x&page=3",
                Some(&keep),
                Some("http://shop.test/c?page=3"),
            ),
            ("/c?utm_source=x", Some(&keep), Some("http://shop.test/c")),
            ("mailto:a@b.c", None, None),
            ("javascript:void(0)", None, None),
            ("http://[::1", None, None),
        ];
        for (href, keep, expected) in cases {
            let got =
                normalize(href, base.as_ref(), *keep, encoding_rs::UTF_8).map(|u| u.to_string());
            assert_eq!(got.as_deref(), *expected, "{href}");
        }
    }

    #[test]
    fn a_query_keeps_the_encoding_of_its_page() {
        let base = Url::parse("http://shop.test/c/").ok();
        let keep = ["q".to_owned()];
        let cases: &[(&'static Encoding, &str, Option<&[String]>, &str)] = &[
            // Encoded in GBK from the page's text, kept as GBK, sorted and filtered by bytes.
            (
                encoding_rs::GBK,
                "s?z=1&q=中文 书",
                None,
                "http://shop.test/c/s?q=%D6%D0%CE%C4+%CA%E9&z=1",
            ),
            (
                encoding_rs::GBK,
                "s?z=1&q=中文",
                Some(&keep),
                "http://shop.test/c/s?q=%D6%D0%CE%C4",
            ),
            // Already percent-encoded bytes are not re-read as UTF-8.
            (
                encoding_rs::UTF_8,
                "http://shop.test/s?q=%D6%D0",
                None,
                "http://shop.test/s?q=%D6%D0",
            ),
            (
                encoding_rs::UTF_8,
                "s?q=中文&a",
                None,
                "http://shop.test/c/s?a=&q=%E4%B8%AD%E6%96%87",
            ),
            (
                encoding_rs::UTF_8,
                "s?q=%zz%4",
                None,
                "http://shop.test/c/s?q=%25zz%254",
            ),
        ];
        for (encoding, href, keep, expected) in cases {
            let got = normalize(href, base.as_ref(), *keep, encoding).map(|u| u.to_string());
            assert_eq!(got.as_deref(), Some(*expected), "{href}");
        }
    }
}
