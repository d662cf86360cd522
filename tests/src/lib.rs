//! Helpers for end-to-end tests: find the built `sluice` binary and run it.

pub mod bpmn;
pub mod db;
pub mod oidc_provider;
pub mod otlp_collector;
pub mod server;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};

/// The `sluice` binary beside this test executable (`target/<profile>/sluice`), built first so the
/// tests never run a stale one (`cargo test -p sluice-tests` alone would not rebuild it).
pub fn sluice_bin() -> PathBuf {
    static BUILT: Once = Once::new();
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test-binary> → target/<profile>/sluice
    let dir = exe.parent().and_then(|d| d.parent()).map(PathBuf::from).unwrap_or_default();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "sluice-modeler-api", "--bin", "sluice"]);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        // Cargo runs tests with this package's variables set (`CARGO_MANIFEST_DIR`, …); build
        // scripts that watch them (ring's does) would see a change, rebuild, and make the next
        // `cargo test` rebuild them back: build as from the shell.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let set_for_tests = key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_BIN_")
                || matches!(
                    &*key,
                    "CARGO_MANIFEST_DIR"
                        | "CARGO_MANIFEST_PATH"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                        | "OUT_DIR"
                );
            if set_for_tests {
                cmd.env_remove(&*key);
            }
        }
        match cmd.status() {
            Ok(s) if s.success() => {}
            other => panic!("building the sluice binary failed: {other:?}"),
        }
    });
    let bin = dir.join(format!("sluice{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} is missing after building it", bin.display());
    bin
}

/// Runs `sluice` with these arguments.
pub fn sluice(args: &[&str]) -> Output {
    match Command::new(sluice_bin()).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("could not run sluice: {e}"),
    }
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh, empty directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sluice-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir
}

/// A file `name` holding `contents` in a fresh [`scratch_dir`] for the test `test`; its path.
pub fn scratch_file(test: &str, name: &str, contents: &str) -> PathBuf {
    let file = scratch_dir(test).join(name);
    if let Err(e) = std::fs::write(&file, contents) {
        panic!("cannot write {}: {e}", file.display());
    }
    file
}
