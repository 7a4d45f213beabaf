//! A process's resource usage from /proc: CPU time and resident memory (Linux).

/// CPU time and memory of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User + system CPU seconds.
    pub cpu_s: f64,
    /// Resident set size now, KiB.
    pub rss_kb: u64,
    /// Peak resident set size, KiB.
    pub peak_rss_kb: u64,
}

/// The usage of process `pid` (`"self"` for this one); zeros where /proc has nothing.
pub fn of(pid: &str) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, r)| r)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Usage {
        // utime and stime are fields 14 and 15 of the line: indexes 11 and 12 after the
        // name (CLK_TCK is 100 on Linux).
        cpu_s: (ticks(11) + ticks(12)) / 100.0,
        rss_kb: kb("VmRSS:"),
        peak_rss_kb: kb("VmHWM:"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let u = super::of("self");
        assert!(u.rss_kb > 0 && u.peak_rss_kb >= u.rss_kb, "{u:?}");
    }
}
