//! CSS selectors over a [`Dom`]: the `selectors` crate (Servo's matching engine) parses and
//! matches; this file tells it what an element of our tree is.

use std::borrow::Borrow;
use std::fmt;

use cssparser::ToCss;
use precomputed_hash::PrecomputedHash;
use selectors::attr::{AttrSelectorOperation, CaseSensitivity, NamespaceConstraint};
use selectors::bloom::BloomFilter;
use selectors::matching::{self, ElementSelectorFlags, MatchingContext};
use selectors::parser::{self, ParseRelative, SelectorParseErrorKind};
use selectors::{Element, OpaqueElement};

use super::meter::{Exceeded, Meter};
use super::{Data, Dom, NONE, NodeId};

/// A parsed, comma-separated selector list.
pub type SelectorList = parser::SelectorList<Css>;

/// Parses `css`, or says what is wrong with it.
pub fn parse_selector(css: &str) -> Result<SelectorList, String> {
    let mut parser = cssparser::Parser::new(css);
    SelectorList::parse(&CssParser, &mut parser, ParseRelative::No).map_err(|e| match e.kind {
        cssparser::ParseErrorKind::Basic(basic) => basic.to_string(),
        cssparser::ParseErrorKind::Custom(custom) => format!("{custom:?}"),
    })
}

impl Dom {
    /// Up to `limit` elements under `scope` (the whole document when `None`) that match
    /// `list`, in document order. As in `querySelectorAll`, the rest of a selector may match
    /// outside the scope (`.a .b` under a `.b`'s parent finds it when an ancestor is `.a`).
    /// Every step of the walk and of matching ticks `meter`; when it stops the work, so
    /// does the search, with the reason.
    pub fn select(
        &self,
        scope: Option<NodeId>,
        list: &SelectorList,
        limit: usize,
        meter: &Meter<'_>,
    ) -> Result<Vec<NodeId>, Exceeded> {
        let mut found = Vec::new();
        let root = scope.unwrap_or(Dom::ROOT);
        if limit == 0 || root as usize >= self.nodes.len() {
            return Ok(found);
        }
        let mut caches = matching::SelectorCaches::default();
        let mut context = MatchingContext::new(
            matching::MatchingMode::Normal,
            None,
            &mut caches,
            matching::QuirksMode::NoQuirks,
            matching::NeedsSelectorFlags::No,
            matching::MatchingForInvalidation::No,
        );
        context.scope_element = scope.map(|id| {
            El {
                dom: self,
                id,
                meter,
            }
            .opaque()
        });
        // Pre-order walk of `root`'s descendants by sibling links.
        let mut at = self.node(root).first_child;
        while at != NONE && meter.tick() {
            if self.is_element(at) {
                let el = El {
                    dom: self,
                    id: at,
                    meter,
                };
                if list
                    .slice()
                    .iter()
                    .any(|s| matching::matches_selector(s, 0, None, &el, &mut context))
                {
                    found.push(at);
                    if found.len() >= limit {
                        break;
                    }
                }
            }
            at = self.next_in_walk(at, root);
        }
        meter.result(found)
    }

    /// The node after `at` in a pre-order walk that stays inside `root`.
    fn next_in_walk(&self, at: NodeId, root: NodeId) -> NodeId {
        let node = self.node(at);
        // Template contents (a fragment under the template) are not in the document.
        if node.first_child != NONE && !matches!(node.data, Data::Document) {
            return node.first_child;
        }
        let mut up = at;
        while up != root {
            let n = self.node(up);
            if n.next != NONE {
                return n.next;
            }
            up = n.parent;
        }
        NONE
    }

    fn element_sibling(&self, mut at: NodeId, forward: bool, meter: &Meter<'_>) -> Option<NodeId> {
        loop {
            if !meter.tick() {
                return None;
            }
            let n = self.node(at);
            at = if forward { n.next } else { n.prev };
            if at == NONE {
                return None;
            }
            if self.is_element(at) {
                return Some(at);
            }
        }
    }
}

/// An element of a [`Dom`], as the matching engine sees it.
#[derive(Clone, Copy)]
struct El<'a> {
    dom: &'a Dom,
    id: NodeId,
    /// Ticked by every step the matching engine takes through the tree; once it has
    /// blown, the tree looks empty, so a match under way ends at once.
    meter: &'a Meter<'a>,
}

impl fmt::Debug for El<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}> #{}", self.dom.name(self.id), self.id)
    }
}

impl<'a> El<'a> {
    fn at(self, id: NodeId) -> El<'a> {
        El {
            dom: self.dom,
            id,
            meter: self.meter,
        }
    }

    /// Charges a scan of this element's attributes; `false` once the work must stop.
    fn charge_attrs(&self) -> bool {
        let (start, end) = self.element().attrs;
        self.meter.charge(u64::from(end.saturating_sub(start)))
    }

    fn element(&self) -> &'a super::Element {
        match &self.dom.node(self.id).data {
            Data::Element(e) => e,
            // `El`s are only made for element nodes.
            _ => unreachable!("El over a non-element node"),
        }
    }
}

const HTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

impl Element for El<'_> {
    type Impl = Css;

    fn opaque(&self) -> OpaqueElement {
        OpaqueElement::new(self.dom.node(self.id))
    }

    fn parent_element(&self) -> Option<Self> {
        if !self.meter.tick() {
            return None;
        }
        let parent = self.dom.node(self.id).parent;
        self.dom.is_element(parent).then(|| self.at(parent))
    }

    fn parent_node_is_shadow_root(&self) -> bool {
        false
    }

    fn containing_shadow_host(&self) -> Option<Self> {
        None
    }

    fn is_pseudo_element(&self) -> bool {
        false
    }

    fn prev_sibling_element(&self) -> Option<Self> {
        self.dom
            .element_sibling(self.id, false, self.meter)
            .map(|id| self.at(id))
    }

    fn next_sibling_element(&self) -> Option<Self> {
        self.dom
            .element_sibling(self.id, true, self.meter)
            .map(|id| self.at(id))
    }

    fn first_element_child(&self) -> Option<Self> {
        self.dom
            .children(self.id)
            .take_while(|_| self.meter.tick())
            .find(|&c| self.dom.is_element(c))
            .map(|id| self.at(id))
    }

    fn is_html_element_in_html_document(&self) -> bool {
        true
    }

    fn has_local_name(&self, local_name: &str) -> bool {
        self.dom.has_name(self.element(), local_name)
    }

    fn has_namespace(&self, ns: &str) -> bool {
        ns == HTML_NAMESPACE
    }

    fn is_same_type(&self, other: &Self) -> bool {
        self.dom.name(self.id) == other.dom.name(other.id)
    }

    fn attr_matches(
        &self,
        ns: &NamespaceConstraint<&CssName>,
        local_name: &CssName,
        operation: &AttrSelectorOperation<&CssString>,
    ) -> bool {
        if let NamespaceConstraint::Specific(url) = ns
            && !url.0.is_empty()
        {
            return false;
        }
        if !self.charge_attrs() {
            return false;
        }
        // The engine passes HTML attribute names in lower case.
        self.dom
            .decoded_attr(self.id, &local_name.0)
            .is_some_and(|value| operation.eval_str(&value))
    }

    fn match_non_ts_pseudo_class(
        &self,
        pc: &NonTsPseudoClass,
        _context: &mut MatchingContext<'_, Css>,
    ) -> bool {
        match *pc {}
    }

    fn match_pseudo_element(
        &self,
        pe: &PseudoElement,
        _context: &mut MatchingContext<'_, Css>,
    ) -> bool {
        match *pe {}
    }

    fn apply_selector_flags(&self, _flags: ElementSelectorFlags) {}

    fn is_link(&self) -> bool {
        matches!(&*self.dom.name(self.id), "a" | "area" | "link")
            && self.dom.raw_attr(self.id, "href").is_some()
    }

    fn is_html_slot_element(&self) -> bool {
        false
    }

    fn has_id(&self, id: &CssName, case_sensitivity: CaseSensitivity) -> bool {
        self.charge_attrs()
            && self
                .dom
                .decoded_attr(self.id, "id")
                .is_some_and(|value| case_sensitivity.eq(id.0.as_bytes(), value.as_bytes()))
    }

    fn has_class(&self, name: &CssName, case_sensitivity: CaseSensitivity) -> bool {
        self.charge_attrs()
            && self
                .dom
                .decoded_attr(self.id, "class")
                .is_some_and(|classes| {
                    classes
                        .split(|c: char| c.is_ascii_whitespace())
                        .any(|class| case_sensitivity.eq(class.as_bytes(), name.0.as_bytes()))
                })
    }

    fn has_custom_state(&self, _name: &CssName) -> bool {
        false
    }

    fn imported_part(&self, _name: &CssName) -> Option<CssName> {
        None
    }

    fn is_part(&self, _name: &CssName) -> bool {
        false
    }

    fn is_empty(&self) -> bool {
        !self
            .dom
            .children(self.id)
            .take_while(|_| self.meter.tick())
            .any(|c| matches!(self.dom.node(c).data, Data::Element(_) | Data::Text(_)))
    }

    fn is_root(&self) -> bool {
        self.dom.node(self.id).parent == Dom::ROOT
    }

    fn add_element_unique_hashes(&self, _filter: &mut BloomFilter) -> bool {
        false
    }
}

/// The selector vocabulary: plain strings, no pseudo-classes beyond the structural ones the
/// engine knows (`:nth-child`, `:not`, `:has`, `:is`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Css;

impl parser::SelectorImpl for Css {
    type ExtraMatchingData<'a> = ();
    type AttrValue = CssString;
    type Identifier = CssName;
    type LocalName = CssName;
    type NamespaceUrl = CssName;
    type NamespacePrefix = CssName;
    type BorrowedNamespaceUrl = str;
    type BorrowedLocalName = str;
    type NonTSPseudoClass = NonTsPseudoClass;
    type PseudoElement = PseudoElement;
}

struct CssParser;

impl<'i> parser::Parser<'i> for CssParser {
    type Impl = Css;
    type Error = SelectorParseErrorKind;

    fn parse_is_and_where(&self) -> bool {
        true
    }

    fn parse_has(&self) -> bool {
        true
    }
}

/// A quoted value in a selector (`[href$=".pdf"]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CssString(String);

impl From<&str> for CssString {
    fn from(s: &str) -> CssString {
        CssString(s.to_owned())
    }
}

impl AsRef<str> for CssString {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl ToCss for CssString {
    fn to_css<W: fmt::Write>(&self, dest: &mut W) -> fmt::Result {
        cssparser::serialize_string(&self.0, dest)
    }
}

/// A name in a selector: element, class, id, attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CssName(String);

impl From<&str> for CssName {
    fn from(s: &str) -> CssName {
        CssName(s.to_owned())
    }
}

impl Borrow<str> for CssName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl ToCss for CssName {
    fn to_css<W: fmt::Write>(&self, dest: &mut W) -> fmt::Result {
        cssparser::serialize_identifier(&self.0, dest)
    }
}

impl PrecomputedHash for CssName {
    fn precomputed_hash(&self) -> u32 {
        // FNV-1a: only the engine's Bloom filters use it, and this file adds nothing to them.
        self.0.bytes().fold(0x811c_9dc5, |h: u32, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonTsPseudoClass {}

impl parser::NonTSPseudoClass for NonTsPseudoClass {
    fn is_active_or_hover(&self) -> bool {
        match *self {}
    }

    fn is_user_action_state(&self) -> bool {
        match *self {}
    }
}

impl ToCss for NonTsPseudoClass {
    fn to_css<W: fmt::Write>(&self, _dest: &mut W) -> fmt::Result {
        match *self {}
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PseudoElement {}

impl parser::PseudoElement for PseudoElement {}

impl ToCss for PseudoElement {
    fn to_css<W: fmt::Write>(&self, _dest: &mut W) -> fmt::Result {
        match *self {}
    }
}
