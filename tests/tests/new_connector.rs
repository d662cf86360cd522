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
    clear_package_vars(&mut cmd);
    let test = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "cargo test failed:\n{stdout}\n{}", String::from_utf8_lossy(&test.stderr));
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
}

/// Inside a checkout (`sluice new-connector NAME` from its root, as the guide says): the crate
/// uses the workspace's dependencies, and once it is a member as the printed steps say, `cargo
/// test -p sluice-connector-NAME` passes. The checkout is this one's files linked into a scratch
/// folder, so the real workspace is left as it is.
#[cfg(unix)]
#[test]
fn a_new_connector_inside_a_checkout_builds_once_it_is_a_member() {
    let root = scratch_dir("checkout");
    let real = workspace().canonicalize().unwrap();
    for entry in std::fs::read_dir(&real).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let skip = [".git", "target", "connectors", "Cargo.toml", "Cargo.lock"];
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        std::os::unix::fs::symlink(entry.path(), root.join(&name)).unwrap();
    }
    std::fs::create_dir(root.join("connectors")).unwrap();
    for entry in std::fs::read_dir(real.join("connectors")).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), root.join("connectors").join(entry.file_name())).unwrap();
    }
    std::fs::copy(real.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    let manifest = std::fs::read_to_string(real.join("Cargo.toml")).unwrap();
    std::fs::write(root.join("Cargo.toml"), &manifest).unwrap();

    let out =
        Command::new(sluice_tests::sluice_bin()).args(["new-connector", "crm-lookup"]).current_dir(&root).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(root.join("connectors/crm-lookup/Cargo.toml")).unwrap();
    assert!(written.contains("sluice-connector-api.workspace = true"), "the workspace's dependencies: {written}");

    // Step 2 of the printed list: a member, and a workspace dependency.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("add \"connectors/crm-lookup\" to `members`"), "{said}");
    let manifest = manifest.replacen("members = [\n", "members = [\n    \"connectors/crm-lookup\",\n", 1).replacen(
        "[workspace.dependencies]\n",
        "[workspace.dependencies]\nsluice-connector-crm-lookup = { path = \"connectors/crm-lookup\" }\n",
        1,
    );
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();

    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["test", "--offline", "--quiet", "-p", "sluice-connector-crm-lookup"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", target);
    clear_package_vars(&mut cmd);
    let test = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "cargo test failed:\n{stdout}\n{}", String::from_utf8_lossy(&test.stderr));
    assert!(stdout.contains("test result: ok. 1 passed"), "{stdout}");
}

/// Build as from the shell, not with this test's package variables (see `sluice_bin`).
fn clear_package_vars(cmd: &mut Command) {
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
}
