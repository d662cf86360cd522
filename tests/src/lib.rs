//! Helpers for end-to-end tests: find the built `sluice` binary and run it.

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
        // `cargo test` gives this process the package variables of sluice-tests; some build
        // scripts (ring's) rerun when those change, so passing them on would rebuild half the
        // tree here and again at the next `cargo test`.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            let per_package = name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_MANIFEST_")
                || matches!(
                    name.as_ref(),
                    "OUT_DIR"
                        | "CARGO_CRATE_NAME"
                        | "CARGO_BIN_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "CARGO_RUSTC_CURRENT_DIR"
                );
            if per_package {
                cmd.env_remove(name.as_ref());
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
