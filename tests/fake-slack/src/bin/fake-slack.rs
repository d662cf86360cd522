//! Runs the fake Slack Web API on 127.0.0.1 for manual use and benchmarks, until Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use sluice_fake_slack::{Config, DEFAULT_TEAM_ID, FakeSlack, SLUICE_SCOPES};

/// A fake Slack Web API (chat.postMessage, chat.update, conversations.history, conversations.list,
/// conversations.info, conversations.open, users.list, users.lookupByEmail, auth.test,
/// oauth.v2.access) with the default workspace of
/// `sluice_fake_slack::Config`.
#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Least time between two messages to one channel before 429, in milliseconds (Slack: 1000).
    #[arg(long, default_value_t = 1000)]
    post_interval_ms: u64,
    /// Extra bot tokens for the default workspace, with every Sluice scope.
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Lift the Tier 2 limit on conversations.list.
    #[arg(long)]
    no_list_limit: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config { post_interval: Duration::from_millis(args.post_interval_ms), ..Config::default() };
    if args.no_list_limit {
        config.list_rate_limit = None;
    }
    let slack = FakeSlack::start_on(SocketAddr::from(([127, 0, 0, 1], args.port)), config).await?;
    for token in &args.tokens {
        slack.add_token(DEFAULT_TEAM_ID, token, SLUICE_SCOPES);
    }
    println!("fake Slack listening: SLACK_API_URL={}", slack.api_url());
    println!("bot token: {}", sluice_fake_slack::DEFAULT_TOKEN);
    tokio::signal::ctrl_c().await?;
    let messages = slack.all_messages().len();
    println!("stopping; {messages} messages posted, {} answered 429", slack.rate_limited("chat.postMessage"));
    Ok(())
}
