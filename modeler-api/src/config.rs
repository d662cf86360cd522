//! The typed configuration of the `sluice` binary, in one place: every flag with its environment
//! variable (`sluice serve`'s, and the connectors' settings that `sluice run` and `check` share).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use sluice_engine::runtime::limits;

pub use sluice_connector_api::Secret;

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
    /// A folder whose `*.bpmn` and `*.dmn` files are deployed at start.
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
    /// Days an audit log entry is kept; 0 keeps them forever. Pruned in the background.
    #[arg(long, env = "SLUICE_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u32,
    /// Data paths Requests are often searched by (`customer.name,amount`): each gets an index,
    /// built at start, so that `GET /api/v1/requests?data.customer.name=Acme` reads only the
    /// matching Requests. Other paths can be searched too, by reading every Request.
    #[arg(long, env = "SLUICE_SEARCH_FIELDS", value_delimiter = ',')]
    pub search_fields: Vec<String>,
    /// Milliseconds a background operation (`POST /api/v1/operations`) pauses after each
    /// Request, so that a large migration leaves room for the Requests' own work.
    #[arg(long, env = "SLUICE_OPERATION_PACE_MS", default_value_t = 0, hide = true)]
    pub operation_pace_ms: u64,
    /// Seconds a node's lease on a Request lasts without a heartbeat (renewed every third of
    /// it): how soon other nodes take over the Requests of a node that died.
    #[arg(long, env = "SLUICE_REQUEST_LEASE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400), hide = true)]
    pub request_lease_secs: u64,
    /// Seconds a client may take to send a request's headers before its connection is closed
    /// (slow clients holding connections open); the body and the handling have their own limit.
    #[arg(long, env = "SLUICE_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub header_timeout_secs: u64,
    /// Seconds a request may take (reading its body and handling it) before it is answered 408;
    /// a 408 means nothing was done. A request that began writing is finished and answered.
    #[arg(long, env = "SLUICE_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3_600), hide = true)]
    pub request_timeout_secs: u64,
    #[command(flatten)]
    pub connectors: ConnectorArgs,
    #[command(flatten)]
    pub job_types: JobTypeArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The crash-loop guard: how many times a job may be cut short by the server stopping while
    /// it runs (a job that kills the process) before it is no longer run but becomes an incident.
    #[arg(long, env = "SLUICE_MAX_JOB_CRASHES", default_value_t = sluice_worker::DEFAULT_MAX_JOB_CRASHES, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_job_crashes: u32,
    /// 32 random bytes (hex or base64) that encrypt Slack tokens and secrets at rest. SQLite:
    /// generated at first start beside the database file (`<db>.key`); PostgreSQL: required.
    #[arg(long, env = "SLUICE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<Secret>,
    #[command(flatten)]
    pub slack_app: SlackAppArgs,
    /// `text` (default) or `json`: one JSON object per line on stderr, with the `request_id` and
    /// `element_id` of the work it is about.
    #[arg(long, value_enum, env = "SLUICE_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::logs::LogFormat,
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

/// `sluice feel`.
#[derive(clap::Args, Debug, Clone)]
pub struct FeelArgs {
    /// The FEEL expression (a leading `=` is allowed).
    pub expression: String,
    /// The variables, a JSON object, or `@FILE` to read it from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    pub data: Option<String>,
    /// What `now()` and `today()` give (RFC 3339); defaults to the current time.
    #[arg(long)]
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `sluice export`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    /// `sqlite://PATH` or `postgres://…`: the database `sluice serve` uses.
    #[arg(long, env = "SLUICE_DATABASE_URL", default_value = "sqlite://sluice.db", hide_env_values = true)]
    pub database_url: Secret,
    /// Export the Requests that finished before this time (RFC 3339).
    #[arg(long, conflicts_with = "older_than_days", required_unless_present = "older_than_days")]
    pub finished_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Export the Requests that finished more than this many days ago (what
    /// `SLUICE_HISTORY_RETENTION_DAYS` prunes).
    #[arg(long)]
    pub older_than_days: Option<u32>,
    /// The JSON lines file to write (appended to); default: standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Delete each batch of exported Requests once it is written and flushed to disk.
    #[arg(long)]
    pub prune: bool,
    /// Requests read (and pruned) per batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch: u32,
}

/// Which job types external workers may take besides the connectors (issue 17).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct JobTypeArgs {
    /// The job types service tasks may name besides the connectors, comma-separated (`*`: any):
    /// such a task's job waits for a worker (`POST /api/v1/jobs/activate`). A type that is
    /// neither a connector nor listed is refused at deploy and by `sluice check`.
    #[arg(long, env = "SLUICE_JOB_TYPES", default_value = "")]
    pub job_types: String,
}

impl JobTypeArgs {
    pub fn job_types(&self) -> sluice_worker::JobTypes {
        sluice_worker::JobTypes::parse(&self.job_types)
    }
}

/// Every connector's settings, each connector's in a group of its own: a connector with settings
/// adds its group here and takes it in `connectors::registry`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnectorArgs {
    #[command(flatten)]
    pub slack: SlackArgs,
}

/// How the Slack Notification connector reaches Slack.
#[derive(clap::Args, Debug, Clone)]
pub struct SlackArgs {
    /// Base of the Slack Web API (tests point it at a local fake).
    #[arg(long, env = "SLACK_API_URL", default_value = sluice_slack::client::DEFAULT_BASE_URL)]
    pub slack_api_url: String,
    /// A bot token, used as the Slack integration with alias `default`.
    #[arg(long, env = "SLACK_BOT_TOKEN", hide_env_values = true)]
    pub slack_bot_token: Option<Secret>,
    /// Camunda 8 Slack tasks: which integration a token secret stands for, as
    /// `SECRET=alias,OTHER=alias` (say `SLACK_OAUTH_TOKEN=sales`). A task whose `token` is
    /// `{{secrets.SECRET}}` posts through that integration; other tokens post through the
    /// integration that has the same bot token, else with the token itself.
    #[arg(long, env = "SLUICE_SLACK_SECRET_ALIASES", value_parser = parse_secret_aliases, default_value = "")]
    pub slack_secret_aliases: SecretAliases,
    /// Milliseconds between two reads of one workspace's channel history (to find a post whose
    /// answer was lost): Slack allows apps outside its Marketplace one a minute.
    #[arg(long, env = "SLUICE_SLACK_HISTORY_INTERVAL_MS", default_value_t = 60_000, hide = true)]
    pub slack_history_interval_ms: u64,
}

/// Secret name → Slack integration alias (`SLUICE_SLACK_SECRET_ALIASES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretAliases(pub std::collections::BTreeMap<String, String>);

fn parse_secret_aliases(text: &str) -> Result<SecretAliases, String> {
    let mut map = std::collections::BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (secret, alias) = pair
            .split_once('=')
            .map(|(s, a)| (s.trim(), a.trim()))
            .filter(|(s, a)| !s.is_empty() && !a.is_empty())
            .ok_or_else(|| format!("`{pair}` is not SECRET=alias (say SLACK_OAUTH_TOKEN=sales)"))?;
        map.insert(secret.to_string(), alias.to_string());
    }
    Ok(SecretAliases(map))
}

impl Default for SlackArgs {
    fn default() -> Self {
        SlackArgs {
            slack_api_url: sluice_slack::client::DEFAULT_BASE_URL.into(),
            slack_bot_token: None,
            slack_secret_aliases: SecretAliases::default(),
            slack_history_interval_ms: 60_000,
        }
    }
}

/// The Slack app and OAuth settings of `sluice serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct SlackAppArgs {
    /// Slack's install page for OAuth v2.
    #[arg(long, env = "SLACK_OAUTH_AUTHORIZE_URL", default_value = "https://slack.com/oauth/v2/authorize")]
    pub slack_oauth_authorize_url: String,
    /// The Slack app's client id (for OAuth installs; also settable through the admin API).
    #[arg(long, env = "SLACK_CLIENT_ID")]
    pub slack_client_id: Option<String>,
    /// The Slack app's client secret.
    #[arg(long, env = "SLACK_CLIENT_SECRET", hide_env_values = true)]
    pub slack_client_secret: Option<Secret>,
    /// The Slack app's signing secret (verifies requests from Slack).
    #[arg(long, env = "SLACK_SIGNING_SECRET", hide_env_values = true)]
    pub slack_signing_secret: Option<Secret>,
    /// How long an OAuth install may take, in seconds.
    #[arg(long, env = "SLUICE_SLACK_OAUTH_STATE_TTL_SECS", default_value_t = 600, hide = true)]
    pub slack_oauth_state_ttl_secs: u64,
    /// A rotating token is refreshed when it expires within this many seconds.
    #[arg(long, env = "SLUICE_SLACK_REFRESH_MARGIN_SECS", default_value_t = 600, hide = true)]
    pub slack_refresh_margin_secs: u64,
    /// How long a channel listing is reused, in seconds.
    #[arg(long, env = "SLUICE_SLACK_CHANNEL_CACHE_SECS", default_value_t = 30, hide = true)]
    pub slack_channel_cache_secs: u64,
}

impl SlackAppArgs {
    /// The settings the Slack app starts with.
    pub fn settings(&self) -> sluice_slack_app::AppSettings {
        sluice_slack_app::AppSettings {
            client_id: self.slack_client_id.clone(),
            client_secret: self.slack_client_secret.clone(),
            signing_secret: self.slack_signing_secret.clone(),
        }
    }

    /// How the integrations talk to Slack and send admins there.
    pub fn options(&self, public_url: String) -> sluice_slack_app::integrations::Options {
        sluice_slack_app::integrations::Options {
            public_url,
            authorize_url: self.slack_oauth_authorize_url.clone(),
            state_ttl: Duration::from_secs(self.slack_oauth_state_ttl_secs),
            refresh_margin: Duration::from_secs(self.slack_refresh_margin_secs),
            channel_cache: Duration::from_secs(self.slack_channel_cache_secs),
        }
    }
}

/// The limits every Request lives within (`sluice serve` and `sluice run` alike). A breach is an
/// incident that names the limit and the element, never a crash.
#[derive(clap::Args, Debug, Clone)]
pub struct LimitArgs {
    /// The most bytes of values one expression evaluation may build.
    #[arg(long, env = "SLUICE_MAX_VALUE_BYTES", default_value_t = sluice_feel::DEFAULT_MAX_VALUE_BYTES)]
    pub max_value_bytes: usize,
    /// The most sequence flows a Request may take within SLUICE_MOVES_WINDOW_SECS, across all its
    /// steps (catches loops through timers and messages).
    #[arg(long, env = "SLUICE_MAX_MOVES_PER_WINDOW", default_value_t = limits::DEFAULT_MAX_MOVES_PER_WINDOW)]
    pub max_moves_per_window: u32,
    /// The window of SLUICE_MAX_MOVES_PER_WINDOW, in seconds.
    #[arg(long, env = "SLUICE_MOVES_WINDOW_SECS", default_value_t = limits::DEFAULT_WINDOW_SECS)]
    pub moves_window_secs: u64,
    /// How deep call activities may nest Requests.
    #[arg(long, env = "SLUICE_MAX_CALL_DEPTH", default_value_t = limits::DEFAULT_MAX_CALL_DEPTH)]
    pub max_call_depth: u32,
    /// How many child Requests one Request may start in all.
    #[arg(long, env = "SLUICE_MAX_CHILDREN", default_value_t = limits::DEFAULT_MAX_CHILDREN)]
    pub max_children: u32,
    /// How large a Request's data (all its variables, as JSON text) may grow, in bytes.
    #[arg(long, env = "SLUICE_MAX_DATA_BYTES", default_value_t = limits::DEFAULT_MAX_DATA_BYTES)]
    pub max_data_bytes: u64,
}

impl LimitArgs {
    /// Sets the limits for this process.
    pub fn apply(&self) {
        sluice_feel::set_max_value_bytes(self.max_value_bytes);
        limits::set_moves_per_window(self.max_moves_per_window, self.moves_window_secs);
        limits::set_calls(self.max_call_depth, self.max_children);
        limits::set_max_data_bytes(self.max_data_bytes);
    }
}
