//! Secrets for connectors (schema 15): a name and a sealed value.
//!
//! Values arrive here already sealed (AEAD ciphertext made by the server with `SLUICE_SECRET_KEY`,
//! the associated data naming the secret) and leave as they came: this crate never sees a
//! secret in plain text.

use chrono::{DateTime, Utc};

use crate::db::args;
use crate::types::{from_millis, millis};
use crate::{Error, Store};

/// A secret's name and dates, as listed (never its value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretInfo {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Stores `sealed` as the value of `name`, replacing an earlier value. True when the secret is
    /// new.
    pub async fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<bool, Error> {
        let now = millis(Utc::now());
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let existed = c.fetch_optional("SELECT name FROM secrets WHERE name = $1", args![name]).await?.is_some();
        c.execute(
            "INSERT INTO secrets (name, value, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            args![name, Some(sealed), now],
        )
        .await?;
        tx.commit().await?;
        Ok(!existed)
    }

    /// The sealed values of those of `names` that are stored, by name.
    pub async fn sealed_secrets(&self, names: &[String]) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut out = Vec::with_capacity(names.len());
        if names.is_empty() {
            return Ok(out);
        }
        let mut tx = self.begin_read().await?;
        for name in names {
            let row =
                tx.conn().fetch_optional("SELECT value FROM secrets WHERE name = $1", args![name.as_str()]).await?;
            if let Some(r) = row {
                let value = r.opt_bytes("value")?.ok_or_else(|| Error::corrupt("secret", "`value` is NULL"))?;
                out.push((name.clone(), value));
            }
        }
        Ok(out)
    }

    /// Every secret's name and dates, by name.
    pub async fn secrets(&self) -> Result<Vec<SecretInfo>, Error> {
        let mut tx = self.begin_read().await?;
        let rows =
            tx.conn().fetch_all("SELECT name, created_at, updated_at FROM secrets ORDER BY name", args![]).await?;
        rows.iter()
            .map(|r| {
                Ok(SecretInfo {
                    name: r.text("name")?,
                    created_at: from_millis("created_at", r.int("created_at")?)?,
                    updated_at: from_millis("updated_at", r.int("updated_at")?)?,
                })
            })
            .collect()
    }

    /// Removes `name`; false when there was no such secret.
    pub async fn delete_secret(&self, name: &str) -> Result<bool, Error> {
        let mut tx = self.begin_write().await?;
        let n = tx.conn().execute("DELETE FROM secrets WHERE name = $1", args![name]).await?;
        tx.commit().await?;
        Ok(n == 1)
    }
}
