//! The typed configuration of `sluice serve`: flags, each with its environment variable.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::cli::SlackArgs;

/// A secret value whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// How hard a commit waits for the disk (see `sluice_store::Durability`).
#[derive(clap::ValueEnum, Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum DurabilityArg {
    #[default]
    Full,
    Relaxed,
}

impl From<DurabilityArg> for sluice_store::Durability {
    fn from(d: DurabilityArg) -> Self {
        match d {
            DurabilityArg::Full => sluice_store::Durability::Full,
            DurabilityArg::Relaxed => sluice_store::Durability::Relaxed,
        }
    }
}

/// `sluice serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address of the HTTP API.
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(long, env = "SLUICE_DATABASE_URL", default_value = "sqlite://sluice.db", hide_env_values = true)]
    pub database_url: Secret,
    /// Bearer token for the API; without it a random one is generated at first start, stored
    /// (hashed) and printed once.
    #[arg(long, env = "SLUICE_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<Secret>,
    /// A folder whose `*.bpmn` files are deployed at start.
    #[arg(long, env = "SLUICE_PROCESSES")]
    pub processes: Option<PathBuf>,
    /// Base of links placed in notifications (default: `http://<listen>`).
    #[arg(long, env = "SLUICE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How hard a commit waits for the disk.
    #[arg(long, value_enum, env = "SLUICE_DURABILITY", default_value = "full")]
    pub durability: DurabilityArg,
    /// Days a finished (completed or canceled) Request and its history are kept; 0 keeps them
    /// forever. Pruned in the background.
    #[arg(long, env = "SLUICE_HISTORY_RETENTION_DAYS", default_value_t = 30)]
    pub history_retention_days: u32,
    /// Seconds a node's lease on a Request lasts without a heartbeat (renewed every third of
    /// it): how soon other nodes take over the Requests of a node that died.
    #[arg(long, env = "SLUICE_REQUEST_LEASE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400), hide = true)]
    pub request_lease_secs: u64,
    /// Seconds a client may take to send a request's headers before its connection is closed
    /// (slow clients holding connections open); the body and the handling have their own limit.
    #[arg(long, env = "SLUICE_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub header_timeout_secs: u64,
    #[command(flatten)]
    pub slack: SlackArgs,
    /// 32 random bytes (hex or base64) that encrypt Slack tokens and secrets at rest. SQLite:
    /// generated at first start beside the database file (`<db>.key`); PostgreSQL: required.
    #[arg(long, env = "SLUICE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,
    #[command(flatten)]
    pub slack_app: crate::slack_integrations::SlackAppArgs,
}

impl ServeArgs {
    pub fn request_lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.request_lease_secs)
    }

    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }
}
