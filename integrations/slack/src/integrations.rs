//! Slack workspace integrations of `sluice serve`: the Slack app's settings, integrations by alias
//! (installed through OAuth v2 or registered with a bot token), their tokens sealed at rest with
//! `SLUICE_SECRET_KEY`, rotating tokens refreshed before they expire, and channel listings.
//!
//! [`SlackIntegrations`] is the one handle: the HTTP handlers use it, and it is the
//! [`TokenProvider`] through which the Slack Notification connector finds an integration's token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sluice_slack::Secret;
use sluice_slack::client::{self, AppCredentials, Channel, Client, Grant, ListRequest};
use sluice_slack::tokens::{self, DEFAULT_ALIAS, Integration, StaticTokens, TokenProvider};
use sluice_store::{IntegrationSource, OAuthStateUse, SlackIntegrationRow, SlackIntegrationWrite, Store};

use sluice_secrets::{self as secret_key, CHECK_SETTING, SecretKey};

use crate::reliance::{self, Reliance};

/// The scopes an install asks for: post (also in public channels the bot has not joined), list
/// public and private channels, read a channel's recent history (whether a post whose answer was
/// lost went through), open direct messages, and find people (who clicked a button, the Slack
/// user with a Sluice user's email).
pub const SCOPES: &[&str] = &[
    "chat:write",
    "chat:write.public",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "im:history",
    "im:write",
    "users:read",
    "users:read.email",
];
/// Where Slack sends the admin back after an install, under `SLUICE_PUBLIC_URL`.
pub const CALLBACK_PATH: &str = "/api/v1/integrations/slack/oauth/callback";
/// Said with every channel listing.
pub const PRIVATE_CHANNELS_NOTE: &str =
    "Private channels appear once the bot is invited to them (/invite @your-bot in the channel).";

/// The Slack app's settings given at start (`SLACK_CLIENT_ID`, `SLACK_CLIENT_SECRET`,
/// `SLACK_SIGNING_SECRET`); they are stored, sealed, so the admin API can change them later.
#[derive(Debug, Clone, Default)]
pub struct AppSettings {
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub signing_secret: Option<Secret>,
}

/// How the integrations talk to Slack and send admins there.
#[derive(Debug, Clone)]
pub struct Options {
    pub public_url: String,
    pub authorize_url: String,
    pub state_ttl: Duration,
    pub refresh_margin: Duration,
    pub channel_cache: Duration,
}

/// What went wrong; each variant is answered with its own API error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid alias `{0}`: use 1 to 64 letters, digits, `-`, `_` or `.` (not `install` or `oauth`)")]
    InvalidAlias(String),
    #[error("there is no Slack integration `{0}`")]
    NotFound(String),
    #[error(
        "the Slack app is not configured: set its client id and secret with PUT /api/v1/admin/slack-app \
         or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"
    )]
    AppNotConfigured,
    #[error("{0}")]
    Invalid(String),
    #[error("Slack refused the bot token: `{0}`")]
    AuthFailed(String),
    #[error("Slack refused to complete the install: {0}")]
    OAuthFailed(String),
    #[error("the install was cancelled in Slack (`{0}`)")]
    Denied(String),
    #[error("the OAuth state is not one this server issued: start the install again")]
    ForgedState,
    #[error("the OAuth state was used already: start the install again")]
    UsedState,
    #[error("the OAuth state expired: start the install again")]
    ExpiredState,
    /// Slack failed or could not be reached.
    #[error("{context}: {source}")]
    Slack {
        context: String,
        #[source]
        source: client::Error,
    },
    /// Deleting it would break what relies on it.
    #[error(
        "the Slack integration `{alias}` is in use by {}: change those to another integration first, or delete it \
         anyway with ?force=true (they fail until then)",
        reliance.describe()
    )]
    InUse { alias: String, reliance: Reliance },
    /// Connecting `alias` next to the only integration would leave the tasks that name none
    /// without one (the choosing rule picks the only one, else `default`).
    #[error(
        "connecting `{alias}` as a second Slack integration would break the deployed Slack tasks that name no \
         integration, which use the only one, `{only}`, today: {}. Name the integration in those models (the task \
         input `integration` set to `{only}`) and deploy them again, or connect the new workspace with the alias \
         `default` (tasks that name no integration then post with it)",
        reliance.describe()
    )]
    NamelessTasks { alias: String, only: String, reliance: Reliance },
    #[error(transparent)]
    Key(#[from] secret_key::Error),
    #[error(transparent)]
    Store(#[from] sluice_store::Error),
}

/// An integration as the API shows it: never a token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrationInfo {
    pub id: String,
    pub alias: String,
    pub team: Team,
    /// `oauth` or `token`.
    pub source: &'static str,
    pub installed_at: String,
    /// When the bot token expires (token rotation), refreshed before then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Team {
    pub id: String,
    pub name: String,
}

impl From<&SlackIntegrationRow> for IntegrationInfo {
    fn from(r: &SlackIntegrationRow) -> Self {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        IntegrationInfo {
            id: r.id.clone(),
            alias: r.alias.clone(),
            team: Team { id: r.team_id.clone(), name: r.team_name.clone() },
            source: r.source.as_str(),
            installed_at: time(r.installed_at),
            token_expires_at: r.token_expires_at.map(time),
        }
    }
}

/// The Slack app's settings, opened.
#[derive(Debug, Clone)]
pub struct SlackApp {
    pub client_id: String,
    pub client_secret: Secret,
    pub signing_secret: Option<Secret>,
}

/// The Slack integrations of this server. Cheap to clone.
#[derive(Clone)]
pub struct SlackIntegrations {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    key: SecretKey,
    client: Client,
    options: Options,
    /// `SLACK_BOT_TOKEN` while it could not be registered (Slack unreachable at start): used as
    /// the integration `default` until one is stored.
    fallback: Mutex<Option<Secret>>,
    /// One refresh at a time in this process (refresh tokens are single-use).
    refresh: tokio::sync::Mutex<()>,
    channels: Mutex<HashMap<String, CachedChannels>>,
}

/// A channel listing of one alias and when it was read.
type CachedChannels = (Instant, Arc<Vec<Channel>>);

impl std::fmt::Debug for SlackIntegrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackIntegrations").field("options", &self.inner.options).finish_non_exhaustive()
    }
}

// Where each sealed value belongs: the associated data of its ciphertext.
fn token_purpose(alias: &str) -> String {
    format!("slack_integration:{alias}:bot_token")
}
fn refresh_purpose(alias: &str) -> String {
    format!("slack_integration:{alias}:refresh_token")
}
const CLIENT_SECRET_PURPOSE: &str = "slack_app:client_secret";
/// What a sealed value in the `settings` table starts with.
pub const SEALED_PREFIX: &str = "sealed:v1:";
const SIGNING_SECRET_PURPOSE: &str = "slack_app:signing_secret";

/// Checks an alias: 1 to 64 of `[A-Za-z0-9_.-]`, not `install` or `oauth` (route names).
pub fn check_alias(alias: &str) -> Result<&str, Error> {
    let ok = (1..=64).contains(&alias.len())
        && !matches!(alias, "install" | "oauth")
        && alias.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(alias) } else { Err(Error::InvalidAlias(alias.to_string())) }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hex_sha256(bytes: &[u8]) -> String {
    sluice_secrets::hex(&Sha256::digest(bytes))
}

impl SlackIntegrations {
    /// Checks that `key` is the key the database's secrets were sealed with (recording it at first
    /// use), and sets up the Slack client for admin calls.
    pub async fn new(store: Store, key: SecretKey, api_url: &str, options: Options) -> Result<Self, Error> {
        let check = key.check_value()?;
        let stored = store.setting_or_insert(CHECK_SETTING, &check).await?;
        key.verify_check_value(&stored)?;
        // Listing channels waits out Slack's 429s (bounded) inside the API's own 30 s timeout.
        let config = client::Config {
            base_url: api_url.to_string(),
            timeout: Duration::from_secs(10),
            rate_limit_retries: 5,
            max_rate_limit_wait: Duration::from_secs(15),
        };
        let client = Client::with_config(config)
            .map_err(|source| Error::Slack { context: "cannot set up the Slack client".into(), source })?;
        Ok(SlackIntegrations {
            inner: Arc::new(Inner {
                store,
                key,
                client,
                options,
                fallback: Mutex::new(None),
                refresh: tokio::sync::Mutex::new(()),
                channels: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn key(&self) -> &SecretKey {
        &self.inner.key
    }

    /// Seals `plaintext` for `purpose` as text for the `settings` table: [`SEALED_PREFIX`] and
    /// the sealed bytes in base64url.
    pub fn seal_setting(&self, purpose: &str, plaintext: &[u8]) -> Result<String, Error> {
        Ok(format!("{SEALED_PREFIX}{}", b64(&self.key().seal(purpose, plaintext)?)))
    }

    /// Opens a value of [`seal_setting`](Self::seal_setting); `None` when `text` is not sealed
    /// (written by a version that stored it plain).
    pub fn open_setting(&self, purpose: &str, text: &str) -> Result<Option<Vec<u8>>, Error> {
        let Some(encoded) = text.strip_prefix(SEALED_PREFIX) else { return Ok(None) };
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| secret_key::Error::Open(purpose.to_string()))?;
        Ok(Some(self.key().open(purpose, &sealed)?))
    }

    // ---- the Slack app ----

    /// Sets the Slack app's credentials; a `None` signing secret keeps the one stored.
    pub async fn set_app(
        &self,
        client_id: &str,
        client_secret: &Secret,
        signing_secret: Option<&Secret>,
    ) -> Result<(), Error> {
        let client_id = client_id.trim();
        if client_id.is_empty() || client_secret.expose().trim().is_empty() {
            return Err(Error::Invalid("`client_id` and `client_secret` must not be empty".into()));
        }
        let sealed_secret = self.key().seal(CLIENT_SECRET_PURPOSE, client_secret.expose().trim().as_bytes())?;
        let sealed_signing = match signing_secret {
            Some(s) if !s.expose().trim().is_empty() => {
                Some(self.key().seal(SIGNING_SECRET_PURPOSE, s.expose().trim().as_bytes())?)
            }
            Some(_) => return Err(Error::Invalid("`signing_secret` must not be empty".into())),
            None => self.store().slack_app().await?.and_then(|a| a.signing_secret),
        };
        self.store().set_slack_app(client_id, &sealed_secret, sealed_signing.as_deref()).await?;
        Ok(())
    }

    /// The Slack app's settings, opened, if set.
    pub async fn app(&self) -> Result<Option<SlackApp>, Error> {
        let Some(row) = self.store().slack_app().await? else { return Ok(None) };
        let client_secret = Secret::new(self.key().open_text(CLIENT_SECRET_PURPOSE, &row.client_secret)?);
        let signing_secret = match &row.signing_secret {
            Some(s) => Some(Secret::new(self.key().open_text(SIGNING_SECRET_PURPOSE, s)?)),
            None => None,
        };
        Ok(Some(SlackApp { client_id: row.client_id, client_secret, signing_secret }))
    }

    /// The signing secret that requests from Slack (interactivity) are verified with.
    // Read by the interactivity route, which is wired to it separately.
    #[allow(dead_code)]
    pub async fn signing_secret(&self) -> Result<Option<Secret>, Error> {
        Ok(self.app().await?.and_then(|a| a.signing_secret))
    }

    /// Stores the `SLACK_*` app settings given at start (they replace what the API set before).
    pub async fn apply_startup_settings(&self, settings: &AppSettings) -> Result<(), Error> {
        let signing = settings.signing_secret.clone();
        match (&settings.client_id, &settings.client_secret) {
            (Some(id), Some(secret)) => self.set_app(id, secret, signing.as_ref()).await,
            (None, None) => match (signing, self.store().slack_app().await?) {
                (Some(signing), Some(row)) => {
                    let sealed = self.key().seal(SIGNING_SECRET_PURPOSE, signing.expose().trim().as_bytes())?;
                    self.store().set_slack_app(&row.client_id, &row.client_secret, Some(&sealed)).await?;
                    Ok(())
                }
                (Some(_), None) => {
                    tracing::warn!(
                        "SLACK_SIGNING_SECRET is set without SLACK_CLIENT_ID and SLACK_CLIENT_SECRET; \
                         it is stored once the Slack app is configured through PUT /api/v1/admin/slack-app"
                    );
                    Ok(())
                }
                (None, _) => Ok(()),
            },
            _ => Err(Error::Invalid("set both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, or neither".into())),
        }
    }

    // ---- integrations ----

    /// Every integration, by alias.
    pub async fn list(&self) -> Result<Vec<IntegrationInfo>, Error> {
        Ok(self.store().slack_integrations().await?.iter().map(IntegrationInfo::from).collect())
    }

    /// Registers (or replaces) `alias` with a bot token, after Slack's `auth.test` accepts it.
    /// Returns the integration and whether it is new.
    pub async fn register_token(&self, alias: &str, token: &Secret) -> Result<(IntegrationInfo, bool), Error> {
        let alias = check_alias(alias)?;
        let token = Secret::new(token.expose().trim());
        if token.expose().is_empty() {
            return Err(Error::Invalid("`bot_token` must not be empty".into()));
        }
        let who = match self.inner.client.auth_test(&token).await {
            Ok(who) => who,
            Err(e @ client::Error::Api { .. }) => return Err(Error::AuthFailed(e.code().unwrap_or("").to_string())),
            Err(source) => return Err(Error::Slack { context: "cannot check the token with Slack".into(), source }),
        };
        self.check_connectable(alias).await?;
        let sealed = self.key().seal(&token_purpose(alias), token.expose().as_bytes())?;
        let write = SlackIntegrationWrite {
            alias,
            team_id: &who.team_id,
            team_name: &who.team,
            bot_user_id: Some(&who.user_id),
            scope: None,
            source: IntegrationSource::Token,
            bot_token: &sealed,
            refresh_token: None,
            token_expires_at: None,
        };
        let (row, created) = self.store().put_slack_integration(&write).await?;
        self.forget_channels(alias);
        Ok((IntegrationInfo::from(&row), created))
    }

    /// Registers `SLACK_BOT_TOKEN` as `default` at start. If Slack cannot be reached the token is
    /// still used for `default` (unchecked) until a later start registers it; a token Slack
    /// refuses is reported and not used.
    pub async fn register_startup_token(&self, token: &Secret) {
        match self.register_token(DEFAULT_ALIAS, token).await {
            Ok((info, _)) => {
                tracing::info!(team = %info.team.id, "SLACK_BOT_TOKEN is registered as the Slack integration `default`")
            }
            Err(Error::AuthFailed(code)) => tracing::error!(
                slack_error = %code,
                "Slack refused SLACK_BOT_TOKEN; it is not used. Fix it, or connect a workspace through the API"
            ),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "could not register SLACK_BOT_TOKEN with Slack; using it unchecked as the integration `default` \
                     until the next start"
                );
                if let Ok(mut f) = self.inner.fallback.lock() {
                    *f = Some(token.clone());
                }
            }
        }
    }

    /// What relies on `alias`: notification settings naming it, and the Slack tasks of the latest
    /// deployed versions that name it or name none while the choosing rule picks it.
    pub async fn reliance(&self, alias: &str) -> Result<Reliance, Error> {
        let tasks = reliance::deployed_slack_tasks(self.store()).await?;
        let settings = self.store().notification_settings_using(alias).await?;
        let aliases = self.aliases().await?;
        let names: StaticTokens = aliases.iter().map(|a| (a.as_str(), Secret::new(""))).collect();
        let nameless = names.choose(None).ok().map(|i| i.alias);
        Ok(reliance::reliance_on(alias, &tasks, settings, nameless.as_deref()))
    }

    /// Refuses to connect `alias` as a second integration while deployed Slack tasks that name no
    /// integration use the only one (they would have none to pick): unless `alias` is `default`
    /// (they pick it then), replaces an integration, or the only one is `default` already.
    async fn check_connectable(&self, alias: &str) -> Result<(), Error> {
        if alias == DEFAULT_ALIAS {
            return Ok(());
        }
        let aliases = self.aliases().await?;
        let [only] = aliases.as_slice() else { return Ok(()) };
        if only == alias || only == DEFAULT_ALIAS {
            return Ok(());
        }
        let tasks = reliance::deployed_slack_tasks(self.store()).await?;
        let nameless = reliance::nameless(&tasks);
        if nameless.is_empty() {
            return Ok(());
        }
        Err(Error::NamelessTasks { alias: alias.to_string(), only: only.clone(), reliance: nameless })
    }

    /// The aliases the choosing rule chooses among: the stored integrations and `SLACK_BOT_TOKEN`
    /// as `default` while it could not be registered.
    async fn aliases(&self) -> Result<Vec<String>, Error> {
        let rows = self.store().slack_integrations().await?;
        let mut aliases: Vec<String> = rows.into_iter().map(|r| r.alias).collect();
        let fallback = self.inner.fallback.lock().ok().is_some_and(|f| f.is_some());
        if fallback && !aliases.iter().any(|a| a == DEFAULT_ALIAS) {
            aliases.push(DEFAULT_ALIAS.to_string());
        }
        Ok(aliases)
    }

    /// Removes `alias`; unless `force`, refused while something relies on it
    /// ([`reliance`](Self::reliance)).
    pub async fn delete(&self, alias: &str, force: bool) -> Result<(), Error> {
        if !force && self.store().slack_integration(alias).await?.is_some() {
            let reliance = self.reliance(alias).await?;
            if !reliance.is_empty() {
                return Err(Error::InUse { alias: alias.to_string(), reliance });
            }
        }
        let deleted = self.store().delete_slack_integration(alias).await?;
        self.forget_channels(alias);
        if deleted { Ok(()) } else { Err(Error::NotFound(alias.to_string())) }
    }

    // ---- OAuth ----

    /// The `redirect_uri` installs use.
    pub fn redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.inner.options.public_url.trim_end_matches('/'))
    }

    /// Starts an install of `alias`: records a single-use state and answers Slack's authorize URL.
    pub async fn install_url(&self, alias: &str) -> Result<String, Error> {
        let alias = check_alias(alias)?;
        let app = self.app().await?.ok_or(Error::AppNotConfigured)?;
        self.check_connectable(alias).await?;
        let nonce: [u8; 24] = sluice_secrets::random_bytes()?;
        let tag = self.key().sign_state(&nonce);
        let state = format!("{}.{}", b64(&nonce), b64(&tag));
        let ttl = TimeDelta::from_std(self.inner.options.state_ttl).unwrap_or(TimeDelta::minutes(10));
        self.store().add_slack_oauth_state(&hex_sha256(&nonce), alias, Utc::now() + ttl).await?;
        let query = serde_urlencoded::to_string([
            ("client_id", app.client_id.as_str()),
            ("scope", &SCOPES.join(",")),
            ("redirect_uri", &self.redirect_uri()),
            ("state", &state),
        ])
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let base = &self.inner.options.authorize_url;
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(format!("{base}{sep}{query}"))
    }

    /// Checks `state` (signed by this key, issued, unused, unexpired) and uses it up.
    async fn take_state(&self, state: &str) -> Result<String, Error> {
        let decode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok();
        let (nonce, tag) = state.split_once('.').ok_or(Error::ForgedState)?;
        let (Some(nonce), Some(tag)) = (decode(nonce), decode(tag)) else { return Err(Error::ForgedState) };
        if !self.key().verify_state(&nonce, &tag) {
            return Err(Error::ForgedState);
        }
        match self.store().take_slack_oauth_state(&hex_sha256(&nonce), Utc::now()).await? {
            OAuthStateUse::Taken { alias } => Ok(alias),
            OAuthStateUse::Unknown => Err(Error::ForgedState),
            OAuthStateUse::Used => Err(Error::UsedState),
            OAuthStateUse::Expired => Err(Error::ExpiredState),
        }
    }

    /// Finishes an install: Slack's redirect brought back `code` (or `error`) and `state`.
    pub async fn complete_install(
        &self,
        code: Option<&str>,
        error: Option<&str>,
        state: &str,
    ) -> Result<(IntegrationInfo, bool), Error> {
        let alias = self.take_state(state).await?;
        if let Some(error) = error {
            return Err(Error::Denied(error.to_string()));
        }
        let code = code.filter(|c| !c.trim().is_empty()).ok_or_else(|| Error::Invalid("`code` is missing".into()))?;
        let app = self.app().await?.ok_or(Error::AppNotConfigured)?;
        // Checked again: models may have been deployed since the install started.
        self.check_connectable(&alias).await?;
        let credentials = AppCredentials { client_id: app.client_id, client_secret: app.client_secret };
        let grant = Grant::Code { code: code.to_string(), redirect_uri: Some(self.redirect_uri()) };
        let access = match self.inner.client.oauth_v2_access(&credentials, &grant).await {
            Ok(a) => a,
            Err(e @ client::Error::Api { .. }) => {
                return Err(Error::OAuthFailed(explain_oauth_error(e.code().unwrap_or_default())));
            }
            Err(source) => {
                return Err(Error::Slack { context: "cannot exchange the install's code with Slack".into(), source });
            }
        };
        let team = access.team.ok_or_else(|| Error::OAuthFailed("Slack's answer names no workspace (team)".into()))?;
        let sealed = self.key().seal(&token_purpose(&alias), access.access_token.expose().as_bytes())?;
        let refresh = match &access.refresh_token {
            Some(r) => Some(self.key().seal(&refresh_purpose(&alias), r.expose().as_bytes())?),
            None => None,
        };
        let expires = access.expires_in.map(|s| Utc::now() + TimeDelta::seconds(s.min(i64::MAX as u64) as i64));
        let write = SlackIntegrationWrite {
            alias: &alias,
            team_id: &team.id,
            team_name: &team.name,
            bot_user_id: access.bot_user_id.as_deref(),
            scope: Some(&access.scope),
            source: IntegrationSource::OAuth,
            bot_token: &sealed,
            refresh_token: refresh.as_deref(),
            token_expires_at: expires,
        };
        let (row, created) = self.store().put_slack_integration(&write).await?;
        self.forget_channels(&alias);
        tracing::info!(alias = %alias, team = %team.id, "Slack workspace installed");
        Ok((IntegrationInfo::from(&row), created))
    }

    // ---- tokens ----

    /// The bot token of `alias`, refreshed first when it rotates and is about to expire.
    pub async fn token_of(&self, alias: &str) -> Result<Secret, Error> {
        let row = self.store().slack_integration(alias).await?.ok_or_else(|| Error::NotFound(alias.to_string()))?;
        if self.due_for_refresh(&row) {
            return self.refresh(alias).await;
        }
        Ok(Secret::new(self.key().open_text(&token_purpose(alias), &row.bot_token)?))
    }

    fn due_for_refresh(&self, row: &SlackIntegrationRow) -> bool {
        let margin = TimeDelta::from_std(self.inner.options.refresh_margin).unwrap_or(TimeDelta::minutes(10));
        row.refresh_token.is_some() && row.token_expires_at.is_some_and(|at| at - Utc::now() <= margin)
    }

    /// Exchanges the refresh token of `alias` for a new token pair and stores it. Refresh tokens
    /// are single-use: one refresh at a time here, and a conditional write so that of two nodes
    /// refreshing together one keeps its pair and the other takes the stored one.
    async fn refresh(&self, alias: &str) -> Result<Secret, Error> {
        let _one_at_a_time = self.inner.refresh.lock().await;
        let row = self.store().slack_integration(alias).await?.ok_or_else(|| Error::NotFound(alias.to_string()))?;
        let current = Secret::new(self.key().open_text(&token_purpose(alias), &row.bot_token)?);
        let (Some(sealed_refresh), true) = (&row.refresh_token, self.due_for_refresh(&row)) else {
            return Ok(current);
        };
        let still_valid = row.token_expires_at.is_some_and(|at| at > Utc::now());
        let refresh_token = Secret::new(self.key().open_text(&refresh_purpose(alias), sealed_refresh)?);
        let Some(app) = self.app().await? else {
            if still_valid {
                tracing::warn!(alias, "the Slack token expires soon and no Slack app is configured to refresh it");
                return Ok(current);
            }
            return Err(Error::AppNotConfigured);
        };
        let credentials = AppCredentials { client_id: app.client_id, client_secret: app.client_secret };
        let access = match self.inner.client.oauth_v2_access(&credentials, &Grant::Refresh { refresh_token }).await {
            Ok(a) => a,
            Err(source) => {
                // Another node may have used the refresh token first: take what it stored.
                if let Some(now) = self.store().slack_integration(alias).await?
                    && now.refresh_token.as_ref() != Some(sealed_refresh)
                {
                    return Ok(Secret::new(self.key().open_text(&token_purpose(alias), &now.bot_token)?));
                }
                if still_valid && source.is_retryable() {
                    tracing::warn!(alias, error = %source, "cannot refresh the Slack token yet; using it while it lasts");
                    return Ok(current);
                }
                return Err(Error::Slack { context: format!("cannot refresh the token of `{alias}`"), source });
            }
        };
        let sealed = self.key().seal(&token_purpose(alias), access.access_token.expose().as_bytes())?;
        let new_refresh = match &access.refresh_token {
            Some(r) => Some(self.key().seal(&refresh_purpose(alias), r.expose().as_bytes())?),
            None => None,
        };
        let expires = access.expires_in.map(|s| Utc::now() + TimeDelta::seconds(s.min(i64::MAX as u64) as i64));
        let replaced =
            self.store().replace_slack_tokens(alias, sealed_refresh, &sealed, new_refresh.as_deref(), expires).await?;
        if !replaced {
            // Someone else stored a new pair between our read and our write; theirs is the one.
            let now = self.store().slack_integration(alias).await?.ok_or_else(|| Error::NotFound(alias.into()))?;
            return Ok(Secret::new(self.key().open_text(&token_purpose(alias), &now.bot_token)?));
        }
        tracing::info!(alias, "refreshed the rotating Slack token");
        Ok(access.access_token)
    }

    /// The integration the choosing rule picks for `alias` (see [`TokenProvider`]).
    async fn choose(&self, alias: Option<&str>) -> Result<Integration, tokens::Error> {
        let unavailable = |e: Error| tokens::Error::Unavailable(e.to_string());
        let aliases = self.aliases().await.map_err(unavailable)?;
        let fallback = self.inner.fallback.lock().ok().and_then(|f| f.clone());
        // The choosing rule is StaticTokens', applied to the aliases alone; only the chosen
        // integration's token is opened.
        let names: StaticTokens = aliases.iter().map(|a| (a.as_str(), Secret::new(""))).collect();
        let chosen = names.choose(alias)?.alias;
        match (self.token_of(&chosen).await, fallback) {
            (Ok(token), _) => Ok(Integration { alias: chosen, token }),
            (Err(Error::NotFound(_)), Some(token)) if chosen == DEFAULT_ALIAS => {
                Ok(Integration { alias: chosen, token })
            }
            (Err(e), _) => Err(unavailable(e)),
        }
    }

    // ---- channels ----

    /// The channels `alias` can post to: public ones and the private ones the bot is in, every
    /// page of `conversations.list`, reused for a short while unless `fresh`.
    pub async fn channels(&self, alias: &str, fresh: bool) -> Result<Arc<Vec<Channel>>, Error> {
        let ttl = self.inner.options.channel_cache;
        if !fresh
            && let Some((at, list)) = self.inner.channels.lock().ok().and_then(|c| c.get(alias).cloned())
            && at.elapsed() < ttl
        {
            return Ok(list);
        }
        let token = self.token_of(alias).await?;
        let list = self
            .inner
            .client
            .conversations_list_all(&token, &ListRequest::default())
            .await
            .map_err(|source| Error::Slack { context: format!("cannot list the channels of `{alias}`"), source })?;
        let list = Arc::new(list);
        if let Ok(mut cache) = self.inner.channels.lock() {
            cache.insert(alias.to_string(), (Instant::now(), list.clone()));
        }
        Ok(list)
    }

    fn forget_channels(&self, alias: &str) {
        if let Ok(mut cache) = self.inner.channels.lock() {
            cache.remove(alias);
        }
    }
}

impl TokenProvider for SlackIntegrations {
    /// `alias`, else the only integration, else `default`; rotating tokens come refreshed.
    async fn integration(&self, alias: Option<&str>) -> Result<Integration, tokens::Error> {
        self.choose(alias).await
    }

    /// Opens each stored integration's token until one is `token` (a Camunda 8 task's secret
    /// holding a connected workspace's bot token); `SLACK_BOT_TOKEN` while it waits to be stored
    /// counts as `default`.
    async fn integration_with_token(&self, token: &Secret) -> Result<Option<Integration>, tokens::Error> {
        let unavailable = |e: Error| tokens::Error::Unavailable(e.to_string());
        for alias in self.aliases().await.map_err(unavailable)? {
            match self.token_of(&alias).await {
                Ok(t) if t == *token => return Ok(Some(Integration { alias, token: t })),
                Ok(_) | Err(Error::NotFound(_)) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        let fallback = self.inner.fallback.lock().ok().and_then(|f| f.clone());
        Ok(fallback.filter(|f| f == token).map(|t| Integration { alias: DEFAULT_ALIAS.to_string(), token: t }))
    }
}

/// What an `oauth.v2.access` error means for the admin.
fn explain_oauth_error(code: &str) -> String {
    let hint = match code {
        "bad_client_secret" => {
            "the Slack app's client secret is wrong: set the right one with PUT /api/v1/admin/slack-app"
        }
        "invalid_client_id" => "the Slack app's client id is wrong: set the right one with PUT /api/v1/admin/slack-app",
        "invalid_code" | "code_already_used" => "the code is unknown or was used already: start the install again",
        "bad_redirect_uri" => {
            "the redirect URI does not match the app's: check SLUICE_PUBLIC_URL and the app's redirect URLs"
        }
        _ => "start the install again",
    };
    format!("Slack answered `{code}`: {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        for ok in ["default", "sales-eu", "a", "Team_1.prod"] {
            assert!(check_alias(ok).is_ok(), "{ok}");
        }
        for bad in ["", "with space", "ü", "a/b", "install", &"x".repeat(65)] {
            assert!(check_alias(bad).is_err(), "{bad}");
        }
    }
}
