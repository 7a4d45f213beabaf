//! Splitting HTML source into tokens (tags, text, comments) without copying: every token is
//! a span of the source. Follows the WHATWG tokenizer where pages in the wild rely on it.

use super::Span;

/// A tag's attribute as written: name and value spans (the value without its quotes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawAttr {
    pub(crate) name: Span,
    pub(crate) value: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// `<name ...>`; its attributes are in [`Lexer::attrs`] until the next token.
    Start {
        name: Span,
        self_closing: bool,
    },
    End {
        name: Span,
    },
    Text(Span),
    Comment(Span),
    /// Doctypes, processing instructions and other `<!...>` the tree does not keep.
    Ignored,
}

/// How the text after a start tag is read (set by the tree builder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextMode {
    /// Markup.
    Data,
    /// Text up to the matching end tag (`script`, `style`, `title`, `textarea`...).
    UntilEndTag,
    /// Everything to the end of the document (`plaintext`).
    Rest,
}

pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    mode: TextMode,
    /// The element whose end tag ends `UntilEndTag` text.
    raw_end: Span,
    attrs: Vec<RawAttr>,
}

fn span(start: usize, end: usize) -> Span {
    Span::new(start, end)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src: src.as_bytes(),
            pos: 0,
            mode: TextMode::Data,
            raw_end: Span::EMPTY,
            attrs: Vec::new(),
        }
    }

    /// The attributes of the last `Start` token.
    pub(crate) fn attrs(&self) -> &[RawAttr] {
        &self.attrs
    }

    /// Reads what follows the start tag `name` as text, in `mode`.
    pub(crate) fn set_text_mode(&mut self, mode: TextMode, name: Span) {
        self.mode = mode;
        self.raw_end = name;
    }

    pub(crate) fn next_token(&mut self) -> Option<Token> {
        if self.pos >= self.src.len() {
            return None;
        }
        match self.mode {
            TextMode::Data => Some(self.data()),
            TextMode::Rest => {
                let start = self.pos;
                self.pos = self.src.len();
                Some(Token::Text(span(start, self.pos)))
            }
            TextMode::UntilEndTag => {
                self.mode = TextMode::Data;
                let start = self.pos;
                let end = self.find_end_tag(start).unwrap_or(self.src.len());
                self.pos = end;
                if end > start {
                    Some(Token::Text(span(start, end)))
                } else {
                    Some(self.data())
                }
            }
        }
    }

    /// Where `</name` (followed by a space, `/` or `>`) starts, from `from` on.
    fn find_end_tag(&self, mut from: usize) -> Option<usize> {
        let name = &self.src[self.raw_end.range()];
        while let Some(at) = memchr::memmem::find(&self.src[from..], b"</") {
            let tag = from + at;
            let after = tag + 2 + name.len();
            if self.src.len() >= after
                && self.src[tag + 2..after].eq_ignore_ascii_case(name)
                && self
                    .src
                    .get(after)
                    .is_some_and(|&b| is_space(b) || b == b'/' || b == b'>')
            {
                return Some(tag);
            }
            from = tag + 2;
        }
        None
    }

    /// A token in markup: text up to the next tag, or the tag at `pos`.
    fn data(&mut self) -> Token {
        let start = self.pos;
        let mut scan = start;
        loop {
            let Some(at) = memchr::memchr(b'<', &self.src[scan..]) else {
                self.pos = self.src.len();
                return Token::Text(span(start, self.pos));
            };
            let lt = scan + at;
            if lt > start && self.starts_markup(lt) {
                self.pos = lt;
                return Token::Text(span(start, lt));
            }
            if lt == start
                && let Some(token) = self.markup(lt)
            {
                return token;
            }
            // A `<` that opens nothing is text.
            scan = lt + 1;
            if scan >= self.src.len() {
                self.pos = self.src.len();
                return Token::Text(span(start, self.pos));
            }
        }
    }

    /// Whether the `<` at `lt` opens a tag, comment or declaration.
    fn starts_markup(&self, lt: usize) -> bool {
        match self.src.get(lt + 1) {
            Some(b) if b.is_ascii_alphabetic() => true,
            Some(b'!' | b'?') => true,
            Some(b'/') => self.src.get(lt + 2).is_some(),
            _ => false,
        }
    }

    /// The markup token at `lt` (a `<`), consuming it; `None` when the `<` is text.
    fn markup(&mut self, lt: usize) -> Option<Token> {
        let src = self.src;
        match src.get(lt + 1).copied() {
            Some(b) if b.is_ascii_alphabetic() => Some(self.start_tag(lt)),
            Some(b'/') => match src.get(lt + 2).copied() {
                Some(b) if b.is_ascii_alphabetic() => Some(self.end_tag(lt)),
                Some(b'>') => {
                    self.pos = lt + 3;
                    Some(Token::Ignored)
                }
                Some(_) => Some(self.bogus_comment(lt + 2)),
                None => None,
            },
            Some(b'!') => {
                if src[lt + 2..].starts_with(b"--") {
                    Some(self.comment(lt + 4))
                } else {
                    let token = self.bogus_comment(lt + 2);
                    // Doctypes and CDATA sections keep no node.
                    Some(match token {
                        Token::Comment(s) if !self.is_declaration(s) => token,
                        _ => Token::Ignored,
                    })
                }
            }
            Some(b'?') => Some(self.bogus_comment(lt + 1)),
            _ => None,
        }
    }

    fn is_declaration(&self, s: Span) -> bool {
        let text = &self.src[s.range()];
        text.len() >= 7 && text[..7].eq_ignore_ascii_case(b"doctype")
            || text.starts_with(b"[CDATA[")
    }

    /// `<!--` ... `-->` with the comment's text starting at `from`.
    fn comment(&mut self, from: usize) -> Token {
        let src = self.src;
        // `<!-->` and `<!--->` are empty comments.
        for close in [&b">"[..], b"->"] {
            if src[from..].starts_with(close) {
                self.pos = from + close.len();
                return Token::Comment(span(from, from));
            }
        }
        // `-->` ends a comment, and so does `--!>`.
        let mut scan = from;
        let end = loop {
            match memchr::memmem::find(&src[scan..], b"--") {
                None => break None,
                Some(at) => {
                    let dashes = scan + at;
                    match &src[dashes + 2..] {
                        [b'>', ..] => break Some((dashes, dashes + 3)),
                        [b'!', b'>', ..] => break Some((dashes, dashes + 4)),
                        _ => scan = dashes + 1,
                    }
                }
            }
        };
        match end {
            Some((text_end, after)) => {
                self.pos = after;
                Token::Comment(span(from, text_end))
            }
            None => {
                self.pos = src.len();
                Token::Comment(span(from, src.len()))
            }
        }
    }

    /// Anything from `from` up to the next `>`, kept as a comment.
    fn bogus_comment(&mut self, from: usize) -> Token {
        let end = memchr::memchr(b'>', &self.src[from..]).map_or(self.src.len(), |at| from + at);
        self.pos = (end + 1).min(self.src.len());
        Token::Comment(span(from, end))
    }

    /// A tag name from `from`: up to a space, `/` or `>`.
    fn name(&self, from: usize) -> usize {
        self.src[from..]
            .iter()
            .position(|&b| is_space(b) || b == b'/' || b == b'>')
            .map_or(self.src.len(), |at| from + at)
    }

    fn end_tag(&mut self, lt: usize) -> Token {
        let end = self.name(lt + 2);
        let name = span(lt + 2, end);
        // Attributes on an end tag mean nothing; quoted `>` inside them still does not end it.
        self.attrs.clear();
        match self.attributes(end) {
            Some((after, _)) => {
                self.pos = after;
                Token::End { name }
            }
            None => {
                self.pos = self.src.len();
                Token::Ignored
            }
        }
    }

    fn start_tag(&mut self, lt: usize) -> Token {
        let end = self.name(lt + 1);
        let name = span(lt + 1, end);
        self.attrs.clear();
        match self.attributes(end) {
            Some((after, self_closing)) => {
                self.pos = after;
                Token::Start { name, self_closing }
            }
            // A tag cut off by the end of the document is dropped, as browsers do.
            None => {
                self.attrs.clear();
                self.pos = self.src.len();
                Token::Ignored
            }
        }
    }

    /// Attributes from `from` to the tag's `>`: where the tag ends and whether it was
    /// written self-closing. `None` when the document ends first.
    fn attributes(&mut self, mut at: usize) -> Option<(usize, bool)> {
        let src = self.src;
        loop {
            while at < src.len() && is_space(src[at]) {
                at += 1;
            }
            match src.get(at).copied()? {
                b'>' => return Some((at + 1, false)),
                b'/' => {
                    if src.get(at + 1) == Some(&b'>') {
                        return Some((at + 2, true));
                    }
                    at += 1;
                    continue;
                }
                _ => {}
            }
            // The first character may be `=`; after it, names stop at `=`.
            let name_start = at;
            at += 1;
            while at < src.len() && !is_space(src[at]) && !matches!(src[at], b'/' | b'>' | b'=') {
                at += 1;
            }
            let name = span(name_start, at);
            while at < src.len() && is_space(src[at]) {
                at += 1;
            }
            let mut value = Span::EMPTY;
            if src.get(at) == Some(&b'=') {
                at += 1;
                while at < src.len() && is_space(src[at]) {
                    at += 1;
                }
                match src.get(at).copied()? {
                    quote @ (b'"' | b'\'') => {
                        let close = memchr::memchr(quote, &src[at + 1..])?;
                        value = span(at + 1, at + 1 + close);
                        at += close + 2;
                    }
                    b'>' => {}
                    _ => {
                        let start = at;
                        while at < src.len() && !is_space(src[at]) && src[at] != b'>' {
                            at += 1;
                        }
                        value = span(start, at);
                    }
                }
            }
            self.attrs.push(RawAttr { name, value });
        }
    }
}
