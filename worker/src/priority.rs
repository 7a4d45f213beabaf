//! Thread priorities: job threads yield to the control plane (and the broker) under load.

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
