//! The HTML element names the tree builder treats specially, and the categories of the
//! WHATWG parsing rules they fall in (void, raw text, "special", scope boundaries...).

macro_rules! tags {
    ($($tag:ident = $name:literal,)*) => {
        /// A known element name; `Other` for every name the tree builder has no rule for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Tag {
            $($tag,)*
            Other,
        }

        impl Tag {
            /// The tag named `name` (any case).
            pub(crate) fn from_name(name: &[u8]) -> Tag {
                let mut lower = [0u8; 12];
                if name.len() > lower.len() {
                    return Tag::Other;
                }
                for (l, b) in lower.iter_mut().zip(name) {
                    *l = b.to_ascii_lowercase();
                }
                match &lower[..name.len()] {
                    $($name => Tag::$tag,)*
                    _ => Tag::Other,
                }
            }

            /// The lower-case name; empty for `Other`.
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    // The literals are ASCII.
                    $(Tag::$tag => match std::str::from_utf8($name) { Ok(s) => s, Err(_) => "" },)*
                    Tag::Other => "",
                }
            }
        }
    };
}

tags! {
    A = b"a", Address = b"address", Applet = b"applet", Area = b"area", Article = b"article",
    Aside = b"aside", B = b"b", Base = b"base", Basefont = b"basefont", Bgsound = b"bgsound",
    Big = b"big", Blockquote = b"blockquote", Body = b"body", Br = b"br", Button = b"button",
    Caption = b"caption", Center = b"center", Code = b"code", Col = b"col",
    Colgroup = b"colgroup", Dd = b"dd", Details = b"details", Dialog = b"dialog", Dir = b"dir",
    Div = b"div", Dl = b"dl", Dt = b"dt", Em = b"em", Embed = b"embed", Fieldset = b"fieldset",
    Figcaption = b"figcaption", Figure = b"figure", Font = b"font", Footer = b"footer",
    Form = b"form", Frame = b"frame", Frameset = b"frameset", H1 = b"h1", H2 = b"h2",
    H3 = b"h3", H4 = b"h4", H5 = b"h5", H6 = b"h6", Head = b"head", Header = b"header",
    Hgroup = b"hgroup", Hr = b"hr", Html = b"html", I = b"i", Iframe = b"iframe",
    Image = b"image", Img = b"img", Input = b"input", Keygen = b"keygen", Li = b"li",
    Link = b"link", Listing = b"listing", Main = b"main", Marquee = b"marquee", Math = b"math",
    Menu = b"menu", Meta = b"meta", Nav = b"nav", Nobr = b"nobr", Noembed = b"noembed",
    Noframes = b"noframes", Noscript = b"noscript", Object = b"object", Ol = b"ol",
    Optgroup = b"optgroup", Option = b"option", P = b"p", Param = b"param",
    Plaintext = b"plaintext", Pre = b"pre", Rb = b"rb", Rp = b"rp", Rt = b"rt", Rtc = b"rtc",
    S = b"s", Script = b"script", Search = b"search", Section = b"section", Select = b"select",
    Small = b"small", Source = b"source", Strike = b"strike", Strong = b"strong",
    Style = b"style", Summary = b"summary", Svg = b"svg", Table = b"table", Tbody = b"tbody",
    Td = b"td", Template = b"template", Textarea = b"textarea", Tfoot = b"tfoot", Th = b"th",
    Thead = b"thead", Title = b"title", Tr = b"tr", Track = b"track", Tt = b"tt", U = b"u",
    Ul = b"ul", Wbr = b"wbr", Xmp = b"xmp",
}

use Tag::*;

impl Tag {
    /// Elements that never have content (`<br>`).
    pub(crate) fn is_void(self) -> bool {
        matches!(
            self,
            Area | Base
                | Basefont
                | Bgsound
                | Br
                | Col
                | Embed
                | Frame
                | Hr
                | Img
                | Input
                | Keygen
                | Link
                | Meta
                | Param
                | Source
                | Track
                | Wbr
        )
    }

    /// Elements whose content is text up to their end tag, not markup. `Some(true)` when
    /// character references in it are decoded (`title`, `textarea`).
    pub(crate) fn raw_text(self) -> std::option::Option<bool> {
        match self {
            Script | Style | Xmp | Iframe | Noembed | Noframes | Noscript => Some(false),
            Title | Textarea => Some(true),
            _ => None,
        }
    }

    /// Elements that belong in `<head>` when they come before the body.
    pub(crate) fn is_head_content(self) -> bool {
        matches!(
            self,
            Base | Basefont
                | Bgsound
                | Link
                | Meta
                | Noframes
                | Noscript
                | Script
                | Style
                | Template
                | Title
        )
    }

    /// Start tags that close an open `<p>` first.
    pub(crate) fn closes_p(self) -> bool {
        matches!(
            self,
            Address
                | Article
                | Aside
                | Blockquote
                | Center
                | Details
                | Dialog
                | Dir
                | Div
                | Dl
                | Fieldset
                | Figcaption
                | Figure
                | Footer
                | Header
                | Hgroup
                | Main
                | Menu
                | Nav
                | Ol
                | P
                | Search
                | Section
                | Summary
                | Ul
                | H1
                | H2
                | H3
                | H4
                | H5
                | H6
                | Pre
                | Listing
                | Form
                | Table
                | Hr
                | Xmp
                | Plaintext
                | Dd
                | Dt
                | Li
        )
    }

    pub(crate) fn is_heading(self) -> bool {
        matches!(self, H1 | H2 | H3 | H4 | H5 | H6)
    }

    /// The parser's "special" category: an end tag never closes past one of these unless it
    /// names it.
    pub(crate) fn is_special(self) -> bool {
        matches!(
            self,
            Address
                | Applet
                | Area
                | Article
                | Aside
                | Base
                | Basefont
                | Bgsound
                | Blockquote
                | Body
                | Br
                | Button
                | Caption
                | Center
                | Col
                | Colgroup
                | Dd
                | Details
                | Dir
                | Div
                | Dl
                | Dt
                | Embed
                | Fieldset
                | Figcaption
                | Figure
                | Footer
                | Form
                | Frame
                | Frameset
                | H1
                | H2
                | H3
                | H4
                | H5
                | H6
                | Head
                | Header
                | Hgroup
                | Hr
                | Html
                | Iframe
                | Img
                | Input
                | Keygen
                | Li
                | Link
                | Listing
                | Main
                | Marquee
                | Menu
                | Meta
                | Nav
                | Noembed
                | Noframes
                | Noscript
                | Object
                | Ol
                | P
                | Param
                | Plaintext
                | Pre
                | Script
                | Search
                | Section
                | Select
                | Source
                | Style
                | Summary
                | Table
                | Tbody
                | Td
                | Template
                | Textarea
                | Tfoot
                | Th
                | Thead
                | Title
                | Tr
                | Track
                | Ul
                | Wbr
                | Xmp
        )
    }

    /// Elements that bound "has an element in scope".
    pub(crate) fn bounds_scope(self) -> bool {
        matches!(
            self,
            Applet | Caption | Html | Table | Td | Th | Marquee | Object | Template
        )
    }

    /// Formatting elements: tracked in the list of active formatting elements, reopened
    /// when misnested (the adoption agency).
    pub(crate) fn is_formatting(self) -> bool {
        matches!(
            self,
            A | B | Big | Code | Em | Font | I | Nobr | S | Small | Strike | Strong | Tt | U
        )
    }

    /// Start tags before which, in body, the active formatting elements are reconstructed
    /// (every name the standard has no other rule for does too).
    pub(crate) fn reconstructs(self) -> bool {
        self.is_formatting()
            || matches!(
                self,
                Applet
                    | Marquee
                    | Object
                    | Area
                    | Br
                    | Embed
                    | Img
                    | Image
                    | Keygen
                    | Wbr
                    | Input
                    | Button
                    | Xmp
                    | Select
                    | Option
                    | Optgroup
                    | Math
                    | Svg
                    | Other
            )
    }

    /// Start tags whose rules the fast builder does not implement: a page with one is built
    /// by html5ever. Captions and column groups, templates, foreign content, framesets, scope
    /// markers, ruby, and the elements that rename or re-tokenize (`image`, `nobr`). A
    /// `select` holding only options, option groups and text is built here.
    pub(crate) fn needs_full_parser(self) -> bool {
        matches!(
            self,
            Caption
                | Colgroup
                | Col
                | Template
                | Svg
                | Math
                | Frameset
                | Frame
                | Applet
                | Marquee
                | Object
                | Rb
                | Rp
                | Rt
                | Rtc
                | Image
                | Nobr
                | Keygen
        )
    }

    /// End tags that close the element if it is in scope, and are ignored otherwise.
    pub(crate) fn ends_in_scope(self) -> bool {
        matches!(
            self,
            Address
                | Article
                | Aside
                | Blockquote
                | Button
                | Center
                | Details
                | Dialog
                | Dir
                | Div
                | Dl
                | Fieldset
                | Figcaption
                | Figure
                | Footer
                | Header
                | Hgroup
                | Listing
                | Main
                | Menu
                | Nav
                | Ol
                | Pre
                | Search
                | Section
                | Summary
                | Ul
                | Dd
                | Dt
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Tag;

    #[test]
    fn names_map_both_ways_in_any_case() {
        assert_eq!(Tag::from_name(b"DiV"), Tag::Div);
        assert_eq!(Tag::from_name(b"figcaption"), Tag::Figcaption);
        assert_eq!(Tag::from_name(b"custom-element"), Tag::Other);
        assert_eq!(Tag::from_name(b"span"), Tag::Other);
        assert_eq!(Tag::Blockquote.as_str(), "blockquote");
        assert_eq!(Tag::Other.as_str(), "");
    }
}
