//! CPU time so far of the machine, of the broker (`beam.smp`) and of the worker processes:
//! where a benchmark's load lands; and finding a local process by name.

use crawlfleet_worker::usage;

/// Cores of this machine: what a CPU share is a share of.
pub fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, usize::from) as f64
}

/// CPU seconds so far of the local broker's `beam.smp` (0 if none runs here).
pub fn broker_s() -> f64 {
    proc_of("beam.smp").map_or(0.0, |dir| {
        usage::of(&dir.file_name().unwrap_or_default().to_string_lossy()).cpu_s
    })
}

/// The `/proc` directory of the first process named `comm` on this machine.
pub fn proc_of(comm: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (name.trim() == comm).then(|| e.path())
    })
}

/// CPU seconds so far of the processes `pids`, together.
pub fn of_s(pids: &[String]) -> f64 {
    pids.iter().map(|p| usage::of(p).cpu_s).sum()
}

/// Busy CPU seconds so far of the whole machine, all cores: user, nice, system, irq,
/// softirq and steal time from `/proc/stat` (in USER_HZ, 100 per second on Linux).
pub fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum::<f64>()
        / 100.0
}
