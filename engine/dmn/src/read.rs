//! DMN XML to the compiled [`Model`], with a diagnostic for every problem (the "lift" half; the
//! XML tree comes from `sluice-bpmn`'s reader, so positions and messages match BPMN files).

use std::collections::HashMap;
use std::sync::Arc;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use sluice_bpmn::report::Report;
use sluice_bpmn::xml::{self, Doc, NS_DMN, Node, Ns};
use sluice_feel::{Expression, UnaryTests};

use crate::model::{Aggregation, Decision, Entry, HitPolicy, Input, Logic, Model, Output, Rule, Table};
use crate::{Definitions, Parsed, Source};

pub(crate) fn is_dmn(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    loop {
        match reader.read_resolved_event() {
            Ok((ns, Event::Start(e) | Event::Empty(e))) => {
                let ResolveResult::Bound(ns) = ns else { return false };
                return e.local_name().into_inner() == "definitions" && NS_DMN.contains(&ns.0);
            }
            Ok((_, Event::Eof)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

pub(crate) fn parse(src: Source<'_>) -> Parsed {
    let mut rep = Report::new(Arc::from(src.file), src.text);
    let model = xml::parse(src.text, &mut rep).and_then(|doc| Reader::new(&doc, &mut rep).definitions());
    if let Some(m) = &model {
        crate::overlap::check(m, &mut rep);
        crate::entry_types::check(m, &mut rep);
    }
    let mut diagnostics = std::mem::take(&mut rep.out);
    diagnostics.sort_by_key(|d| (d.pos.line, d.pos.column));
    let definitions = match model {
        Some(m) if !diagnostics.iter().any(|d| d.is_error()) => Some(Definitions { model: Arc::new(m) }),
        _ => None,
    };
    Parsed { definitions, diagnostics }
}

struct Reader<'d, 'a, 'r, 't> {
    doc: &'d Doc<'a>,
    rep: &'r mut Report<'t>,
    /// Item definition name → its FEEL type.
    types: HashMap<String, String>,
    /// Every name a FEEL text may use (input data and decisions), for names with spaces or
    /// operators in them.
    names: Vec<String>,
}

/// Longer type texts are not checked (an item definition nesting others many times over).
const MAX_TYPE_LEN: usize = 4096;

/// The FEEL type of a DMN built-in type name, or None.
fn builtin_type(name: &str) -> Option<&'static str> {
    let n = name.strip_prefix("feel:").unwrap_or(name);
    Some(match n {
        "string" => "string",
        "number" | "decimal" | "integer" | "double" | "long" | "int" => "number",
        "boolean" => "boolean",
        "date" => "date",
        "time" => "time",
        "dateTime" | "date and time" => "date and time",
        "dayTimeDuration" | "days and time duration" => "days and time duration",
        "yearMonthDuration" | "years and months duration" => "years and months duration",
        "duration" => "duration",
        "Any" | "any" => "Any",
        "context" => "context",
        "list" => "list",
        _ => return None,
    })
}

/// A FEEL name as a type's context key: backticks when it is not a plain name.
fn type_key(name: &str) -> String {
    if name.chars().all(|c| c.is_alphanumeric() || c == '_') { name.to_string() } else { format!("`{name}`") }
}

impl<'d, 'a, 'r, 't> Reader<'d, 'a, 'r, 't> {
    fn new(doc: &'d Doc<'a>, rep: &'r mut Report<'t>) -> Self {
        Reader { doc, rep, types: HashMap::new(), names: Vec::new() }
    }

    fn definitions(&mut self) -> Option<Model> {
        let Some(root) = self.doc.root else {
            self.rep.error(0, "not-dmn", "the file has no root element; a DMN file's is `definitions`", None);
            return None;
        };
        let rn = self.doc.node(root);
        if !rn.is(Ns::Dmn, "definitions") {
            self.rep.error(
                rn.offset,
                "not-dmn",
                format!(
                    "the root element is `{}`, not DMN `definitions` (a DMN 1.1 to 1.5 namespace, such as {})",
                    rn.local, NS_DMN[4]
                ),
                None,
            );
            return None;
        }
        let id = rn.get_nonempty("id").unwrap_or("").to_string();
        let name = rn.get_nonempty("name").map(str::to_string);
        let kids: Vec<(usize, &Node<'a>)> = self.doc.children(root).filter(|(_, n)| n.ns == Ns::Dmn).collect();

        // Item definitions first: decisions and inputs name them.
        let items: Vec<usize> = kids.iter().filter(|(_, n)| n.local == "itemDefinition").map(|&(i, _)| i).collect();
        let raw: HashMap<String, usize> =
            items.iter().filter_map(|&i| self.doc.node(i).get_nonempty("name").map(|n| (n.to_string(), i))).collect();
        let mut memo = HashMap::new();
        for (n, &i) in &raw {
            if let Some(t) = self.item_type(i, &raw, 0, &mut memo) {
                self.types.insert(n.clone(), t);
            }
        }
        for &(i, n) in &kids {
            if matches!(n.local, "inputData" | "decision")
                && let Some(name) = var_name(self.doc, i)
                // Plain names lex as names anyway; only the others need the hint.
                && name.chars().any(|c| !(c.is_alphanumeric() || c == '_'))
                && !self.names.contains(&name)
            {
                self.names.push(name);
            }
            if n.local == "import" {
                self.rep.warn(
                    n.offset,
                    "unsupported-import",
                    "imports are not supported: names from the imported model are unknown here",
                    n.get("name"),
                );
            }
        }

        // Decisions: ids first, so requirements may point forward.
        let decision_nodes: Vec<(usize, &Node<'a>)> =
            kids.iter().filter(|(_, n)| n.local == "decision").copied().collect();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        for (k, (_, n)) in decision_nodes.iter().enumerate() {
            match n.get_nonempty("id") {
                Some(id) => {
                    if by_id.insert(id.to_string(), k).is_some() {
                        self.rep.error(n.offset, "duplicate-id", format!("decision id `{id}` is used twice"), Some(id));
                    }
                }
                None => self.rep.error(n.offset, "missing-id", "a decision needs an `id`", n.get("name")),
            }
        }
        let input_ids: Vec<&str> =
            kids.iter().filter(|(_, n)| n.local == "inputData").filter_map(|(_, n)| n.get_nonempty("id")).collect();
        let mut decisions = Vec::with_capacity(decision_nodes.len());
        for &(di, n) in &decision_nodes {
            decisions.push(self.decision(di, n, &by_id, &input_ids));
        }
        self.check_cycles(&decisions);
        let mut names: HashMap<&str, &str> = HashMap::new();
        for d in &decisions {
            if let Some(first) = names.insert(&d.var_name, &d.id) {
                self.rep.warn(
                    d.offset,
                    "duplicate-name",
                    format!(
                        "decisions `{first}` and `{}` are both named `{}`: a decision requiring both sees one of them under that name",
                        d.id, d.var_name
                    ),
                    Some(&d.id),
                );
            }
        }
        Some(Model { id, name, decisions, by_id })
    }

    /// The FEEL type of an item definition (None: not checked). `memo` keeps each named item's
    /// type once worked out, and a type longer than [`MAX_TYPE_LEN`] is not checked, so items
    /// that nest each other many times over cost linear work, not exponential.
    fn item_type(
        &mut self,
        i: usize,
        raw: &HashMap<String, usize>,
        depth: usize,
        memo: &mut HashMap<usize, Option<String>>,
    ) -> Option<String> {
        if let Some(t) = memo.get(&i) {
            return t.clone();
        }
        let t = self.item_type_uncached(i, raw, depth, memo).filter(|t| t.len() <= MAX_TYPE_LEN);
        memo.insert(i, t.clone());
        t
    }

    fn item_type_uncached(
        &mut self,
        i: usize,
        raw: &HashMap<String, usize>,
        depth: usize,
        memo: &mut HashMap<usize, Option<String>>,
    ) -> Option<String> {
        if depth > 16 {
            return None;
        }
        let n = self.doc.node(i);
        let collection = n.get("isCollection").is_some_and(|v| v.trim() == "true");
        let base = if let Some((_, t)) = self.doc.child(i, Ns::Dmn, "typeRef") {
            let name = t.text.trim().to_string();
            match builtin_type(&name) {
                Some(b) => b.to_string(),
                None => match raw.get(&name) {
                    Some(&j) if j != i => self.item_type(j, raw, depth + 1, memo)?,
                    _ => return None,
                },
            }
        } else {
            let comps: Vec<usize> =
                self.doc.children(i).filter(|(_, c)| c.is(Ns::Dmn, "itemComponent")).map(|(c, _)| c).collect();
            if comps.is_empty() {
                return None;
            }
            let mut parts = Vec::new();
            for c in comps {
                let cname = self.doc.node(c).get_nonempty("name")?.to_string();
                let ct = self.item_type(c, raw, depth + 1, memo).unwrap_or_else(|| "Any".to_string());
                parts.push(format!("{}: {ct}", type_key(&cname)));
                if parts.iter().map(String::len).sum::<usize>() > MAX_TYPE_LEN {
                    return None;
                }
            }
            format!("context<{}>", parts.join(", "))
        };
        Some(if collection { format!("list<{base}>") } else { base })
    }

    /// Resolves a `typeRef` value; warns when it names nothing known.
    fn type_ref(&mut self, name: &str, at: usize, element: Option<&str>) -> Option<String> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        if let Some(b) = builtin_type(name) {
            return Some(b.to_string());
        }
        if let Some(t) = self.types.get(name) {
            return Some(t.clone());
        }
        self.rep.warn(
            at,
            "unknown-type",
            format!("type `{name}` is neither a FEEL type nor an item definition of this model; values are not checked against it"),
            element,
        );
        None
    }

    fn decision(&mut self, di: usize, n: &Node<'a>, by_id: &HashMap<String, usize>, input_ids: &[&str]) -> Decision {
        let doc = self.doc;
        let id = n.get_nonempty("id").unwrap_or("").to_string();
        let name = n.get_nonempty("name").map(str::to_string);
        let version_tag = n
            .attrs
            .iter()
            .find(|a| a.local == "versionTag")
            .map(|a| a.value.trim().to_string())
            .filter(|v| !v.is_empty());
        let var_name = var_name(doc, di).unwrap_or_else(|| id.clone());
        let mut type_ref = None;
        if let Some((_, v)) = doc.child(di, Ns::Dmn, "variable")
            && let Some(t) = v.attr("typeRef")
        {
            type_ref = self.type_ref(&t.value, t.offset, Some(&id));
        }
        let mut required = Vec::new();
        for (ri, r) in doc.children(di).filter(|(_, c)| c.is(Ns::Dmn, "informationRequirement")) {
            for (_, req) in doc.children(ri) {
                let Some(href) = req.attr("href") else { continue };
                let target = href.value.trim().rsplit('#').next().unwrap_or("").to_string();
                match req.local {
                    "requiredDecision" => match by_id.get(&target) {
                        Some(&k) => required.push(k),
                        None => self.rep.error(
                            href.offset,
                            "unknown-required-decision",
                            format!("decision `{id}` requires decision `{target}`, which this model does not define"),
                            Some(&id),
                        ),
                    },
                    "requiredInput" if !input_ids.contains(&target.as_str()) => self.rep.warn(
                        href.offset,
                        "unknown-required-input",
                        format!("decision `{id}` requires input data `{target}`, which this model does not define"),
                        Some(&id),
                    ),
                    _ => {}
                }
            }
            let _ = r;
        }
        if let Some((_, k)) = doc.child(di, Ns::Dmn, "knowledgeRequirement") {
            self.rep.error(
                k.offset,
                "unsupported-knowledge-requirement",
                format!("decision `{id}` requires a business knowledge model, which Sluice does not evaluate"),
                Some(&id),
            );
        }
        let logic_node = doc.children(di).find(|(_, c)| {
            c.ns == Ns::Dmn
                && !matches!(
                    c.local,
                    "variable"
                        | "informationRequirement"
                        | "knowledgeRequirement"
                        | "authorityRequirement"
                        | "description"
                        | "extensionElements"
                        | "question"
                        | "allowedAnswers"
                        | "supportedObjective"
                        | "impactedPerformanceIndicator"
                        | "decisionMaker"
                        | "decisionOwner"
                        | "usingProcess"
                        | "usingTask"
                )
        });
        let logic = match logic_node {
            Some((ti, t)) if t.local == "decisionTable" => match self.table(ti, &id) {
                Some(tab) => {
                    if type_ref.is_none()
                        && let Some(a) = t.attr("typeRef")
                    {
                        type_ref = self.type_ref(&a.value, a.offset, Some(&id));
                    }
                    Logic::Table(tab)
                }
                None => Logic::Unsupported("an invalid decision table".to_string()),
            },
            Some((li, l)) if l.local == "literalExpression" => {
                if type_ref.is_none()
                    && let Some(a) = l.attr("typeRef")
                {
                    type_ref = self.type_ref(&a.value, a.offset, Some(&id));
                }
                match self.feel_child(li, "text", &id, "the literal expression") {
                    Some(e) => Logic::Literal(e),
                    None => Logic::Unsupported("an invalid literal expression".to_string()),
                }
            }
            Some((_, other)) => {
                self.rep.error(
                    other.offset,
                    "unsupported-logic",
                    format!(
                        "decision `{id}` is a `{}`; Sluice evaluates decision tables and literal expressions only",
                        other.local
                    ),
                    Some(&id),
                );
                Logic::Unsupported(format!("a `{}`", other.local))
            }
            None => {
                self.rep.warn(
                    n.offset,
                    "no-decision-logic",
                    format!("decision `{id}` has no decision table or literal expression; evaluating it is an error"),
                    Some(&id),
                );
                Logic::Unsupported("no decision logic".to_string())
            }
        };
        Decision { id, name, version_tag, var_name, type_ref, required, logic, offset: n.offset }
    }

    /// The FEEL text of child `text` of node `i`, compiled; a diagnostic when it is missing or
    /// does not parse.
    fn feel_child(&mut self, i: usize, child: &str, element: &str, what: &str) -> Option<Expression> {
        let doc = self.doc;
        let Some((_, t)) = doc.child(i, Ns::Dmn, child) else {
            self.rep.error(doc.node(i).offset, "missing-text", format!("{what} has no `<{child}>`"), Some(element));
            return None;
        };
        self.feel(t, element, what)
    }

    fn name_refs(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    fn feel(&mut self, t: &Node<'a>, element: &str, what: &str) -> Option<Expression> {
        let (text, start) = t.trimmed_text();
        let names = self.name_refs();
        match Expression::parse_with_names(text, &names) {
            Ok(e) => Some(e),
            Err(e) => {
                let at = t.text_source_offset(start + e.offset.min(text.len()));
                self.rep.error(at, "invalid-feel", format!("{what}: {}", e.message), Some(element));
                None
            }
        }
    }

    fn tests(&mut self, t: &Node<'a>, element: &str, what: &str) -> Option<UnaryTests> {
        let (text, start) = t.trimmed_text();
        let names = self.name_refs();
        match UnaryTests::parse_with_names(text, &names) {
            Ok(u) => Some(u),
            Err(e) => {
                let at = t.text_source_offset(start + e.offset.min(text.len()));
                self.rep.error(at, "invalid-feel", format!("{what}: {}", e.message), Some(element));
                None
            }
        }
    }

    /// The unary tests in child `<wrapper><text>` of node `i`, when present.
    fn values(&mut self, i: usize, wrapper: &str, element: &str, what: &str) -> Option<UnaryTests> {
        let doc = self.doc;
        let (wi, _) = doc.child(i, Ns::Dmn, wrapper)?;
        let (_, t) = doc.child(wi, Ns::Dmn, "text")?;
        if t.text.trim().is_empty() {
            return None;
        }
        self.tests(t, element, what)
    }

    fn table(&mut self, ti: usize, id: &str) -> Option<Table> {
        let doc = self.doc;
        let t = doc.node(ti);
        let errors_before = self.rep.out.iter().filter(|d| d.is_error()).count();
        let hit = match t.attr("hitPolicy").map(|a| (a.value.trim().to_ascii_uppercase(), a.offset)) {
            None => HitPolicy::Unique,
            Some((p, at)) => match p.as_str() {
                "UNIQUE" | "U" => HitPolicy::Unique,
                "FIRST" | "F" => HitPolicy::First,
                "PRIORITY" | "P" => HitPolicy::Priority,
                "ANY" | "A" => HitPolicy::Any,
                "COLLECT" | "C" => HitPolicy::Collect(None),
                "RULE ORDER" | "R" => HitPolicy::RuleOrder,
                "OUTPUT ORDER" | "O" => HitPolicy::OutputOrder,
                _ => {
                    self.rep.error(
                        at,
                        "unknown-hit-policy",
                        format!("decision `{id}`: unknown hit policy `{p}` (UNIQUE, FIRST, PRIORITY, ANY, COLLECT, RULE ORDER or OUTPUT ORDER)"),
                        Some(id),
                    );
                    HitPolicy::Unique
                }
            },
        };
        let hit = match (hit, t.attr("aggregation")) {
            (_, None) => hit,
            (HitPolicy::Collect(_), Some(a)) => {
                let agg = match a.value.trim().to_ascii_uppercase().as_str() {
                    "SUM" | "+" => Some(Aggregation::Sum),
                    "MIN" | "<" => Some(Aggregation::Min),
                    "MAX" | ">" => Some(Aggregation::Max),
                    "COUNT" | "#" => Some(Aggregation::Count),
                    other => {
                        self.rep.error(
                            a.offset,
                            "unknown-aggregation",
                            format!("decision `{id}`: unknown aggregation `{other}` (SUM, MIN, MAX or COUNT)"),
                            Some(id),
                        );
                        None
                    }
                };
                HitPolicy::Collect(agg)
            }
            (_, Some(a)) => {
                self.rep.error(
                    a.offset,
                    "aggregation-without-collect",
                    format!("decision `{id}`: an aggregation needs the COLLECT hit policy"),
                    Some(id),
                );
                hit
            }
        };

        let mut inputs = Vec::new();
        for (ii, inp) in doc.children(ti).filter(|(_, c)| c.is(Ns::Dmn, "input")) {
            let el = inp.get_nonempty("id").unwrap_or(id).to_string();
            let Some((ei, ex)) = doc.child(ii, Ns::Dmn, "inputExpression") else {
                self.rep.error(
                    inp.offset,
                    "missing-text",
                    "a decision table input has no `<inputExpression>`",
                    Some(&el),
                );
                continue;
            };
            let label = inp
                .get_nonempty("label")
                .map(str::to_string)
                .or_else(|| doc.child(ei, Ns::Dmn, "text").map(|(_, t)| t.text.trim().to_string()))
                .unwrap_or_else(|| el.clone());
            let expr = self.feel_child(ei, "text", &el, &format!("input `{label}`"));
            let type_ref = ex.attr("typeRef").and_then(|a| self.type_ref(&a.value, a.offset, Some(&el)));
            let values = self.values(ii, "inputValues", &el, &format!("the input values of `{label}`"));
            if let Some(expr) = expr {
                inputs.push(Input { label, expr, type_ref, values });
            }
        }
        let mut outputs = Vec::new();
        let out_nodes: Vec<(usize, &Node<'a>)> = doc.children(ti).filter(|(_, c)| c.is(Ns::Dmn, "output")).collect();
        if out_nodes.is_empty() {
            self.rep.error(
                t.offset,
                "no-output",
                format!("decision `{id}`: the decision table has no output"),
                Some(id),
            );
        }
        for &(oi, o) in &out_nodes {
            let el = o.get_nonempty("id").unwrap_or(id).to_string();
            let name = o.get_nonempty("name").unwrap_or("").to_string();
            if out_nodes.len() > 1 && name.is_empty() {
                self.rep.error(
                    o.offset,
                    "unnamed-output",
                    format!("decision `{id}`: a table with several outputs needs a `name` on each"),
                    Some(&el),
                );
            }
            let type_ref = o.attr("typeRef").and_then(|a| self.type_ref(&a.value, a.offset, Some(&el)));
            let values = self.values(oi, "outputValues", &el, "the output values");
            let default = match doc.child(oi, Ns::Dmn, "defaultOutputEntry") {
                Some((di, _)) => self.feel_child(di, "text", &el, "the default output entry"),
                None => None,
            };
            outputs.push(Output { name, type_ref, values, default });
        }
        if matches!(hit, HitPolicy::Priority | HitPolicy::OutputOrder) && outputs.iter().all(|o| o.values.is_none()) {
            self.rep.error(
                t.offset,
                "missing-output-values",
                format!("decision `{id}`: PRIORITY and OUTPUT ORDER rank outputs by their output values, and no output has any"),
                Some(id),
            );
        }
        if matches!(hit, HitPolicy::Collect(Some(_))) && outputs.len() > 1 {
            self.rep.error(
                t.offset,
                "aggregation-with-several-outputs",
                format!("decision `{id}`: COLLECT with an aggregation needs exactly one output"),
                Some(id),
            );
        }

        let n_in = doc.children(ti).filter(|(_, c)| c.is(Ns::Dmn, "input")).count();
        let mut rules = Vec::new();
        for (k, (ri, r)) in doc.children(ti).filter(|(_, c)| c.is(Ns::Dmn, "rule")).enumerate() {
            let rid = r.get_nonempty("id").map_or_else(|| format!("rule-{}", k + 1), str::to_string);
            let ins: Vec<usize> =
                doc.children(ri).filter(|(_, c)| c.is(Ns::Dmn, "inputEntry")).map(|(c, _)| c).collect();
            let outs: Vec<usize> =
                doc.children(ri).filter(|(_, c)| c.is(Ns::Dmn, "outputEntry")).map(|(c, _)| c).collect();
            if ins.len() != n_in || outs.len() != out_nodes.len() {
                self.rep.error(
                    r.offset,
                    "wrong-entry-count",
                    format!(
                        "decision `{id}`, rule {} (`{rid}`): {} input entries and {} output entries, but the table has {n_in} inputs and {} outputs",
                        k + 1,
                        ins.len(),
                        outs.len(),
                        out_nodes.len()
                    ),
                    Some(&rid),
                );
                continue;
            }
            let mut entries = Vec::with_capacity(ins.len());
            for (col, &e) in ins.iter().enumerate() {
                let what = format!("rule {} (`{rid}`), input entry {}", k + 1, col + 1);
                let Some((_, text)) = doc.child(e, Ns::Dmn, "text") else {
                    self.rep.error(doc.node(e).offset, "missing-text", format!("{what} has no `<text>`"), Some(&rid));
                    continue;
                };
                let (src, _) = text.trimmed_text();
                if src.is_empty() {
                    // Camunda's modeler writes an empty cell for "any value".
                    entries.push(Entry::Tests(UnaryTests::parse("-").ok()?));
                } else if src.starts_with("${") || src.starts_with("#{") {
                    if let Some(x) = self.feel(text, &rid, &what) {
                        entries.push(Entry::Juel(x));
                    }
                } else if let Some(u) = self.tests(text, &rid, &what) {
                    entries.push(Entry::Tests(u));
                }
            }
            let mut outputs_e = Vec::with_capacity(outs.len());
            for (col, &oe) in outs.iter().enumerate() {
                let what = format!("rule {} (`{rid}`), output entry {}", k + 1, col + 1);
                let empty = doc.child(oe, Ns::Dmn, "text").is_some_and(|(_, t)| t.text.trim().is_empty());
                if empty {
                    // An empty cell, as Camunda's modeler writes it: the output is null.
                    outputs_e.push(Expression::parse("null").ok()?);
                } else if let Some(x) = self.feel_child(oe, "text", &rid, &what) {
                    outputs_e.push(x);
                }
            }
            rules.push(Rule { id: rid, offset: r.offset, entries, outputs: outputs_e });
        }
        let errors_after = self.rep.out.iter().filter(|d| d.is_error()).count();
        let aggregator = match hit {
            HitPolicy::Collect(Some(Aggregation::Sum)) => Expression::parse("sum(outputs)").ok(),
            HitPolicy::Collect(Some(Aggregation::Min)) => Expression::parse("min(outputs)").ok(),
            HitPolicy::Collect(Some(Aggregation::Max)) => Expression::parse("max(outputs)").ok(),
            _ => None,
        };
        (errors_after == errors_before).then_some(Table { hit, inputs, outputs, rules, aggregator })
    }

    /// Reports each requirement cycle once, at the first decision on it.
    fn check_cycles(&mut self, decisions: &[Decision]) {
        // 0: unvisited, 1: on the stack, 2: done.
        let mut state = vec![0u8; decisions.len()];
        for start in 0..decisions.len() {
            if state[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (d, ref mut next)) = stack.last_mut() {
                if let Some(&r) = decisions[d].required.get(*next) {
                    *next += 1;
                    match state.get(r) {
                        Some(0) => {
                            state[r] = 1;
                            stack.push((r, 0));
                        }
                        Some(1) => {
                            let from = stack.iter().position(|&(x, _)| x == r).unwrap_or(0);
                            let path: Vec<&str> = stack[from..]
                                .iter()
                                .map(|&(x, _)| decisions[x].id.as_str())
                                .chain([decisions[r].id.as_str()])
                                .collect();
                            self.rep.error(
                                decisions[r].offset,
                                "requirement-cycle",
                                format!("decisions require each other in a cycle: {}", path.join(" → ")),
                                Some(&decisions[r].id),
                            );
                        }
                        _ => {}
                    }
                } else {
                    state[d] = 2;
                    stack.pop();
                }
            }
        }
    }
}

/// The name a decision's or input's value goes by: its variable's name, else its name.
fn var_name(doc: &Doc<'_>, i: usize) -> Option<String> {
    let own = doc.node(i).get_nonempty("name").map(str::to_string);
    doc.child(i, Ns::Dmn, "variable").and_then(|(_, v)| v.get_nonempty("name").map(str::to_string)).or(own)
}
