//! Splits expression text into tokens, for both FEEL and Camunda 7 JUEL (`${...}`) syntax.
//!
//! Keywords are not separate tokens: FEEL keywords (`and`, `if`, `date and time`, ...) depend on
//! context, so the parser looks at the text of `Name` tokens.

use rust_decimal::Decimal;

use crate::ParseError;
use crate::num::parse_dec;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Int(i64),
    /// A number that is not an i64: exact decimal.
    Num(Decimal),
    Str(String),
    Name(String),
    /// Punctuation and operators, by their text.
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset into the original source.
    pub start: usize,
}

const SYMS: &[&str] = &[
    "**", "..", "!=", "<=", ">=", "==", "&&", "||", "(", ")", "[", "]", "{", "}", ",", ":", ".", "+", "-", "*", "/",
    "=", "<", ">", "!", "?", "%", "@",
];

/// Tokenizes `src` (a slice of the original text starting at byte `base`). `names` are names
/// known to be in scope that hold characters a name normally cannot (`Date-Time`, `a+b`): each
/// is read as one name where it appears whole.
pub(crate) fn lex(src: &str, base: usize, juel: bool, names: &[&str]) -> Result<Vec<Token>, ParseError> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // Comments: `//` to end of line and `/* */`, which FEEL allows.
        if !juel && c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if !juel && c == b'/' && b.get(i + 1) == Some(&b'*') {
            match src[i + 2..].find("*/") {
                Some(end) => i = i + 2 + end + 2,
                None => return Err(perr(base + i, "this comment is not closed with */")),
            }
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let mut is_int = true;
            // A `.` belongs to the number only when a digit follows, so `1..10` is a range.
            if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                is_int = false;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            // An exponent: `1.23e4`, `1e-3`.
            let mut exp: i32 = 0;
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                let neg = b.get(j) == Some(&b'-');
                if matches!(b.get(j), Some(b'+' | b'-')) {
                    j += 1;
                }
                let d0 = j;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j > d0 && !b.get(j).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') {
                    let e: i32 = src[d0..j].parse().unwrap_or(i32::MAX);
                    exp = if neg { -e.min(1000) } else { e.min(1000) };
                    let mantissa_end = i;
                    i = j;
                    let tok = match parse_dec(&src[start..mantissa_end]).and_then(|d| scale_pow10(d, exp)) {
                        Some(d) => match crate::num::dec_int(d) {
                            Some(v) => Tok::Int(v),
                            None => Tok::Num(d),
                        },
                        None => {
                            return Err(ParseError {
                                offset: base + start,
                                message: "number too large: FEEL numbers are decimals of at most 28 digits \
                                          (up to about 7.9e28)"
                                    .to_string(),
                            });
                        }
                    };
                    out.push(Token { tok, start: base + start });
                    continue;
                }
            }
            let _ = exp;
            let text = &src[start..i];
            let int = if is_int { text.parse::<i64>().ok() } else { None };
            let tok = match int {
                Some(v) => Tok::Int(v),
                None => match parse_dec(text) {
                    Some(d) => Tok::Num(d),
                    None => {
                        return Err(ParseError {
                            offset: base + start,
                            message: "number too large: FEEL numbers are decimals of at most 28 digits \
                                      (up to about 7.9e28)"
                                .to_string(),
                        });
                    }
                },
            };
            out.push(Token { tok, start: base + start });
            continue;
        }
        if c == b'"' || (juel && c == b'\'') {
            let (s, next) = lex_string(src, i, base)?;
            out.push(Token { tok: Tok::Str(s), start: base + start });
            i = next;
            continue;
        }
        if c == b'`' {
            // Backtick-quoted names (`a name with spaces`), a Camunda extension.
            match src[i + 1..].find('`') {
                Some(end) => {
                    let name = src[i + 1..i + 1 + end].to_string();
                    out.push(Token { tok: Tok::Name(name), start: base + start });
                    i = i + 2 + end;
                }
                None => return Err(perr(base + i, "this name is not closed with a backtick")),
            }
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or(' ');
        if (ch.is_alphabetic() || ch == '_')
            && let Some(known) = known_name(&src[i..], names)
        {
            out.push(Token { tok: Tok::Name(known.to_string()), start: base + start });
            i += known.len();
            continue;
        }
        if name_start(ch) {
            let mut j = i;
            for (k, ch) in src[i..].char_indices() {
                if name_start(ch) || ch.is_alphanumeric() || (!juel && ch == '?') {
                    j = i + k + ch.len_utf8();
                } else {
                    break;
                }
            }
            out.push(Token { tok: Tok::Name(src[i..j].to_string()), start: base + start });
            i = j;
            continue;
        }
        match SYMS.iter().find(|s| src[i..].starts_with(**s)) {
            Some(s) => {
                out.push(Token { tok: Tok::Sym(s), start: base + start });
                i += s.len();
            }
            None => return Err(perr(base + i, &format!("unexpected character `{ch}`"))),
        }
    }
    out.push(Token { tok: Tok::Eof, start: base + b.len() });
    Ok(out)
}

/// Characters a name may start with: letters, `_`, `$`, and anything beyond ASCII that is not
/// a space or punctuation (FEEL allows emoji in names).
fn name_start(ch: char) -> bool {
    ch.is_alphabetic() || ch == '_' || ch == '$' || (!ch.is_ascii() && !ch.is_whitespace() && !ch.is_control())
}

/// `d * 10^exp`, None when beyond the decimal range.
fn scale_pow10(d: Decimal, exp: i32) -> Option<Decimal> {
    let mut d = d;
    for _ in 0..exp.unsigned_abs().min(60) {
        d = if exp > 0 { d.checked_mul(Decimal::TEN)? } else { d / Decimal::TEN };
    }
    Some(d)
}

/// The longest of `names` with unusual characters that `rest` starts with, whole.
fn known_name<'n>(rest: &str, names: &[&'n str]) -> Option<&'n str> {
    let mut best: Option<&str> = None;
    for n in names {
        let unusual = n.chars().any(|c| !(c.is_alphanumeric() || c == '_'));
        if unusual
            && rest.starts_with(*n)
            && !rest[n.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            && best.is_none_or(|b| b.len() < n.len())
        {
            best = Some(n);
        }
    }
    best
}

fn lex_string(src: &str, open: usize, base: usize) -> Result<(String, usize), ParseError> {
    let quote = src.as_bytes()[open] as char;
    let mut s = String::new();
    let mut it = src[open + 1..].char_indices().map(|(k, c)| (open + 1 + k, c));
    while let Some((k, c)) = it.next() {
        if c == quote {
            return Ok((s, k + 1));
        }
        if c != '\\' {
            s.push(c);
            continue;
        }
        let Some((_, e)) = it.next() else { break };
        match e {
            'n' => s.push('\n'),
            't' => s.push('\t'),
            'r' => s.push('\r'),
            '\\' | '"' | '\'' | '/' => s.push(e),
            'u' | 'U' => {
                let digits = if e == 'U' { 6 } else { 4 };
                let mut code = 0u32;
                for _ in 0..digits {
                    let d = it.next().and_then(|(_, h)| h.to_digit(16));
                    match d {
                        Some(d) => code = code * 16 + d,
                        None => {
                            return Err(perr(base + k, "`\\u` must be followed by 4 hex digits"));
                        }
                    }
                }
                // A UTF-16 surrogate pair is written as two escapes.
                if (0xD800..0xDC00).contains(&code) {
                    let rest = &src[it.clone().next().map_or(src.len(), |(p, _)| p)..];
                    if rest.starts_with("\\u")
                        && let Some(hex) = rest.get(2..6)
                        && let Ok(lo) = u32::from_str_radix(hex, 16)
                        && (0xDC00..0xE000).contains(&lo)
                    {
                        for _ in 0..6 {
                            it.next();
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (lo - 0xDC00);
                    }
                }
                match char::from_u32(code) {
                    Some(ch) => s.push(ch),
                    None => return Err(perr(base + k, "this `\\u` escape is not a character")),
                }
            }
            // Any other backslash stays (`"\d+"` is a regular expression's `\d+`).
            other => {
                s.push('\\');
                s.push(other);
            }
        }
    }
    Err(perr(base + open, "this string is not closed"))
}

pub(crate) fn perr(offset: usize, msg: &str) -> ParseError {
    ParseError { offset, message: msg.to_string() }
}
