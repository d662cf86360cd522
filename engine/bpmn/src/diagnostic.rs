//! Diagnostics: every problem the importer finds, with file, line, column and element.

use std::fmt;
use std::sync::Arc;

use crate::model::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem found in a BPMN file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: Arc<str>,
    #[serde(flatten)]
    pub pos: Pos,
    pub severity: Severity,
    /// A stable kebab-case code, e.g. `dangling-reference`; documented in the README.
    pub code: &'static str,
    pub message: String,
    /// The id of the element concerned, when there is one.
    pub element: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `FILE:LINE:COL: error[CODE]: message (element ID)`, as `sluice check` prints it.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}:{}:{}: {sev}[{}]: {}", self.file, self.pos.line, self.pos.column, self.code, self.message)?;
        if let Some(el) = &self.element {
            write!(f, " (element {el})")?;
        }
        Ok(())
    }
}
