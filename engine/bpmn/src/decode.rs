//! Bytes to text: the encodings BPMN files really use, and byte offsets to line/column.
//!
//! Decoding happens before XML parsing so the parser and every position work on one `str`.
//! Only encodings that are trivially mapped are supported (UTF-8, US-ASCII, ISO-8859-1,
//! windows-1252); anything else is refused with a clear diagnostic rather than misread.

use crate::model::Pos;

/// The outcome of decoding one file.
pub(crate) struct Decoded {
    pub text: String,
    /// A problem found while decoding: (code, message, byte offset in `text`).
    pub problem: Option<(&'static str, String, usize)>,
    /// True when the text cannot be parsed at all (unsupported encoding).
    pub fatal: bool,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Encoding {
    Utf8,
    Ascii,
    Latin1,
    Windows1252,
}

/// windows-1252 differs from Latin-1 only in 0x80..=0x9F. The five undefined bytes map to the
/// C1 control of the same value, as the WHATWG encoding standard does.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
    '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
    '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
    '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// The text of a BPMN file exactly as the importer reads it (BOM, declared encoding), or `None`
/// when its bytes cannot be decoded faithfully (not what the declaration claims, or an encoding
/// Sluice does not read). The store keeps this text beside the original bytes.
pub fn decode_text(bytes: &[u8]) -> Option<String> {
    let d = decode(bytes);
    (d.problem.is_none() && !d.fatal).then_some(d.text)
}

/// Decodes a file's bytes, honouring a BOM and the XML declaration's `encoding`.
pub(crate) fn decode(bytes: &[u8]) -> Decoded {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return decode_utf8(rest);
    }
    let utf16 = bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF])
        || bytes.starts_with(&[0x00, b'<'])
        || bytes.starts_with(&[b'<', 0x00]);
    if utf16 {
        return unsupported("UTF-16");
    }
    let encoding = match declared_encoding(bytes) {
        None => Encoding::Utf8,
        Some(name) => match name.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Encoding::Utf8,
            "us-ascii" | "ascii" | "iso-646" | "iso646-us" => Encoding::Ascii,
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "iso-ir-100" | "cp819" => {
                Encoding::Latin1
            }
            "windows-1252" | "cp1252" | "x-cp1252" | "cp-1252" => Encoding::Windows1252,
            _ => return unsupported(&name),
        },
    };
    match encoding {
        Encoding::Utf8 => decode_utf8(bytes),
        Encoding::Ascii => match bytes.iter().position(|b| !b.is_ascii()) {
            None => decode_utf8(bytes),
            Some(bad) => {
                // Read the rest as Latin-1 so the file can still be checked.
                let text: String = bytes.iter().map(|&b| char::from(b)).collect();
                let offset = text.char_indices().nth(bad).map_or(text.len(), |(i, _)| i);
                Decoded {
                    problem: Some((
                        "invalid-encoding",
                        format!("byte 0x{:02X} is not US-ASCII, as the XML declaration says the file is", bytes[bad]),
                        offset,
                    )),
                    text,
                    fatal: false,
                }
            }
        },
        Encoding::Latin1 => {
            Decoded { text: bytes.iter().map(|&b| char::from(b)).collect(), problem: None, fatal: false }
        }
        Encoding::Windows1252 => Decoded {
            text: bytes
                .iter()
                .map(|&b| match b {
                    0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                    _ => char::from(b),
                })
                .collect(),
            problem: None,
            fatal: false,
        },
    }
}

fn unsupported(name: &str) -> Decoded {
    Decoded {
        text: String::new(),
        problem: Some((
            "unsupported-encoding",
            format!("encoding `{name}` is not supported; save the file as UTF-8"),
            0,
        )),
        fatal: true,
    }
}

fn decode_utf8(bytes: &[u8]) -> Decoded {
    match std::str::from_utf8(bytes) {
        Ok(s) => Decoded { text: s.to_owned(), problem: None, fatal: false },
        Err(e) => {
            let good = e.valid_up_to();
            let bad = bytes.get(good).copied().unwrap_or(0);
            let more = String::from_utf8_lossy(bytes.get(good..).unwrap_or_default())
                .chars()
                .filter(|&c| c == char::REPLACEMENT_CHARACTER)
                .count()
                .saturating_sub(1);
            let hint = if (0x80..=0xFF).contains(&bad) && bytes.get(good + 1).is_none_or(|b| b.is_ascii()) {
                " (it looks like Latin-1: declare `encoding=\"ISO-8859-1\"` or save the file as UTF-8)"
            } else {
                ""
            };
            let also = if more > 0 { format!("; {more} more invalid sequence(s) follow") } else { String::new() };
            // Keep going with the bad bytes replaced, so the rest of the file is still checked.
            Decoded {
                text: String::from_utf8_lossy(bytes).into_owned(),
                problem: Some((
                    "invalid-encoding",
                    format!("byte 0x{bad:02X} is not valid UTF-8, which the file declares{hint}{also}"),
                    good,
                )),
                fatal: false,
            }
        }
    }
}

/// The `encoding` pseudo-attribute of a leading `<?xml ...?>`, read as ASCII.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    if !bytes.starts_with(b"<?xml") {
        return None;
    }
    let end = bytes.windows(2).take(1024).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&bytes[..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..].trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    let close = rest.find(quote)?;
    Some(rest[..close].trim().to_owned())
}

/// Maps byte offsets of a text to 1-based line and column (columns count characters).
///
/// A column costs at most [`MARK_EVERY`] bytes of counting, however long its line: a model
/// written on one line (as some tools save them) would otherwise cost a count from the line's
/// start for every element, quadratic in the file's size.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
    /// `(byte offset, characters before it)` at char boundaries about every [`MARK_EVERY`] bytes;
    /// empty when the text is ASCII (a column is then a byte difference).
    marks: Vec<(usize, usize)>,
}

/// How far apart [`LineIndex`]'s character-count marks are, in bytes.
const MARK_EVERY: usize = 1024;

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        let b = text.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            // A lone CR ends a line too (XML normalises it to LF); CR LF counts once.
            if c == b'\n' || (c == b'\r' && b.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        let mut marks = Vec::new();
        if !text.is_ascii() {
            let (mut at, mut chars) = (0, 0);
            marks.push((0, 0));
            while at < text.len() {
                let mut next = (at + MARK_EVERY).min(text.len());
                while !text.is_char_boundary(next) {
                    next += 1;
                }
                chars += text[at..next].chars().count();
                at = next;
                marks.push((at, chars));
            }
        }
        Self { starts, marks }
    }

    /// How many characters come before byte `offset` (a char boundary).
    fn chars_before(&self, text: &str, offset: usize) -> usize {
        if self.marks.is_empty() {
            return offset;
        }
        let i = self.marks.partition_point(|&(at, _)| at <= offset).max(1);
        let (at, chars) = self.marks[i - 1];
        chars + text.get(at..offset).map_or(0, |s| s.chars().count())
    }

    pub fn pos(&self, text: &str, offset: usize) -> Pos {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self.chars_before(text, offset) - self.chars_before(text, start) + 1;
        Pos { line: u32::try_from(line).unwrap_or(u32::MAX), column: u32::try_from(column).unwrap_or(u32::MAX) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index() {
        let t = "ab\r\ncé\rx\ny";
        let ix = LineIndex::new(t);
        assert_eq!(ix.pos(t, 0), Pos { line: 1, column: 1 });
        assert_eq!(ix.pos(t, 4), Pos { line: 2, column: 1 });
        assert_eq!(ix.pos(t, 7), Pos { line: 2, column: 3 });
        assert_eq!(ix.pos(t, 8), Pos { line: 3, column: 1 });
        assert_eq!(ix.pos(t, 10), Pos { line: 4, column: 1 });
    }

    #[test]
    fn columns_on_a_long_line_count_characters() {
        // Several marks' worth of one line, with multi-byte characters before the positions.
        let t = format!("x\n{}é<a/>{}ü<b/>", "é".repeat(3000), "a".repeat(5000));
        let ix = LineIndex::new(&t);
        let a = t.find("<a/>").expect("the text has <a/>");
        assert_eq!(ix.pos(&t, a), Pos { line: 2, column: 3002 });
        let b = t.find("<b/>").expect("the text has <b/>");
        assert_eq!(ix.pos(&t, b), Pos { line: 2, column: 3002 + 4 + 5000 + 1 });
        // Every offset agrees with counting from the line's start.
        for off in (2..t.len()).filter(|&o| t.is_char_boundary(o)).step_by(97) {
            assert_eq!(ix.pos(&t, off).column as usize, t[2..off].chars().count() + 1, "offset {off}");
        }
    }

    #[test]
    fn encodings() {
        let d = decode(b"<?xml version='1.0' encoding='windows-1252'?><a>\x80\xE9</a>");
        assert!(d.problem.is_none());
        assert!(d.text.contains("\u{20AC}\u{E9}"));
        let d = decode(b"<?xml version=\"1.0\" encoding=\"UTF-16\"?>");
        assert!(d.fatal);
        let d = decode(b"<a>\n\xE9</a>");
        assert_eq!(d.problem.as_ref().map(|p| p.2), Some(4));
    }

    #[test]
    fn decode_text_honours_declared_encodings() {
        assert_eq!(decode_text(b"<a>\xC3\xA9</a>").as_deref(), Some("<a>\u{e9}</a>"));
        assert_eq!(decode_text(b"\xEF\xBB\xBF<a/>").as_deref(), Some("<a/>"));
        let latin = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xC3\xA9</a>";
        assert_eq!(
            decode_text(latin).as_deref(),
            Some("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\u{c3}\u{a9}</a>")
        );
        let cp = b"<?xml version='1.0' encoding='windows-1252'?><a>\x80\xE9</a>";
        assert_eq!(
            decode_text(cp).as_deref(),
            Some("<?xml version='1.0' encoding='windows-1252'?><a>\u{20ac}\u{e9}</a>")
        );
        assert_eq!(decode_text(b"<a>\xE9</a>"), None, "undeclared Latin-1 is not UTF-8");
        assert_eq!(decode_text(b"<?xml version='1.0' encoding='koi8-r'?><a/>"), None);
    }
}
