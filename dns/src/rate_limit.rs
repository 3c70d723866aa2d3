//! Response-rate limiting per client address (RRL, as BIND and Knot do it): over the rate,
//! answers are dropped, but every second one is sent truncated ("slip") so a real client
//! behind a spoofed flood still gets through over TCP. TCP itself is never limited.

use std::net::IpAddr;
use std::time::Instant;

use crate::per_client::PerClient;

/// What to do with one UDP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateVerdict {
    /// Within the rate.
    Answer,
    /// Over the rate: send nothing.
    Drop,
    /// Over the rate: send an empty truncated answer.
    Slip,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    second: u64,
    count: u32,
    over: u32,
}

/// Counts answers per client per second.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    started: Instant,
    windows: PerClient<IpAddr, Window>,
}

impl RateLimiter {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            windows: PerClient::new(),
        }
    }

    /// Counts one answer to `client` against `rate` per second (0: unlimited).
    pub(crate) fn check(&self, client: IpAddr, rate: u32) -> RateVerdict {
        if rate == 0 {
            return RateVerdict::Answer;
        }
        self.check_at(client, rate, self.started.elapsed().as_secs())
    }

    /// [`check`](Self::check) in the given second since start.
    fn check_at(&self, client: IpAddr, rate: u32, second: u64) -> RateVerdict {
        self.windows.with(
            client,
            |w| w.second == second,
            |map| {
                let w = map.entry(client).or_insert(Window {
                    second,
                    count: 0,
                    over: 0,
                });
                if w.second != second {
                    *w = Window {
                        second,
                        count: 0,
                        over: 0,
                    };
                }
                w.count = w.count.saturating_add(1);
                if w.count <= rate {
                    return RateVerdict::Answer;
                }
                w.over = w.over.wrapping_add(1);
                if w.over.is_multiple_of(2) {
                    RateVerdict::Slip
                } else {
                    RateVerdict::Drop
                }
            },
        )
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_client_and_slips_every_second_excess() {
        let rl = RateLimiter::new();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let verdicts: Vec<_> = (0..7).map(|_| rl.check_at(a, 3, 5)).collect();
        use RateVerdict::{Answer, Drop, Slip};
        assert_eq!(verdicts, [Answer, Answer, Answer, Drop, Slip, Drop, Slip]);
        assert_eq!(rl.check_at(b, 3, 5), Answer);
        // A new second starts a new window.
        assert_eq!(rl.check_at(a, 3, 6), Answer);
        assert!((0..1000).all(|_| rl.check(a, 0) == Answer));
    }
}
