//! Character references (`&amp;`, `&#233;`, `&eacute`): decoding text and attribute values
//! the way browsers do, lazily, only for the text a rule reads.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The named references, by name (with its `;` when it has one).
fn table() -> &'static HashMap<&'static str, (char, Option<char>)> {
    static TABLE: OnceLock<HashMap<&'static str, (char, Option<char>)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("entities.txt")
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let name = fields.next()?;
                let mut code = || {
                    fields
                        .next()
                        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                        .and_then(char::from_u32)
                };
                let first = code()?;
                Some((name, (first, code())))
            })
            .collect()
    })
}

/// The longest name in the table, `;` included.
const LONGEST_NAME: usize = 32;

/// Where the text is: attribute values keep `&name` when what follows could continue it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    Text,
    Attribute,
}

/// `raw` with its character references decoded; borrowed when it has none.
pub(crate) fn decode(raw: &str, context: Context) -> Cow<'_, str> {
    let Some(first) = memchr::memchr(b'&', raw.as_bytes()) else {
        return Cow::Borrowed(raw);
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    let mut rest = &raw[first..];
    while let Some(at) = memchr::memchr(b'&', rest.as_bytes()) {
        out.push_str(&rest[..at]);
        let reference = &rest[at + 1..];
        match reference_at(reference, context) {
            Some((used, first, second)) => {
                out.push(first);
                if let Some(second) = second {
                    out.push(second);
                }
                rest = &reference[used..];
            }
            None => {
                out.push('&');
                rest = reference;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The reference at the start of `s` (just after its `&`): how many bytes it takes and what
/// it stands for, or `None` when the `&` is a plain ampersand.
fn reference_at(s: &str, context: Context) -> Option<(usize, char, Option<char>)> {
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b'#') {
        return numeric(s).map(|(used, c)| (used, c, None));
    }
    let run = bytes
        .iter()
        .take(LONGEST_NAME)
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    if run == 0 {
        return None;
    }
    let table = table();
    if bytes.get(run) == Some(&b';')
        && let Some(&(a, b)) = table.get(&s[..=run])
    {
        return Some((run + 1, a, b));
    }
    // Legacy names may stand without their `;`: the longest one that prefixes the run.
    (2..=run.min(6)).rev().find_map(|len| {
        let &(a, b) = table.get(&s[..len])?;
        let next = bytes.get(len).copied();
        let continues = next.is_some_and(|n| n == b'=' || n.is_ascii_alphanumeric());
        (!(context == Context::Attribute && continues)).then_some((len, a, b))
    })
}

/// `#233;`, `#xE9;` (the `;` optional): bytes used and the character.
fn numeric(s: &str) -> Option<(usize, char)> {
    let bytes = s.as_bytes();
    let (radix, start) = match bytes.get(1) {
        Some(b'x' | b'X') => (16, 2),
        _ => (10, 1),
    };
    let digits = bytes[start..]
        .iter()
        .take_while(|b| {
            if radix == 16 {
                b.is_ascii_hexdigit()
            } else {
                b.is_ascii_digit()
            }
        })
        .count();
    if digits == 0 {
        return None;
    }
    let mut used = start + digits;
    if bytes.get(used) == Some(&b';') {
        used += 1;
    }
    let value = u32::from_str_radix(&s[start..start + digits], radix).unwrap_or(u32::MAX);
    Some((used, code_point(value)))
}

/// What a numeric reference stands for, with the spec's replacements: NUL, surrogates and
/// values past Unicode become U+FFFD; C1 controls are read as windows-1252.
fn code_point(value: u32) -> char {
    const WINDOWS_1252: [u32; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    let value = match value {
        0x80..=0x9F => WINDOWS_1252[(value - 0x80) as usize],
        _ => value,
    };
    match value {
        0 => char::REPLACEMENT_CHARACTER,
        _ => char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER),
    }
}

#[cfg(test)]
mod tests {
    use super::{Context, decode};

    #[test]
    fn references_decode_like_a_browser() {
        let cases: &[(&str, Context, &str)] = &[
            ("plain", Context::Text, "plain"),
            ("Caf&eacute; &amp; Bar", Context::Text, "Café & Bar"),
            ("1&nbsp;299&euro;", Context::Text, "1\u{a0}299€"),
            ("&#233;&#xE9;&#XE9", Context::Text, "ééé"),
            ("&#0;&#x110000;&#128;", Context::Text, "\u{fffd}\u{fffd}€"),
            ("a & b &; &#; &#x;", Context::Text, "a & b &; &#; &#x;"),
            ("&notit;", Context::Text, "¬it;"),
            ("&ampx", Context::Text, "&x"),
            ("?a=1&ampx=2", Context::Attribute, "?a=1&ampx=2"),
            ("?a=1&amp=2", Context::Attribute, "?a=1&amp=2"),
            ("?a=1&amp;b=2", Context::Attribute, "?a=1&b=2"),
            ("&NotEqualTilde;", Context::Text, "\u{2242}\u{338}"),
            ("&unknown; &", Context::Text, "&unknown; &"),
        ];
        for (raw, context, want) in cases {
            assert_eq!(decode(raw, *context), *want, "{raw}");
        }
    }
}
