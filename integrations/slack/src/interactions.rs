//! Slack's interactivity requests (`POST /api/v1/slack/interactions`): the form Slack sends when
//! someone clicks a button of a Sluice message, read into a [`Click`]. The signature is checked
//! first ([`crate::notifier::verify_signature`]); the route and the task's completion are the
//! binary's.

use serde_json::Value;

// Same shape as other field lists of ids and options (the store's `NewJob`, …): this is what a
// Slack button click carries, its own type.
/// A click on a button of a message (`block_actions`).
#[derive(Clone, Debug, PartialEq)]
pub struct Click {
    /// The button's `value` (for Sluice's buttons, a signed decision).
    pub value: String,
    /// The Slack user id of who clicked: what stays true (names change).
    pub user: String,
    /// Their name (`username`, else `name`), for people reading the Request's data.
    pub user_name: Option<String>,
    /// Where the message is, to update it.
    pub channel: Option<String>,
    pub ts: Option<String>,
    /// The message as Slack has it.
    pub message: Value,
    /// Where replies to this click go (`https://hooks.slack.com/actions/…`, valid for 30
    /// minutes and 5 replies): an ephemeral reply reaches only who clicked.
    pub response_url: Option<String>,
}

/// Why an interaction could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadInteraction {
    #[error("the body is not a form: {0}")]
    NotAForm(String),
    #[error("the form has no `payload` field")]
    NoPayload,
    #[error("the `payload` field is not JSON: {0}")]
    NotJson(String),
    #[error("the payload names no user")]
    NoUser,
}

/// Reads a signed interaction request's body. `Ok(None)`: an interaction that is not a button
/// click with a value (a shortcut, a modal), which Sluice acknowledges and leaves alone.
pub fn parse(body: &[u8]) -> Result<Option<Click>, BadInteraction> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| BadInteraction::NotAForm(e.to_string()))?;
    let payload =
        fields.into_iter().find_map(|(k, v)| (k == "payload").then_some(v)).ok_or(BadInteraction::NoPayload)?;
    let payload: Value = serde_json::from_str(&payload).map_err(|e| BadInteraction::NotJson(e.to_string()))?;
    if payload["type"] != "block_actions" {
        return Ok(None);
    }
    let Some(value) = payload["actions"].as_array().and_then(|a| a.iter().find_map(|x| x["value"].as_str())) else {
        return Ok(None);
    };
    let user = payload["user"]["id"].as_str().unwrap_or_default().to_string();
    if user.is_empty() {
        return Err(BadInteraction::NoUser);
    }
    let user_name = ["username", "name"]
        .iter()
        .find_map(|k| payload["user"][k].as_str().map(str::trim).filter(|n| !n.is_empty()))
        .map(str::to_string);
    let text = |a: &Value, b: &Value| a.as_str().or(b.as_str()).map(str::to_string);
    Ok(Some(Click {
        value: value.to_string(),
        user,
        user_name,
        channel: text(&payload["container"]["channel_id"], &payload["channel"]["id"]),
        ts: text(&payload["container"]["message_ts"], &payload["message"]["ts"]),
        message: payload["message"].clone(),
        response_url: payload["response_url"].as_str().filter(|u| !u.is_empty()).map(str::to_string),
    }))
}

/// Slack channel ids: `C`, `G` or `D` and upper-case letters and digits.
pub fn is_channel_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('C' | 'G' | 'D'))
        && (3..=32).contains(&s.len())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn form(payload: &Value) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap().into_bytes()
    }

    #[test]
    fn a_button_click_is_read_with_its_user_and_message() {
        let payload = json!({
            "type": "block_actions",
            "user": {"id": "U1", "username": " ana ", "name": "ana.b"},
            "actions": [{"action_id": "sluice_approve", "value": "v1.x"}],
            "container": {"channel_id": "C1", "message_ts": "1.2"},
            "message": {"ts": "9.9", "text": "hi"},
            "response_url": "https://hooks.slack.com/actions/T1/2/x",
        });
        let click = parse(&form(&payload)).unwrap().unwrap();
        assert_eq!(
            (click.value.as_str(), click.user.as_str(), click.user_name.as_deref()),
            ("v1.x", "U1", Some("ana"))
        );
        assert_eq!((click.channel.as_deref(), click.ts.as_deref()), (Some("C1"), Some("1.2")));
        assert_eq!(click.message["text"], "hi");
        assert_eq!(click.response_url.as_deref(), Some("https://hooks.slack.com/actions/T1/2/x"));
    }

    #[test]
    fn other_interactions_are_none_and_bad_bodies_say_why() {
        assert_eq!(parse(&form(&json!({"type": "shortcut"}))).unwrap(), None);
        assert_eq!(parse(&form(&json!({"type": "block_actions", "actions": []}))).unwrap(), None);
        assert_eq!(parse(b"nothing=here"), Err(BadInteraction::NoPayload));
        assert!(matches!(parse(b"payload=%7B"), Err(BadInteraction::NotJson(_))));
        let anonymous = json!({"type": "block_actions", "actions": [{"value": "v"}], "user": {}});
        assert_eq!(parse(&form(&anonymous)), Err(BadInteraction::NoUser));
    }

    #[test]
    fn channel_ids() {
        for ok in ["C0123ABC", "G0SECRET", "D024BE91L", "C12"] {
            assert!(is_channel_id(ok), "{ok}");
        }
        for bad in ["", "C", "C1", "#sales", "sales", "c0123abc", "X0123", "C0123 ABC", "C01-23"] {
            assert!(!is_channel_id(bad), "{bad}");
        }
    }
}
