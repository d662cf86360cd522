//! A user task's completion form: Camunda 7's `camunda:formData` with `camunda:formField`s
//! (`id`, `label`, `type`, `defaultValue`, `camunda:validation`/`camunda:constraint
//! name="required"`, `camunda:value` for enums) and Sluice's own `sluice:form` with
//! `sluice:field`s (`id`, `label`, `type`, `default`, `required="true"`, `sluice:value`). Both
//! become one `TaskForm`; what the importer cannot read is a located diagnostic, not a silent drop.

use super::ProcLift;
use crate::model::{ElementIdx, FieldKind, FieldValue, FormField, TaskForm};
use crate::xml::Ns;

impl<'d> ProcLift<'d, '_, '_> {
    /// The form of user task `idx` (None: the model declares none and is no approval).
    pub(super) fn form(&mut self, idx: ElementIdx) -> Option<Box<TaskForm>> {
        let ni = self.nodes[idx.index()];
        let doc = self.doc;
        let id = self.elements[idx.index()].id.clone();
        let id = id.as_str();
        let mut form = TaskForm::default();
        let mut declared = false;
        if doc.node(ni).ext(Ns::Sluice, "approval").map(str::trim) == Some("true") {
            form.approval = true;
            declared = true;
        }
        let Some(ext) = self.extension(ni) else {
            return declared.then(|| Box::new(form));
        };
        for (fi, f) in doc.children(ext) {
            let sluice = f.is(Ns::Sluice, "form");
            if !(sluice || f.is(Ns::Camunda, "formData")) {
                continue;
            }
            declared = true;
            if sluice && f.get("approval").map(str::trim) == Some("true") {
                form.approval = true;
            }
            let (field_ns, field_name, value_name) =
                if sluice { (Ns::Sluice, "field", "value") } else { (Ns::Camunda, "formField", "value") };
            for (ci, c) in doc.children(fi) {
                if !c.is(field_ns, field_name) {
                    continue;
                }
                let Some(fid) = c.get_nonempty("id") else {
                    self.hard_err(c.offset, "invalid-form", format!("a form field of `{id}` has no `id`"), id);
                    continue;
                };
                let written = c.get_nonempty("type").unwrap_or("string");
                let Some(kind) = FieldKind::parse(written) else {
                    self.hard_err(
                        c.offset,
                        "invalid-form",
                        format!(
                            "form field `{fid}` of `{id}` has type `{written}`; Sluice's forms know `string`, `long`, \
                             `boolean`, `date` and `enum`"
                        ),
                        id,
                    );
                    continue;
                };
                if form.fields.iter().any(|x| x.id == fid) {
                    self.hard_err(
                        c.offset,
                        "invalid-form",
                        format!("form field `{fid}` of `{id}` is declared twice"),
                        id,
                    );
                    continue;
                }
                let default = if sluice { c.get("default") } else { c.get("defaultValue") }
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned);
                let mut required = sluice && c.get("required").map(str::trim) == Some("true");
                if !sluice && let Some((vi, _)) = doc.child(ci, Ns::Camunda, "validation") {
                    required |= doc.children(vi).any(|(_, k)| {
                        k.is(Ns::Camunda, "constraint") && k.get("name").map(str::trim) == Some("required")
                    });
                }
                let values: Vec<FieldValue> = doc
                    .children(ci)
                    .filter(|(_, v)| v.is(field_ns, value_name))
                    .filter_map(|(_, v)| {
                        let vid = v.get_nonempty("id")?.to_owned();
                        let name = v.get_nonempty("name").map_or_else(|| vid.clone(), str::to_owned);
                        Some(FieldValue { id: vid, name })
                    })
                    .collect();
                if kind == FieldKind::Enum && values.is_empty() {
                    self.hard_err(
                        c.offset,
                        "invalid-form",
                        format!("enum form field `{fid}` of `{id}` has no values"),
                        id,
                    );
                    continue;
                }
                if fid == "approved" && kind == FieldKind::Boolean {
                    form.approval = true;
                }
                let label = c.get_nonempty("label").unwrap_or(fid).to_owned();
                form.fields.push(FormField { id: fid.to_owned(), label, kind, default, required, values });
            }
        }
        declared.then(|| Box::new(form))
    }
}
