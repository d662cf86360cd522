//! Deploys, and the caches of what was deployed: imported processes by (key, version), the
//! latest version of each key, and parsed DMN decisions by (decision id, version).
//!
//! A deploy takes BPMN and DMN files together (told apart by their root element): every
//! decision of a `.dmn` file is versioned by its id, as a process is by its key. Before a step,
//! the decisions its process's business rule tasks name are looked up here
//! ([`Engine::decisions_for`]), so the runtime evaluates them without IO.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_bpmn::{ConnectorCatalog, DecisionBinding, Diagnostic, Process, Source};
use sluice_connector_api::Registry;
use sluice_engine::runtime::DecisionSet;
use sluice_store::{NewDecision, NewDecisionFile};

use crate::job_workers::JobTypes;
use crate::{Engine, Error};

/// Why a deploy was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The files have errors: nothing was deployed.
    #[error("the models have errors: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Diagnostic>),
    /// A file whose text cannot be decoded for storing. Files in the encodings the importer reads
    /// (UTF-8, US-ASCII, ISO-8859-1, windows-1252) never get this: the importer refuses the others
    /// first (as [`DeployError::Invalid`]).
    #[error("`{0}` is not in a supported encoding: save it as UTF-8 to deploy it")]
    NotUtf8(String),
    #[error(transparent)]
    Store(#[from] sluice_store::Error),
    /// The caller gave up (see [`crate::CommitGate`]) before anything was stored.
    #[error("the deploy was given up before anything was stored")]
    GaveUp,
}

/// One process or decision of a deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployed {
    /// The process key, or the decision id.
    pub key: String,
    pub version: i64,
    pub name: Option<String>,
    /// False when the XML was the same as the latest version's (that version is answered).
    pub created: bool,
    pub kind: DeployedKind,
}

/// What a [`Deployed`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeployedKind {
    Process,
    /// A decision of a `.dmn` file, whose `definitions` has this id.
    Decision {
        definitions_id: String,
        version_tag: Option<String>,
    },
}

/// Whether a deployed file is DMN rather than BPMN: its root element is DMN `definitions`. Reads
/// the first 256 KiB only (the root element's start tag comes before any content), so a large
/// model is not decoded to be told apart; a file that is not UTF-8 there is BPMN's to judge.
pub fn is_dmn_file(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(256 * 1024)];
    sluice_dmn::is_dmn(&String::from_utf8_lossy(head))
}

/// The registry as the importer sees it, with the job types workers may take: deploy-time checks
/// of connector tasks (for [`sluice_bpmn::Options::connectors`]). A task whose type is a
/// registered connector is checked by it; else its type must be an allowed job type.
pub struct Catalog<'a>(pub &'a Registry, pub &'a JobTypes);

impl ConnectorCatalog for Catalog<'_> {
    fn validate(&self, connector: &str, inputs: &serde_json::Map<String, Value>) -> Result<(), String> {
        if self.0.contains(connector) {
            return self.0.validate(connector, inputs);
        }
        if self.1.allows(connector) {
            return Ok(());
        }
        // Neither: list the connectors, say which job types are allowed, and suggest the closest
        // of both (a mistyped job type is the likelier mistake where job types are declared).
        let connectors: Vec<&str> = self.0.types().collect();
        let mut known = connectors.clone();
        known.extend(self.1.names().iter().map(String::as_str));
        let listed = if connectors.is_empty() { String::new() } else { format!(" (known: {})", connectors.join(", ")) };
        let hint = sluice_connector_api::closest_name(connector, &known)
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        Err(format!(
            "no connector `{connector}` is registered{listed}; nor is `{connector}` a job type workers may take ({}){hint}",
            self.1.describe()
        ))
    }

    fn is_connector(&self, connector: &str) -> bool {
        self.0.contains(connector)
    }

    fn problems(&self, connector: &str, inputs: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
        if !self.0.contains(connector) {
            return Vec::new();
        }
        self.0.problems(connector, inputs)
    }
}

impl Engine {
    /// Imports the files together, validates connector tasks against the registry, and stores a
    /// new version of each executable process whose XML changed; unchanged XML answers the latest
    /// version (`created: false`). With any error diagnostic nothing is stored.
    ///
    /// Each process version stores the file it came from, byte for byte (UTF-8, US-ASCII,
    /// ISO-8859-1 or windows-1252), and its decoded text; the content hash is of the bytes.
    ///
    /// A new version's timer start events are scheduled (see `timers.rs`), replacing those of the
    /// previous version in the same commit.
    pub async fn deploy(&self, files: &[(String, Vec<u8>)]) -> Result<Vec<Deployed>, DeployError> {
        self.deploy_at(files, Utc::now()).await
    }

    /// [`Engine::deploy`] at `now`: timer start events count their durations and cycles from it.
    pub async fn deploy_at(
        &self,
        files: &[(String, Vec<u8>)],
        now: DateTime<Utc>,
    ) -> Result<Vec<Deployed>, DeployError> {
        // DMN files apart (told by their root element): each is parsed on its own (its decisions
        // are checked there).
        let (dmn, bpmn): (Vec<_>, Vec<_>) = files.iter().partition(|(_, bytes)| is_dmn_file(bytes));
        let mut diagnostics = Vec::new();
        let mut parsed_dmn = Vec::new();
        for (name, bytes) in dmn {
            let Some(text) = sluice_bpmn::decode_text(bytes) else { return Err(DeployError::NotUtf8(name.clone())) };
            let parsed = sluice_dmn::parse(sluice_dmn::Source { file: name, text: &text });
            diagnostics.extend(parsed.diagnostics.iter().filter(|d| d.is_error()).cloned());
            if let Some(defs) = parsed.definitions {
                parsed_dmn.push((name.as_str(), text, bytes.as_slice(), defs));
            }
        }
        let known = self.store.latest_processes().await?;
        let known: Vec<&str> = known.iter().map(|p| p.key.as_str()).collect();
        let sources: Vec<Source<'_>> = bpmn.iter().map(|(name, bytes)| Source { name, bytes }).collect();
        let catalog = Catalog(&self.registry, &self.options.job_types);
        let options =
            sluice_bpmn::Options { known_processes: &known, connectors: Some(&catalog), known_decisions: None };
        let imported = sluice_bpmn::import(&sources, &options);
        if imported.has_errors() || !diagnostics.is_empty() {
            diagnostics.extend(imported.diagnostics);
            return Err(DeployError::Invalid(diagnostics));
        }
        // Decode every file before storing anything: the store keeps the original bytes (to
        // import from) and the text (for the API).
        let mut texts = HashMap::new();
        for (name, bytes) in bpmn {
            match sluice_bpmn::decode_text(bytes) {
                Some(text) => texts.insert(name.as_str(), (text, bytes.as_slice())),
                None => return Err(DeployError::NotUtf8(name.clone())),
            };
        }
        let mut out = Vec::new();
        for p in imported.definitions.executable() {
            let Some((xml, bytes)) = texts.get(&*p.file) else { continue };
            let hash = format!("{:x}", Sha256::digest(bytes));
            // A new version replaces the timer start jobs of the previous one in the same commit.
            let timer_starts = |version| crate::timers::first_jobs(p, version, now);
            crate::gate::enter().map_err(|_| DeployError::GaveUp)?;
            let (version, created) =
                self.store.deploy_source_with(&p.key, p.name.as_deref(), xml, bytes, &hash, timer_starts).await?;
            self.forget_latest(&p.key);
            out.push(Deployed {
                key: p.key.clone(),
                version,
                name: p.name.clone(),
                created,
                kind: DeployedKind::Process,
            });
        }
        for (name, text, bytes, defs) in parsed_dmn {
            let hash = format!("{:x}", Sha256::digest(bytes));
            let infos = defs.decisions();
            let file = NewDecisionFile {
                file_name: name,
                definitions_id: defs.id(),
                xml: &text,
                hash: &hash,
                decisions: infos
                    .iter()
                    .map(|d| NewDecision {
                        decision_id: &d.id,
                        name: d.name.as_deref(),
                        version_tag: d.version_tag.as_deref(),
                    })
                    .collect(),
            };
            crate::gate::enter().map_err(|_| DeployError::GaveUp)?;
            let versions = self.store.deploy_decisions(&file).await?;
            for (d, (version, created)) in infos.iter().zip(versions) {
                out.push(Deployed {
                    key: d.id.clone(),
                    version,
                    name: d.name.clone(),
                    created,
                    kind: DeployedKind::Decision {
                        definitions_id: defs.id().to_owned(),
                        version_tag: d.version_tag.clone(),
                    },
                });
            }
        }
        Ok(out)
    }

    /// The decisions `process`'s business rule tasks name, as their bindings pick them now (the
    /// newest version, or the pinned one): looked up before a step, so the runtime evaluates
    /// them without IO. A decision with no such version is left out (the task raises a
    /// `decision_not_found` incident; a retry after its deploy finds it).
    pub async fn decisions_for(&self, process: &Process) -> Result<DecisionSet, Error> {
        let mut set = DecisionSet::new();
        for call in process.decision_calls() {
            let id = call.decision_id.as_str();
            let version = match &call.binding {
                DecisionBinding::Latest => self.store.decision_version_for(id, None).await?,
                DecisionBinding::VersionTag(tag) => self.store.decision_version_for(id, Some(tag)).await?,
                DecisionBinding::Version(v) => Some(*v),
            };
            let Some(version) = version else { continue };
            if let Some(defs) = self.decision(id, version).await? {
                set.insert(id, call.binding.clone(), version, defs);
            }
        }
        Ok(set)
    }

    /// The parsed DMN file holding a deployed decision version (cached: a deployed version never
    /// changes); `None` when there is no such version.
    pub async fn decision(&self, id: &str, version: i64) -> Result<Option<Arc<sluice_dmn::Definitions>>, Error> {
        if let Some(d) = self.decisions.lock().ok().and_then(|c| c.get(&(id.to_string(), version)).cloned()) {
            return Ok(Some(d));
        }
        let (row, xml) = match self.store.decision_xml(id, version).await {
            Ok(found) => found,
            Err(sluice_store::Error::DecisionNotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let parsed = sluice_dmn::parse(sluice_dmn::Source { file: &row.file_name, text: &xml });
        let bad = |message: String| Error::BadDecision { id: id.to_string(), version, message };
        let Some(defs) = parsed.definitions else {
            let msgs: Vec<String> = parsed.diagnostics.iter().map(ToString::to_string).collect();
            return Err(bad(msgs.join("; ")));
        };
        let defs = Arc::new(defs);
        if let Ok(mut cache) = self.decisions.lock() {
            cache.insert((id.to_string(), version), defs.clone());
        }
        Ok(Some(defs))
    }

    /// The imported process of a deployed version (cached: a deployed version never changes).
    pub async fn process(&self, key: &str, version: i64) -> Result<Arc<Process>, Error> {
        if let Some(p) = self.cached(key, version) {
            return Ok(p);
        }
        let source = self.store.process_source(key, version).await?;
        let known = self.store.latest_processes().await?;
        let known: Vec<&str> = known.iter().map(|p| p.key.as_str()).collect();
        let source = Source { name: key, bytes: &source };
        let imported = sluice_bpmn::import(
            &[source],
            &sluice_bpmn::Options { known_processes: &known, connectors: None, known_decisions: None },
        );
        let bad = |message: String| Error::BadProcess { key: key.to_string(), version, message };
        if imported.has_errors() {
            let msgs: Vec<String> = imported.diagnostics.iter().map(ToString::to_string).collect();
            return Err(bad(msgs.join("; ")));
        }
        let p =
            imported.definitions.process(key).cloned().ok_or_else(|| bad("the process is not in its XML".into()))?;
        if let Ok(mut cache) = self.processes.lock() {
            cache.insert((key.to_string(), version), p.clone());
        }
        Ok(p)
    }

    /// Deletes a version no Request uses and that is not the latest (see
    /// [`sluice_store::Store::delete_process_version`]), and forgets it here.
    pub async fn delete_version(&self, key: &str, version: i64) -> Result<(), Error> {
        self.store.delete_process_version(key, version).await?;
        self.forget_version(key, version);
        Ok(())
    }

    /// Drops a parsed version from this node's cache (it was deleted, here or by another node).
    pub(crate) fn forget_version(&self, key: &str, version: i64) {
        if let Ok(mut cache) = self.processes.lock() {
            cache.remove(&(key.to_string(), version));
        }
    }

    fn cached(&self, key: &str, version: i64) -> Option<Arc<Process>> {
        self.processes.lock().ok()?.get(&(key.to_string(), version)).cloned()
    }

    /// The latest deployed version of `key`, from the database.
    pub(crate) async fn latest_version(&self, key: &str) -> Result<i64, Error> {
        let versions = self.store.process_versions(key).await?;
        let latest = versions.last().map(|v| v.version).ok_or_else(|| Error::ProcessNotFound(key.to_string()))?;
        if let Ok(mut cache) = self.latest.lock() {
            cache.insert(key.to_string(), latest);
        }
        Ok(latest)
    }

    /// The latest version of `key` as last seen (maybe stale: the writer checks it).
    pub(crate) async fn latest_version_cached(&self, key: &str) -> Result<i64, Error> {
        if let Some(v) = self.latest.lock().ok().and_then(|c| c.get(key).copied()) {
            return Ok(v);
        }
        self.latest_version(key).await
    }

    pub(crate) fn forget_latest(&self, key: &str) {
        if let Ok(mut cache) = self.latest.lock() {
            cache.remove(key);
        }
    }
}
