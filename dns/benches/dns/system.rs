//! What /proc says about a server process.

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
pub(crate) fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What a process has used so far: CPU time (all threads) and context switches.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProcCost {
    pub(crate) user_secs: f64,
    pub(crate) system_secs: f64,
    /// Voluntary and involuntary, summed over its threads.
    pub(crate) switches: u64,
}

impl ProcCost {
    pub(crate) fn read(pid: u32) -> Self {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14, 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // USER_HZ is 100 on every Linux ABI Rust targets.
        let secs = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 100.0
        };
        let mut switches = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let status =
                    std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
                switches += status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum::<u64>();
            }
        }
        Self {
            user_secs: secs(11),
            system_secs: secs(12),
            switches,
        }
    }

    pub(crate) fn minus(&self, earlier: &Self) -> Self {
        Self {
            user_secs: self.user_secs - earlier.user_secs,
            system_secs: self.system_secs - earlier.system_secs,
            switches: self.switches.saturating_sub(earlier.switches),
        }
    }
}
