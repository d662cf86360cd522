//! People (schema 12): users with their roles and groups, their API tokens, web sessions, and the
//! audit log.
//!
//! The store keeps what it is given: password hashes (argon2id, made by the server), SHA-256 hashes
//! of API tokens and session cookies. It never sees a password, a token or a cookie. Roles are
//! names; what each allows is the API's business.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::Error;
use crate::db::{Conn, DbRow, args};
use crate::store::{Store, json_text, parse_json};
use crate::types::{from_millis, millis};

/// The id of the built-in user `admin`, made by the migration: it owns the token of
/// `SLUICE_API_TOKEN`, the one generated at first start and the tokens of earlier schemas.
pub const BUILTIN_ADMIN_ID: &str = "00000000-0000-7000-8000-000000000001";

/// A user as the API shows it (never a password or its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    /// Sorted.
    pub groups: Vec<String>,
    /// Slack integration alias → Slack user id.
    pub slack_user_ids: BTreeMap<String, String>,
    /// Whether the user can sign in with a password.
    pub has_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub name: String,
    pub email: String,
    /// argon2id in the PHC string format.
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub slack_user_ids: BTreeMap<String, String>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    pub name: Option<String>,
    pub email: Option<String>,
    /// `Some(None)`: the user can no longer sign in with a password.
    pub password_hash: Option<Option<String>>,
    pub roles: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub slack_user_ids: Option<BTreeMap<String, String>>,
}

/// An API token (never the token; not even its hash leaves the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The token generated at first start (or stored before schema 12).
    pub startup: bool,
}

/// Who a presented token or session cookie belongs to, for the API's authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    /// The token's or session's id.
    pub credential_id: String,
    /// After this the credential is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// A startup token (see [`TokenRow::startup`]).
    pub startup: bool,
}

/// One entry of the audit log to append.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The username of who did it (`None`: nobody signed in, e.g. a failed sign-in of an unknown
    /// name, or Slack's OAuth callback).
    pub actor: Option<String>,
    /// What was done: `sign_in`, `token_created`, `request_canceled`, …
    pub action: String,
    /// What it was done to: a user, token, Request or task id, a process key, an alias.
    pub target: Option<String>,
    /// The client's address.
    pub client: Option<String>,
    /// More about it (a JSON object); never a password, token or secret.
    pub details: Value,
}

/// An entry of the audit log as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRow {
    pub id: String,
    pub entry: AuditEntry,
}

const USER_COLUMNS: &str = "id, username, name, email, password_hash, roles, slack_user_ids, created_at, updated_at";

fn strings(what: &'static str, text: &str) -> Result<Vec<String>, Error> {
    serde_json::from_str(text).map_err(|e| Error::corrupt(what, e))
}

fn user_row(r: &DbRow, groups: Vec<String>) -> Result<UserRow, Error> {
    Ok(UserRow {
        id: r.text("id")?,
        username: r.text("username")?,
        name: r.text("name")?,
        email: r.text("email")?,
        roles: strings("user roles", &r.text("roles")?)?,
        groups,
        slack_user_ids: serde_json::from_str(&r.text("slack_user_ids")?)
            .map_err(|e| Error::corrupt("user slack_user_ids", e))?,
        has_password: r.opt_text("password_hash")?.is_some(),
        created_at: from_millis("user created_at", r.int("created_at")?)?,
        updated_at: from_millis("user updated_at", r.int("updated_at")?)?,
    })
}

fn token_row(r: &DbRow) -> Result<TokenRow, Error> {
    Ok(TokenRow {
        id: r.text("id")?,
        user_id: r.text("user_id")?,
        name: r.text("label")?,
        created_at: from_millis("token created_at", r.int("created_at")?)?,
        expires_at: r.opt_int("expires_at")?.map(|t| from_millis("token expires_at", t)).transpose()?,
        startup: r.int("startup")? != 0,
    })
}

async fn groups_of(c: &mut Conn<'_>, user_id: &str) -> Result<Vec<String>, Error> {
    let rows = c
        .fetch_all("SELECT group_name FROM user_groups WHERE user_id = $1 ORDER BY group_name", args![user_id])
        .await?;
    rows.iter().map(|r| r.text("group_name")).collect()
}

async fn set_groups(c: &mut Conn<'_>, user_id: &str, groups: &[String]) -> Result<(), Error> {
    c.execute("DELETE FROM user_groups WHERE user_id = $1", args![user_id]).await?;
    let mut seen: Vec<&str> = Vec::new();
    for g in groups {
        if seen.contains(&g.as_str()) {
            continue;
        }
        seen.push(g);
        c.execute("INSERT INTO user_groups (user_id, group_name) VALUES ($1, $2)", args![user_id, g.as_str()]).await?;
    }
    Ok(())
}

/// The user behind a credential row (a token's or a session's, joined with `users` as `u`).
async fn principal(c: &mut Conn<'_>, row: Option<DbRow>) -> Result<Option<Principal>, Error> {
    let Some(r) = row else { return Ok(None) };
    let user_id = r.text("user_id")?;
    let groups = groups_of(c, &user_id).await?;
    Ok(Some(Principal {
        username: r.text("username")?,
        roles: strings("user roles", &r.text("roles")?)?,
        groups,
        credential_id: r.text("credential_id")?,
        expires_at: r.opt_int("expires_at")?.map(|t| from_millis("credential expires_at", t)).transpose()?,
        startup: r.opt_int("startup")?.unwrap_or(0) != 0,
        user_id,
    }))
}

impl Store {
    // ---- users ----

    /// Creates a user; `None` when the username is taken (also by a deleted user: usernames are
    /// never given to someone else).
    pub async fn create_user(&self, new: &NewUser) -> Result<Option<UserRow>, Error> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = millis(Utc::now());
        let mut tx = self.begin_write().await?;
        let inserted = {
            let mut c = tx.conn();
            let row = c
                .fetch_optional(
                    "INSERT INTO users (id, username, name, email, password_hash, roles, slack_user_ids, created_at,
                                        updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (username) DO NOTHING RETURNING id",
                    args![
                        id.as_str(),
                        new.username.as_str(),
                        new.name.as_str(),
                        new.email.as_str(),
                        new.password_hash.as_deref(),
                        json_text("user roles", &new.roles)?,
                        json_text("user slack_user_ids", &new.slack_user_ids)?,
                        now,
                        now,
                    ],
                )
                .await?;
            if row.is_some() {
                set_groups(&mut c, &id, &new.groups).await?;
            }
            row.is_some()
        };
        if !inserted {
            return Ok(None);
        }
        tx.commit().await?;
        self.user(&id).await
    }

    /// Every user (not deleted), by username.
    pub async fn users(&self) -> Result<Vec<UserRow>, Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL ORDER BY username");
        let rows = c.fetch_all(&sql, args![]).await?;
        let memberships =
            c.fetch_all("SELECT user_id, group_name FROM user_groups ORDER BY group_name", args![]).await?;
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for m in &memberships {
            groups.entry(m.text("user_id")?).or_default().push(m.text("group_name")?);
        }
        rows.iter()
            .map(|r| {
                let g = groups.remove(&r.text("id")?).unwrap_or_default();
                user_row(r, g)
            })
            .collect()
    }

    /// A user (not deleted) by id.
    pub async fn user(&self, id: &str) -> Result<Option<UserRow>, Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL");
        let Some(r) = c.fetch_optional(&sql, args![id]).await? else { return Ok(None) };
        let groups = groups_of(&mut c, id).await?;
        user_row(&r, groups).map(Some)
    }

    /// A user (not deleted) by username, with their password hash (for signing in).
    pub async fn user_for_sign_in(&self, username: &str) -> Result<Option<(UserRow, Option<String>)>, Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1 AND deleted_at IS NULL");
        let Some(r) = c.fetch_optional(&sql, args![username]).await? else { return Ok(None) };
        let id = r.text("id")?;
        let groups = groups_of(&mut c, &id).await?;
        let hash = r.opt_text("password_hash")?;
        Ok(Some((user_row(&r, groups)?, hash)))
    }

    /// A user (not deleted) by username.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRow>, Error> {
        Ok(self.user_for_sign_in(username).await?.map(|(user, _)| user))
    }

    /// The user (not deleted) linked to the Slack user `slack_user` of the integration `alias`.
    pub async fn user_by_slack_id(&self, alias: &str, slack_user: &str) -> Result<Option<UserRow>, Error> {
        // Slack ids are letters and digits: the pattern only narrows, the map decides.
        if slack_user.is_empty() || !slack_user.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(None);
        }
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL AND slack_user_ids LIKE $1 ORDER BY username"
        );
        let rows = c.fetch_all(&sql, args![format!("%\"{slack_user}\"%")]).await?;
        for r in &rows {
            let ids: BTreeMap<String, String> = serde_json::from_str(&r.text("slack_user_ids")?)
                .map_err(|e| Error::corrupt("user slack_user_ids", e))?;
            if ids.get(alias).is_some_and(|id| id == slack_user) {
                let groups = groups_of(&mut c, &r.text("id")?).await?;
                return user_row(r, groups).map(Some);
            }
        }
        Ok(None)
    }

    /// The one user (not deleted) with this email, compared without case; `None` when nobody or
    /// several people have it (an email that names two people links neither).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, Error> {
        let email = email.trim();
        if email.is_empty() {
            return Ok(None);
        }
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL AND lower(email) = lower($1) LIMIT 2");
        let rows = c.fetch_all(&sql, args![email]).await?;
        let [r] = rows.as_slice() else { return Ok(None) };
        let groups = groups_of(&mut c, &r.text("id")?).await?;
        user_row(r, groups).map(Some)
    }

    /// Links a user to the Slack user `slack_user` of the integration `alias`, unless the user
    /// already has a Slack user there (an admin's choice stays) or someone else is linked to that
    /// Slack user. True when the link was made.
    pub async fn link_slack_user(&self, user_id: &str, alias: &str, slack_user: &str) -> Result<bool, Error> {
        if self.user_by_slack_id(alias, slack_user).await?.is_some() {
            return Ok(false);
        }
        let mut tx = self.begin_write().await?;
        {
            let mut c = tx.conn();
            let sql = "SELECT slack_user_ids FROM users WHERE id = $1 AND deleted_at IS NULL";
            let Some(r) = c.fetch_optional(sql, args![user_id]).await? else { return Ok(false) };
            let mut ids: BTreeMap<String, String> = serde_json::from_str(&r.text("slack_user_ids")?)
                .map_err(|e| Error::corrupt("user slack_user_ids", e))?;
            if ids.contains_key(alias) {
                return Ok(false);
            }
            ids.insert(alias.to_string(), slack_user.to_string());
            let text = json_text("user slack_user_ids", &ids)?;
            c.execute("UPDATE users SET slack_user_ids = $1 WHERE id = $2", args![text, user_id]).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Changes a user (not deleted); `None` when there is no such user.
    pub async fn update_user(&self, id: &str, change: &UserChange) -> Result<Option<UserRow>, Error> {
        let mut tx = self.begin_write().await?;
        {
            let mut c = tx.conn();
            let exists =
                c.fetch_optional("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL", args![id]).await?;
            if exists.is_none() {
                return Ok(None);
            }
            let now = millis(Utc::now());
            if let Some(name) = &change.name {
                c.execute("UPDATE users SET name = $1 WHERE id = $2", args![name.as_str(), id]).await?;
            }
            if let Some(email) = &change.email {
                c.execute("UPDATE users SET email = $1 WHERE id = $2", args![email.as_str(), id]).await?;
            }
            if let Some(hash) = &change.password_hash {
                c.execute("UPDATE users SET password_hash = $1 WHERE id = $2", args![hash.as_deref(), id]).await?;
            }
            if let Some(roles) = &change.roles {
                c.execute("UPDATE users SET roles = $1 WHERE id = $2", args![json_text("user roles", roles)?, id])
                    .await?;
            }
            if let Some(ids) = &change.slack_user_ids {
                let text = json_text("user slack_user_ids", ids)?;
                c.execute("UPDATE users SET slack_user_ids = $1 WHERE id = $2", args![text, id]).await?;
            }
            if let Some(groups) = &change.groups {
                set_groups(&mut c, id, groups).await?;
            }
            c.execute("UPDATE users SET updated_at = $1 WHERE id = $2", args![now, id]).await?;
        }
        tx.commit().await?;
        self.user(id).await
    }

    /// Deletes a user: their tokens and sessions end, their username stays taken. False when
    /// there was no such user.
    pub async fn delete_user(&self, id: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let deleted = {
            let mut c = tx.conn();
            let n = c
                .execute(
                    "UPDATE users SET deleted_at = $1, updated_at = $1, password_hash = NULL
                     WHERE id = $2 AND deleted_at IS NULL",
                    args![millis(Utc::now()), id],
                )
                .await?;
            c.execute("DELETE FROM api_tokens WHERE user_id = $1", args![id]).await?;
            c.execute("DELETE FROM sessions WHERE user_id = $1", args![id]).await?;
            c.execute("DELETE FROM user_groups WHERE user_id = $1", args![id]).await?;
            n > 0
        };
        tx.commit().await?;
        Ok(deleted)
    }

    // ---- API tokens ----

    /// Records a token of a user by its SHA-256 (the token itself is never stored).
    pub async fn add_user_token(
        &self,
        user_id: &str,
        name: &str,
        token_hash: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<TokenRow, Error> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.begin_write().await?;
        tx.conn()
            .execute(
                "INSERT INTO api_tokens (id, label, token_hash, created_at, user_id, expires_at, startup)
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
                args![id.as_str(), name, token_hash, millis(Utc::now()), user_id, expires_at.map(millis)],
            )
            .await?;
        tx.commit().await?;
        self.token(&id).await?.ok_or_else(|| Error::corrupt("API token", "vanished while it was inserted"))
    }

    /// A user's tokens, oldest first.
    pub async fn user_tokens(&self, user_id: &str) -> Result<Vec<TokenRow>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .conn()
            .fetch_all(
                "SELECT id, user_id, label, created_at, expires_at, startup FROM api_tokens
                 WHERE user_id = $1 ORDER BY created_at, id",
                args![user_id],
            )
            .await?;
        rows.iter().map(token_row).collect()
    }

    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx
            .conn()
            .fetch_optional(
                "SELECT id, user_id, label, created_at, expires_at, startup FROM api_tokens WHERE id = $1",
                args![id],
            )
            .await?;
        row.as_ref().map(token_row).transpose()
    }

    /// Deletes a token; false when there was none.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx.conn().execute("DELETE FROM api_tokens WHERE id = $1", args![id]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Whether a startup token (generated at first start, or from before schema 12) is stored.
    pub async fn has_startup_token(&self) -> Result<bool, Error> {
        let mut tx = self.begin_read().await?;
        let row = tx.conn().fetch_optional("SELECT id FROM api_tokens WHERE startup = 1 LIMIT 1", args![]).await?;
        Ok(row.is_some())
    }

    /// The user a token (by its SHA-256) belongs to, if the token is stored and its user not
    /// deleted. Expiry is the caller's to check.
    pub async fn principal_by_token(&self, token_hash: &str) -> Result<Option<Principal>, Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let row = c
            .fetch_optional(
                "SELECT t.id AS credential_id, t.expires_at, t.startup, u.id AS user_id, u.username, u.roles
                 FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = $1 AND u.deleted_at IS NULL",
                args![token_hash],
            )
            .await?;
        principal(&mut c, row).await
    }

    // ---- sessions ----

    /// Starts a session (by the SHA-256 of its cookie) and ends the expired ones of everyone.
    /// Returns the session's id.
    pub async fn create_session(
        &self,
        user_id: &str,
        token_hash: &str,
        client: Option<&str>,
        expires_at: DateTime<Utc>,
    ) -> Result<String, Error> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = millis(Utc::now());
        let mut tx = self.begin_write().await?;
        {
            let mut c = tx.conn();
            c.execute("DELETE FROM sessions WHERE expires_at < $1", args![now]).await?;
            c.execute(
                "INSERT INTO sessions (id, token_hash, user_id, client, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                args![id.as_str(), token_hash, user_id, client, now, millis(expires_at)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// The user a session cookie (by its SHA-256) belongs to. Expiry is the caller's to check.
    pub async fn principal_by_session(&self, token_hash: &str) -> Result<Option<Principal>, Error> {
        let mut tx = self.begin_read().await?;
        let mut c = tx.conn();
        let row = c
            .fetch_optional(
                "SELECT s.id AS credential_id, s.expires_at, CAST(0 AS BIGINT) AS startup, u.id AS user_id, u.username, u.roles
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1 AND u.deleted_at IS NULL",
                args![token_hash],
            )
            .await?;
        principal(&mut c, row).await
    }

    /// Ends a session; false when there was none.
    pub async fn end_session(&self, id: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx.conn().execute("DELETE FROM sessions WHERE id = $1", args![id]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Ends every session of a user but `except` (their password changed); how many ended.
    pub async fn end_user_sessions(&self, user_id: &str, except: Option<&str>) -> Result<u64, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute("DELETE FROM sessions WHERE user_id = $1 AND id <> $2", args![user_id, except.unwrap_or("")])
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    // ---- failed sign-ins ----

    /// Records a failed sign-in under each of `keys` at `at`, and forgets failures older than
    /// `forget_before`.
    pub async fn record_sign_in_failure(
        &self,
        keys: &[&str],
        at: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        {
            let mut c = tx.conn();
            c.execute("DELETE FROM sign_in_failures WHERE at < $1", args![millis(forget_before)]).await?;
            for key in keys {
                c.execute("INSERT INTO sign_in_failures (key, at) VALUES ($1, $2)", args![*key, millis(at)]).await?;
            }
        }
        tx.commit().await
    }

    /// The times of the failed sign-ins under `key` since `since`, oldest first.
    pub async fn sign_in_failures(&self, key: &str, since: DateTime<Utc>) -> Result<Vec<DateTime<Utc>>, Error> {
        let mut tx = self.begin_read().await?;
        let rows = tx
            .conn()
            .fetch_all(
                "SELECT at FROM sign_in_failures WHERE key = $1 AND at >= $2 ORDER BY at",
                args![key, millis(since)],
            )
            .await?;
        rows.iter().map(|r| from_millis("sign-in failure at", r.int("at")?)).collect()
    }

    /// Forgets the failed sign-ins under `key` (after a successful one).
    pub async fn forget_sign_in_failures(&self, key: &str) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        tx.conn().execute("DELETE FROM sign_in_failures WHERE key = $1", args![key]).await?;
        tx.commit().await
    }

    // ---- the audit log ----
    /// Deletes up to `limit` audit entries older than `before`, oldest first; how many went.
    pub async fn prune_audit(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx
            .conn()
            .execute(
                "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)",
                args![millis(before), i64::from(limit)],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Appends an entry to the audit log.
    pub async fn append_audit(&self, entry: &AuditEntry) -> Result<(), Error> {
        let mut tx = self.begin_write().await?;
        tx.conn()
            .execute(
                "INSERT INTO audit_log (id, at, actor, action, target, client, details)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                args![
                    uuid::Uuid::now_v7().to_string(),
                    millis(entry.at),
                    entry.actor.as_deref(),
                    entry.action.as_str(),
                    entry.target.as_deref(),
                    entry.client.as_deref(),
                    json_text("audit details", &entry.details)?,
                ],
            )
            .await?;
        tx.commit().await
    }

    /// Entries of the audit log, newest first, `limit` per page, of one actor and/or one action;
    /// `cursor` is the `next_cursor` of the page before (`<at ms>.<id>`).
    pub async fn audit_page(
        &self,
        actor: Option<&str>,
        action: Option<&str>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<AuditRow>, Option<String>), Error> {
        let mut sql = "SELECT id, at, actor, action, target, client, details FROM audit_log WHERE 1 = 1".to_string();
        let mut a = args![];
        if let Some(actor) = actor {
            a.push(actor.into());
            sql.push_str(&format!(" AND actor = ${}", a.len()));
        }
        if let Some(action) = action {
            a.push(action.into());
            sql.push_str(&format!(" AND action = ${}", a.len()));
        }
        if let Some(cursor) = cursor {
            let bad = || Error::BadCursor(cursor.to_string());
            let (at, id) = cursor.split_once('.').ok_or_else(bad)?;
            let at = at.parse::<i64>().map_err(|_| bad())?;
            let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
            a.push(at.into());
            a.push(id.to_string().into());
            sql.push_str(&format!(" AND (at < ${0} OR (at = ${0} AND id < ${1}))", a.len() - 1, a.len()));
        }
        let limit = i64::from(limit.max(1));
        a.push((limit + 1).into());
        sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT ${}", a.len()));
        let mut tx = self.begin_read().await?;
        let rows = tx.conn().fetch_all(&sql, a).await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.text("id")?,
                    entry: AuditEntry {
                        at: from_millis("audit at", r.int("at")?)?,
                        actor: r.opt_text("actor")?,
                        action: r.text("action")?,
                        target: r.opt_text("target")?,
                        client: r.opt_text("client")?,
                        details: parse_json("audit details", &r.text("details")?)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let next = if out.len() as i64 > limit {
            out.truncate(limit as usize);
            out.last().map(|r| format!("{}.{}", millis(r.entry.at), r.id))
        } else {
            None
        };
        Ok((out, next))
    }
}
