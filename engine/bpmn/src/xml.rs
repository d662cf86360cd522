//! XML text to a small namespace-resolved element tree, with positions (the "parse" half).
//!
//! The tree keeps only what the lifter reads: resolved namespace, local name, attributes with
//! the offsets of their values, direct text with a map back to source offsets, and children.
//! Entity references are resolved here so that HTML entities (which ProcessMaker writes) can be
//! recovered with a warning, and DOCTYPEs are refused before anything could expand.
//!
//! Public so that `sluice-dmn` reads DMN files with the same reader, positions and diagnostics.

use std::borrow::Cow;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::report::Report;

/// Deeper nesting than this is refused: no real model comes close, and it bounds the work an
/// adversarial file can cause.
pub const MAX_DEPTH: usize = 256;

pub const NS_BPMN: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
pub const NS_SLUICE: &str = "urn:sluice:bpmn:1";
pub const NS_PM: &str = "http://processmaker.com/BPMN/2.0/Schema.xsd";
pub const NS_CAMUNDA: &str = "http://camunda.org/schema/1.0/bpmn";
pub const NS_ZEEBE: &str = "http://camunda.org/schema/zeebe/1.0";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The DMN model namespaces, 1.1 to 1.5 (matched by URI, as BPMN's).
pub const NS_DMN: [&str; 5] = [
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "https://www.omg.org/spec/DMN/20211108/MODEL/",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
];

/// The namespaces the importer understands; everything else is `Other` and opaque.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ns {
    None,
    Bpmn,
    Sluice,
    Pm,
    Camunda,
    Zeebe,
    Xsi,
    /// Any of [`NS_DMN`].
    Dmn,
    Other,
}

impl Ns {
    pub fn from_uri(uri: &str) -> Ns {
        match uri {
            NS_BPMN => Ns::Bpmn,
            NS_SLUICE => Ns::Sluice,
            NS_PM => Ns::Pm,
            NS_CAMUNDA => Ns::Camunda,
            NS_ZEEBE => Ns::Zeebe,
            NS_XSI => Ns::Xsi,
            _ if NS_DMN.contains(&uri) => Ns::Dmn,
            _ => Ns::Other,
        }
    }

    fn from_resolved(r: &ResolveResult<'_>) -> Ns {
        match r {
            ResolveResult::Bound(ns) => Ns::from_uri(ns.0),
            ResolveResult::Unbound => Ns::None,
            // An undeclared prefix: not a namespace we know, so opaque.
            ResolveResult::Unknown(_) => Ns::Other,
        }
    }
}

pub struct Attr<'a> {
    pub ns: Ns,
    pub local: &'a str,
    pub value: String,
    /// Byte offset of the value's first character.
    pub offset: usize,
}

pub struct Node<'a> {
    pub ns: Ns,
    pub local: &'a str,
    /// Byte offset of the `<` of the start tag.
    pub offset: usize,
    pub attrs: Vec<Attr<'a>>,
    pub children: Vec<usize>,
    /// Direct character data (text, CDATA, resolved references), concatenated.
    pub text: String,
    /// `(offset in text, offset in source)` at the start of each piece of `text`.
    text_map: Vec<(usize, usize)>,
}

impl<'a> Node<'a> {
    pub fn is(&self, ns: Ns, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// A plain (unprefixed) attribute; BPMN and DMN attributes carry no namespace.
    pub fn attr(&self, name: &str) -> Option<&Attr<'a>> {
        self.attrs.iter().find(|a| a.local == name && matches!(a.ns, Ns::None | Ns::Bpmn | Ns::Dmn))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.attr(name).map(|a| a.value.as_str())
    }

    /// A non-empty plain attribute, trimmed.
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn ext_attr(&self, ns: Ns, name: &str) -> Option<&Attr<'a>> {
        self.attrs.iter().find(|a| a.ns == ns && a.local == name)
    }

    pub fn ext(&self, ns: Ns, name: &str) -> Option<&str> {
        self.ext_attr(ns, name).map(|a| a.value.as_str())
    }

    /// The text with surrounding whitespace removed, and the offset of its start in `text`.
    pub fn trimmed_text(&self) -> (&str, usize) {
        let start = self.text.len() - self.text.trim_start().len();
        (self.text.trim(), start)
    }

    /// The source offset of a byte offset in `text`.
    pub fn text_source_offset(&self, at: usize) -> usize {
        let i = self.text_map.partition_point(|&(t, _)| t <= at);
        match i.checked_sub(1).and_then(|i| self.text_map.get(i)) {
            Some(&(t, s)) => s + (at - t),
            None => self.offset,
        }
    }
}

pub struct Doc<'a> {
    pub nodes: Vec<Node<'a>>,
    pub root: Option<usize>,
}

impl<'a> Doc<'a> {
    pub fn node(&self, i: usize) -> &Node<'a> {
        &self.nodes[i]
    }

    pub fn children(&self, i: usize) -> impl Iterator<Item = (usize, &Node<'a>)> + '_ {
        self.nodes[i].children.iter().map(move |&c| (c, &self.nodes[c]))
    }

    /// The first child in `ns` named `local`.
    pub fn child(&self, i: usize, ns: Ns, local: &str) -> Option<(usize, &Node<'a>)> {
        self.children(i).find(|(_, n)| n.is(ns, local))
    }
}

/// Offset of `part` inside `whole` when `part` is a slice of it.
fn offset_in(whole: &str, part: &str) -> Option<usize> {
    let off = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    (off <= whole.len()).then_some(off)
}

/// Parses `text` into a tree. Syntax errors are reported and end the parse; the nodes read so
/// far are kept, so callers must expect partial trees.
pub fn parse<'a>(text: &'a str, report: &mut Report<'_>) -> Option<Doc<'a>> {
    let mut reader = NsReader::from_str(text);
    let mut nodes: Vec<Node<'a>> = Vec::new();
    let mut root = None;
    let mut stack: Vec<usize> = Vec::new();
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(0);
        let (ns, event) = match reader.read_resolved_event() {
            Ok((r, e)) => (Ns::from_resolved(&r), e),
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(0);
                report.error(at, "xml-syntax", format!("malformed XML: {e}"), None);
                return None;
            }
        };
        match event {
            Event::Start(e) | Event::Empty(e) if stack.len() >= MAX_DEPTH => {
                let _ = e;
                report.error(
                    before,
                    "too-deeply-nested",
                    format!("elements are nested more than {MAX_DEPTH} deep; the rest of the file is not read"),
                    None,
                );
                return None;
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = e.local_name().into_inner();
                let local = offset_in(text, name).and_then(|o| text.get(o..o + name.len())).unwrap_or("");
                let offset = offset_in(text, e.name().into_inner()).map_or(before, |o| o.saturating_sub(1));
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = match a {
                        Ok(a) => a,
                        Err(err) => {
                            report.error(offset, "xml-syntax", format!("malformed attribute: {err}"), None);
                            return None;
                        }
                    };
                    let key = a.key.into_inner();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    let (res, local_name) = reader.resolver().resolve_attribute(a.key);
                    let ans = Ns::from_resolved(&res);
                    let lname = local_name.into_inner();
                    let lname = offset_in(text, lname).and_then(|o| text.get(o..o + lname.len())).unwrap_or("");
                    let voff = offset_in(text, &a.value).unwrap_or(offset);
                    let value = unescape(&a.value, voff, true, report);
                    attrs.push(Attr { ns: ans, local: lname, value, offset: voff });
                }
                let idx = nodes.len();
                nodes.push(Node {
                    ns,
                    local,
                    offset,
                    attrs,
                    children: Vec::new(),
                    text: String::new(),
                    text_map: Vec::new(),
                });
                match stack.last() {
                    Some(&p) => nodes[p].children.push(idx),
                    None if root.is_none() => root = Some(idx),
                    None => {
                        report.error(offset, "xml-syntax", "malformed XML: a second root element", None);
                        return None;
                    }
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(idx);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(t) => {
                if let Some(&top) = stack.last() {
                    let raw: &str = &t;
                    let off = offset_in(text, raw).unwrap_or(before);
                    push_text(&mut nodes[top], raw, off);
                }
            }
            Event::CData(c) => {
                if let Some(&top) = stack.last() {
                    let raw: Cow<'_, str> = c.into_inner();
                    let off = offset_in(text, &raw).unwrap_or(before);
                    push_text(&mut nodes[top], &raw, off);
                }
            }
            Event::GeneralRef(r) => {
                let name: &str = &r;
                let resolved = resolve_ref(name, before, report);
                if let Some(&top) = stack.last() {
                    push_text(&mut nodes[top], &resolved, before);
                }
            }
            Event::DocType(_) => {
                report.error(
                    before,
                    "doctype-not-allowed",
                    "a DOCTYPE (and with it entity declarations) is not allowed in BPMN files; remove it",
                    None,
                );
                return None;
            }
            Event::Eof => {
                if let Some(&open) = stack.last() {
                    let n = &nodes[open];
                    report.error(
                        text.len(),
                        "xml-syntax",
                        format!("malformed XML: the file ends before element `{}` is closed", n.local),
                        None,
                    );
                    return None;
                }
                break;
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    Some(Doc { nodes, root })
}

fn push_text(node: &mut Node<'_>, s: &str, src: usize) {
    node.text_map.push((node.text.len(), src));
    node.text.push_str(s);
}

/// Resolves `&name;` (given without `&` and `;`) found at `at`.
fn resolve_ref(name: &str, at: usize, report: &mut Report<'_>) -> Cow<'static, str> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x').or_else(|| num.strip_prefix('X')) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        return match code.and_then(char::from_u32).filter(|&c| c != '\0') {
            Some(c) => Cow::Owned(c.to_string()),
            None => {
                report.error(at, "xml-syntax", format!("malformed XML: `&{name};` is not a valid character"), None);
                Cow::Borrowed("")
            }
        };
    }
    match name {
        "lt" => return Cow::Borrowed("<"),
        "gt" => return Cow::Borrowed(">"),
        "amp" => return Cow::Borrowed("&"),
        "apos" => return Cow::Borrowed("'"),
        "quot" => return Cow::Borrowed("\""),
        _ => {}
    }
    match html_entity(name) {
        Some(c) => {
            let code = u32::from(c);
            report.warn(
                at,
                "html-entity",
                format!(
                    "`&{name};` is an HTML entity, not XML; read as U+{code:04X}. Write `&#{code};` to silence this"
                ),
                None,
            );
            Cow::Owned(c.to_string())
        }
        None => {
            report.error(
                at,
                "undefined-entity",
                format!("`&{name};` is not defined in XML; write the character itself or a character reference"),
                None,
            );
            Cow::Borrowed("")
        }
    }
}

/// Unescapes an attribute value (or other raw text) and, for attributes, applies the XML
/// whitespace normalisation (tab, CR, LF become spaces; CR LF becomes one space).
fn unescape(raw: &str, at: usize, attribute: bool, report: &mut Report<'_>) -> String {
    if !raw.contains(['&', '\t', '\r', '\n']) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    let mut pos = at;
    while let Some(i) = rest.find(['&', '\t', '\r', '\n']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        if c == b'&' {
            let after = &rest[i + 1..];
            match after
                .find(';')
                .filter(|&j| j > 0 && after[..j].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'#'))
            {
                Some(j) => {
                    out.push_str(&resolve_ref(&after[..j], pos + i, report));
                    pos += i + j + 2;
                    rest = &after[j + 1..];
                }
                None => {
                    report.error(pos + i, "xml-syntax", "malformed XML: a bare `&` must be written `&amp;`", None);
                    out.push('&');
                    pos += i + 1;
                    rest = after;
                }
            }
        } else {
            let skip = if c == b'\r' && rest.as_bytes().get(i + 1) == Some(&b'\n') { 2 } else { 1 };
            if attribute {
                out.push(' ');
            } else {
                out.push_str(&rest[i..i + skip]);
            }
            pos += i + skip;
            rest = &rest[i + skip..];
        }
    }
    out.push_str(rest);
    out
}

/// The HTML named entities people paste into models, with their characters.
fn html_entity(name: &str) -> Option<char> {
    // Latin-1 supplement, U+00A0..=U+00FF, in code point order.
    const LATIN1: [&str; 96] = [
        "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf", "laquo", "not",
        "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot", "cedil", "sup1",
        "ordm", "raquo", "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc", "Atilde", "Auml",
        "Aring", "AElig", "Ccedil", "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH",
        "Ntilde", "Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc",
        "Uuml", "Yacute", "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
        "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde", "ograve", "oacute",
        "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
    ];
    const OTHERS: [(&str, char); 35] = [
        ("OElig", '\u{152}'),
        ("oelig", '\u{153}'),
        ("Scaron", '\u{160}'),
        ("scaron", '\u{161}'),
        ("Yuml", '\u{178}'),
        ("fnof", '\u{192}'),
        ("circ", '\u{2C6}'),
        ("tilde", '\u{2DC}'),
        ("ensp", '\u{2002}'),
        ("emsp", '\u{2003}'),
        ("thinsp", '\u{2009}'),
        ("zwnj", '\u{200C}'),
        ("zwj", '\u{200D}'),
        ("ndash", '\u{2013}'),
        ("mdash", '\u{2014}'),
        ("lsquo", '\u{2018}'),
        ("rsquo", '\u{2019}'),
        ("sbquo", '\u{201A}'),
        ("ldquo", '\u{201C}'),
        ("rdquo", '\u{201D}'),
        ("bdquo", '\u{201E}'),
        ("dagger", '\u{2020}'),
        ("Dagger", '\u{2021}'),
        ("bull", '\u{2022}'),
        ("hellip", '\u{2026}'),
        ("permil", '\u{2030}'),
        ("lsaquo", '\u{2039}'),
        ("rsaquo", '\u{203A}'),
        ("euro", '\u{20AC}'),
        ("trade", '\u{2122}'),
        ("larr", '\u{2190}'),
        ("rarr", '\u{2192}'),
        ("minus", '\u{2212}'),
        ("le", '\u{2264}'),
        ("ge", '\u{2265}'),
    ];
    if let Some(i) = LATIN1.iter().position(|&n| n == name) {
        return char::from_u32(0xA0 + u32::try_from(i).ok()?);
    }
    OTHERS.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_table() {
        assert_eq!(html_entity("nbsp"), Some('\u{A0}'));
        assert_eq!(html_entity("eacute"), Some('é'));
        assert_eq!(html_entity("yuml"), Some('ÿ'));
        assert_eq!(html_entity("hellip"), Some('…'));
        assert_eq!(html_entity("bogus"), None);
    }
}
