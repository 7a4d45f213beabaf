//! The `worker` binary: parses flags, runs the command, and turns its failure into an exit
//! code (`failure.rs` chooses it).

use std::process::ExitCode;

use clap::Parser;

use crawlfleet_worker::cli::{Cli, Command};
use crawlfleet_worker::{check, local, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (program, result) = match cli.command {
        None => ("worker", run::main(cli.run)),
        Some(Command::Run(args)) => ("worker", run::main(*args)),
        Some(Command::CheckRule(args)) => ("worker check-rule", check::run(&args)),
        Some(Command::Crawl(args)) => ("worker crawl", local::main(*args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report(program);
            ExitCode::from(failure.code())
        }
    }
}
