//! The text of a deployed file, for the store's `xml` column (shown by the API). The worker
//! imports from the original bytes; this only has to agree with the importer on the encodings it
//! reads: UTF-8 (with or without BOM), US-ASCII, ISO-8859-1 and windows-1252.

/// windows-1252 differs from Latin-1 only in 0x80..=0x9F; the five undefined bytes map to the
/// C1 control of the same value (as the WHATWG encoding standard and the importer do).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
    '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
    '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
    '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// Decodes a file as its BOM or XML declaration says; `None` when that is not possible (the
/// bytes are not what the declaration claims, or the encoding is not one of the four).
pub(crate) fn decode(bytes: &[u8]) -> Option<String> {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return std::str::from_utf8(rest).ok().map(str::to_owned);
    }
    let declared = declared_encoding(bytes).map(|e| e.to_ascii_lowercase());
    match declared.as_deref() {
        None | Some("utf-8" | "utf8" | "us-ascii" | "ascii" | "iso-646" | "iso646-us") => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        Some("iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "iso-ir-100" | "cp819") => {
            Some(bytes.iter().map(|&b| char::from(b)).collect())
        }
        Some("windows-1252" | "cp1252" | "x-cp1252" | "cp-1252") => Some(
            bytes
                .iter()
                .map(|&b| match b {
                    0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                    _ => char::from(b),
                })
                .collect(),
        ),
        Some(_) => None,
    }
}

/// The `encoding` pseudo-attribute of a leading `<?xml …?>`, read as ASCII.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(b"<?xml") {
        return None;
    }
    let end = bytes.windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(bytes.get(..end)?).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    let close = value.find(quote)?;
    Some(value[..close].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_encodings_are_honoured() {
        assert_eq!(decode(b"<a>\xC3\xA9</a>").as_deref(), Some("<a>\u{e9}</a>"));
        assert_eq!(decode(b"\xEF\xBB\xBF<a/>").as_deref(), Some("<a/>"));
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xC3\xA9</a>";
        assert_eq!(
            decode(latin).as_deref(),
            Some("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\u{c3}\u{a9}</a>")
        );
        let cp = b"<?xml version='1.0' encoding='windows-1252'?><a>\x80\xE9</a>";
        assert_eq!(decode(cp).as_deref(), Some("<?xml version='1.0' encoding='windows-1252'?><a>\u{20ac}\u{e9}</a>"));
        assert_eq!(decode(b"<a>\xE9</a>"), None, "undeclared Latin-1 is not UTF-8");
        assert_eq!(decode(b"<?xml version='1.0' encoding='koi8-r'?><a/>"), None);
    }
}
