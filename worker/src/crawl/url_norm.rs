//! URL normalisation before dedup: fragment dropped, host lower-cased, default port removed,
//! and only the query parameters that the rule says matter, in a stable order.

use url::Url;

/// `href` resolved against `base` and normalised; `None` when it is not an http(s) URL.
pub(crate) fn normalize(
    href: &str,
    base: Option<&Url>,
    keep_query: Option<&[String]>,
) -> Option<Url> {
    let href = href.trim();
    let mut url = match base {
        Some(base) => base.join(href).ok()?,
        None => Url::parse(href).ok()?,
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    url.set_fragment(None);
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| keep_query.is_none_or(|keep| keep.iter().any(|q| q == k)))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Some(url)
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
            let got = normalize(href, base.as_ref(), *keep).map(|u| u.to_string());
            assert_eq!(got.as_deref(), *expected, "{href}");
        }
    }
}
