//! Regular expressions for `matches`, `replace`, `split` and `extract`.
//!
//! FEEL takes its regular expressions from XQuery 1.0 and XPath 2.0 Functions and Operators
//! (section 7.6), which extend XML Schema's syntax with `^`/`$` anchors, reluctant quantifiers
//! and back-references. Sluice compiles them with the `regex` crate (linear time: no
//! catastrophic backtracking), after translating what differs:
//!
//! * character class subtraction `[a-z-[aeiou]]` becomes the crate's `[a-z--[aeiou]]`;
//! * `\i` and `\c` (XML name characters) become classes of the ASCII name characters plus every
//!   letter (`[\p{L}_:]`, `[\p{L}\p{Nd}._:\-]`);
//! * the flags `s`, `m`, `i`, `x` map to the crate's; `q` (the pattern is plain text) escapes it.
//!
//! * `.` matches any character but `\n` and `\r` (XPath), every character with the `s` flag;
//! * the `x` flag drops whitespace outside character classes before compiling (XPath);
//! * `\p{IsBasicLatin}` becomes `[\x00-\x7F]`.
//!
//! What the crate cannot do is an error when the pattern is read: back-references (`(a)\1`),
//! other Unicode block names (`\p{IsGreek}`; categories such as `\p{Lu}` and scripts such as
//! `\p{Greek}` work, the latter an extension). A pattern compiles to at most 1 MiB of automaton (`size_limit`), so a
//! hostile pattern (`(a{1000}){1000}`) is an error rather than a memory spike.

use regex::{Regex, RegexBuilder};

/// How large one compiled pattern may get.
const SIZE_LIMIT: usize = 1 << 20;

/// Compiles a pattern with XPath flags (`s`, `m`, `i`, `x`, `q`); the error says what is wrong.
pub(crate) fn compile(pattern: &str, flags: &str) -> Result<Regex, String> {
    let mut b_s = false;
    let mut b_m = false;
    let mut b_i = false;
    let mut b_x = false;
    let mut b_q = false;
    for f in flags.chars() {
        match f {
            's' => b_s = true,
            'm' => b_m = true,
            'i' => b_i = true,
            'x' => b_x = true,
            'q' => b_q = true,
            other => return Err(format!("`{other}` is not a regular expression flag (use s, m, i, x or q)")),
        }
    }
    let text = if b_q { regex::escape(pattern) } else { translate(pattern, b_s, b_x)? };
    RegexBuilder::new(&text)
        .multi_line(b_m)
        .case_insensitive(b_i)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "the regular expression is too large".to_string(),
            other => {
                format!("`{pattern}` is not a regular expression Sluice can use: {}", first_line(&other.to_string()))
            }
        })
}

fn first_line(s: &str) -> String {
    s.lines()
        .filter(|l| l.trim_start().starts_with("error:"))
        .map(|l| l.trim().to_string())
        .next()
        .unwrap_or_else(|| s.lines().last().unwrap_or("").trim().to_string())
}

/// XPath/XSD syntax to the `regex` crate's. `dot_all` is the `s` flag (else `.` matches
/// neither `\n` nor `\r`, as in XPath); `extended` the `x` flag (whitespace outside character
/// classes is dropped).
fn translate(p: &str, dot_all: bool, extended: bool) -> Result<String, String> {
    let mut out = String::with_capacity(p.len() + 8);
    let stripped: String;
    let p = if extended {
        let mut depth = 0usize;
        let mut prev_backslash = false;
        stripped = p
            .chars()
            .filter(|c| {
                let keep = depth > 0 || !c.is_whitespace();
                if !prev_backslash {
                    match c {
                        '[' => depth += 1,
                        ']' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
                prev_backslash = *c == '\\' && !prev_backslash;
                keep
            })
            .collect();
        &stripped
    } else {
        p
    };
    let mut chars = p.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '.' if class_depth == 0 && !dot_all => out.push_str("[^\n\r]"),
            '.' if class_depth == 0 => out.push_str("(?s:.)"),
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err(format!("`{p}` ends with a lone `\\`"));
                };
                match e {
                    'i' => out.push_str(if class_depth > 0 { r"\p{L}_:" } else { r"[\p{L}_:]" }),
                    'I' => out.push_str(r"[^\p{L}_:]"),
                    'c' => out.push_str(if class_depth > 0 { r"\p{L}\p{Nd}._:\-" } else { r"[\p{L}\p{Nd}._:\-]" }),
                    'C' => out.push_str(r"[^\p{L}\p{Nd}._:\-]"),
                    '1'..='9' if class_depth == 0 => {
                        return Err("back-references (`\\1`) are not supported".to_string());
                    }
                    // The one Unicode block used often: Basic Latin (ASCII).
                    'p' | 'P' if chars.clone().collect::<String>().starts_with("{IsBasicLatin}") => {
                        for _ in 0.."{IsBasicLatin}".len() {
                            chars.next();
                        }
                        let neg = if e == 'P' { "^" } else { "" };
                        out.push_str(if class_depth > 0 {
                            "\\x00-\\x7F"
                        } else if neg.is_empty() {
                            "[\\x00-\\x7F]"
                        } else {
                            "[^\\x00-\\x7F]"
                        });
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            // `-[` inside a class: subtraction.
            '-' if class_depth > 0 && chars.peek() == Some(&'[') => out.push_str("--"),
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// An XPath replacement string (`$1` for a group, `\$` and `\\` for the characters) in the
/// crate's syntax (`${1}`, `$$`).
pub(crate) fn replacement(r: &str) -> Result<String, String> {
    let mut out = String::with_capacity(r.len() + 4);
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some('\\') => out.push('\\'),
                _ => return Err(format!("in the replacement `{r}`, `\\` must be followed by `$` or `\\`")),
            },
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if digits.is_empty() {
                    return Err(format!("in the replacement `{r}`, `$` must be followed by a group number"));
                }
                out.push_str("${");
                out.push_str(&digits);
                out.push('}');
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}
