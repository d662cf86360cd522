//! Collects one file's diagnostics, turning byte offsets into line and column as they come.

use std::sync::Arc;

use crate::decode::LineIndex;
use crate::diagnostic::{Diagnostic, Severity};
use crate::model::Pos;

pub struct Report<'t> {
    pub file: Arc<str>,
    pub text: &'t str,
    index: LineIndex,
    pub out: Vec<Diagnostic>,
}

impl<'t> Report<'t> {
    pub fn new(file: Arc<str>, text: &'t str) -> Self {
        Self { file, text, index: LineIndex::new(text), out: Vec::new() }
    }

    pub fn pos(&self, offset: usize) -> Pos {
        self.index.pos(self.text, offset)
    }

    pub fn push(
        &mut self,
        severity: Severity,
        offset: usize,
        code: &'static str,
        message: String,
        element: Option<&str>,
    ) {
        let pos = self.pos(offset);
        self.out.push(Diagnostic {
            file: self.file.clone(),
            pos,
            severity,
            code,
            message,
            element: element.map(str::to_owned),
        });
    }

    pub fn error(&mut self, offset: usize, code: &'static str, message: impl Into<String>, element: Option<&str>) {
        self.push(Severity::Error, offset, code, message.into(), element);
    }

    pub fn warn(&mut self, offset: usize, code: &'static str, message: impl Into<String>, element: Option<&str>) {
        self.push(Severity::Warning, offset, code, message.into(), element);
    }
}
