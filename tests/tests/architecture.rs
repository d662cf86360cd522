//! The crate dependency rules of ARCHITECTURE.md, checked so that breaking one fails the build.
#![allow(clippy::unwrap_used)]

use sluice_tests::workspace;

/// HTTP servers, clients and middleware, and the OpenAPI generator.
const HTTP: &[&str] = &["axum", "reqwest", "hyper", "hyper-util", "tower", "tower-http", "utoipa"];
/// The concrete connectors (the Slack crate holds Slack's Web API client too) and the binary that
/// wires them in.
const CONCRETE: &[&str] = &["sluice-slack", "sluice-connector-http", "sluice-modeler-api"];
/// An async runtime, the databases, randomness and ids drawn from it, HTTP: what the runtime
/// leaves to its drivers.
const IO: &[&str] = &["tokio", "sqlx", "rusqlite", "rand", "uuid", "reqwest"];

/// The names under `[dependencies]` (and `[target.….dependencies]`) of a crate's Cargo.toml, a
/// renamed one under its package's name (dev- and build-dependencies don't count).
fn dependencies(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(krate).join("Cargo.toml")).unwrap();
    let mut in_deps = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let section = line.trim_start_matches('[').trim_end_matches(']');
            let section = match section.strip_prefix("target.") {
                // `[target.'cfg(…)'.dependencies]`, `[target.'cfg(…)'.dependencies.NAME]`
                Some(t) => {
                    t.rsplit_once(".dependencies").map_or(String::new(), |(_, rest)| format!("dependencies{rest}"))
                }
                None => section.to_string(),
            };
            in_deps = section == "dependencies";
            // `[dependencies.NAME]`: one dependency as a table of its own.
            if let Some(name) = section.strip_prefix("dependencies.") {
                out.push(name.trim_matches('"').to_string());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if in_deps && let Some((name, value)) = line.split_once('=') {
            let name = name.trim().trim_end_matches(".workspace").trim();
            let package = value.split("package = \"").nth(1).and_then(|p| p.split('"').next());
            if !name.is_empty() {
                out.push(package.unwrap_or(name).to_string());
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

/// The directory of each workspace crate, by package name (`[workspace.dependencies]`' paths).
fn workspace_crates() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        if let Some((name, value)) = line.split_once('=')
            && let Some(path) = value.split("path = \"").nth(1).and_then(|p| p.split('"').next())
        {
            out.push((name.trim().to_string(), path.to_string()));
        }
    }
    out
}

/// `krate` and every workspace crate it depends on, directly or through another.
fn with_workspace_dependencies(krate: &str) -> Vec<String> {
    let known = workspace_crates();
    let mut out = vec![krate.to_string()];
    let mut i = 0;
    while let Some(current) = out.get(i).cloned() {
        for dep in dependencies(&current) {
            if let Some((_, dir)) = known.iter().find(|(name, _)| *name == dep)
                && !out.contains(dir)
            {
                out.push(dir.clone());
            }
        }
        i += 1;
    }
    out
}

/// Neither `krate` nor any workspace crate it depends on depends on one of `forbidden`.
fn assert_none_of_even_through(krate: &str, forbidden: &[&str]) {
    for through in with_workspace_dependencies(krate) {
        let deps = dependencies(&through);
        for f in forbidden {
            assert!(
                !deps.iter().any(|d| d == f),
                "{krate} must not depend on {f}, but {} (it has {deps:?})",
                if through == krate { "it does".to_string() } else { format!("it does through {through}") }
            );
        }
    }
}

/// Every crate of the engine: `engine` and the directories under it that hold a crate.
fn engine_crates() -> Vec<String> {
    let mut out = crates_under("engine");
    out.push("engine".to_string());
    out.sort();
    out
}

#[test]
fn the_engine_knows_nothing_of_http_slack_or_concrete_connectors() {
    // The runtime, the importer, FEEL, the store and the durable worker alike: HTTP lives in the
    // binary and the connectors, Slack in its connector and the binary.
    let crates = engine_crates();
    for expected in ["engine", "engine/bpmn", "engine/feel", "engine/store", "engine/worker"] {
        assert!(crates.iter().any(|c| c == expected), "{expected} not found among {crates:?}");
    }
    for krate in &crates {
        assert_none_of_even_through(krate, &[HTTP, CONCRETE].concat());
    }
}

#[test]
fn the_runtime_does_no_io() {
    // The runtime crate and the pure parts it is built on may not pull in an async runtime, a
    // database, a source of randomness or an HTTP client: its drivers do the IO.
    for krate in ["engine", "engine/bpmn", "engine/feel", "engine/dmn"] {
        assert_none_of_even_through(krate, IO);
    }
}

#[test]
fn the_rules_read_every_kind_of_dependency() {
    // The checks above are only as good as the reading of Cargo.toml: the crates known to depend
    // on what others may not must be seen to.
    assert!(dependencies("engine/store").iter().any(|d| d == "rusqlite"));
    assert!(dependencies("engine/worker").iter().any(|d| d == "tokio"));
    assert!(dependencies("modeler-api").iter().any(|d| d == "utoipa"));
    assert!(dependencies("modeler-api").iter().any(|d| d == "hyper-util"));
    let built_on = with_workspace_dependencies("engine/worker");
    for through in ["engine", "engine/bpmn", "engine/feel", "engine/store", "connectors/api"] {
        assert!(built_on.iter().any(|c| c == through), "engine/worker is built on {through}: {built_on:?}");
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
    let mut out = crates_under("connectors");
    out.retain(|c| c != "connectors/api");
    out.sort();
    out
}

/// The crates in the directories right under `dir` (`dir/<name>`, in no particular order).
fn crates_under(dir: &str) -> Vec<String> {
    std::fs::read_dir(workspace().join(dir))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
        .collect()
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
