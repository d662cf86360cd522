//! The static UNIQUE check: two rules of a UNIQUE table that some input matches both.

use sluice_bpmn::report::Report;

use crate::model::Model;

pub(crate) fn check(_model: &Model, _rep: &mut Report<'_>) {}
