//! `sluice new-connector NAME --out DIR` writes a connector crate that builds and passes its own
//! test as it is: generated outside the workspace (a path dependency on `connectors/api`), with
//! the workspace's Cargo.lock so nothing is fetched, built offline into the shared target folder
//! (only the new crate and what its features change are compiled).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use sluice_tests::{scratch_dir, sluice, workspace};

#[test]
fn a_new_connector_builds_and_passes_its_test() {
    let dir = scratch_dir("new-connector").join("crm-lookup");
    let out = sluice(&["new-connector", "crm-lookup", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    for file in ["Cargo.toml", "modeler-api/Cargo.toml", "modeler-api/src/connectors.rs", "sluice-connector-crm-lookup"]
    {
        assert!(said.contains(file), "the next steps name {file}: {said}");
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"sluice-connector-crm-lookup\""), "{manifest}");
    assert!(manifest.contains("connectors/api\" }"), "a path dependency on connectors/api: {manifest}");
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("impl Connector for CrmLookup") && lib.contains("const TYPE: &'static str = \"crm-lookup\""));

    // A second run refuses to overwrite it.
    let again = sluice(&["new-connector", "crm-lookup", "--out", dir.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = sluice(&["new-connector", "CRM Lookup", "--out", dir.join("x").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a connector name"));

    // The workspace's versions of every crate, so the build is offline and reuses built ones.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    // target/<profile>/deps/<this test> → target
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["test", "--offline", "--quiet"]).current_dir(&dir).env("CARGO_TARGET_DIR", target);
    // Build as from the shell, not with this test's package variables (see `sluice_bin`).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(&*key, "CARGO_CRATE_NAME" | "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "OUT_DIR")
        {
            cmd.env_remove(&*key);
        }
    }
    let test = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "cargo test failed:\n{stdout}\n{}", String::from_utf8_lossy(&test.stderr));
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
}
