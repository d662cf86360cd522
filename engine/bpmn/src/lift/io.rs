//! Connector inputs and outputs as other modellers write them: Camunda 8's `zeebe:output`, and
//! Camunda 7's `camunda:inputOutput` (`camunda:inputParameter` with text, `${…}`, `camunda:list`
//! and `camunda:map`; `camunda:outputParameter`) and `camunda:connector` (`connectorId` mapped to
//! a Sluice connector, see `docs/compat.md`).

use serde_json::{Map, Value};
use sluice_feel::Expression;

use super::{At, ProcLift};
use crate::model::{ComputedInput, OutputMapping, OutputSource};
use crate::xml::Ns;

/// Camunda 7 connector ids Sluice runs, with the Sluice connector and its input names.
/// A Camunda 7 connector id, the Sluice connector it runs, and its input names (Camunda's → Sluice's).
type Mapped = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

pub(super) const CAMUNDA7_CONNECTORS: &[Mapped] =
    &[("http-connector", "http", &[("url", "url"), ("method", "method"), ("headers", "headers"), ("payload", "body")])];

/// What Camunda 7 `camunda:inputOutput` blocks give a connector task.
#[derive(Default)]
pub(super) struct CamundaIo {
    pub inputs: Map<String, Value>,
    pub computed: Vec<ComputedInput>,
    pub outputs: Vec<OutputMapping>,
}

impl ProcLift<'_, '_, '_> {
    /// The Sluice connector a `camunda:connector` names (its `camunda:connectorId`), and the
    /// connector element (whose own `camunda:inputOutput` is read too).
    pub(super) fn camunda_connector(&mut self, ext: usize, id: &str) -> Option<(String, usize)> {
        let doc = self.doc;
        let (ci, c) = doc.child(ext, Ns::Camunda, "connector")?;
        let Some((_, cid)) = doc.child(ci, Ns::Camunda, "connectorId") else {
            self.exec_err(
                c.offset,
                "invalid-connector",
                format!("the `camunda:connector` of `{id}` has no `camunda:connectorId`"),
                id,
            );
            return None;
        };
        let name = cid.text.trim().to_owned();
        let sluice = CAMUNDA7_CONNECTORS.iter().find(|(c, _, _)| *c == name).map_or(name, |(_, s, _)| (*s).to_owned());
        Some((sluice, ci))
    }

    /// Reads the `camunda:inputOutput` under `parent` (an extensionElements or a
    /// `camunda:connector`) into `io`; `connector_id` renames Camunda's input names for a mapped
    /// `camunda:connector`.
    pub(super) fn camunda_io(&mut self, parent: usize, id: &str, connector_id: Option<&str>, io: &mut CamundaIo) {
        let doc = self.doc;
        let Some((ioi, _)) = doc.child(parent, Ns::Camunda, "inputOutput") else { return };
        let renames = connector_id
            .and_then(|c| CAMUNDA7_CONNECTORS.iter().find(|(_, s, _)| *s == c))
            .map(|(_, _, r)| *r)
            .unwrap_or(&[]);
        for (pi, p) in doc.children(ioi) {
            let Some(name) = p.get_nonempty("name") else {
                if p.is(Ns::Camunda, "inputParameter") || p.is(Ns::Camunda, "outputParameter") {
                    self.hard_err(
                        p.offset,
                        "invalid-connector-config",
                        format!("a parameter of `{id}` has no `name`"),
                        id,
                    );
                }
                continue;
            };
            let name = renames.iter().find(|(c, _)| *c == name).map_or(name, |(_, s)| *s).to_owned();
            if p.is(Ns::Camunda, "inputParameter") {
                let path = vec![name.clone()];
                if let Some(v) = self.c7_value(pi, id, Some(&path), &mut io.computed) {
                    io.inputs.insert(name, v);
                }
            } else if p.is(Ns::Camunda, "outputParameter") {
                let target: Vec<String> = vec![name];
                let (text, start) = p.trimmed_text();
                let source = if is_c7_expr(text) {
                    match self.expr(text, At::Text(pi, start), &format!("the output `{}` of `{id}`", target[0]), id) {
                        Some(e) => OutputSource::Expr(e),
                        None => continue,
                    }
                } else if doc.children(pi).next().is_some() {
                    let mut none = Vec::new();
                    match self.c7_value(pi, id, None, &mut none) {
                        Some(v) => OutputSource::Literal(v),
                        None => continue,
                    }
                } else {
                    OutputSource::Literal(Value::String(text.to_owned()))
                };
                io.outputs.push(OutputMapping { target, source, camunda7: true });
            }
        }
    }

    /// A Camunda 7 parameter's value. `path`: where it goes among the inputs (None inside a
    /// list, where an expression other than a variable's path cannot be placed).
    fn c7_value(
        &mut self,
        ni: usize,
        id: &str,
        path: Option<&[String]>,
        computed: &mut Vec<ComputedInput>,
    ) -> Option<Value> {
        let doc = self.doc;
        let n = doc.node(ni);
        if let Some((li, _)) = doc.child(ni, Ns::Camunda, "list") {
            let mut items = Vec::new();
            for (vi, _) in doc.children(li) {
                items.push(self.c7_value(vi, id, None, computed)?);
            }
            return Some(Value::Array(items));
        }
        if let Some((mi, _)) = doc.child(ni, Ns::Camunda, "map") {
            let mut map = Map::new();
            for (ei, e) in doc.children(mi).filter(|(_, e)| e.is(Ns::Camunda, "entry")) {
                let key = e.get("key").unwrap_or_default().to_owned();
                let sub: Option<Vec<String>> = path.map(|p| p.iter().cloned().chain([key.clone()]).collect());
                let v = self.c7_value(ei, id, sub.as_deref(), computed)?;
                map.insert(key, v);
            }
            return Some(Value::Object(map));
        }
        if let Some((si, s)) = doc.child(ni, Ns::Camunda, "script") {
            let _ = si;
            self.exec_err(
                s.offset,
                "unsupported-vendor-setting",
                format!("`camunda:script` in a parameter of `{id}` cannot run in Sluice; use an expression `${{…}}`"),
                id,
            );
            return None;
        }
        let (text, start) = n.trimmed_text();
        if is_c7_expr(text) {
            let inner = &text[2..text.len() - 1];
            if is_path(inner) {
                return Some(Value::String(format!("{{{{ {} }}}}", inner.trim())));
            }
            let Some(path) = path else {
                self.exec_err(
                    n.offset,
                    "unsupported-vendor-setting",
                    format!(
                        "`{text}` in a `camunda:list` of `{id}`: only a variable's path (`${{name}}`) is read there"
                    ),
                    id,
                );
                return None;
            };
            let expr: Expression =
                self.expr(text, At::Text(ni, start), &format!("the input `{}` of `{id}`", path.join(".")), id)?;
            computed.push(ComputedInput { target: path.to_vec(), expr });
            return Some(Value::String(text.to_owned()));
        }
        // Text with `${path}` inside: Sluice's templates.
        let mut out = String::new();
        let mut rest = text;
        while let Some(open) = rest.find("${").or_else(|| rest.find("#{")) {
            let Some(close) = rest[open..].find('}') else { break };
            let inner = &rest[open + 2..open + close];
            if !is_path(inner) {
                self.exec_err(
                    n.offset,
                    "unsupported-vendor-setting",
                    format!("`{text}` in `{id}`: inside text only a variable's path (`${{name}}`) is read; make the whole value one expression"),
                    id,
                );
                return None;
            }
            out.push_str(&rest[..open]);
            out.push_str(&format!("{{{{ {} }}}}", inner.trim()));
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        Some(Value::String(out))
    }

    /// Camunda 8's `zeebe:output`s of a `zeebe:ioMapping`.
    pub(super) fn zeebe_outputs(&mut self, mapping: usize, id: &str, outputs: &mut Vec<OutputMapping>) {
        let doc = self.doc;
        for (_, o) in doc.children(mapping).filter(|(_, c)| c.is(Ns::Zeebe, "output")) {
            let target = o.get("target").map(str::trim).unwrap_or_default();
            let path: Vec<String> = target.split('.').map(|s| s.trim().to_owned()).collect();
            if path.iter().any(String::is_empty) {
                self.hard_err(
                    o.offset,
                    "invalid-connector-config",
                    format!("a `zeebe:output` of `{id}` has no valid `target` (`{target}`)"),
                    id,
                );
                continue;
            }
            let (source, at) = match o.attr("source") {
                Some(a) => (a.value.as_str(), a.offset),
                None => ("", o.offset),
            };
            let lead = source.len() - source.trim_start().len();
            let source = if let Some(feel) = source.trim_start().strip_prefix('=') {
                match self.expr(feel, At::Attr(at + lead + 1), &format!("the output `{target}` of `{id}`"), id) {
                    Some(e) => OutputSource::Expr(e),
                    None => continue,
                }
            } else {
                OutputSource::Literal(Value::String(source.to_owned()))
            };
            outputs.push(OutputMapping { target: path, source, camunda7: false });
        }
    }
}

/// `${…}` or `#{…}` as the whole text.
fn is_c7_expr(text: &str) -> bool {
    (text.starts_with("${") || text.starts_with("#{"))
        && text.ends_with('}')
        && text[2..].find('}') == Some(text.len() - 3)
}

/// A variable's dotted path, such as `order.customer.name`.
fn is_path(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.split('.').all(|seg| {
            let mut c = seg.chars();
            c.next().is_some_and(|f| f.is_alphabetic() || f == '_') && c.all(|x| x.is_alphanumeric() || x == '_')
        })
}
