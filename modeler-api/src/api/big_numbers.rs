//! Integers that do not fit in 64 bits. serde_json reads an integer literal beyond `i64`/`u64`
//! as an `f64`, silently rounded (`123456789012345678901234567890` becomes
//! `1.2345678901234568e29`); the API refuses such a body instead, naming the field, before it is
//! deserialized.
//!
//! The scanner walks the raw bytes once, keeping the path through objects and arrays, and skips
//! strings (a number inside a string is text). It only looks for integer literals: a number with
//! a fraction or an exponent is a float on purpose. Malformed JSON is left to the deserializer,
//! which reports it.

/// The first integer literal of `json` outside `i64`/`u64`: its path (as `serde_path_to_error`
/// writes paths: `data.items[2].n`) and the literal.
pub fn oversized_integer(json: &[u8]) -> Option<(String, String)> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            // Deeper than serde_json reads: its recursion limit answers (and the path stays short).
            b'{' | b'[' if stack.len() >= MAX_DEPTH => return None,
            b'{' => {
                stack.push(Frame::Object { key: String::new(), expecting_key: true });
                i += 1;
            }
            b'[' => {
                stack.push(Frame::Array { index: 0 });
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
            }
            b',' => {
                match stack.last_mut() {
                    Some(Frame::Object { expecting_key, .. }) => *expecting_key = true,
                    Some(Frame::Array { index }) => *index += 1,
                    None => {}
                }
                i += 1;
            }
            b':' => {
                if let Some(Frame::Object { expecting_key, .. }) = stack.last_mut() {
                    *expecting_key = false;
                }
                i += 1;
            }
            b'"' => {
                let end = string_end(json, i)?;
                if let Some(Frame::Object { key, expecting_key: true }) = stack.last_mut() {
                    // The key as the deserializer sees it (escapes decoded).
                    *key = serde_json::from_slice::<String>(&json[i..end]).ok()?;
                }
                i = end;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < json.len() && matches!(json[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                    i += 1;
                }
                let literal = std::str::from_utf8(&json[start..i]).ok()?;
                if is_oversized_integer(literal) {
                    return Some((path(&stack), literal.to_string()));
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// serde_json's recursion limit.
const MAX_DEPTH: usize = 128;

enum Frame {
    /// The key of the member being read (`expecting_key` until its `:`).
    Object { key: String, expecting_key: bool },
    /// The index of the element being read.
    Array { index: usize },
}

/// The index just past the string that opens at `start` (a `"`), or `None` if it never closes.
fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < json.len() {
        match json[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// An integer literal (no fraction, no exponent) that neither `i64` nor `u64` holds.
fn is_oversized_integer(literal: &str) -> bool {
    let digits = literal.strip_prefix('-').unwrap_or(literal);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if literal.starts_with('-') { literal.parse::<i64>().is_err() } else { literal.parse::<u64>().is_err() }
}

fn path(stack: &[Frame]) -> String {
    let mut out = String::new();
    for frame in stack {
        match frame {
            Frame::Object { key, .. } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Frame::Array { index } => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::oversized_integer;

    fn found(json: &str) -> Option<(String, String)> {
        oversized_integer(json.as_bytes())
    }

    #[test]
    fn integers_beyond_64_bits_are_found_with_their_path() {
        let big = "123456789012345678901234567890";
        assert_eq!(found(&format!(r#"{{"data": {{"n": {big}}}}}"#)), Some(("data.n".into(), big.into())));
        assert_eq!(
            found(&format!(r#"{{"data": {{"items": [1, {{"a": "x"}}, {{"a": 2, "n": -{big}}}]}}}}"#)),
            Some(("data.items[2].n".into(), format!("-{big}")))
        );
        assert_eq!(found(&format!(r#"{{"data": [[0], [1, {big}]]}}"#)).unwrap().0, "data[1][1]");
        // Just past the ends of u64 and i64.
        assert_eq!(found(r#"{"n": 18446744073709551616}"#).unwrap().0, "n");
        assert_eq!(found(r#"{"n": -9223372036854775809}"#).unwrap().0, "n");
        // Escaped keys are named as the deserializer reads them.
        assert_eq!(found(&format!(r#"{{"a\"b": {big}}}"#)).unwrap().0, "a\"b");
    }

    #[test]
    fn what_fits_floats_and_strings_pass() {
        for ok in [
            r#"{"n": 18446744073709551615, "m": -9223372036854775808, "z": 0, "neg": -1}"#,
            r#"{"f": 1.5e300, "g": 123456789012345678901234567890.5, "h": 1e400, "i": -2E-5}"#,
            r#"{"s": "123456789012345678901234567890", "t": "a \" 123456789012345678901234567890"}"#,
            r#"{"123456789012345678901234567890": true, "list": [null, false, {}]}"#,
            r#"{}"#,
            // Malformed input is the deserializer's to report.
            r#"{"a": "never closed"#,
            r#"{"a": --, "b": -}"#,
        ] {
            assert_eq!(found(ok), None, "{ok}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_the_deserializer() {
        let nested = |depth: usize| format!("{}123456789012345678901234567890{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(found(&nested(100)).unwrap().0, "[0]".repeat(100));
        // serde_json refuses this depth itself; the scanner neither recurses nor builds a long path.
        assert_eq!(found(&nested(100_000)), None);
        let body = format!(r#"{{"data": {}}}"#, nested(100_000));
        let err = serde_json::from_str::<serde_json::Value>(&body).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
