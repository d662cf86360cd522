//! Who a user task is for, read from every dialect the importer knows: BPMN `humanPerformer`
//! and `potentialOwner`, Camunda 7's `camunda:assignee`/`candidateUsers`/`candidateGroups`/
//! `dueDate`/`followUpDate`/`priority`, Camunda 8's `zeebe:assignmentDefinition`,
//! `zeebe:taskSchedule` and `zeebe:priorityDefinition`, and ProcessMaker's `pm:assignment`
//! (`requester`, `user` with `pm:assignedUsers`, `group` with `pm:assignedGroups`) and `pm:dueIn`.

use sluice_feel::Expression;

use super::{At, ProcLift};
use crate::model::{AssignSource, AssignValue, ElementIdx, HumanTask, TemplatePart, parse_when};
use crate::xml::{Attr, Ns};

/// How a value without a leading `=` is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// Camunda 7 and ProcessMaker: `${...}` marks expressions inside text.
    Juel,
    /// Camunda 8 and BPMN: `=` starts a FEEL expression, anything else is text.
    Feel,
}

/// What a literal value must be, checked at import.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Literal {
    Name,
    Date,
    Priority,
}

impl<'d> ProcLift<'d, '_, '_> {
    /// The assignment, schedule and documentation of user task `idx` (None: the model gives none).
    pub(super) fn human(&mut self, idx: ElementIdx) -> Option<Box<HumanTask>> {
        let ni = self.nodes[idx.index()];
        let doc = self.doc;
        let n = self.node(ni);
        let id = self.elements[idx.index()].id.clone();
        let id = id.as_str();
        let mut h = HumanTask::default();
        if let Some((_, d)) = doc.child(ni, crate::xml::Ns::Bpmn, "documentation") {
            let (text, _) = d.trimmed_text();
            if !text.is_empty() {
                h.documentation = Some(text.to_owned());
            }
        }
        // Camunda 7.
        let c7 = |name: &str| n.ext_attr(Ns::Camunda, name);
        if let Some(a) = c7("assignee") {
            h.assignee = self.value(a, "camunda:assignee", Dialect::Juel, Literal::Name, id);
        }
        if let Some(a) = c7("candidateUsers") {
            h.candidate_users.extend(self.value(a, "camunda:candidateUsers", Dialect::Juel, Literal::Name, id));
        }
        if let Some(a) = c7("candidateGroups") {
            h.candidate_groups.extend(self.value(a, "camunda:candidateGroups", Dialect::Juel, Literal::Name, id));
        }
        if let Some(a) = c7("dueDate") {
            h.due = self.value(a, "camunda:dueDate", Dialect::Juel, Literal::Date, id);
        }
        if let Some(a) = c7("followUpDate") {
            h.follow_up = self.value(a, "camunda:followUpDate", Dialect::Juel, Literal::Date, id);
        }
        if let Some(a) = c7("priority") {
            h.priority = self.value(a, "camunda:priority", Dialect::Juel, Literal::Priority, id);
        }
        // Camunda 8.
        if let Some(e) = self.extension(ni) {
            if let Some((_, ad)) = doc.child(e, Ns::Zeebe, "assignmentDefinition") {
                if let Some(a) = ad.attr("assignee") {
                    h.assignee = self.value(a, "zeebe:assignmentDefinition assignee", Dialect::Feel, Literal::Name, id);
                }
                if let Some(a) = ad.attr("candidateUsers") {
                    let what = "zeebe:assignmentDefinition candidateUsers";
                    h.candidate_users.extend(self.value(a, what, Dialect::Feel, Literal::Name, id));
                }
                if let Some(a) = ad.attr("candidateGroups") {
                    let what = "zeebe:assignmentDefinition candidateGroups";
                    h.candidate_groups.extend(self.value(a, what, Dialect::Feel, Literal::Name, id));
                }
            }
            if let Some((_, ts)) = doc.child(e, Ns::Zeebe, "taskSchedule") {
                if let Some(a) = ts.attr("dueDate") {
                    h.due = self.value(a, "zeebe:taskSchedule dueDate", Dialect::Feel, Literal::Date, id);
                }
                if let Some(a) = ts.attr("followUpDate") {
                    h.follow_up = self.value(a, "zeebe:taskSchedule followUpDate", Dialect::Feel, Literal::Date, id);
                }
            }
            if let Some((_, pd)) = doc.child(e, Ns::Zeebe, "priorityDefinition")
                && let Some(a) = pd.attr("priority")
            {
                h.priority = self.value(a, "zeebe:priorityDefinition priority", Dialect::Feel, Literal::Priority, id);
            }
        }
        // BPMN resource roles.
        for (ci, c) in doc.children(ni) {
            if c.ns != Ns::Bpmn || !matches!(c.local, "humanPerformer" | "potentialOwner" | "performer") {
                continue;
            }
            let formal = doc.child(ci, Ns::Bpmn, "resourceAssignmentExpression").and_then(|(ri, _)| {
                doc.child(ri, Ns::Bpmn, "formalExpression").or_else(|| doc.child(ri, Ns::Bpmn, "expression"))
            });
            let Some((fi, f)) = formal else {
                if self.exec {
                    self.rep.warn(
                        c.offset,
                        "assignment-not-read",
                        format!(
                            "`{}` of `{id}` names a resource without a `resourceAssignmentExpression`; Sluice reads \
                             only expressions (`user(name)`, `group(name)`), so it does not limit who works the task",
                            c.local
                        ),
                        Some(id),
                    );
                }
                continue;
            };
            let (text, start) = f.trimmed_text();
            if text.is_empty() {
                continue;
            }
            let at = At::Text(fi, start);
            let what = c.local;
            let Some(src) = self.source(text, at, what, Dialect::Juel, Literal::Name, id) else { continue };
            let v = AssignValue { attribute: what.to_owned(), value: src };
            if what == "potentialOwner" {
                h.owners.push(v);
            } else {
                h.assignee = Some(v);
            }
        }
        // ProcessMaker.
        if let Some(a) = n.ext_attr(Ns::Pm, "assignment") {
            self.processmaker(&mut h, a, ni, id);
        }
        if let Some(a) = n.ext_attr(Ns::Pm, "dueIn") {
            let v = a.value.trim();
            if !v.is_empty() {
                match v.parse::<u32>() {
                    Ok(hours) => {
                        h.due = Some(AssignValue {
                            attribute: "pm:dueIn".into(),
                            value: AssignSource::Text(format!("PT{hours}H")),
                        });
                    }
                    Err(_) => self.exec_err(
                        a.offset,
                        "invalid-assignment",
                        format!("`pm:dueIn` of `{id}` is `{v}`, not a whole number of hours"),
                        id,
                    ),
                }
            }
        }
        (!h.is_empty()).then(|| Box::new(h))
    }

    fn processmaker(&mut self, h: &mut HumanTask, a: &Attr<'_>, ni: usize, id: &str) {
        let n = self.node(ni);
        let kind = a.value.trim();
        let list = |name: &str| -> Vec<String> {
            n.ext(Ns::Pm, name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let text = |what: &str, s: String| AssignValue { attribute: what.to_owned(), value: AssignSource::Text(s) };
        match kind {
            "" => {}
            // `requestor` is how some ProcessMaker exports spell it.
            "requester" | "requestor" => match Expression::parse("requester") {
                Ok(e) => {
                    h.assignee = Some(AssignValue { attribute: "pm:assignment".into(), value: AssignSource::Expr(e) })
                }
                Err(e) => self.hard_err(a.offset, "invalid-assignment", e.message, id),
            },
            "user" => {
                let users = list("assignedUsers");
                match users.len() {
                    0 => self.exec_err(
                        a.offset,
                        "invalid-assignment",
                        format!("`{id}` is assigned to `user` but `pm:assignedUsers` names nobody"),
                        id,
                    ),
                    1 => h.assignee = users.into_iter().next().map(|u| text("pm:assignedUsers", u)),
                    _ => h.candidate_users.extend(users.into_iter().map(|u| text("pm:assignedUsers", u))),
                }
            }
            "group" => {
                let groups = list("assignedGroups");
                if groups.is_empty() {
                    self.exec_err(
                        a.offset,
                        "invalid-assignment",
                        format!("`{id}` is assigned to `group` but `pm:assignedGroups` names no group"),
                        id,
                    );
                }
                h.candidate_groups.extend(groups.into_iter().map(|g| text("pm:assignedGroups", g)));
            }
            other => self.exec_err(
                a.offset,
                "unsupported-assignment",
                format!(
                    "`pm:assignment=\"{other}\"` of `{id}` is not supported by Sluice; use `requester`, `user` with \
                     `pm:assignedUsers`, or `group` with `pm:assignedGroups`"
                ),
                id,
            ),
        }
    }

    /// One attribute's value (None when empty or invalid; invalid ones are reported).
    fn value(&mut self, a: &Attr<'_>, what: &str, dialect: Dialect, literal: Literal, id: &str) -> Option<AssignValue> {
        let raw = a.value.as_str();
        let v = raw.trim();
        if v.is_empty() {
            return None;
        }
        let lead = raw.len() - raw.trim_start().len();
        let src = self.source(v, At::Attr(a.offset + lead), what, dialect, literal, id)?;
        Some(AssignValue { attribute: what.to_owned(), value: src })
    }

    fn source(
        &mut self,
        v: &str,
        at: At,
        what: &str,
        dialect: Dialect,
        literal: Literal,
        id: &str,
    ) -> Option<AssignSource> {
        let label = format!("`{what}` of `{id}`");
        if v.starts_with('=') {
            return self.expr(v, at, &label, id).map(AssignSource::Expr);
        }
        if dialect == Dialect::Juel && (v.contains("${") || v.contains("#{")) {
            let parts = split_template(v);
            if let [(TemplatePiece::Expr, s, _)] = parts.as_slice() {
                return self.expr(s, at, &label, id).map(AssignSource::Expr);
            }
            let mut out = Vec::new();
            for (kind, s, off) in parts {
                match kind {
                    TemplatePiece::Text => out.push(TemplatePart::Text(s.to_owned())),
                    TemplatePiece::Expr => {
                        let at = match at {
                            At::Attr(o) => At::Attr(o + off),
                            At::Text(ni, start) => At::Text(ni, start + off),
                        };
                        out.push(TemplatePart::Expr(self.expr(s, at, &label, id)?));
                    }
                }
            }
            return Some(AssignSource::Template(out));
        }
        let offset = match at {
            At::Attr(o) => o,
            At::Text(ni, start) => self.node(ni).text_source_offset(start),
        };
        match literal {
            Literal::Name => {}
            Literal::Date => {
                if parse_when(v).is_none() {
                    self.exec_err(
                        offset,
                        "invalid-assignment",
                        format!("{label} is `{v}`: give an ISO 8601 date-time, a duration (`PT2H`) or an expression"),
                        id,
                    );
                    return None;
                }
            }
            Literal::Priority => {
                if v.parse::<i64>().is_err() {
                    self.exec_err(
                        offset,
                        "invalid-assignment",
                        format!("{label} is `{v}`: give a whole number or an expression"),
                        id,
                    );
                    return None;
                }
            }
        }
        Some(AssignSource::Text(v.to_owned()))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TemplatePiece {
    Text,
    Expr,
}

/// Splits `a${b}c` into text and `${...}` pieces (the expression with its `${`, `}`), with each
/// piece's byte offset. An unclosed `${` stays text.
fn split_template(v: &str) -> Vec<(TemplatePiece, &str, usize)> {
    let mut out = Vec::new();
    let mut rest = 0;
    let b = v.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if (b[i] == b'$' || b[i] == b'#') && b[i + 1] == b'{' {
            // The matching `}`, skipping quoted strings.
            let mut j = i + 2;
            let mut quote = None;
            let mut depth = 1;
            while j < b.len() {
                match (quote, b[j]) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, c @ (b'\'' | b'"')) => quote = Some(c),
                    (None, b'{') => depth += 1,
                    (None, b'}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= b.len() {
                break;
            }
            if rest < i {
                out.push((TemplatePiece::Text, &v[rest..i], rest));
            }
            out.push((TemplatePiece::Expr, &v[i..=j], i));
            rest = j + 1;
            i = j + 1;
        } else {
            i += 1;
        }
    }
    if rest < v.len() {
        out.push((TemplatePiece::Text, &v[rest..], rest));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::When;

    #[test]
    fn templates_split_into_text_and_expressions() {
        let p = split_template("kermit_${loopCounter}");
        assert_eq!(p, vec![(TemplatePiece::Text, "kermit_", 0), (TemplatePiece::Expr, "${loopCounter}", 7)]);
        let p = split_template("${a == '}'}");
        assert_eq!(p, vec![(TemplatePiece::Expr, "${a == '}'}", 0)]);
        assert_eq!(split_template("a ${b"), vec![(TemplatePiece::Text, "a ${b", 0)]);
    }

    #[test]
    fn due_dates_read_as_date_times_or_durations() {
        assert!(matches!(parse_when("2026-12-01T09:00:00Z"), Some(When::At(_))));
        assert!(matches!(parse_when("2026-12-01T09:00:00"), Some(When::At(_))));
        assert!(matches!(parse_when("2026-12-01"), Some(When::At(_))));
        assert!(matches!(parse_when("PT2H"), Some(When::After(_))));
        assert_eq!(parse_when("tomorrow"), None);
    }
}
