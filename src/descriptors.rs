//! The process's descriptor limit: raised to the hard limit at start (a systemd service
//! inherits a soft limit of 1 024, which a few hundred idle connections exhaust), and the
//! share of it client connections may take, the rest kept for the archive, the admin
//! socket, DNS and health checks.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// What the soft limit is raised to when the hard limit is unlimited: Linux's default
/// `fs.nr_open`, above which `setrlimit` fails.
const UNLIMITED_TARGET: u64 = 1 << 20;

/// The descriptor limit before and after [`raise_to_hard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DescriptorLimit {
    /// The soft limit inherited.
    pub(crate) before: u64,
    /// The soft limit in force now.
    pub(crate) now: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. A refusal (a sandbox, say) keeps the
/// inherited limit, with a warning: the gateway still works, within the smaller budget.
pub(crate) fn raise_to_hard() -> DescriptorLimit {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current.unwrap_or(u64::MAX);
    let target = limit.maximum.unwrap_or(UNLIMITED_TARGET);
    if before >= target {
        return DescriptorLimit {
            before,
            now: before,
        };
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => DescriptorLimit {
            before,
            now: target,
        },
        Err(error) => {
            tracing::warn!(%error, soft = before, hard = target, "cannot raise the descriptor limit");
            DescriptorLimit {
                before,
                now: before,
            }
        }
    }
}

/// How many client connections fit in `limit` descriptors after `reserve`: each takes two,
/// its own and its upstream leg's. `None` when none fit.
pub(crate) fn client_budget(limit: u64, reserve: u64) -> Option<usize> {
    let budget = limit.saturating_sub(reserve) / 2;
    (budget > 0).then(|| usize::try_from(budget).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_connection_counts_twice_after_the_reserve() {
        assert_eq!(client_budget(1024, 256), Some(384));
        assert_eq!(client_budget(524_288, 256), Some(262_016));
        assert_eq!(client_budget(259, 256), Some(1));
    }

    #[test]
    fn a_limit_within_the_reserve_leaves_no_client_connections() {
        assert_eq!(client_budget(257, 256), None);
        assert_eq!(client_budget(100, 256), None);
    }

    #[test]
    fn raising_twice_changes_nothing_the_second_time() {
        let first = raise_to_hard();
        let second = raise_to_hard();
        assert_eq!(second.before, first.now);
        assert_eq!(second.now, first.now);
        assert!(first.now >= first.before);
    }
}
