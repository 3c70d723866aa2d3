//! What /proc says about this process and a child, and the descriptor limit.

/// `VmRSS` of `pid` (this process when `None`), in KiB.
pub(crate) fn rss_kib(pid: Option<u32>) -> u64 {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |p| format!("/proc/{p}/status"),
    );
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of `pid` (this process when `None`), all threads.
pub(crate) fn cpu_secs(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // USER_HZ is 100 on every Linux ABI Rust targets.
    (ticks(11) + ticks(12)) / 100.0
}

/// The soft and hard `Max open files` from `/proc/self/limits`.
pub(crate) fn nofile_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let parse = |v: Option<&str>| match v {
        Some("unlimited") => u64::MAX,
        Some(n) => n.parse().unwrap_or(1024),
        None => 1024,
    };
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .map_or((1024, 1024), |rest| {
            let mut it = rest.split_whitespace();
            (parse(it.next()), parse(it.next()))
        })
}

/// Raises the soft descriptor limit to `want` (the hard one too when allowed). Returns the
/// soft limit now in force.
pub(crate) fn raise_nofile(want: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let (soft, hard) = nofile_limits();
    if soft >= want {
        return soft;
    }
    let now = getrlimit(Resource::Nofile);
    let attempt = if hard >= want {
        Rlimit {
            current: Some(want),
            maximum: now.maximum,
        }
    } else {
        // Raising the hard limit needs CAP_SYS_RESOURCE (root has it).
        Rlimit {
            current: Some(want),
            maximum: Some(want),
        }
    };
    if setrlimit(Resource::Nofile, attempt).is_err() && hard > soft {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: now.maximum,
                maximum: now.maximum,
            },
        );
    }
    nofile_limits().0
}
