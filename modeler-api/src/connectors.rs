//! The connectors compiled into this binary: the one place that registers concrete connectors,
//! each with its own typed settings from [`ConnectorArgs`].

use anyhow::Context;
use sluice_connector_api::Registry;
use sluice_slack::tokens::{DEFAULT_ALIAS, StaticTokens, TokenProvider};

use crate::config::ConnectorArgs;

/// The connectors for `sluice run` and `sluice check`: the Slack Notification connector uses
/// `SLACK_BOT_TOKEN` as the integration `default`.
pub fn registry(config: &ConnectorArgs) -> anyhow::Result<Registry> {
    let mut tokens = StaticTokens::new();
    if let Some(token) = &config.slack.slack_bot_token {
        tokens.insert(DEFAULT_ALIAS, token.expose());
    }
    registry_with(config, tokens)
}

/// The connectors, with the Slack Notification connector finding tokens through `slack_tokens`
/// (`sluice serve`: the stored integrations).
/// Camunda 8's Slack tasks (`io.camunda:slack:1`) post through the same connector (its pacing and
/// channel ids), with `SLUICE_SLACK_SECRET_ALIASES`.
pub fn registry_with(config: &ConnectorArgs, slack_tokens: impl TokenProvider + Clone) -> anyhow::Result<Registry> {
    let http = sluice_connector_http::Http::new().context("cannot set up the HTTP connector")?;
    let slack =
        sluice_slack::Client::new(config.slack.slack_api_url.as_str()).context("cannot set up the Slack client")?;
    let history_interval = std::time::Duration::from_millis(config.slack.slack_history_interval_ms);
    let slack_config = sluice_slack::Config { history_interval, ..sluice_slack::Config::default() };
    let slack = sluice_slack::SlackNotification::with_config(slack, slack_tokens, slack_config);
    let camunda = slack.camunda(config.slack.slack_secret_aliases.0.clone());
    Ok(Registry::default().with(http).with(slack).with(camunda))
}
