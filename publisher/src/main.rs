//! The `publisher` binary: the operator's CLI. Every error is one clear line and an exit code.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod deliver;
mod enqueue;
mod export;
mod fleet;
mod history;
mod keygen;
mod promote;
mod push;
mod retention;
mod rollback;
mod status;
mod summary;
mod teardown;
mod trust;

use cli::{Cli, Command};

/// Exit codes: 0 done; 1 the fleet did not (all) do it; 2 bad input; 69 broker unreachable.
pub(crate) const EXIT_INCOMPLETE: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_UNAVAILABLE: u8 = 69;

/// An error that ends the command with a message and an exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }
}

impl From<crawlfleet_bus::BusError> for Failure {
    fn from(e: crawlfleet_bus::BusError) -> Failure {
        let code = match e {
            crawlfleet_bus::BusError::Connect { .. } => EXIT_UNAVAILABLE,
            _ => EXIT_INCOMPLETE,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,lapin=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("publisher: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::PushRule(args) => push::run(&cli.global, args).await,
            Command::Promote(args) => promote::run(&cli.global, args).await,
            Command::Rollback(args) => rollback::run(&cli.global, args).await,
            Command::History(args) => history::run(&cli.global, args).await,
            Command::Keygen(args) => keygen::run(args),
            Command::Enqueue(args) => enqueue::run(&cli.global, args).await,
            Command::Status(args) => status::run(&cli.global, args).await,
            Command::Export(args) => export::run(&cli.global, args).await,
            Command::Teardown(args) => teardown::run(&cli.global, args).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("publisher: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
