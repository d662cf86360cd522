//! BPMN 2.0 XML in, a validated, immutable process definition out (parse, then lift).
//!
//! [`import`] reads one or more files together (so `calledElement` resolves across them) and
//! returns every process it could build plus every problem it found, each with file, line,
//! column and element. It never panics, whatever the bytes; see the crate README for what is
//! accepted and for every diagnostic code.

mod decode;
pub mod diagnostic;
mod lift;
pub mod model;
pub mod report;
pub mod xml;

use std::collections::HashMap;
use std::sync::Arc;

pub use decode::decode_text;
pub use diagnostic::{Diagnostic, Severity};
pub use model::*;

use crate::report::Report;

/// One file to import: a name for diagnostics and its raw bytes.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// The connectors the engine knows, so a deploy can refuse a model that names an unknown one.
pub trait ConnectorCatalog {
    /// Err(message) when the connector is unknown or its inputs are wrong.
    fn validate(&self, connector: &str, inputs: &serde_json::Map<String, serde_json::Value>) -> Result<(), String>;

    /// The connector's own checks of the inputs as written (say, a literal where a secret must
    /// go), each with the top-level input it concerns, so a diagnostic can point at its line.
    fn problems(
        &self,
        _connector: &str,
        _inputs: &serde_json::Map<String, serde_json::Value>,
    ) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Whether a registered connector (not a job for workers) runs tasks of this type: settings
    /// that only jobs honour (`zeebe:taskDefinition retries`) are warned about otherwise.
    /// Default: unknown, taken as no.
    fn is_connector(&self, _connector: &str) -> bool {
        false
    }
}

/// What the importer should know beyond the files themselves.
#[derive(Default, Clone, Copy)]
pub struct Options<'a> {
    /// Keys of processes deployed earlier, which `calledElement` may name.
    pub known_processes: &'a [&'a str],
    /// When set, every connector task of an executable process is checked against it.
    pub connectors: Option<&'a dyn ConnectorCatalog>,
    /// When set, the decision ids known (deployed, or in `.dmn` files given with the models): a
    /// business rule task naming another decision gets an `unknown-decision` warning (it may be
    /// deployed later; until then the task raises an incident).
    pub known_decisions: Option<&'a [&'a str]>,
}

/// The result of an import: the processes built, and every diagnostic.
#[derive(Debug, Default)]
pub struct Imported {
    pub definitions: Definitions,
    /// Sorted by file, line and column.
    pub diagnostics: Vec<Diagnostic>,
}

impl Imported {
    /// True when any diagnostic is an error: such an import must not be deployed.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Imports files together; see the crate documentation.
pub fn import(sources: &[Source<'_>], options: &Options<'_>) -> Imported {
    struct FileResult {
        diagnostics: Vec<Diagnostic>,
        lifted: Vec<lift::Lifted>,
        /// Where call checks report: the file's text and name, kept for positions.
        text: String,
        name: Arc<str>,
    }
    let mut files = Vec::with_capacity(sources.len());
    for src in sources {
        let name: Arc<str> = Arc::from(src.name);
        let decoded = decode::decode(src.bytes);
        let text = decoded.text;
        let mut rep = Report::new(name.clone(), &text);
        if let Some((code, msg, off)) = decoded.problem {
            rep.error(off, code, msg, None);
        }
        let mut lifted = Vec::new();
        if !decoded.fatal
            && let Some(doc) = xml::parse(&text, &mut rep)
        {
            lifted = lift::lift_file(&doc, &mut rep, options.connectors);
        }
        let diagnostics = std::mem::take(&mut rep.out);
        files.push(FileResult { diagnostics, lifted, text, name });
    }

    // Cross-file checks: process keys are unique, called processes exist.
    let mut keys: HashMap<String, usize> = HashMap::new();
    for (fi, f) in files.iter().enumerate() {
        for l in &f.lifted {
            keys.entry(l.process.key.clone()).or_insert(fi);
        }
    }
    let mut seen: HashMap<&str, ()> = HashMap::new();
    let mut extra: Vec<Diagnostic> = Vec::new();
    for f in &files {
        let mut rep = Report::new(f.name.clone(), &f.text);
        for l in &f.lifted {
            let key = l.process.key.as_str();
            if seen.insert(key, ()).is_some() {
                rep.error(
                    l.offset,
                    "duplicate-process",
                    format!("process `{key}` is defined more than once in this import"),
                    Some(key),
                );
            }
            for c in &l.calls {
                if c.called.is_empty() {
                    rep.error(
                        c.offset,
                        "unknown-called-process",
                        format!("call activity `{}` names no process: set `calledElement`", c.element),
                        Some(&c.element),
                    );
                } else if !keys.contains_key(&c.called) && !options.known_processes.contains(&c.called.as_str()) {
                    rep.error(
                        c.offset,
                        "unknown-called-process",
                        format!(
                            "call activity `{}` calls process `{}`, which is neither in this import nor deployed",
                            c.element, c.called
                        ),
                        Some(&c.element),
                    );
                }
            }
            if let Some(known) = options.known_decisions {
                for d in l.decisions.iter().filter(|d| !known.contains(&d.called.as_str())) {
                    rep.warn(
                        d.offset,
                        "unknown-decision",
                        format!(
                            "business rule task `{}` evaluates decision `{}`, which is neither in the given files nor \
                             deployed: deploy it before a Request reaches the task",
                            d.element, d.called
                        ),
                        Some(&d.element),
                    );
                }
            }
        }
        extra.append(&mut rep.out);
    }

    let mut imported = Imported::default();
    for f in files {
        imported.diagnostics.extend(f.diagnostics);
        imported.definitions.processes.extend(f.lifted.into_iter().map(|l| Arc::new(l.process)));
    }
    imported.diagnostics.extend(extra);
    imported.diagnostics.sort_by(|a, b| (&a.file, a.pos.line, a.pos.column).cmp(&(&b.file, b.pos.line, b.pos.column)));
    imported
}
