//! The HTML standard's "prescan a byte stream to determine its encoding": the `<meta
//! charset>` and `<meta http-equiv="Content-Type" content="…; charset=…">` declarations,
//! found the way a browser's prescan finds them (comments and other tags' attributes
//! skipped, attribute names and values lower-cased, the first usable declaration wins), and
//! failing those an XML declaration (`<?xml version="1.0" encoding="…"?>`, or its UTF-16
//! form, at the very start).

use std::collections::HashSet;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// The encoding the first usable `<meta>` declaration in `input` names, with the standard's
/// overrides (a UTF-16 declaration means UTF-8, `x-user-defined` means windows-1252), or
/// `None`. The caller bounds `input`; running out of bytes mid-tag ends the scan, as the
/// standard says.
pub(super) fn prescan(input: &[u8]) -> Option<&'static Encoding> {
    let mut scan = Scan { input, pos: 0 };
    scan.run()
}

/// The bytes the standard calls whitespace here: TAB, LF, FF, CR, SPACE.
fn is_space(b: u8) -> bool {
    matches!(b, 0x09 | 0x0A | 0x0C | 0x0D | 0x20)
}

/// An attribute as the prescan reads it: lower-cased name and value.
struct Attribute {
    name: Vec<u8>,
    value: Vec<u8>,
}

/// The `charset` the `<meta>` being read declares so far.
enum Charset {
    /// No declaration yet.
    Null,
    /// A declaration whose label names no encoding.
    Failure,
    Found(&'static Encoding),
}

/// The input ran out: the prescan ends without an answer.
struct End;

struct Scan<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Scan<'_> {
    fn byte(&self) -> Result<u8, End> {
        self.input.get(self.pos).copied().ok_or(End)
    }

    fn starts_with_ignore_case(&self, prefix: &[u8]) -> bool {
        self.input
            .get(self.pos..self.pos + prefix.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
    }

    fn run(&mut self) -> Option<&'static Encoding> {
        // The standard's "prescan for UTF-16 XML declarations" (the name is not checked).
        if self.input.starts_with(b"<\0?\0") {
            return Some(UTF_16LE);
        }
        if self.input.starts_with(b"\0<\0?") {
            return Some(UTF_16BE);
        }
        while self.pos < self.input.len() {
            match self.step() {
                Ok(Some(found)) => return Some(found),
                Ok(None) => self.pos += 1,
                Err(End) => break,
            }
        }
        xml_declaration(self.input)
    }

    /// One turn of the standard's loop at `pos`; leaves `pos` on the byte before the next
    /// turn's (the caller moves on by one).
    fn step(&mut self) -> Result<Option<&'static Encoding>, End> {
        let rest = &self.input[self.pos..];
        if rest.starts_with(b"<!--") {
            // To the end of the first `-->` after the `<`; the `--` may be the opening one's.
            let at = self.input[self.pos + 2..]
                .windows(3)
                .position(|w| w == b"-->")
                .ok_or(End)?;
            self.pos += 2 + at + 2;
            return Ok(None);
        }
        if self.starts_with_ignore_case(b"<meta")
            && rest.get(5).is_some_and(|&b| is_space(b) || b == b'/')
        {
            self.pos += 5;
            return self.meta();
        }
        let letter_at = if rest.get(1) == Some(&b'/') { 2 } else { 1 };
        if rest.first() == Some(&b'<') && rest.get(letter_at).is_some_and(u8::is_ascii_alphabetic) {
            // Another tag: skip its name and its attributes (a `<meta` in a quoted value is
            // not a declaration).
            while !(is_space(self.byte()?) || self.byte()? == b'>') {
                self.pos += 1;
            }
            while self.attribute()?.is_some() {}
            return Ok(None);
        }
        if rest.starts_with(b"<!") || rest.starts_with(b"</") || rest.starts_with(b"<?") {
            while self.byte()? != b'>' {
                self.pos += 1;
            }
        }
        Ok(None)
    }

    /// The attributes of a `<meta>` (`pos` just after `<meta`): its declaration, if usable.
    fn meta(&mut self) -> Result<Option<&'static Encoding>, End> {
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut got_pragma = false;
        let mut need_pragma: Option<bool> = None;
        let mut charset = Charset::Null;
        while let Some(attribute) = self.attribute()? {
            if !seen.insert(attribute.name.clone()) {
                continue;
            }
            match attribute.name.as_slice() {
                b"http-equiv" => got_pragma |= attribute.value == b"content-type",
                b"content" => {
                    if let (Some(found), Charset::Null) = (from_content(&attribute.value), &charset)
                    {
                        charset = Charset::Found(found);
                        need_pragma = Some(true);
                    }
                }
                b"charset" => {
                    charset = match Encoding::for_label(&attribute.value) {
                        Some(found) => Charset::Found(found),
                        None => Charset::Failure,
                    };
                    need_pragma = Some(false);
                }
                _ => {}
            }
        }
        let usable = match need_pragma {
            None => false,
            Some(need) => !need || got_pragma,
        };
        match charset {
            Charset::Found(found) if usable => Ok(Some(override_declared(found))),
            _ => Ok(None),
        }
    }

    /// The standard's "get an attribute": the next attribute of the tag `pos` is in, or
    /// `None` at its `>` (where `pos` is left).
    fn attribute(&mut self) -> Result<Option<Attribute>, End> {
        while is_space(self.byte()?) || self.byte()? == b'/' {
            self.pos += 1;
        }
        if self.byte()? == b'>' {
            return Ok(None);
        }
        let mut name = Vec::new();
        let mut value = Vec::new();
        // The name.
        loop {
            let b = self.byte()?;
            if b == b'=' && !name.is_empty() {
                self.pos += 1;
                break;
            }
            if is_space(b) {
                while is_space(self.byte()?) {
                    self.pos += 1;
                }
                if self.byte()? != b'=' {
                    return Ok(Some(Attribute { name, value }));
                }
                self.pos += 1;
                break;
            }
            if b == b'/' || b == b'>' {
                return Ok(Some(Attribute { name, value }));
            }
            name.push(b.to_ascii_lowercase());
            self.pos += 1;
        }
        // The value.
        while is_space(self.byte()?) {
            self.pos += 1;
        }
        let b = self.byte()?;
        if b == b'"' || b == b'\'' {
            loop {
                self.pos += 1;
                let c = self.byte()?;
                if c == b {
                    self.pos += 1;
                    return Ok(Some(Attribute { name, value }));
                }
                value.push(c.to_ascii_lowercase());
            }
        }
        if b == b'>' {
            return Ok(Some(Attribute { name, value }));
        }
        loop {
            let c = self.byte()?;
            if is_space(c) || c == b'>' {
                return Ok(Some(Attribute { name, value }));
            }
            value.push(c.to_ascii_lowercase());
            self.pos += 1;
        }
    }
}

/// The standard's "extract a character encoding from a meta element": the `charset=` in a
/// `content` value such as `text/html; charset=gbk`.
fn from_content(content: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    loop {
        let at = content[pos..]
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"charset"))?;
        pos += at + 7;
        while content.get(pos).copied().is_some_and(is_space) {
            pos += 1;
        }
        if content.get(pos) != Some(&b'=') {
            continue;
        }
        pos += 1;
        while content.get(pos).copied().is_some_and(is_space) {
            pos += 1;
        }
        let rest = &content[pos..];
        return match rest.first()? {
            &q @ (b'"' | b'\'') => {
                let end = rest[1..].iter().position(|&c| c == q)?;
                Encoding::for_label(&rest[1..1 + end])
            }
            _ => {
                let end = rest
                    .iter()
                    .position(|&c| is_space(c) || c == b';')
                    .unwrap_or(rest.len());
                Encoding::for_label(&rest[..end])
            }
        };
    }
}

/// The standard's "get an XML encoding": the `encoding` of an XML declaration that opens
/// `input`.
fn xml_declaration(input: &[u8]) -> Option<&'static Encoding> {
    if !input.starts_with(b"<?xml") {
        return None;
    }
    let end = input.iter().position(|&b| b == b'>')?;
    let declaration = &input[..end];
    let mut pos = declaration.windows(8).position(|w| w == b"encoding")? + 8;
    let skip_controls = |mut pos: usize| {
        while declaration.get(pos).is_some_and(|&b| b <= 0x20) {
            pos += 1;
        }
        pos
    };
    pos = skip_controls(pos);
    if declaration.get(pos) != Some(&b'=') {
        return None;
    }
    pos = skip_controls(pos + 1);
    let quote = *declaration.get(pos).filter(|&&q| q == b'"' || q == b'\'')?;
    let rest = &declaration[pos + 1..];
    let label = &rest[..rest.iter().position(|&b| b == quote)?];
    if label.iter().any(|&b| b <= 0x20) {
        return None;
    }
    Encoding::for_label(label).map(override_declared)
}

/// What a declaration in the document itself may name: a document that can be read far
/// enough to find the declaration is not UTF-16, and `x-user-defined` is windows-1252.
pub(super) fn override_declared(found: &'static Encoding) -> &'static Encoding {
    if found == UTF_16BE || found == UTF_16LE {
        UTF_8
    } else if found == X_USER_DEFINED {
        WINDOWS_1252
    } else {
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_and_their_overrides() {
        let cases: &[(&str, Option<&str>)] = &[
            ("<meta charset=gbk>", Some("GBK")),
            (
                r#"<meta http-equiv="Content-Type" content="text/html; charset=gb2312">"#,
                Some("GBK"),
            ),
            // The pragma is needed for `content`.
            (r#"<meta content="text/html; charset=gbk">"#, None),
            (r#"<meta charset="iso-8859-1">"#, Some("windows-1252")),
            (r#"<meta charset="us-ascii">"#, Some("windows-1252")),
            (r#"<meta charset="utf-16le">"#, Some("UTF-8")),
            (r#"<meta charset="x-user-defined">"#, Some("windows-1252")),
            (r#"<meta charset="shift_jis">"#, Some("Shift_JIS")),
            (r#"<meta charset="ks_c_5601-1987">"#, Some("EUC-KR")),
            (
                r#"<!-- <meta charset=big5> --><meta charset=cp1251>"#,
                Some("windows-1251"),
            ),
            (
                r#"<p title="<meta charset=big5>"><meta charset=koi8-r>"#,
                Some("KOI8-R"),
            ),
            (r#"<meta charset="bogus"><meta charset=big5>"#, Some("Big5")),
            // An XML declaration counts when no `<meta>` declares anything.
            (
                r#"<?xml version="1.0" encoding='Shift_JIS'?><p>"#,
                Some("Shift_JIS"),
            ),
            (
                r#"<?xml version="1.0" encoding = "utf-16"?>"#,
                Some("UTF-8"),
            ),
            (
                r#"<?xml encoding="euc-kr"?><meta charset=big5>"#,
                Some("Big5"),
            ),
            (r#"<?xml encoding="euc kr"?>"#, None),
            (r#" <?xml encoding="euc-kr"?>"#, None),
            (r#"<?xml encoding="euc-kr""#, None),
            ("<\0?\0x\0m\0l\0", Some("UTF-16LE")),
            ("\0<\0?\0x\0m\0l", Some("UTF-16BE")),
            ("<meta charset=gbk", None),
            ("", None),
        ];
        for (input, expected) in cases {
            let got = prescan(input.as_bytes()).map(Encoding::name);
            assert_eq!(got, *expected, "{input}");
        }
    }

    #[test]
    fn input_cut_anywhere_ends_the_scan() {
        let tricky: &[u8] = br#"<!----><!--><meta/charset='x'><META http-equiv=Content-Type
            content="a;charset= 'gbk'" content=x><p a="<meta charset=big5>" b=c/><?x><!x></y z
            ><meta charset = ><meta content='charset="' http-equiv="content-type"><a =b>"#;
        // The second `<meta>` declares GBK, once its `>` is in.
        let declared = tricky
            .windows(10)
            .position(|w| w == b"content=x>")
            .map(|at| at + 10)
            .unwrap_or_default();
        for end in 0..=tricky.len() {
            let got = prescan(&tricky[..end]).map(Encoding::name);
            let want = (end >= declared).then_some("GBK");
            assert_eq!(got, want, "cut at {end}");
        }
    }
}
