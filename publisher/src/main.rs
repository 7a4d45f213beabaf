//! The `publisher` binary: the operator's CLI. Every error is one clear line and an exit code
//! (`failure.rs` chooses it).

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod deliver;
mod enqueue;
mod export;
mod failure;
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

pub(crate) use failure::{Failure, Finished};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,lapin=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let ended = run(&cli);
    if let Err(failure) = &ended {
        eprintln!("publisher: {failure}");
    }
    ExitCode::from(ended.map_or_else(|failure| failure.code(), Finished::code))
}

/// Runs the command on a runtime of its own.
fn run(cli: &Cli) -> Result<Finished, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
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
    })
}
