//! The `sluice` binary: parses the command line and hands over to the subcommand.

use std::process::ExitCode;

use clap::Parser;

mod api;
mod cli;
mod config;
mod connectors;
mod export;
mod logs;
mod oidc;
mod otlp;
mod scaffold;
mod serve;
mod shaped_errors;
mod templates;

/// mimalloc instead of glibc's malloc: Requests are built on one thread and their buffers freed on
/// another (the writer, the connection threads), which glibc's arenas handle slowly.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if let Some(format) = args.log_format() {
        // Only the server logs; `check` and `run` print their results on stdout.
        if let Err(e) = logs::init(format) {
            eprintln!("sluice: {e}");
            return ExitCode::FAILURE;
        }
    }
    let code = match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::FAILURE
        }
    };
    // The spans of the last moments reach the collector before the process ends.
    otlp::shutdown(std::time::Duration::from_secs(5));
    code
}
