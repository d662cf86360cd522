//! Slack workspace integrations: the Slack app's settings, the connected workspaces by alias and
//! the pending OAuth installs (schema 4).
//!
//! Secrets arrive here already sealed (AEAD ciphertext made by the server with
//! `SLUICE_SECRET_KEY`) and leave as they came: this crate stores bytes and never sees a token or a
//! client secret in plain text.

use chrono::{DateTime, Utc};

use crate::db::{DbRow, args};
use crate::types::{from_millis, millis};
use crate::{Error, Store};

/// The Slack app used for OAuth installs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackAppRow {
    pub client_id: String,
    /// Sealed.
    pub client_secret: Vec<u8>,
    /// Sealed.
    pub signing_secret: Option<Vec<u8>>,
    pub updated_at: DateTime<Utc>,
}

/// How an integration was connected.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IntegrationSource {
    /// Installed through Slack's OAuth v2 flow.
    OAuth,
    /// Registered with a bot token (the API or `SLACK_BOT_TOKEN`).
    Token,
}

impl IntegrationSource {
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationSource::OAuth => "oauth",
            IntegrationSource::Token => "token",
        }
    }

    fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "oauth" => Ok(IntegrationSource::OAuth),
            "token" => Ok(IntegrationSource::Token),
            other => Err(Error::corrupt("slack integration source", other)),
        }
    }
}

/// A connected Slack workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackIntegrationRow {
    /// A UUID v7, kept when the alias is reinstalled.
    pub id: String,
    pub alias: String,
    pub team_id: String,
    pub team_name: String,
    pub bot_user_id: Option<String>,
    pub scope: Option<String>,
    pub source: IntegrationSource,
    /// Sealed.
    pub bot_token: Vec<u8>,
    /// Sealed; only with token rotation.
    pub refresh_token: Option<Vec<u8>>,
    /// When the bot token expires (token rotation).
    pub token_expires_at: Option<DateTime<Utc>>,
    pub installed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An install or registration of `alias`: a new integration, or the new token of an existing one.
#[derive(Clone, Debug)]
pub struct SlackIntegrationWrite<'a> {
    pub alias: &'a str,
    pub team_id: &'a str,
    pub team_name: &'a str,
    pub bot_user_id: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub source: IntegrationSource,
    pub bot_token: &'a [u8],
    pub refresh_token: Option<&'a [u8]>,
    pub token_expires_at: Option<DateTime<Utc>>,
}

/// What became of an OAuth state presented at the callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OAuthStateUse {
    /// It was pending and is now used: the install of this alias may go on.
    Taken { alias: String },
    /// No install was started with it.
    Unknown,
    /// It was used before.
    Used,
    /// It expired before it came back.
    Expired,
}

/// Used OAuth states are kept this long after they expire (to tell "used" from "unknown"), then
/// removed when the next install starts.
const STATE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

const INTEGRATION_COLUMNS: &str = "id, alias, team_id, team_name, bot_user_id, scope, source, bot_token, \
     refresh_token, token_expires_at, installed_at, updated_at";

fn bytes(r: &DbRow, col: &'static str) -> Result<Vec<u8>, Error> {
    r.opt_bytes(col)?.ok_or_else(|| Error::corrupt("slack integration", format!("`{col}` is NULL")))
}

fn integration(r: &DbRow) -> Result<SlackIntegrationRow, Error> {
    Ok(SlackIntegrationRow {
        id: r.text("id")?,
        alias: r.text("alias")?,
        team_id: r.text("team_id")?,
        team_name: r.text("team_name")?,
        bot_user_id: r.opt_text("bot_user_id")?,
        scope: r.opt_text("scope")?,
        source: IntegrationSource::parse(&r.text("source")?)?,
        bot_token: bytes(r, "bot_token")?,
        refresh_token: r.opt_bytes("refresh_token")?,
        token_expires_at: r.opt_int("token_expires_at")?.map(|ms| from_millis("token expiry", ms)).transpose()?,
        installed_at: from_millis("installed_at", r.int("installed_at")?)?,
        updated_at: from_millis("updated_at", r.int("updated_at")?)?,
    })
}

impl Store {
    // ---- the Slack app ----

    /// The Slack app's settings, if set.
    pub async fn slack_app(&self) -> Result<Option<SlackAppRow>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional("SELECT client_id, client_secret, signing_secret, updated_at FROM slack_app", args![])
            .await?;
        row.map(|r| {
            Ok(SlackAppRow {
                client_id: r.text("client_id")?,
                client_secret: r
                    .opt_bytes("client_secret")?
                    .ok_or_else(|| Error::corrupt("slack app", "`client_secret` is NULL"))?,
                signing_secret: r.opt_bytes("signing_secret")?,
                updated_at: from_millis("updated_at", r.int("updated_at")?)?,
            })
        })
        .transpose()
    }

    /// Sets the Slack app's settings, replacing what was there.
    pub async fn set_slack_app(
        &self,
        client_id: &str,
        client_secret: &[u8],
        signing_secret: Option<&[u8]>,
    ) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        tx.conn()
            .execute(
                "INSERT INTO slack_app (id, client_id, client_secret, signing_secret, updated_at)
                 VALUES (1, $1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id,
                     client_secret = excluded.client_secret, signing_secret = excluded.signing_secret,
                     updated_at = excluded.updated_at",
                args![client_id, Some(client_secret), signing_secret, millis(Utc::now())],
            )
            .await?;
        tx.commit().await
    }

    // ---- integrations ----

    /// Every integration, by alias.
    pub async fn slack_integrations(&self) -> Result<Vec<SlackIntegrationRow>, Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM slack_integrations ORDER BY alias");
        let rows = tx.conn().fetch_all(&sql, args![]).await?;
        rows.iter().map(integration).collect()
    }

    /// The integration called `alias`.
    pub async fn slack_integration(&self, alias: &str) -> Result<Option<SlackIntegrationRow>, Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM slack_integrations WHERE alias = $1");
        let row = tx.conn().fetch_optional(&sql, args![alias]).await?;
        row.as_ref().map(integration).transpose()
    }

    /// Stores an install: a new integration, or (same alias) replaces the workspace and tokens of
    /// the existing one, keeping its id. Returns the row and whether it is new.
    pub async fn put_slack_integration(
        &self,
        write: &SlackIntegrationWrite<'_>,
    ) -> Result<(SlackIntegrationRow, bool), Error> {
        let now = millis(Utc::now());
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let existed =
            c.fetch_optional("SELECT id FROM slack_integrations WHERE alias = $1", args![write.alias]).await?;
        // On PostgreSQL two first installs of one alias may race: the loser's insert becomes an
        // update of the winner's row, as a reinstall would.
        c.execute(
            "INSERT INTO slack_integrations (id, alias, team_id, team_name, bot_user_id, scope, source, bot_token,
                 refresh_token, token_expires_at, installed_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
             ON CONFLICT (alias) DO UPDATE SET team_id = excluded.team_id, team_name = excluded.team_name,
                 bot_user_id = excluded.bot_user_id, scope = excluded.scope, source = excluded.source,
                 bot_token = excluded.bot_token, refresh_token = excluded.refresh_token,
                 token_expires_at = excluded.token_expires_at, installed_at = excluded.installed_at,
                 updated_at = excluded.updated_at",
            args![
                uuid::Uuid::now_v7().to_string(),
                write.alias,
                write.team_id,
                write.team_name,
                write.bot_user_id,
                write.scope,
                write.source.as_str(),
                Some(write.bot_token),
                write.refresh_token,
                write.token_expires_at.map(millis),
                now,
            ],
        )
        .await?;
        let sql = format!("SELECT {INTEGRATION_COLUMNS} FROM slack_integrations WHERE alias = $1");
        let row = c.fetch_optional(&sql, args![write.alias]).await?;
        let row = match row {
            Some(r) => integration(&r)?,
            None => return Err(Error::corrupt("slack integration", "vanished while it was written")),
        };
        tx.commit().await?;
        Ok((row, existed.is_none()))
    }

    /// Replaces the tokens of a rotating integration after a refresh, but only if its refresh
    /// token is still `previous_refresh` (another node may have refreshed it meanwhile; refresh
    /// tokens are single-use). Returns whether it was replaced.
    pub async fn replace_slack_tokens(
        &self,
        alias: &str,
        previous_refresh: &[u8],
        bot_token: &[u8],
        refresh_token: Option<&[u8]>,
        token_expires_at: Option<DateTime<Utc>>,
    ) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute(
                "UPDATE slack_integrations SET bot_token = $1, refresh_token = $2, token_expires_at = $3, updated_at = $4
                 WHERE alias = $5 AND refresh_token = $6",
                args![
                    Some(bot_token),
                    refresh_token,
                    token_expires_at.map(millis),
                    millis(Utc::now()),
                    alias,
                    Some(previous_refresh)
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Removes the integration called `alias`; false when there was none.
    pub async fn delete_slack_integration(&self, alias: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx.conn().execute("DELETE FROM slack_integrations WHERE alias = $1", args![alias]).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    // ---- OAuth states ----

    /// Records a pending install of `alias` by the hash of its state's nonce (and drops states
    /// that expired long ago).
    pub async fn add_slack_oauth_state(
        &self,
        nonce_hash: &str,
        alias: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let now = millis(Utc::now());
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        c.execute("DELETE FROM slack_oauth_states WHERE expires_at < $1", args![now - STATE_RETENTION_MS]).await?;
        c.execute(
            "INSERT INTO slack_oauth_states (nonce_hash, alias, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            args![nonce_hash, alias, now, millis(expires_at)],
        )
        .await?;
        tx.commit().await
    }

    /// Uses the state with this nonce hash, once: of any number of callers (on any number of
    /// nodes) presenting the same pending state, exactly one gets [`OAuthStateUse::Taken`].
    pub async fn take_slack_oauth_state(&self, nonce_hash: &str, now: DateTime<Utc>) -> Result<OAuthStateUse, Error> {
        let now = millis(now);
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let taken = c
            .execute(
                "UPDATE slack_oauth_states SET used_at = $1
                 WHERE nonce_hash = $2 AND used_at IS NULL AND expires_at > $1",
                args![now, nonce_hash],
            )
            .await?;
        let row = c
            .fetch_optional(
                "SELECT alias, expires_at, used_at FROM slack_oauth_states WHERE nonce_hash = $1",
                args![nonce_hash],
            )
            .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(OAuthStateUse::Unknown) };
        Ok(if taken == 1 {
            OAuthStateUse::Taken { alias: row.text("alias")? }
        } else if row.opt_int("used_at")?.is_some() {
            OAuthStateUse::Used
        } else {
            OAuthStateUse::Expired
        })
    }
}
