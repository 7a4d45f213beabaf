//! The `worker` binary: parses flags, validates the whole config, runs until told to stop,
//! and maps errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

use crawlfleet_worker::cli::{Cli, Command};
use crawlfleet_worker::{config, priority, shutdown, supervisor, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(*args),
        Some(Command::CheckRule(args)) => crawlfleet_worker::check::run(&args),
        Some(Command::Crawl(args)) => crawlfleet_worker::local::main(*args),
    }
}

fn run(args: crawlfleet_worker::cli::RunArgs) -> ExitCode {
    let config = match config::Config::from_args(&args) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("worker: invalid configuration:");
            for e in errors {
                eprintln!("  - {e}");
            }
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let control_rt = config.control_rt_priority;
    if let Err(e) = priority::check_realtime(control_rt) {
        eprintln!(
            "worker: --control-rt-priority {control_rt}: this process may not use real-time priorities ({e}); grant CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {control_rt}, or pass 0"
        );
        return ExitCode::from(2);
    }
    let job_nice = config.job_nice;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Job work runs on this runtime: its threads get the lower priority.
        .on_thread_start(move || priority::lower_this_thread(job_nice))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("worker: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    // The control plane gets a runtime (and OS thread) of its own: its connection's socket is
    // driven there, so a push is read, applied and answered while every job thread is busy.
    let control = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("crawlfleet-control")
        // Checked above; a thread refused after all keeps its normal priority.
        .on_thread_start(move || {
            if let Err(e) = priority::make_this_thread_realtime(control_rt) {
                tracing::warn!(priority = control_rt, cause = %e, "cannot give a control thread its real-time priority");
            }
        })
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("worker: cannot start the control runtime: {e}");
            return ExitCode::from(70);
        }
    };
    let control_handle = control.handle().clone();
    let code = runtime.block_on(async {
        let token = shutdown::on_signals();
        match supervisor::run(config, token, control_handle).await {
            Ok(()) => ExitCode::SUCCESS,
            // Losing the broker is not fatal (the worker reconnects): only set-up fails here.
            Err(e) => {
                tracing::error!(cause = %format!("{e:#}"), "worker stopped");
                ExitCode::FAILURE
            }
        }
    });
    control.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
