//! CPU time so far of the broker (`beam.smp`) and of the worker processes: where a
//! benchmark's load lands.

use crawlfleet_worker::usage;

/// CPU seconds so far of the local broker's `beam.smp` (0 if none runs here).
pub fn broker_s() -> f64 {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .find(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "beam.smp")
        })
        .map_or(0.0, |e| usage::of(&e.file_name().to_string_lossy()).cpu_s)
}

/// CPU seconds so far of the processes `pids`, together.
pub fn of_s(pids: &[String]) -> f64 {
    pids.iter().map(|p| usage::of(p).cpu_s).sum()
}
