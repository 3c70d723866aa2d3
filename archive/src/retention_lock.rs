//! The retention minimum ("lock"): how many days records of each protocol must be kept at
//! least, stored in the archive itself so that configuration cannot quietly shorten it.
//!
//! The minimum lives in the hash chain as an `access` record (`retention lock`, who set it
//! and when in its accessor), so it is covered by the signed head like every record: it
//! cannot be removed or edited without `verify` naming the record. Each change writes a new
//! lock record, and a change may only raise the minimum: a configured value below the
//! stored one is refused ([`ArchiveError::RetentionLocked`]), an unset one keeps the stored
//! one. Every retention run, whatever its `days`, is checked against it before anything is
//! counted or deleted.
//!
//! Only the archive writes `access` records: the relay and the sensor never make that kind,
//! and the ingest endpoint refuses it, so no record from the network can pose as a lock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::access::{Access, Accessor};
use crate::archive::Archive;
use crate::chain::{Stored, id_key};
use crate::error::ArchiveError;
use crate::index::id_of;
use crate::retention::RetentionPolicy;
use record::{Kind, Protocol, Record};

/// The access command of a lock record.
pub(crate) const LOCK_COMMAND: &str = "retention lock";

/// The conversation every access record is filed under (see [`Access`]).
const ACCESS_CONVERSATION: &str = "access";

/// Minimum days to keep records, per protocol (a protocol without an entry has none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionMinimum {
    /// Days per protocol.
    pub per_protocol: BTreeMap<Protocol, u32>,
}

impl RetentionMinimum {
    /// The same minimum for every protocol, then `per_protocol` entries over it; what
    /// `archive.retention.min_days` and `aim_min_days` etc. configure.
    pub fn configured(all: Option<u32>, per_protocol: &[(Protocol, Option<u32>)]) -> Self {
        let mut out = Self::default();
        for protocol in Protocol::ALL {
            let own = per_protocol
                .iter()
                .find(|(p, _)| *p == protocol)
                .and_then(|(_, d)| *d);
            if let Some(days) = own.or(all) {
                out.per_protocol.insert(protocol, days);
            }
        }
        out
    }

    /// The minimum for `protocol`, if it has one.
    pub fn days(&self, protocol: Protocol) -> Option<u32> {
        self.per_protocol.get(&protocol).copied()
    }

    /// Whether no protocol has a minimum.
    pub fn is_empty(&self) -> bool {
        self.per_protocol.is_empty()
    }

    /// "2190 days" when every protocol has the same minimum, else "aim 2190 days, icq 30
    /// days"; "none" without one.
    pub fn describe(&self) -> String {
        let values: Vec<u32> = self.per_protocol.values().copied().collect();
        match values.as_slice() {
            [] => "none".to_owned(),
            [first, rest @ ..]
                if self.per_protocol.len() == Protocol::ALL.len()
                    && rest.iter().all(|d| d == first) =>
            {
                format!("{first} days")
            }
            _ => self
                .per_protocol
                .iter()
                .map(|(p, d)| format!("{} {d} days", p.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The minimum in force, as the newest lock record states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionLock {
    /// The minimum.
    pub minimum: RetentionMinimum,
    /// Who set it (the gateway's user for a configured one).
    pub by: Accessor,
    /// When (UTC ns).
    pub set_ns: i64,
    /// The lock record's id in the chain.
    pub record: u64,
}

impl RetentionLock {
    /// "set 2026-12-07 06:30:00 UTC by root (uid 0)".
    pub fn provenance(&self) -> String {
        format!(
            "set {} by {} (uid {})",
            utc(self.set_ns),
            self.by.user,
            self.by.uid
        )
    }
}

impl RetentionLock {
    /// Refuses `policy` if it keeps any protocol for less than this minimum.
    pub fn check_policy(&self, policy: &RetentionPolicy) -> Result<(), ArchiveError> {
        check_policy(Some(self), policy)
    }

    /// Refuses `wanted` if it names a minimum below this one for any protocol.
    pub fn check_minimum(&self, wanted: &RetentionMinimum) -> Result<(), ArchiveError> {
        for (protocol, days) in &wanted.per_protocol {
            below(self, "archive.retention.min_days", *protocol, *days)?;
        }
        Ok(())
    }
}

/// What asking for a minimum changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockChange {
    /// The minimum now in force (`None`: there is none).
    pub lock: Option<RetentionLock>,
    /// Whether a new lock record was written (the minimum was set or raised).
    pub raised: bool,
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(ns: i64) -> String {
    use crate::export::Zone;
    let utc = Zone::utc();
    format!("{} {} UTC", Zone::day_string(utc.day(ns)), utc.clock(ns))
}

/// Refuses `asked` (days or a minimum, named `what` as the user gave it) for `protocol`
/// when it is below the `lock`'s minimum.
fn below(
    lock: &RetentionLock,
    what: &str,
    protocol: Protocol,
    asked: u32,
) -> Result<(), ArchiveError> {
    match lock.minimum.days(protocol) {
        Some(minimum) if asked < minimum => Err(ArchiveError::RetentionLocked {
            what: what.to_owned(),
            protocol,
            asked,
            minimum,
            provenance: lock.provenance(),
        }),
        _ => Ok(()),
    }
}

/// Checks that `policy` keeps every protocol at least as long as `lock` demands.
pub(crate) fn check_policy(
    lock: Option<&RetentionLock>,
    policy: &RetentionPolicy,
) -> Result<(), ArchiveError> {
    let Some(lock) = lock else { return Ok(()) };
    for protocol in Protocol::ALL {
        if let Some(days) = policy.days(protocol) {
            below(lock, "retention days", protocol, days)?;
        }
    }
    Ok(())
}

impl Archive {
    /// Every `access` record with its decoded access, newest first. Access records are the
    /// archive's own (see the module comment), but an archive from before the ingest
    /// endpoint refused them may hold shipped ones: one whose detail is not an access is
    /// skipped with a warning rather than stopping retention.
    pub(crate) fn access_trail_newest_first(
        &self,
    ) -> impl Iterator<Item = Result<(Record, Access), ArchiveError>> + '_ {
        let mut prefix = ACCESS_CONVERSATION.as_bytes().to_vec();
        prefix.push(0);
        self.store
            .indexes
            .conv
            .scan_prefix(prefix)
            .rev()
            .filter_map(move |item| {
                let read = || -> Result<Option<(Record, Access)>, ArchiveError> {
                    let (key, _) = item?;
                    let Some(bytes) = self.store.records.get(id_key(id_of(&key)?))? else {
                        return Ok(None);
                    };
                    let record = Stored::decode(&bytes)?.into_record();
                    if record.event.kind != Kind::Access {
                        return Ok(None);
                    }
                    let detail = record.event.detail.as_deref().unwrap_or_default();
                    match serde_json::from_str::<Access>(detail) {
                        Ok(access) => Ok(Some((record, access))),
                        Err(e) => {
                            tracing::warn!(id = record.id, error = %e, "an access record that is not one; skipped");
                            Ok(None)
                        }
                    }
                };
                read().transpose()
            })
    }

    /// The retention minimum in force: the newest lock record's (with, per protocol, any
    /// higher value an older one states), or `None` if none was ever set.
    pub fn retention_lock(&self) -> Result<Option<RetentionLock>, ArchiveError> {
        let mut newest: Option<RetentionLock> = None;
        for item in self.access_trail_newest_first() {
            let (record, access) = item?;
            if access.command != LOCK_COMMAND {
                continue;
            }
            let Ok(minimum) =
                serde_json::from_value::<RetentionMinimum>(access.args["minimum"].clone())
            else {
                tracing::warn!(
                    id = record.id,
                    "a retention lock record that does not read; skipped"
                );
                continue;
            };
            match &mut newest {
                None => {
                    newest = Some(RetentionLock {
                        minimum,
                        by: access.accessor,
                        set_ns: record.event.time_ns,
                        record: record.id,
                    });
                }
                // Each lock only ever raises the one before, so the newest is the highest;
                // an older one that says more (a record that was not the archive's own,
                // shipped before ingest refused the kind) is still not allowed to lower it.
                Some(lock) => {
                    for (protocol, days) in minimum.per_protocol {
                        let kept = lock.minimum.per_protocol.entry(protocol).or_insert(days);
                        *kept = (*kept).max(days);
                    }
                }
            }
        }
        Ok(newest)
    }

    /// Refuses `policy` if it keeps any protocol for less than the locked minimum.
    pub fn check_retention(&self, policy: &RetentionPolicy) -> Result<(), ArchiveError> {
        check_policy(self.retention_lock()?.as_ref(), policy)
    }

    /// Asks for `wanted` as the minimum, for `by`: a protocol `wanted` names is set to that
    /// value if it has none or a lower one, and the request is refused (nothing written)
    /// if it names a value below the stored one; protocols it leaves out keep theirs. A
    /// raise writes a new lock record (strict append). For threads outside a runtime.
    pub fn raise_retention_minimum(
        &self,
        wanted: &RetentionMinimum,
        by: &Accessor,
    ) -> Result<LockChange, ArchiveError> {
        // One change at a time, so two raises cannot both read the old lock.
        let _one = crate::retention::purge_lock();
        let current = self.retention_lock()?;
        let mut merged = current
            .as_ref()
            .map(|l| l.minimum.clone())
            .unwrap_or_default();
        if let Some(lock) = &current {
            lock.check_minimum(wanted)?;
        }
        merged.per_protocol.extend(&wanted.per_protocol);
        if current.as_ref().is_some_and(|l| l.minimum == merged) || merged.is_empty() {
            return Ok(LockChange {
                lock: current,
                raised: false,
            });
        }
        let access = Access {
            accessor: by.clone(),
            command: LOCK_COMMAND.to_owned(),
            query: None,
            args: serde_json::json!({
                "minimum": merged,
                "previous": current.as_ref().map(|l| &l.minimum),
            }),
            count: 0,
        };
        let receipt = self.record_access(&access)?;
        let lock = self.retention_lock()?;
        tracing::info!(
            minimum = %merged.describe(),
            record = receipt.id,
            user = %by.user,
            uid = by.uid,
            "retention minimum set"
        );
        Ok(LockChange { lock, raised: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::AccessVia;
    use crate::{ArchiveOptions, HoldTarget};

    fn who() -> Accessor {
        Accessor {
            user: "cco".into(),
            uid: 4100,
            via: AccessVia::Direct,
        }
    }

    fn all(days: u32) -> RetentionMinimum {
        RetentionMinimum::configured(Some(days), &[])
    }

    #[test]
    fn a_minimum_is_set_raised_kept_when_unset_and_never_lowered() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        assert_eq!(a.retention_lock().unwrap(), None);

        let set = a.raise_retention_minimum(&all(2190), &who()).unwrap();
        assert!(set.raised);
        let lock = set.lock.unwrap();
        assert_eq!(lock.minimum, all(2190));
        assert_eq!(lock.by, who());
        assert_eq!(lock.minimum.describe(), "2190 days");

        // The same again, and nothing asked: nothing written.
        let head = a.head_id();
        assert!(
            !a.raise_retention_minimum(&all(2190), &who())
                .unwrap()
                .raised
        );
        assert!(
            !a.raise_retention_minimum(&RetentionMinimum::default(), &who())
                .unwrap()
                .raised
        );
        assert_eq!(a.head_id(), head);

        // Lower for one protocol: refused, naming both values; nothing written.
        let lower = RetentionMinimum::configured(None, &[(Protocol::Icq, Some(30))]);
        let err = a.raise_retention_minimum(&lower, &who()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("archive.retention.min_days = 30 for icq")
                && text.contains("locked minimum of 2190 days")
                && text.contains("by cco (uid 4100)"),
            "{text}"
        );
        assert_eq!(a.head_id(), head);

        // Raise one protocol: the others keep theirs.
        let raise = RetentionMinimum::configured(None, &[(Protocol::Aim, Some(3650))]);
        let raised = a.raise_retention_minimum(&raise, &who()).unwrap();
        assert!(raised.raised);
        let minimum = raised.lock.unwrap().minimum;
        assert_eq!(minimum.days(Protocol::Aim), Some(3650));
        assert_eq!(minimum.days(Protocol::Icq), Some(2190));
        assert_eq!(
            minimum.describe(),
            "aim 3650 days, icq 2190 days, sametime 2190 days"
        );
        assert!(a.verify().unwrap().is_intact());
    }

    #[test]
    fn the_minimum_survives_a_reopen_and_other_access_records() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let a = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
            a.raise_retention_minimum(&all(365), &who()).unwrap();
            // Later accesses do not hide it.
            a.audited_hold_add(HoldTarget::User("x".into()), "case 1", &who())
                .unwrap();
            a.audited_holds(true, &who()).unwrap();
        }
        // Reopened once the closing writer lets go (bounded: 10 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let a = loop {
            match Archive::open(tmp.path(), ArchiveOptions::default()) {
                Err(ArchiveError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other.unwrap(),
            }
        };
        let lock = a.retention_lock().unwrap().unwrap();
        assert_eq!(lock.minimum, all(365));
        assert_eq!(lock.record, 1);
    }

    #[test]
    fn a_newer_lower_lock_record_does_not_lower_the_minimum() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        a.raise_retention_minimum(&all(2190), &who()).unwrap();
        // Written past raise's check, as a forged record would be.
        let lower = Access {
            accessor: who(),
            command: LOCK_COMMAND.to_owned(),
            query: None,
            args: serde_json::json!({ "minimum": all(1) }),
            count: 0,
        };
        a.record_access(&lower).unwrap();
        let lock = a.retention_lock().unwrap().unwrap();
        assert_eq!(lock.minimum, all(2190));
    }

    #[test]
    fn an_access_record_that_is_not_one_is_skipped_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        a.raise_retention_minimum(&all(30), &who()).unwrap();
        // As an ingest client could ship before the endpoint refused the kind.
        let mut odd = crate::synthetic::Synthetic::new(1, 3, 1, 0).event(0, 1);
        odd.kind = Kind::Access;
        odd.conversation = ACCESS_CONVERSATION.into();
        odd.detail = Some("not json".into());
        a.append_blocking(odd).unwrap();
        assert_eq!(a.retention_lock().unwrap().unwrap().minimum, all(30));
    }

    #[test]
    fn a_policy_below_the_minimum_is_refused_and_one_at_or_above_it_is_not() {
        let lock = RetentionLock {
            minimum: RetentionMinimum::configured(None, &[(Protocol::Sametime, Some(10))]),
            by: who(),
            set_ns: 0,
            record: 1,
        };
        let policy = |days| RetentionPolicy {
            default_days: Some(days),
            ..RetentionPolicy::default()
        };
        assert!(check_policy(Some(&lock), &policy(10)).is_ok());
        assert!(check_policy(None, &policy(0)).is_ok());
        let err = check_policy(Some(&lock), &policy(9)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused: retention days = 9 for sametime is below this archive's locked \
             minimum of 10 days (set 1970-01-01 00:00:00 UTC by cco (uid 4100)); a minimum \
             can only be raised, and records younger than it are never purged"
        );
        // Keeping a protocol forever is always allowed.
        let aim_only = RetentionPolicy {
            per_protocol: [(Protocol::Aim, 0)].into(),
            ..RetentionPolicy::default()
        };
        assert!(check_policy(Some(&lock), &aim_only).is_ok());
    }
}
