//! Imports every real-world BPMN file of the shared corpus and checks its diagnostics.
//!
//! Descriptive models must import without errors; every file that does give errors is listed
//! below with the codes it must give, so nothing fails silently.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sluice_bpmn::{Imported, Options, Severity, Source, import};

/// Files with error diagnostics, and exactly which codes. Paths are relative to the corpus.
const EXPECTED_ERRORS: &[(&str, &[&str])] = &[
    // Broken on purpose: declares UTF-8, holds a Latin-1 byte.
    ("conformance/miwg-genmymodel-0.47/C.1.0-export.bpmn", &["invalid-encoding"]),
    // Yaoqiang marks this descriptive model executable: C# script, a .NET timer expression,
    // a send task and a service task with no implementation, start events that map their data
    // outputs into process properties (one through an NCalc transformation).
    (
        "conformance/bpmn-moddle/yaoqiang-event-definitions.bpmn",
        &[
            "invalid-timer",
            "missing-implementation",
            "missing-message",
            "unsupported-data-association",
            "unsupported-expression-language",
            "unsupported-script-format",
        ],
    ),
    // Camunda Modeler marks processes executable by default; these MIWG drawings are not runnable:
    // an empty collapsed sub-process, message events without messages, a conditional event, ...
    ("conformance/miwg-bpmn-io-camunda-modeler-18.6.1/A.3.0-export.bpmn", &["missing-message", "no-start-event"]),
    (
        "conformance/miwg-bpmn-io-camunda-modeler-18.6.1/B.2.0-export.bpmn",
        &[
            "invalid-expression",
            "invalid-timer",
            "missing-implementation",
            "missing-message",
            "no-start-event",
            "unknown-called-process",
            "unsupported-element",
        ],
    ),
    // Executable MIWG models: XPath-style `bpmn:getDataObject('approved')` conditions, a Java
    // delegate service task, natural-language conditions, calls to processes not in the file,
    // data output associations transformed by DMN literal expressions (C.8.1, whose conditions
    // such as `Vacation Approval = "Manual Validation Required"` are FEEL: names may have spaces).
    ("conformance/miwg-reference/C.1.1.bpmn", &["invalid-expression", "missing-implementation"]),
    ("conformance/miwg-reference/C.3.0.bpmn", &["invalid-expression", "no-start-event"]),
    ("conformance/miwg-reference/C.8.1.bpmn", &["unsupported-expression-language"]),
    // Its business rule task names a decision (`zeebe:calledDecision`): no longer unsupported.
    ("conformance/miwg-reference/C.9.0.bpmn", &["missing-message", "unknown-called-process"]),
    ("conformance/miwg-reference/C.9.2.bpmn", &["unknown-called-process"]),
    // ProcessMaker: conditions in its own expression language (`action == 'exit'`), and a PHP
    // script without a `scriptFormat`.
    ("conformance/processmaker/ExclusiveGateway.bpmn", &["invalid-expression"]),
    ("conformance/processmaker/MultiInstance_InputOutput.bpmn", &["invalid-expression"]),
    // Nayra's conditions are betsy's `test.contains("a")` and PHP's `$data['k']=="v"`, neither
    // FEEL; the behaviour tests rewrite them with a small adapter before importing.
    ("behaviour/nayra/ExclusiveGateway.bpmn", &["invalid-expression"]),
    ("behaviour/nayra/ExclusiveGatewayMixed.bpmn", &["invalid-expression"]),
    ("behaviour/nayra/ExclusiveGateway_Default.bpmn", &["invalid-expression"]),
    ("behaviour/nayra/InclusiveDiverging_ExclusiveConverging.bpmn", &["invalid-expression"]),
    ("behaviour/nayra/InclusiveGateway_Default.bpmn", &["invalid-expression"]),
    ("behaviour/nayra/MultiInstance_Sequential_CompletionCondition.bpmn", &["invalid-expression"]),
    ("behaviour/nayra/Signal_BoundaryEvent.bpmn", &["invalid-expression"]),
    // Its PHP (`application/x-betsy`) script task.
    ("behaviour/nayra/CallActivityBoundaryError.bpmn", &["unsupported-script-format"]),
];

/// Files that must be imported together (a caller and its callee).
const TOGETHER: &[(&str, &str)] = &[(
    "behaviour/camunda/CallActivity.testCallSimpleSubProcess.bpmn20.xml",
    "behaviour/camunda/simpleSubProcess.bpmn20.xml",
)];

fn corpus() -> Option<PathBuf> {
    let fallback = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bpmn");
    let dir =
        std::env::var_os("SLUICE_BPMN_CORPUS").map(PathBuf::from).or_else(|| fallback.is_dir().then_some(fallback));
    if dir.is_none() {
        println!("SLUICE_BPMN_CORPUS not set and no ../shared/bpmn: corpus tests skipped");
    }
    dir
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "bpmn" || x == "xml") {
            out.push(p);
        }
    }
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/")
}

fn import_files(root: &Path, names: &[&str]) -> Imported {
    let data: Vec<(String, Vec<u8>)> =
        names.iter().map(|n| (n.to_string(), std::fs::read(root.join(n)).unwrap())).collect();
    let sources: Vec<Source<'_>> = data.iter().map(|(n, b)| Source { name: n, bytes: b }).collect();
    import(&sources, &Options::default())
}

/// `name`, imported together with its callee when it has one in [`TOGETHER`].
fn import_with_callee(root: &Path, name: &str) -> Imported {
    let mut group = vec![name];
    if let Some((_, callee)) = TOGETHER.iter().find(|(caller, _)| *caller == name) {
        group.push(callee);
    }
    import_files(root, &group)
}

fn error_codes(imported: &Imported, file: &str) -> BTreeSet<&'static str> {
    imported.diagnostics.iter().filter(|d| d.is_error() && &*d.file == file).map(|d| d.code).collect()
}

#[test]
fn every_corpus_file() {
    let Some(root) = corpus() else { return };
    let mut paths = Vec::new();
    for sub in ["conformance", "behaviour"] {
        walk(&root.join(sub), &mut paths);
    }
    paths.sort();
    assert!(paths.len() > 90, "the corpus looks incomplete: {} files", paths.len());
    let mut failures = Vec::new();
    for p in &paths {
        let name = rel(&root, p);
        let imported = import_with_callee(&root, &name);
        let got = error_codes(&imported, &name);
        let want: BTreeSet<&str> = EXPECTED_ERRORS
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, c)| c.iter().copied().collect())
            .unwrap_or_default();
        if got != want {
            let all: Vec<String> = imported.diagnostics.iter().map(ToString::to_string).collect();
            failures.push(format!("{name}: expected errors {want:?}, got {got:?}\n  {}", all.join("\n  ")));
        }
        // A file whose processes are all descriptive never has errors (the encoding case aside).
        let all_descriptive = imported.definitions.processes.iter().all(|p| !p.executable);
        if all_descriptive && !got.is_empty() && name != "conformance/miwg-genmymodel-0.47/C.1.0-export.bpmn" {
            failures.push(format!("{name}: only non-executable processes, yet errors {got:?}"));
        }
        for d in &imported.diagnostics {
            if d.pos.line == 0 || d.pos.column == 0 {
                failures.push(format!("{name}: diagnostic without a position: {d}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn latin1_byte_under_utf8_declaration() {
    let Some(root) = corpus() else { return };
    let name = "conformance/miwg-genmymodel-0.47/C.1.0-export.bpmn";
    let imported = import_files(&root, &[name]);
    let codes: Vec<_> = imported.diagnostics.iter().map(|d| (d.severity, d.code)).collect();
    assert_eq!(codes, vec![(Severity::Error, "invalid-encoding")]);
    let d = &imported.diagnostics[0];
    assert_eq!((d.pos.line, d.pos.column), (97, 67), "{d}");
}

#[test]
fn html_entities_recovered() {
    let Some(root) = corpus() else { return };
    let name = "conformance/processmaker/BpmnWithHtmlEntities.bpmn";
    let imported = import_files(&root, &[name]);
    assert!(!imported.has_errors(), "{:#?}", imported.diagnostics);
    assert!(!imported.diagnostics.is_empty());
    assert!(imported.diagnostics.iter().all(|d| d.code == "html-entity" && d.severity == Severity::Warning));
    assert!(!imported.definitions.processes.is_empty());
    let d = &imported.diagnostics[0];
    assert!(d.message.starts_with("`&nbsp;` is an HTML entity, not XML; read as U+00A0"), "{d}");
}

#[test]
fn camunda_behaviour_models_are_clean() {
    let Some(root) = corpus() else { return };
    let mut paths = Vec::new();
    walk(&root.join("behaviour/camunda"), &mut paths);
    walk(&root.join("behaviour/bpmn-engine"), &mut paths);
    paths.sort();
    let mut executable = 0;
    for p in &paths {
        let name = rel(&root, p);
        let imported = import_with_callee(&root, &name);
        let shown: Vec<String> = imported.diagnostics.iter().map(ToString::to_string).collect();
        assert!(shown.is_empty(), "{shown:#?}");
        executable += imported.definitions.executable().count();
    }
    assert!(executable >= 20);
}
