//! `worker run` (the default command): validate the whole config, set up logging and the two
//! runtimes — jobs at a lower priority, the control plane on a thread of its own — and run
//! the supervisor until told to stop.

use std::time::Duration;

use crate::cli::RunArgs;
use crate::config::Config;
use crate::failure::Failure;
use crate::{priority, shutdown, supervisor, telemetry};

pub fn main(args: RunArgs) -> Result<(), Failure> {
    let config = Config::from_args(&args).map_err(Failure::InvalidConfig)?;
    telemetry::init(config.log_format);
    let control_rt = config.control_rt_priority;
    if let Err(e) = priority::check_realtime(control_rt) {
        return Err(Failure::Usage(format!(
            "--control-rt-priority {control_rt}: this process may not use real-time priorities ({e}); grant CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {control_rt}, or pass 0"
        )));
    }
    let job_nice = config.job_nice;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Job work runs on this runtime: its threads get the lower priority.
        .on_thread_start(move || priority::lower_this_thread(job_nice))
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))?;
    // The control plane gets a runtime (and OS thread) of its own: its connection's socket is
    // driven there, so a push is read, applied and answered while every job thread is busy.
    let control = tokio::runtime::Builder::new_multi_thread()
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
        .map_err(|e| Failure::Runtime(format!("cannot start the control runtime: {e}")))?;
    let control_handle = control.handle().clone();
    let result = runtime.block_on(async {
        let token = shutdown::on_signals();
        supervisor::run(config, token, control_handle).await
    });
    control.shutdown_timeout(Duration::from_secs(1));
    // Losing the broker is not fatal (the worker reconnects): only set-up fails here.
    result.map_err(|cause| Failure::Stopped {
        what: "worker stopped",
        cause,
    })
}
