//! The crate dependency rules of ARCHITECTURE.md, checked so that breaking one fails the build.
#![allow(clippy::unwrap_used)]

use sluice_tests::workspace;

/// The names under `[dependencies]` of a crate's Cargo.toml (dev-dependencies don't count).
fn dependencies(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(krate).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_end_matches(".workspace").trim();
            if !name.is_empty() && !name.starts_with('#') {
                out.push(name.to_string());
            }
        }
    }
    out
}

fn assert_none_of(krate: &str, forbidden: &[&str]) {
    let deps = dependencies(krate);
    for f in forbidden {
        assert!(!deps.iter().any(|d| d == f), "{krate} must not depend on {f} (it has {deps:?})");
    }
}

#[test]
fn the_engine_knows_nothing_of_http_slack_or_concrete_connectors() {
    for krate in ["engine", "engine/bpmn", "engine/feel"] {
        assert_none_of(
            krate,
            &["axum", "reqwest", "hyper", "tower", "tower-http", "sluice-slack", "sluice-modeler-api"],
        );
    }
}

#[test]
fn the_runtime_core_does_no_io() {
    // The pure parts may not pull in an async runtime, a database or a clock source of their own.
    for krate in ["engine/bpmn", "engine/feel"] {
        assert_none_of(krate, &["tokio", "sqlx", "rand", "uuid"]);
    }
}

#[test]
fn the_connector_api_stays_small() {
    assert_none_of(
        "connectors/api",
        &["sluice-engine", "sluice-bpmn", "sluice-feel", "sqlx", "axum", "reqwest", "hyper", "tower", "tracing"],
    );
    // tokio only to spawn a call (panic isolation), time it out and signal cancellation.
    let text = std::fs::read_to_string(workspace().join("connectors/api/Cargo.toml")).unwrap();
    let deps = text.split("[dependencies]").nth(1).unwrap().split("\n[").next().unwrap();
    let tokio = deps.lines().find(|l| l.trim_start().starts_with("tokio")).unwrap();
    assert!(tokio.contains("default-features = false"), "connectors/api: tokio without default features: {tokio}");
    let features = tokio.split("features = [").nth(1).unwrap().split(']').next().unwrap();
    for f in features.split(',').map(|f| f.trim().trim_matches('"')).filter(|f| !f.is_empty()) {
        assert!(
            ["rt", "time", "sync"].contains(&f),
            "connectors/api may use tokio's rt, time and sync only, not `{f}`"
        );
    }
}

/// Every connector crate: the directories under `connectors/` other than `api`.
fn connector_crates() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(workspace().join("connectors"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| format!("connectors/{}", e.file_name().to_string_lossy()))
        .filter(|c| c != "connectors/api")
        .collect();
    out.sort();
    out
}

#[test]
fn connectors_depend_on_the_connector_api_only() {
    let crates = connector_crates();
    assert!(crates.iter().any(|c| c == "connectors/http"), "found {crates:?}");
    for krate in &crates {
        assert!(
            dependencies(krate).iter().any(|d| d == "sluice-connector-api"),
            "{krate} must be written against sluice-connector-api"
        );
        // Not the engine, the database, the binary, nor another connector.
        assert_none_of(
            krate,
            &[
                "sluice-engine",
                "sluice-bpmn",
                "sluice-feel",
                "sqlx",
                "sluice-modeler-api",
                "sluice-connector-http",
                "sluice-slack",
                "axum",
                "hyper-util",
            ],
        );
    }
}

#[test]
fn only_the_binary_wires_concrete_connectors() {
    for krate in ["engine", "engine/bpmn", "engine/feel", "connectors/api"] {
        assert_none_of(krate, &["sluice-connector-http", "sluice-slack"]);
    }
}
