//! Which new client connections the relay takes, decided without I/O from the client's
//! address and the time: at most so many open per address, new ones at a per-address rate
//! (a token bucket with a burst), and no more in all than the descriptor budget allows. One
//! host on the client network cannot take the way out away from everyone else.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

/// The limits on client connections.
///
/// # Defaults
/// 32 open per address, 10 new per second per address with a burst of 64, 65 536 open in
/// all (the binary sets this from its descriptor limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once from one client address (an IPv6 /64 is one).
    pub per_address: u32,
    /// New connections per second one address may open, on average.
    pub per_second: u32,
    /// New connections one address may open at once before the rate applies.
    pub burst: u32,
    /// Most client connections open in all: what the descriptors left after the reserve
    /// allow, each connection needing a second one for its upstream leg.
    pub max_open: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            per_address: 32,
            per_second: 10,
            burst: 64,
            max_open: 65_536,
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address already has the most connections open it may.
    PerAddress,
    /// Its address opened new connections faster than the rate and burst allow.
    Rate,
    /// The descriptors left over the reserve are taken (or, equivalently, the address table
    /// is full of addresses that all hold connections).
    Descriptors,
}

/// Where a client address is counted: IPv4 addresses (IPv4-mapped IPv6 included) one by
/// one, IPv6 by /64, since one IPv6 host can pick any address of its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1))),
        },
    }
}

/// One address's state: connections open, and its token bucket.
#[derive(Debug, Clone, Copy)]
struct Entry {
    open: u32,
    tokens: f64,
    refilled: Instant,
}

/// The per-address table. Bounded: at most `max_tracked` addresses; when full, addresses
/// with nothing open are forgotten (first those whose bucket has refilled, whose state is
/// the same as a fresh entry's), so many source addresses cannot grow it without bound.
#[derive(Debug)]
pub(crate) struct AdmissionTable {
    limits: ConnectionLimits,
    max_tracked: usize,
    open: usize,
    entries: HashMap<IpAddr, Entry>,
}

impl AdmissionTable {
    /// A table enforcing `limits`; it remembers as many addresses as `max_open` allows
    /// connections (at least 1 024, at most 1 048 576).
    pub(crate) fn new(limits: ConnectionLimits) -> Self {
        Self::with_max_tracked(limits, limits.max_open.clamp(1024, 1 << 20))
    }

    fn with_max_tracked(limits: ConnectionLimits, max_tracked: usize) -> Self {
        Self {
            limits,
            max_tracked,
            open: 0,
            entries: HashMap::new(),
        }
    }

    /// Takes a new connection from `ip` at `now`, or says why not. An admitted connection
    /// must be [`AdmissionTable::release`]d when it closes.
    pub(crate) fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        if self.open >= self.limits.max_open {
            return Err(Refusal::Descriptors);
        }
        let key = client_key(ip);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.max_tracked {
            self.make_room(now);
            if self.entries.len() >= self.max_tracked {
                return Err(Refusal::Descriptors);
            }
        }
        let limits = self.limits;
        let entry = self.entries.entry(key).or_insert(Entry {
            open: 0,
            tokens: f64::from(limits.burst),
            refilled: now,
        });
        refill(entry, &limits, now);
        // A refusal for the address's open connections costs no token: once one closes,
        // the next attempt is not also refused for its rate.
        if entry.open >= limits.per_address {
            return Err(Refusal::PerAddress);
        }
        if entry.tokens < 1.0 {
            return Err(Refusal::Rate);
        }
        entry.tokens -= 1.0;
        entry.open += 1;
        self.open += 1;
        Ok(())
    }

    /// A connection admitted from `ip` closed.
    pub(crate) fn release(&mut self, ip: IpAddr) {
        if let Some(entry) = self.entries.get_mut(&client_key(ip))
            && entry.open > 0
        {
            entry.open -= 1;
            self.open = self.open.saturating_sub(1);
        }
    }

    /// Client connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open
    }

    /// Addresses remembered now.
    pub(crate) fn tracked(&self) -> usize {
        self.entries.len()
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Forgets addresses with nothing open: those whose bucket is full first (nothing is
    /// lost), then, if that was not enough, the rest (their rate state goes, a leniency
    /// only under a flood from very many addresses).
    fn make_room(&mut self, now: Instant) {
        let limits = self.limits;
        self.entries.retain(|_, e| {
            refill(e, &limits, now);
            e.open > 0 || e.tokens < f64::from(limits.burst)
        });
        if self.entries.len() >= self.max_tracked {
            self.entries.retain(|_, e| e.open > 0);
        }
    }
}

/// Adds the tokens earned since the entry was last refilled, up to the burst.
fn refill(entry: &mut Entry, limits: &ConnectionLimits, now: Instant) {
    let elapsed = now.saturating_duration_since(entry.refilled).as_secs_f64();
    entry.tokens =
        (entry.tokens + elapsed * f64::from(limits.per_second)).min(f64::from(limits.burst));
    entry.refilled = now;
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;

    fn limits(per_address: u32, per_second: u32, burst: u32, max_open: usize) -> ConnectionLimits {
        ConnectionLimits {
            per_address,
            per_second,
            burst,
            max_open,
        }
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn an_address_gets_at_most_its_share_of_open_connections() {
        let mut table = AdmissionTable::new(limits(3, 100, 100, 1000));
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(table.admit(v4(1), now), Ok(()));
        }
        assert_eq!(table.admit(v4(1), now), Err(Refusal::PerAddress));
        // Another address is not affected.
        assert_eq!(table.admit(v4(2), now), Ok(()));
        // One closes: one more may open.
        table.release(v4(1));
        assert_eq!(table.admit(v4(1), now), Ok(()));
        assert_eq!(table.admit(v4(1), now), Err(Refusal::PerAddress));
        assert_eq!(table.open(), 4);
    }

    #[test]
    fn new_connections_beyond_the_burst_wait_for_the_rate() {
        let mut table = AdmissionTable::new(limits(1000, 2, 5, 1000));
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(table.admit(v4(1), start), Ok(()));
        }
        assert_eq!(table.admit(v4(1), start), Err(Refusal::Rate));
        // Half a second at 2 per second earns one token, no more.
        let later = start + Duration::from_millis(500);
        assert_eq!(table.admit(v4(1), later), Ok(()));
        assert_eq!(table.admit(v4(1), later), Err(Refusal::Rate));
        // A long pause refills to the burst, not beyond.
        let much_later = later + Duration::from_secs(3600);
        for _ in 0..5 {
            assert_eq!(table.admit(v4(1), much_later), Ok(()));
        }
        assert_eq!(table.admit(v4(1), much_later), Err(Refusal::Rate));
    }

    #[test]
    fn a_refusal_for_open_connections_costs_no_token() {
        let mut table = AdmissionTable::new(limits(1, 1, 2, 1000));
        let now = Instant::now();
        assert_eq!(table.admit(v4(1), now), Ok(()));
        for _ in 0..10 {
            assert_eq!(table.admit(v4(1), now), Err(Refusal::PerAddress));
        }
        table.release(v4(1));
        assert_eq!(table.admit(v4(1), now), Ok(()));
    }

    #[test]
    fn the_descriptor_budget_caps_every_address_together() {
        let mut table = AdmissionTable::new(limits(10, 100, 100, 3));
        let now = Instant::now();
        for i in 1..=3 {
            assert_eq!(table.admit(v4(i), now), Ok(()));
        }
        assert_eq!(table.admit(v4(4), now), Err(Refusal::Descriptors));
        assert_eq!(table.admit(v4(1), now), Err(Refusal::Descriptors));
        table.release(v4(2));
        assert_eq!(table.admit(v4(4), now), Ok(()));
    }

    #[test]
    fn an_ipv6_64_counts_as_one_address_and_mapped_ipv4_as_ipv4() {
        let mut table = AdmissionTable::new(limits(2, 100, 100, 1000));
        let now = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(table.admit(a, now), Ok(()));
        assert_eq!(table.admit(b, now), Ok(()));
        assert_eq!(table.admit(a, now), Err(Refusal::PerAddress));
        assert_eq!(table.admit(other, now), Ok(()));
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(table.admit(v4(7), now), Ok(()));
        assert_eq!(table.admit(mapped, now), Ok(()));
        assert_eq!(table.admit(v4(7), now), Err(Refusal::PerAddress));
        assert_eq!(
            client_key(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        );
    }

    #[test]
    fn many_addresses_do_not_grow_the_table_beyond_its_bound() {
        let mut table = AdmissionTable::with_max_tracked(limits(4, 1, 4, 1_000_000), 100);
        let start = Instant::now();
        // 10 000 addresses, one connection each, all closed again.
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(table.admit(ip, start), Ok(()));
            table.release(ip);
            assert!(table.tracked() <= 100, "{} tracked", table.tracked());
        }
        assert_eq!(table.open(), 0);
    }

    #[test]
    fn a_table_full_of_open_connections_refuses_new_addresses_and_keeps_the_open_ones() {
        let mut table = AdmissionTable::with_max_tracked(limits(4, 1, 4, 1_000_000), 3);
        let now = Instant::now();
        for i in 1..=3 {
            assert_eq!(table.admit(v4(i), now), Ok(()));
        }
        assert_eq!(table.admit(v4(9), now), Err(Refusal::Descriptors));
        // The open ones are still counted: their addresses keep their limits.
        for _ in 0..3 {
            assert_eq!(table.admit(v4(1), now), Ok(()));
        }
        assert_eq!(table.admit(v4(1), now), Err(Refusal::PerAddress));
        // Once an address has nothing open, a new one may take its place.
        table.release(v4(2));
        assert_eq!(table.admit(v4(9), now), Ok(()));
    }

    #[test]
    fn making_room_forgets_full_buckets_and_keeps_spent_ones() {
        let mut table = AdmissionTable::with_max_tracked(limits(100, 1, 2, 1_000_000), 2);
        let start = Instant::now();
        // v4(1) spends its whole burst; v4(2) one token. Both close again.
        for _ in 0..2 {
            assert_eq!(table.admit(v4(1), start), Ok(()));
            table.release(v4(1));
        }
        assert_eq!(table.admit(v4(2), start), Ok(()));
        table.release(v4(2));
        // 1.5 s later v4(2)'s bucket is full again (nothing to remember), v4(1)'s is not.
        let later = start + Duration::from_millis(1500);
        assert_eq!(table.admit(v4(3), later), Ok(()));
        assert_eq!(table.tracked(), 2);
        // v4(1) was remembered: 1.5 tokens, not a fresh burst of 2.
        assert_eq!(table.admit(v4(1), later), Ok(()));
        assert_eq!(table.admit(v4(1), later), Err(Refusal::Rate));
    }

    #[test]
    fn release_of_an_unknown_address_changes_nothing() {
        let mut table = AdmissionTable::new(ConnectionLimits::default());
        table.release(v4(1));
        assert_eq!(table.open(), 0);
        assert_eq!(table.admit(v4(1), Instant::now()), Ok(()));
        table.release(v4(1));
        table.release(v4(1));
        assert_eq!(table.open(), 0);
    }
}
