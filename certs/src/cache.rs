//! Minted leaves kept for reuse: bounded, least recently used out first, one issuance at a
//! time per name however many handshakes ask for it, renewed before they expire.

use std::fmt;
use std::sync::Arc;

use moka::ops::compute::{CompResult, Op};
use rustls::sign::CertifiedKey;
use time::{Duration, OffsetDateTime};

use crate::{CertError, Clock, Issuer, Leaf, LeafSource};

/// A cached leaf and when to replace it.
#[derive(Clone)]
struct Cached {
    key: Arc<CertifiedKey>,
    /// From then on the next request mints a new leaf.
    renew_at: OffsetDateTime,
    /// Until then the leaf may still be served if minting its successor fails.
    not_after: OffsetDateTime,
}

/// Leaves by host name, in front of a [`LeafSource`] (normally an [`Issuer`]).
///
/// Synchronous, because rustls asks for a certificate synchronously in the handshake; a
/// miss mints inline (tens of microseconds for a P-256 CA, about a millisecond for RSA),
/// a hit is a hash lookup. Concurrent misses for one name wait for a single issuance.
/// Names are normalised (lower case, no trailing dot) before lookup.
pub struct LeafCache<S = Issuer> {
    source: S,
    clock: Arc<dyn Clock>,
    renew_before: Duration,
    leaves: moka::sync::Cache<String, Cached>,
}

impl LeafCache<Issuer> {
    /// A cache of at most `capacity` leaves from `issuer`, renewing each `renew_before` its
    /// end, on the issuer's clock.
    pub fn for_issuer(issuer: Issuer, capacity: u64, renew_before: Duration) -> Self {
        let clock = issuer.clock().clone();
        Self::new(issuer, capacity, renew_before, clock)
    }
}

impl<S: LeafSource> LeafCache<S> {
    /// A cache of at most `capacity` leaves from `source`. A leaf is replaced by a new one
    /// on the first request after `renew_before` its end (or after half its life, when it is
    /// shorter than twice that, e.g. a leaf cut short by its CA's end).
    pub fn new(source: S, capacity: u64, renew_before: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            source,
            clock,
            renew_before,
            leaves: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .build(),
        }
    }

    /// The source leaves come from.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The leaf for `name`: cached, or minted now.
    pub fn get(&self, name: &str) -> Result<Arc<CertifiedKey>, CertError> {
        // Cached names are normalised, so a name that hits needs no normalising (nor the
        // allocation that costs).
        if let Some(hit) = self.leaves.get(name)
            && self.clock.now() < hit.renew_at
        {
            return Ok(hit.key);
        }
        let name = crate::normalize(name)?;
        let mut failure = None;
        let result = self.leaves.entry(name.clone()).and_compute_with(|current| {
            let now = self.clock.now();
            // Another request may have minted it while this one waited for the name's lock.
            if let Some(current) = &current
                && now < current.value().renew_at
            {
                return Op::Nop;
            }
            match self.source.issue(&name) {
                Ok(leaf) => Op::Put(self.cached(&leaf, now)),
                Err(e) => {
                    failure = Some(e);
                    Op::Nop
                }
            }
        });
        match (result, failure) {
            (
                CompResult::Inserted(e) | CompResult::ReplacedWith(e) | CompResult::Unchanged(e),
                None,
            ) => Ok(e.into_value().key),
            // Renewal failed; the old leaf is still valid, so serve it and try again next time.
            (CompResult::Unchanged(e), Some(error)) if self.clock.now() < e.value().not_after => {
                tracing::warn!(%name, %error, "renewing the leaf failed; serving the current one");
                Ok(e.into_value().key)
            }
            (_, Some(error)) => Err(error),
            (CompResult::StillNone(_) | CompResult::Removed(_), None) => {
                // Not reachable: the closure puts a leaf or reports why not.
                Err(CertError::BadName {
                    name,
                    reason: "no leaf was minted",
                })
            }
        }
    }

    /// How many leaves are cached (after pending evictions are applied).
    pub fn len(&self) -> u64 {
        self.leaves.run_pending_tasks();
        self.leaves.entry_count()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cached(&self, leaf: &Leaf, now: OffsetDateTime) -> Cached {
        let half_life = now + (leaf.not_after - now) / 2;
        Cached {
            key: leaf.certified.clone(),
            renew_at: (leaf.not_after - self.renew_before).max(half_life),
            not_after: leaf.not_after,
        }
    }
}

impl<S> fmt::Debug for LeafCache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafCache")
            .field("entries", &self.leaves.entry_count())
            .field("renew_before", &self.renew_before)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Barrier, Mutex};
    use std::time::Instant;

    use super::*;
    use crate::{Ca, KeyKind, NameScope};

    #[derive(Debug)]
    struct TestClock(Mutex<OffsetDateTime>);

    impl TestClock {
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> OffsetDateTime {
            *self.0.lock().unwrap()
        }
    }

    /// The real issuer, slowed down so that racing requests overlap, counting its calls
    /// and failing on demand.
    struct Slow {
        issuer: Issuer,
        delay: std::time::Duration,
        calls: AtomicU64,
        fail: AtomicBool,
    }

    impl LeafSource for Slow {
        fn issue(&self, name: &str) -> Result<Leaf, CertError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(self.delay);
            if self.fail.load(Ordering::SeqCst) {
                return Err(CertError::Random("test failure".into()));
            }
            self.issuer.issue(name)
        }
    }

    fn setup(
        delay_ms: u64,
        capacity: u64,
        leaf: Duration,
        renew_before: Duration,
    ) -> (LeafCache<Slow>, Arc<TestClock>) {
        let clock = Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())));
        let scope = NameScope::permitted(["oscar.aol.com"]).unwrap();
        let ca = Ca::create(KeyKind::EcdsaP256, &scope, "Test CA", clock.now()).unwrap();
        let issuer = Issuer::new(Arc::new(ca), scope, leaf, clock.clone()).unwrap();
        let slow = Slow {
            issuer,
            delay: std::time::Duration::from_millis(delay_ms),
            calls: AtomicU64::new(0),
            fail: AtomicBool::new(false),
        };
        (
            LeafCache::new(slow, capacity, renew_before, clock.clone()),
            clock,
        )
    }

    fn calls(cache: &LeafCache<Slow>) -> u64 {
        cache.source().calls.load(Ordering::SeqCst)
    }

    #[test]
    fn concurrent_requests_for_one_name_wait_for_one_issuance() {
        let (cache, _) = setup(100, 64, Duration::hours(168), Duration::hours(24));
        let threads = 16;
        let barrier = Barrier::new(threads);
        let keys: Vec<Arc<CertifiedKey>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        cache.get("login.oscar.aol.com").unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(calls(&cache), 1);
        assert_eq!(cache.source().issuer.issued(), 1);
        assert!(keys.iter().all(|k| Arc::ptr_eq(k, &keys[0])));
        // Differently spelt, the same name.
        assert!(Arc::ptr_eq(
            &cache.get("LOGIN.oscar.aol.com.").unwrap(),
            &keys[0]
        ));
        assert_eq!(calls(&cache), 1);
    }

    #[test]
    fn different_names_are_issued_in_parallel() {
        let (cache, _) = setup(300, 64, Duration::hours(168), Duration::hours(24));
        let started = Instant::now();
        std::thread::scope(|s| {
            for i in 0..8 {
                let cache = &cache;
                s.spawn(move || cache.get(&format!("h{i}.oscar.aol.com")).unwrap());
            }
        });
        // One after the other would take 2.4 s.
        assert!(
            started.elapsed() < std::time::Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(calls(&cache), 8);
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity() {
        let (cache, _) = setup(0, 8, Duration::hours(168), Duration::hours(24));
        for i in 0..50 {
            cache.get(&format!("h{i}.oscar.aol.com")).unwrap();
        }
        assert!(cache.len() <= 8, "{}", cache.len());
        assert!(!cache.is_empty());
        assert_eq!(calls(&cache), 50);
        // The first one was evicted long ago: asking again mints it again.
        cache.get("h0.oscar.aol.com").unwrap();
        assert_eq!(calls(&cache), 51);
    }

    #[test]
    fn a_leaf_is_renewed_once_within_renew_before_of_its_end() {
        let (cache, clock) = setup(0, 8, Duration::hours(168), Duration::hours(24));
        let first = cache.get("bos.oscar.aol.com").unwrap();
        clock.advance(Duration::hours(143));
        assert!(Arc::ptr_eq(
            &cache.get("bos.oscar.aol.com").unwrap(),
            &first
        ));
        assert_eq!(calls(&cache), 1);
        clock.advance(Duration::hours(2));
        let second = cache.get("bos.oscar.aol.com").unwrap();
        assert!(!Arc::ptr_eq(&second, &first));
        assert_eq!(calls(&cache), 2);
        assert!(Arc::ptr_eq(
            &cache.get("bos.oscar.aol.com").unwrap(),
            &second
        ));
        assert_eq!(calls(&cache), 2);
    }

    #[test]
    fn a_failed_renewal_serves_the_valid_leaf_and_a_failed_issue_is_an_error() {
        let (cache, clock) = setup(0, 8, Duration::hours(168), Duration::hours(24));
        let first = cache.get("bos.oscar.aol.com").unwrap();
        cache.source().fail.store(true, Ordering::SeqCst);
        clock.advance(Duration::hours(150));
        assert!(Arc::ptr_eq(
            &cache.get("bos.oscar.aol.com").unwrap(),
            &first
        ));
        // Tried again on the next request, not cached as a failure.
        assert!(cache.get("bos.oscar.aol.com").is_ok());
        assert_eq!(calls(&cache), 3);
        // Past its end it is not served.
        clock.advance(Duration::hours(20));
        assert!(cache.get("bos.oscar.aol.com").is_err());
        assert!(cache.get("new.oscar.aol.com").is_err());
    }

    #[test]
    fn refused_names_are_errors_and_take_no_room() {
        let (cache, _) = setup(0, 8, Duration::hours(168), Duration::hours(24));
        let err = cache.get("www.example.org").unwrap_err();
        assert!(matches!(err, CertError::NotPermitted { .. }), "{err}");
        assert!(cache.get("not a name").is_err());
        assert!(cache.is_empty());
    }
}
