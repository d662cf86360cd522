//! Turns a rendered message into what `chat.postMessage` accepts: mrkdwn escaping, a text
//! fallback and Block Kit sections kept within Slack's limits.

use std::borrow::Cow;

use serde_json::{Value, json};

/// Slack truncates `text` beyond this many characters.
pub const MAX_TEXT_CHARS: usize = 40_000;
/// A section block's text holds 1 to 3,000 characters.
pub const MAX_SECTION_CHARS: usize = 3_000;
/// A message holds at most 50 blocks.
pub const MAX_BLOCKS: usize = 50;

const ELLIPSIS: char = '…';

/// Escapes the three characters mrkdwn gives a meaning (`&`, `<`, `>`), so a value cannot become
/// a mention (`<!channel>`, `<@U…>`) or a link whose label hides its address.
pub fn escape(value: &str) -> Cow<'_, str> {
    if !value.contains(['&', '<', '>']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 16);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The text fallback and blocks for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub text: String,
    pub blocks: Vec<Value>,
}

/// Lays out `message` (already escaped where it holds data) as sections, followed by a context
/// line linking to the Request when `request_url` is not empty.
pub fn render(message: &str, request_url: &str) -> Rendered {
    let text = truncate(message, MAX_TEXT_CHARS);
    let context = (!request_url.trim().is_empty()).then(|| {
        json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("<{}|Open request>", escape(request_url.trim()))}],
        })
    });
    let room = MAX_BLOCKS - usize::from(context.is_some());
    let mut chunks = split(message, MAX_SECTION_CHARS);
    if chunks.len() > room {
        chunks.truncate(room);
        if let Some(last) = chunks.last_mut() {
            *last = truncate(last, MAX_SECTION_CHARS - 1);
            if !last.ends_with(ELLIPSIS) {
                last.push(ELLIPSIS);
            }
        }
    }
    let mut blocks: Vec<Value> =
        chunks.into_iter().map(|chunk| json!({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})).collect();
    blocks.extend(context);
    Rendered { text, blocks }
}

/// `text` cut to at most `max` characters (an ellipsis included), never inside an entity or a link.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut head = split(text, max - 1).into_iter().next().unwrap_or_default();
    head.push(ELLIPSIS);
    head
}

/// Splits `text` into non-blank pieces of at most `max` characters, preferring line breaks, then
/// spaces, and never cutting through an entity (`&amp;`) or a `<…>` link or mention.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some((limit, _)) = rest.char_indices().nth(max) else {
            push_piece(&mut pieces, rest);
            break;
        };
        let window = &rest[..limit];
        let half = limit / 2;
        let mut cut = match window.rfind('\n') {
            Some(i) if i > half => i + 1,
            _ => match window.rfind(' ') {
                Some(i) if i > half => i + 1,
                _ => limit,
            },
        };
        let head = &rest[..cut];
        if let Some(lt) = head.rfind('<')
            && !head[lt..].contains('>')
            && lt > 0
        {
            cut = lt;
        }
        let head = &rest[..cut];
        if let Some(amp) = head.rfind('&')
            && !head[amp..].contains(';')
            && head.len() - amp < 10
            && amp > 0
        {
            cut = amp;
        }
        push_piece(&mut pieces, &rest[..cut]);
        rest = &rest[cut..];
    }
    pieces
}

fn push_piece(pieces: &mut Vec<String>, piece: &str) {
    let piece = piece.trim_end_matches([' ', '\n']);
    if !piece.trim().is_empty() {
        pieces.push(piece.to_string());
    }
}

/// A header's text holds at most this many characters.
pub const MAX_HEADER_CHARS: usize = 150;
/// A section holds at most this many fields, each of at most [`MAX_FIELD_CHARS`].
pub const MAX_FIELDS: usize = 10;
pub const MAX_FIELD_CHARS: usize = 2_000;

/// Checks Block Kit content given by a model against Slack's limits (the ones Sluice's own
/// messages are kept within): at most 50 blocks, each an object with a `type`; header text
/// ≤ 150 characters; section text 1–3,000; ≤ 10 fields of ≤ 2,000; buttons' text ≤ 75, `value`
/// ≤ 2,000, `url` ≤ 3,000; `action_id` and `block_id` ≤ 255. Every problem is named, with the
/// block's position (1-based).
pub fn check_blocks(blocks: &[Value]) -> Result<(), String> {
    let mut problems = Vec::new();
    if blocks.is_empty() {
        problems.push("there are no blocks".to_string());
    }
    if blocks.len() > MAX_BLOCKS {
        problems.push(format!("{} blocks (Slack takes at most {MAX_BLOCKS})", blocks.len()));
    }
    for (i, b) in blocks.iter().enumerate() {
        let n = i + 1;
        let Some(kind) = b.get("type").and_then(Value::as_str) else {
            problems.push(format!("block {n} is not an object with a `type`"));
            continue;
        };
        let text_len = |v: &Value| v.get("text").and_then(Value::as_str).map(|t| t.chars().count());
        limit(&mut problems, n, "block_id", b.get("block_id"), 255);
        match kind {
            "header" => match b.get("text").and_then(text_len) {
                Some(len) if (1..=MAX_HEADER_CHARS).contains(&len) => {}
                Some(len) => problems
                    .push(format!("block {n} (header): its text has {len} characters (1 to {MAX_HEADER_CHARS})")),
                None => problems.push(format!("block {n} (header) has no `text.text`")),
            },
            "section" => {
                let fields = b.get("fields").and_then(Value::as_array);
                match b.get("text").map(text_len) {
                    Some(Some(len)) if !(1..=MAX_SECTION_CHARS).contains(&len) => problems
                        .push(format!("block {n} (section): its text has {len} characters (1 to {MAX_SECTION_CHARS})")),
                    Some(None) => problems.push(format!("block {n} (section): `text` has no `text`")),
                    None if fields.is_none() => {
                        problems.push(format!("block {n} (section) has neither `text` nor `fields`"));
                    }
                    _ => {}
                }
                if let Some(fields) = fields {
                    if fields.len() > MAX_FIELDS {
                        problems
                            .push(format!("block {n} (section) has {} fields (at most {MAX_FIELDS})", fields.len()));
                    }
                    for f in fields {
                        if text_len(f).is_some_and(|len| len > MAX_FIELD_CHARS) {
                            problems.push(format!("block {n} (section): a field is over {MAX_FIELD_CHARS} characters"));
                        }
                    }
                }
                if let Some(acc) = b.get("accessory") {
                    check_element(&mut problems, n, acc);
                }
            }
            "actions" => {
                for e in b.get("elements").and_then(Value::as_array).into_iter().flatten() {
                    check_element(&mut problems, n, e);
                }
            }
            _ => {}
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

fn check_element(problems: &mut Vec<String>, n: usize, e: &Value) {
    if e.get("type").and_then(Value::as_str) == Some("button") {
        limit(problems, n, "button text", e.get("text").and_then(|t| t.get("text")), 75);
        limit(problems, n, "button value", e.get("value"), 2_000);
        limit(problems, n, "button url", e.get("url"), 3_000);
    }
    limit(problems, n, "action_id", e.get("action_id"), 255);
}

fn limit(problems: &mut Vec<String>, n: usize, what: &str, v: Option<&Value>, max: usize) {
    if let Some(len) = v.and_then(Value::as_str).map(|s| s.chars().count())
        && len > max
    {
        problems.push(format!("block {n}: the {what} has {len} characters (at most {max})"));
    }
}

/// A notification text for blocks that come without one: their header, section and context texts,
/// one a line, within Slack's limit.
pub fn fallback_text(blocks: &[Value]) -> String {
    let mut lines = Vec::new();
    for b in blocks {
        if let Some(t) = b.get("text").and_then(|t| t.get("text")).and_then(Value::as_str) {
            lines.push(t.to_string());
        }
        for e in b.get("elements").and_then(Value::as_array).into_iter().flatten() {
            if let Some(t) = e.get("text").and_then(Value::as_str) {
                lines.push(t.to_string());
            }
        }
    }
    let text = lines.join("\n");
    if text.trim().is_empty() {
        "(a message with Block Kit content)".to_string()
    } else {
        truncate(&text, MAX_TEXT_CHARS)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn escape_neutralises_mentions_links_and_entities() {
        assert_eq!(escape("<!channel>"), "&lt;!channel&gt;");
        assert_eq!(escape("<https://evil|bank>"), "&lt;https://evil|bank&gt;");
        assert_eq!(escape("A & B"), "A &amp; B");
        assert!(matches!(escape("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn short_message_is_one_section_and_a_context_line() {
        let r = render("Hello *world*", "https://sluice.example/requests/1?a=1&b=2");
        assert_eq!(r.text, "Hello *world*");
        assert_eq!(r.blocks.len(), 2);
        assert_eq!(r.blocks[0]["text"]["text"], "Hello *world*");
        assert_eq!(r.blocks[1]["elements"][0]["text"], "<https://sluice.example/requests/1?a=1&amp;b=2|Open request>");
        assert_eq!(render("Hi", "").blocks.len(), 1);
    }

    #[test]
    fn long_messages_split_within_limits_and_never_inside_an_entity() {
        let para = format!("{}&amp;<@U123> end\n", "x".repeat(2990));
        let message = para.repeat(4);
        let pieces = split(&message, MAX_SECTION_CHARS);
        assert!(pieces.len() >= 4);
        for piece in &pieces {
            let n = piece.chars().count();
            assert!((1..=MAX_SECTION_CHARS).contains(&n), "{n}");
            assert_eq!(piece.matches('<').count(), piece.matches('>').count(), "a mention was cut");
            assert!(!piece.ends_with('&') && !piece.starts_with("amp;"));
        }
        let joined: String = pieces.concat();
        assert_eq!(joined.chars().filter(|c| *c == 'x').count(), 4 * 2990);
    }

    #[test]
    fn huge_messages_are_truncated_to_fifty_blocks_and_forty_thousand_characters() {
        let message = "word ".repeat(60_000);
        let r = render(&message, "https://x/r/1");
        assert_eq!(r.blocks.len(), MAX_BLOCKS);
        assert!(r.text.chars().count() <= MAX_TEXT_CHARS);
        assert!(r.text.ends_with(ELLIPSIS));
        let last_section = r.blocks[MAX_BLOCKS - 2]["text"]["text"].as_str().unwrap_or_default();
        assert!(last_section.ends_with(ELLIPSIS) && last_section.chars().count() <= MAX_SECTION_CHARS);
    }

    #[test]
    fn blocks_are_checked_against_slacks_limits() {
        let ok = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": "Order"}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": "*A-17*"}}),
            json!({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://x"}]}),
        ];
        assert_eq!(check_blocks(&ok), Ok(()));
        assert_eq!(fallback_text(&ok), "Order\n*A-17*");
        let bad = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": ""}}),
            json!("not a block"),
            json!({"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b".repeat(76)}}]}),
        ];
        let err = check_blocks(&bad).unwrap_err();
        for part in ["block 1 (header)", "block 2 (section)", "block 3 is not an object", "block 4: the button text"] {
            assert!(err.contains(part), "{err}");
        }
        assert!(check_blocks(&[]).is_err());
        let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        assert!(check_blocks(&many).unwrap_err().contains("51 blocks"));
        assert_eq!(fallback_text(&[json!({"type": "divider"})]), "(a message with Block Kit content)");
    }

    #[test]
    fn multibyte_text_is_split_on_characters() {
        let message = "é".repeat(7_000);
        let pieces = split(&message, MAX_SECTION_CHARS);
        assert_eq!(pieces.iter().map(|p| p.chars().count()).collect::<Vec<_>>(), vec![3000, 3000, 1000]);
    }
}
