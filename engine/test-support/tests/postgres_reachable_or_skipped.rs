//! One line for the whole `cargo test` run about its PostgreSQL half, on stdout so that plain
//! `cargo test --workspace` shows it (libtest hides what passing tests print; this binary has no
//! libtest: `harness = false`).
//!
//! - a server answers at `SLUICE_TEST_POSTGRES_URL`: `PostgreSQL tests ran against …`;
//! - none answers and `CI` is not `true`: `PostgreSQL tests SKIPPED: no server at …` (the
//!   PostgreSQL tests passed as skipped, each saying so on stderr);
//! - none answers under `CI=true`: the same on stderr, and this test fails (exit 1), as do the
//!   PostgreSQL tests themselves.

use std::process::ExitCode;

fn main() -> ExitCode {
    let url = sluice_test_support::postgres_url();
    if std::env::var("SLUICE_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        println!("PostgreSQL tests SKIPPED: SLUICE_TEST_SKIP_POSTGRES=1");
        return ExitCode::SUCCESS;
    }
    match sluice_test_support::postgres_reachability() {
        Ok(()) => {
            println!("PostgreSQL tests ran against {url}");
            ExitCode::SUCCESS
        }
        Err(why) if sluice_test_support::ci() => {
            eprintln!("PostgreSQL tests FAILED: no server at {url} ({why}) and CI=true");
            ExitCode::FAILURE
        }
        Err(why) => {
            println!(
                "PostgreSQL tests SKIPPED: no server at {url} ({why}); they passed without running. Start \
                 PostgreSQL or set SLUICE_TEST_POSTGRES_URL to run them (CI=true makes this a failure)."
            );
            ExitCode::SUCCESS
        }
    }
}
