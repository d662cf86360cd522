//! Deployed DMN decisions: one row per version of each decision id (`decision_versions`).
//!
//! A `.dmn` file is deployed in one transaction: each of its decisions gets a new version unless
//! its latest version came from the same content (the same hash), which is then answered
//! unchanged, as process versions are.

use chrono::{DateTime, Utc};

use crate::Error;
use crate::db::{DbRow, args};
use crate::store::Store;
use crate::types::{from_millis, millis};

/// One decision of a `.dmn` file being deployed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDecision<'a> {
    pub decision_id: &'a str,
    pub name: Option<&'a str>,
    pub version_tag: Option<&'a str>,
}

/// A `.dmn` file being deployed: its decisions share the file's text and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDecisionFile<'a> {
    /// The file's name as deployed (`orders.dmn`).
    pub file_name: &'a str,
    /// The `id` of its `definitions` element.
    pub definitions_id: &'a str,
    pub xml: &'a str,
    pub hash: &'a str,
    pub decisions: Vec<NewDecision<'a>>,
}

/// One deployed version of a decision (without its XML: [`Store::decision_xml`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionVersion {
    pub decision_id: String,
    pub version: i64,
    pub name: Option<String>,
    pub version_tag: Option<String>,
    pub definitions_id: String,
    pub file_name: String,
    pub content_hash: String,
    pub deployed_at: DateTime<Utc>,
}

const COLUMNS: &str = "decision_id, version, name, version_tag, definitions_id, file_name, content_hash, deployed_at";

fn decision_row(r: &DbRow) -> Result<DecisionVersion, Error> {
    Ok(DecisionVersion {
        decision_id: r.text("decision_id")?,
        version: r.int("version")?,
        name: r.opt_text("name")?,
        version_tag: r.opt_text("version_tag")?,
        definitions_id: r.text("definitions_id")?,
        file_name: r.text("file_name")?,
        content_hash: r.text("content_hash")?,
        deployed_at: from_millis("deploy time", r.int("deployed_at")?)?,
    })
}

impl Store {
    /// Records every decision of a deployed `.dmn` file, in one transaction. Answers, per
    /// decision in the file's order, its version and whether it is new (`false`: the latest
    /// version has the same content hash, and is answered).
    pub async fn deploy_decisions(&self, file: &NewDecisionFile<'_>) -> Result<Vec<(i64, bool)>, Error> {
        let mut tx = self.begin_write().await?;
        let mut c = tx.conn();
        let at = millis(Utc::now());
        let mut out = Vec::with_capacity(file.decisions.len());
        for d in &file.decisions {
            if c.is_postgres() {
                // Two nodes deploying the same decision at once must not both take the next number.
                c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", args![format!("decision:{}", d.decision_id)])
                    .await?;
            }
            let latest = c
                .fetch_optional(
                    "SELECT version, content_hash FROM decision_versions WHERE decision_id = $1
                     ORDER BY version DESC LIMIT 1",
                    args![d.decision_id],
                )
                .await?;
            let next = match latest {
                Some(r) if r.text("content_hash")? == file.hash => {
                    out.push((r.int("version")?, false));
                    continue;
                }
                Some(r) => r.int("version")? + 1,
                None => 1,
            };
            c.execute(
                "INSERT INTO decision_versions
                 (decision_id, version, name, version_tag, definitions_id, file_name, xml, content_hash, deployed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                args![
                    d.decision_id,
                    next,
                    d.name,
                    d.version_tag,
                    file.definitions_id,
                    file.file_name,
                    file.xml,
                    file.hash,
                    at
                ],
            )
            .await?;
            out.push((next, true));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The latest version of every decision, by id.
    pub async fn latest_decisions(&self) -> Result<Vec<DecisionVersion>, Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM decision_versions d
             WHERE d.version = (SELECT MAX(e.version) FROM decision_versions e WHERE e.decision_id = d.decision_id)
             ORDER BY d.decision_id"
        );
        let rows = tx.conn().fetch_all(&sql, args![]).await?;
        rows.iter().map(decision_row).collect()
    }

    /// Every version of one decision, oldest first (empty when none is deployed).
    pub async fn decision_versions(&self, decision_id: &str) -> Result<Vec<DecisionVersion>, Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!("SELECT {COLUMNS} FROM decision_versions WHERE decision_id = $1 ORDER BY version");
        let rows = tx.conn().fetch_all(&sql, args![decision_id]).await?;
        rows.iter().map(decision_row).collect()
    }

    /// The version a business rule task's binding picks: the newest (`tag: None`) or the newest
    /// whose version tag is `tag`; `None` when there is no such version.
    pub async fn decision_version_for(&self, decision_id: &str, tag: Option<&str>) -> Result<Option<i64>, Error> {
        let mut tx = self.begin_read().await?;
        let row = match tag {
            None => {
                tx.conn()
                    .fetch_optional(
                        "SELECT MAX(version) AS version FROM decision_versions WHERE decision_id = $1",
                        args![decision_id],
                    )
                    .await?
            }
            Some(tag) => {
                tx.conn()
                    .fetch_optional(
                        "SELECT MAX(version) AS version FROM decision_versions
                         WHERE decision_id = $1 AND version_tag = $2",
                        args![decision_id, tag],
                    )
                    .await?
            }
        };
        match row {
            Some(r) => r.opt_int("version"),
            None => Ok(None),
        }
    }

    /// One version of a decision with the XML of the file it came from.
    pub async fn decision_xml(&self, decision_id: &str, version: i64) -> Result<(DecisionVersion, String), Error> {
        let mut tx = self.begin_read().await?;
        let sql = format!("SELECT {COLUMNS}, xml FROM decision_versions WHERE decision_id = $1 AND version = $2");
        let row = tx.conn().fetch_optional(&sql, args![decision_id, version]).await?;
        let row = row.ok_or_else(|| Error::DecisionNotFound { decision_id: decision_id.to_string(), version })?;
        Ok((decision_row(&row)?, row.text("xml")?))
    }
}
