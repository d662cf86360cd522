//! The Slack app manifest this server needs (`GET /api/v1/integrations/slack/manifest`): pasted
//! into "Create an app → From a manifest", it gives the app every bot scope Sluice uses, the
//! interactivity URL of its buttons and the OAuth redirect URL of installs.

use serde_json::{Value, json};

use crate::integrations::CALLBACK_PATH;

/// Where Slack sends button clicks (interactivity).
pub const INTERACTIONS_PATH: &str = "/api/v1/slack/interactions";

/// Every bot scope Sluice uses, each with the calls that need it.
pub const BOT_SCOPES: &[(&str, &str)] = &[
    ("chat:write", "chat.postMessage and chat.update: notifications, Slack tasks, approvals"),
    ("chat:write.public", "posting to a public channel the bot has not joined"),
    ("channels:read", "conversations.list and conversations.info: channel names and checks"),
    ("groups:read", "private channels the bot is a member of"),
    ("channels:history", "conversations.history: whether a post whose answer was lost went through"),
    ("groups:history", "the same, in private channels"),
    ("im:history", "the same, in direct messages"),
    ("im:write", "conversations.open: direct messages to a person"),
    ("users:read", "users.list and users.info: who clicked a button, people by Slack user id"),
    (
        "users:read.email",
        "users.lookupByEmail and users.info's email: linking Slack users to Sluice users (approvers, assignees)",
    ),
];

/// The manifest for a server reachable at `public_url` (`SLUICE_PUBLIC_URL`), named `name`.
pub fn manifest(public_url: &str, name: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Notifications, tasks and approvals from Sluice processes",
            "background_color": "#1d3557",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": true},
        },
        "oauth_config": {
            "redirect_urls": [format!("{base}{CALLBACK_PATH}")],
            "scopes": {"bot": BOT_SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>()},
        },
        "settings": {
            "interactivity": {"is_enabled": true, "request_url": format!("{base}{INTERACTIONS_PATH}")},
            "org_deploy_enabled": false,
            "socket_mode_enabled": false,
            "token_rotation_enabled": false,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_the_urls_and_every_scope_installs_ask_for() {
        let m = manifest("https://sluice.example/", "Sluice");
        assert_eq!(m["settings"]["interactivity"]["request_url"], "https://sluice.example/api/v1/slack/interactions");
        assert_eq!(
            m["oauth_config"]["redirect_urls"][0],
            "https://sluice.example/api/v1/integrations/slack/oauth/callback"
        );
        let bot: Vec<&str> =
            m["oauth_config"]["scopes"]["bot"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        for s in crate::integrations::SCOPES {
            assert!(bot.contains(s), "{s} is asked for at install but missing from the manifest");
        }
    }
}
