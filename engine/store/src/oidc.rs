//! OpenID Connect sign-in (schema 16): pending sign-ins by the hash of their `state` (used once,
//! short-lived) and the link from a provider's subject to a user.

use chrono::{DateTime, Utc};

use crate::Error;
use crate::db::args;
use crate::store::Store;
use crate::types::millis;

/// A pending OIDC sign-in, as [`Store::take_oidc_login`] hands it back once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcLogin {
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier for the token endpoint.
    pub verifier: String,
    /// Where the browser goes once signed in (a local path).
    pub next_path: String,
}

/// What became of a `state` presented at the callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OidcLoginUse {
    /// It was pending and is now used.
    Taken(OidcLogin),
    /// No sign-in was started with it.
    Unknown,
    /// It was used before.
    Used,
    /// It expired before it came back.
    Expired,
}

/// Pending sign-ins are kept this long after they expire (to tell "used" from "unknown"), then
/// removed when the next one starts.
const LOGIN_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

impl Store {
    /// Records a sign-in sent to the provider (and drops those that expired long ago).
    pub async fn add_oidc_login(
        &self,
        state_hash: &str,
        login: &OidcLogin,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let now = millis(Utc::now());
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        c.execute("DELETE FROM oidc_logins WHERE expires_at < $1", args![now - LOGIN_RETENTION_MS]).await?;
        c.execute(
            "INSERT INTO oidc_logins (state_hash, nonce, verifier, next_path, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                state_hash,
                login.nonce.as_str(),
                login.verifier.as_str(),
                login.next_path.as_str(),
                now,
                millis(expires_at)
            ],
        )
        .await?;
        tx.commit().await
    }

    /// Uses the pending sign-in of this state hash, once: of any number of callers (on any
    /// number of nodes) presenting the same state, exactly one gets [`OidcLoginUse::Taken`].
    pub async fn take_oidc_login(&self, state_hash: &str, now: DateTime<Utc>) -> Result<OidcLoginUse, Error> {
        let now = millis(now);
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let taken = c
            .execute(
                "UPDATE oidc_logins SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL AND expires_at > $1",
                args![now, state_hash],
            )
            .await?;
        let row = c
            .fetch_optional(
                "SELECT nonce, verifier, next_path, used_at FROM oidc_logins WHERE state_hash = $1",
                args![state_hash],
            )
            .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(OidcLoginUse::Unknown) };
        Ok(if taken == 1 {
            OidcLoginUse::Taken(OidcLogin {
                nonce: row.text("nonce")?,
                verifier: row.text("verifier")?,
                next_path: row.text("next_path")?,
            })
        } else if row.opt_int("used_at")?.is_some() {
            OidcLoginUse::Used
        } else {
            OidcLoginUse::Expired
        })
    }

    /// The user a provider's subject signs in as, if linked.
    pub async fn oidc_user(&self, issuer: &str, subject: &str) -> Result<Option<String>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional("SELECT user_id FROM oidc_links WHERE issuer = $1 AND subject = $2", args![issuer, subject])
            .await?;
        row.map(|r| r.text("user_id")).transpose()
    }

    /// Whether a user is linked to some subject of `issuer`.
    pub async fn oidc_linked(&self, issuer: &str, user_id: &str) -> Result<bool, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional("SELECT subject FROM oidc_links WHERE issuer = $1 AND user_id = $2", args![issuer, user_id])
            .await?;
        Ok(row.is_some())
    }

    /// Links a provider's subject to a user; false when the subject was linked already.
    pub async fn link_oidc(&self, issuer: &str, subject: &str, user_id: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute(
                "INSERT INTO oidc_links (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (issuer, subject) DO NOTHING",
                args![issuer, subject, user_id, millis(Utc::now())],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }
}
