//! Response-rate limiting per client address (RRL, as BIND and Knot do it): over the rate
//! of answers or of answer bytes, answers are dropped, but every second one is sent
//! truncated ("slip") so a real client behind a spoofed flood still gets through over TCP.
//! TCP itself is never limited. Counting bytes as well as answers bounds what a forged
//! source address can make us send its victim, whatever the answers' size.

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

/// The limits in force: answers and answer bytes per second (0: that one is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rates {
    pub(crate) answers: u32,
    pub(crate) bytes: u32,
}

impl Rates {
    fn off(self) -> bool {
        self.answers == 0 && self.bytes == 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    second: u64,
    count: u32,
    bytes: u64,
    over: u32,
}

impl Window {
    fn new(second: u64) -> Self {
        Self {
            second,
            count: 0,
            bytes: 0,
            over: 0,
        }
    }
}

/// Counts answers and their bytes per client per second.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    started: Instant,
    windows: PerClient<IpAddr, Window>,
}

impl RateLimiter {
    /// A limiter remembering at most `clients` addresses.
    pub(crate) fn new(clients: usize) -> Self {
        Self {
            started: Instant::now(),
            windows: PerClient::new(clients),
        }
    }

    /// Counts one answer to `client` against `rates`.
    pub(crate) fn check(&self, client: IpAddr, rates: Rates) -> RateVerdict {
        if rates.off() {
            return RateVerdict::Answer;
        }
        self.check_at(client, rates, self.now())
    }

    /// Whether an answer of `bytes` may go to `client` under the byte rate, checked when
    /// the answer's size is known (a burst of queries is admitted before any is answered):
    /// while the client's window is under budget the bytes are added and the answer sent,
    /// after that it is dropped or slipped as over the rate.
    pub(crate) fn spend(&self, client: IpAddr, bytes: usize, rates: Rates) -> RateVerdict {
        if rates.bytes == 0 {
            return RateVerdict::Answer;
        }
        self.spend_at(client, bytes, rates.bytes, self.now())
    }

    /// Forgets the windows of past seconds and frees their memory.
    pub(crate) fn sweep(&self) {
        let now = self.now();
        self.windows.sweep(|w| w.second == now);
    }

    /// Client addresses remembered now.
    pub(crate) fn clients(&self) -> usize {
        self.windows.len()
    }

    /// The most addresses remembered.
    pub(crate) fn capacity(&self) -> usize {
        self.windows.capacity()
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// [`check`](Self::check) in the given second since start.
    fn check_at(&self, client: IpAddr, rates: Rates, second: u64) -> RateVerdict {
        self.in_window(client, second, |w| {
            w.count = w.count.saturating_add(1);
            let over_count = rates.answers != 0 && w.count > rates.answers;
            let over_bytes = rates.bytes != 0 && w.bytes >= u64::from(rates.bytes);
            !over_count && !over_bytes
        })
    }

    /// [`spend`](Self::spend) in the given second since start, under `budget` bytes.
    fn spend_at(&self, client: IpAddr, bytes: usize, budget: u32, second: u64) -> RateVerdict {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.in_window(client, second, |w| {
            let under = w.bytes < u64::from(budget);
            if under {
                w.bytes = w.bytes.saturating_add(bytes);
            }
            under
        })
    }

    /// Runs `within` on `client`'s window for `second` (a fresh one if its last was
    /// earlier): `Answer` if it says the answer is within the rate, else every other time
    /// `Drop`, then `Slip`.
    fn in_window(
        &self,
        client: IpAddr,
        second: u64,
        within: impl FnOnce(&mut Window) -> bool,
    ) -> RateVerdict {
        self.windows.with(
            client,
            |w| w.second == second,
            |map| {
                let w = map.entry(client).or_insert(Window::new(second));
                if w.second != second {
                    *w = Window::new(second);
                }
                if within(w) {
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
    use RateVerdict::{Answer, Drop, Slip};

    const ANSWERS: Rates = Rates {
        answers: 3,
        bytes: 0,
    };

    #[test]
    fn limits_per_client_and_slips_every_second_excess() {
        let rl = RateLimiter::new(1024);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let verdicts: Vec<_> = (0..7).map(|_| rl.check_at(a, ANSWERS, 5)).collect();
        assert_eq!(verdicts, [Answer, Answer, Answer, Drop, Slip, Drop, Slip]);
        assert_eq!(rl.check_at(b, ANSWERS, 5), Answer);
        // A new second starts a new window.
        assert_eq!(rl.check_at(a, ANSWERS, 6), Answer);
        let off = Rates {
            answers: 0,
            bytes: 0,
        };
        assert!((0..1000).all(|_| rl.check(a, off) == Answer));
    }

    /// Few but large answers hit the byte budget: the answer that crosses it is sent, the
    /// ones after it are not, until the next second.
    #[test]
    fn limits_by_answer_bytes() {
        let rl = RateLimiter::new(1024);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let rates = Rates {
            answers: 1000,
            bytes: 3000,
        };
        // Admitted one after another, each answer spent as it is sent.
        let verdicts: Vec<_> = (0..5)
            .map(|_| match rl.check_at(a, rates, 9) {
                Answer => rl.spend_at(a, 1232, rates.bytes, 9),
                over => over,
            })
            .collect();
        assert_eq!(verdicts, [Answer, Answer, Answer, Drop, Slip]);
        assert_eq!(rl.check_at(a, rates, 10), Answer);
        // A burst admitted before any answer was sent is stopped when the answers go.
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!((0..5).all(|_| rl.check_at(b, rates, 9) == Answer));
        let spent: Vec<_> = (0..5).map(|_| rl.spend_at(b, 1232, 3000, 9)).collect();
        assert_eq!(spent, [Answer, Answer, Answer, Drop, Slip]);
    }

    #[test]
    fn a_sweep_forgets_past_seconds() {
        let rl = RateLimiter::new(1024);
        for i in 0..100u8 {
            rl.check_at(IpAddr::from([10, 0, 1, i]), ANSWERS, 0);
        }
        assert_eq!(rl.clients(), 100);
        rl.windows.sweep(|w| w.second == 1);
        assert_eq!(rl.clients(), 0);
    }
}
