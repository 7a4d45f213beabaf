//! Thread priorities: job threads yield to the control plane (and the broker) under load,
//! and the control plane may run at a real-time priority.

/// Lowers the calling thread's scheduling priority to `nice` (0 leaves it alone). Linux
/// applies `setpriority` with `who = 0` to the calling thread alone, and threads inherit it
/// when they spawn more (the blocking pool, lapin's I/O thread of the job connection). Raising
/// a nice value needs no privilege; a failure is logged and changes nothing else.
pub fn lower_this_thread(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: `setpriority` takes plain integers and touches no memory of ours; `who = 0`
    // names the calling thread.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc != 0 {
        tracing::warn!(
            nice,
            cause = %std::io::Error::last_os_error(),
            "cannot lower a job thread's priority"
        );
    }
}

/// Puts the calling thread under SCHED_RR at `priority` (0 leaves it alone). Linux applies
/// `sched_setscheduler` with `pid = 0` to the calling thread alone; threads it spawns later
/// (lapin's I/O thread of the control connection) inherit it. Needs CAP_SYS_NICE or an
/// RLIMIT_RTPRIO of at least `priority`.
pub fn make_this_thread_realtime(priority: i32) -> std::io::Result<()> {
    if priority == 0 {
        return Ok(());
    }
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` lives across the call, which only reads it; `pid = 0` names the
    // calling thread.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &raw const param) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether this process may run threads at real-time `priority`: tried on a thread of its
/// own, which then ends, so that a refusal is reported before anything starts.
pub fn check_realtime(priority: i32) -> std::io::Result<()> {
    std::thread::spawn(move || make_this_thread_realtime(priority))
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the probe thread panicked")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn priority_zero_changes_nothing_and_needs_no_privilege() {
        assert!(super::make_this_thread_realtime(0).is_ok());
        assert!(super::check_realtime(0).is_ok());
    }

    #[test]
    fn a_priority_out_of_range_is_refused() {
        let refused = super::check_realtime(100).expect_err("SCHED_RR stops at 99");
        assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
    }
}
