//! The `sluice` binary: parses the command line and hands over to the subcommand.

use std::process::ExitCode;

use clap::Parser;

mod api;
mod cli;
mod config;
mod connectors;
mod oidc;
mod serve;
mod shaped_errors;

/// mimalloc instead of glibc's malloc: Requests are built on one thread and their buffers freed on
/// another (the writer, the connection threads), which glibc's arenas handle slowly.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if args.is_serve() {
        // Only the server logs; `check` and `run` print their results on stdout.
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
    }
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::FAILURE
        }
    }
}
