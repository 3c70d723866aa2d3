//! Retention and legal hold. Expiry deletes records older than the policy allows unless a
//! hold covers them, and records every purge in a signed checkpoint (the purged ranges and
//! the hashes that anchor the records after them) so the chain stays verifiable.
//!
//! No run goes below the archive's locked minimum ([`crate::retention_lock`]), whatever
//! days it is given. A run made for someone ([`Archive::apply_retention_as`]: the CLI, the
//! admin socket, the gateway's schedule) first appends a `retention purge` access record
//! saying who purged which ids under which policy and minimum, so the purge checkpoint that
//! follows signs it and `verify` can say what each purge was ([`crate::purge_history`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::access::{Access, Accessor};
use crate::archive::Archive;
use crate::chain::{Stored, id_key};
use crate::error::ArchiveError;
use crate::index::{IndexKeys, id_of, time_key};
use crate::retention_lock::{RetentionMinimum, check_policy};
use crate::signing::CheckpointReason;
use record::now_ns;
use record::{Kind, Protocol, Record, normalize};

/// What a legal hold covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum HoldTarget {
    /// Every record a user took part in (any protocol; compared normalised).
    User(String),
    /// Every record of one conversation key.
    Conversation(String),
}

/// A legal hold: records it covers are never expired while it is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Hold number.
    pub id: u64,
    /// What it covers.
    pub target: HoldTarget,
    /// Why (case or matter reference).
    pub reason: String,
    /// When it was placed (UTC ns).
    pub created_ns: i64,
    /// When it was released, if it was.
    pub released_ns: Option<i64>,
    /// Who placed it (`None` for holds placed before this was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_by: Option<Accessor>,
    /// Who released it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_by: Option<Accessor>,
    /// Why it was released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_reason: Option<String>,
}

impl Hold {
    /// Whether the hold is in force and covers `record`.
    pub fn covers(&self, record: &Record) -> bool {
        self.released_ns.is_none()
            && match &self.target {
                HoldTarget::User(name) => record
                    .event
                    .participants()
                    .contains(&normalize(record.event.protocol, name)),
                HoldTarget::Conversation(key) => record.event.conversation == *key,
            }
    }
}

/// How long records are kept. `None` keeps them forever.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Days for protocols without their own entry.
    pub default_days: Option<u32>,
    /// Days per protocol, overriding the default.
    pub per_protocol: BTreeMap<Protocol, u32>,
}

impl RetentionPolicy {
    /// Days records of `protocol` are kept, if they expire at all.
    pub fn days(&self, protocol: Protocol) -> Option<u32> {
        self.per_protocol
            .get(&protocol)
            .copied()
            .or(self.default_days)
    }

    /// The oldest time a record of `protocol` may have at `now_ns`, if it can expire at all.
    pub fn cutoff(&self, protocol: Protocol, now_ns: i64) -> Option<i64> {
        let days = self.days(protocol)?;
        Some(now_ns.saturating_sub(i64::from(days).saturating_mul(86_400_000_000_000)))
    }

    /// "90 days" when every protocol is kept alike, else "aim 90 days, icq forever, ...".
    pub fn describe(&self) -> String {
        let days: Vec<Option<u32>> = Protocol::ALL.iter().map(|p| self.days(*p)).collect();
        let text = |d: Option<u32>| d.map_or("forever".to_owned(), |d| format!("{d} days"));
        match days.as_slice() {
            [first, rest @ ..] if rest.iter().all(|d| d == first) => text(*first),
            _ => Protocol::ALL
                .iter()
                .zip(days)
                .map(|(p, d)| format!("{} {}", p.as_str(), text(d)))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// What started a purge, as its record states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeTrigger {
    /// Someone ran `retention apply` (directly or through the admin socket).
    Command,
    /// The gateway's periodic run of its configured policy.
    Schedule,
}

/// The access command of a purge record.
pub(crate) const PURGE_COMMAND: &str = "retention purge";

/// One purge or lock change at a time in this process: a run reads the lock, picks its
/// records and writes its record before its checkpoint, and another run in between would
/// pick the same records.
pub(crate) fn purge_lock() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a retention run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Records past their retention time.
    pub expired: u64,
    /// Of those, kept because a hold covers them.
    pub held: u64,
    /// Records deleted (0 on a dry run).
    pub purged: u64,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The signed purge checkpoint written, if any.
    pub checkpoint: Option<u64>,
    /// The `retention purge` record naming who purged and under which policy, if written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<u64>,
    /// The archive's locked minimum the run was checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<RetentionMinimum>,
}

impl Archive {
    /// Places a legal hold, as this process's user.
    pub fn hold_add(&self, target: HoldTarget, reason: &str) -> Result<Hold, ArchiveError> {
        self.hold_add_as(target, reason, &Accessor::this_process())
    }

    /// Places a legal hold for `by`; a hold needs a reason.
    pub fn hold_add_as(
        &self,
        target: HoldTarget,
        reason: &str,
        by: &Accessor,
    ) -> Result<Hold, ArchiveError> {
        let reason = required_reason(reason, "a hold")?;
        let id = match self.store.holds.last()? {
            Some((key, _)) => crate::chain::key_id(&key)? + 1,
            None => 1,
        };
        let hold = Hold {
            id,
            target,
            reason,
            created_ns: now_ns(),
            released_ns: None,
            placed_by: Some(by.clone()),
            released_by: None,
            release_reason: None,
        };
        self.put_hold(&hold)?;
        Ok(hold)
    }

    /// Every hold, active ones and (with `released`) released ones.
    pub fn holds(&self, released: bool) -> Result<Vec<Hold>, ArchiveError> {
        let mut out = Vec::new();
        for item in self.store.holds.iter() {
            let hold: Hold =
                serde_json::from_slice(&item?.1).map_err(|e| ArchiveError::corrupt("hold", e))?;
            if released || hold.released_ns.is_none() {
                out.push(hold);
            }
        }
        Ok(out)
    }

    /// Releases hold `id` as this process's user; the record of the hold is kept.
    pub fn hold_release(&self, id: u64) -> Result<Hold, ArchiveError> {
        self.hold_release_as(id, None, &Accessor::this_process())
    }

    /// Releases hold `id` for `by`, saying why if `reason` is given (the CLI requires one);
    /// the record of the hold is kept. Releasing a released hold changes nothing.
    pub fn hold_release_as(
        &self,
        id: u64,
        reason: Option<&str>,
        by: &Accessor,
    ) -> Result<Hold, ArchiveError> {
        let reason = reason
            .map(|r| required_reason(r, "a release"))
            .transpose()?;
        let mut hold = self
            .holds(true)?
            .into_iter()
            .find(|h| h.id == id)
            .ok_or_else(|| ArchiveError::Invalid {
                what: "hold",
                detail: format!("no hold {id}"),
            })?;
        if hold.released_ns.is_none() {
            hold.released_ns = Some(now_ns());
            hold.released_by = Some(by.clone());
            hold.release_reason = reason;
            self.put_hold(&hold)?;
        }
        Ok(hold)
    }

    fn put_hold(&self, hold: &Hold) -> Result<(), ArchiveError> {
        let bytes = serde_json::to_vec(hold).map_err(|e| ArchiveError::corrupt("hold", e))?;
        self.store.holds.insert(hold.id.to_be_bytes(), bytes)?;
        self.store.durable_flush()?;
        Ok(())
    }

    /// Expires records older than `policy` allows at `now_ns`, except held ones, writing no
    /// purge record (a library primitive; commands use [`Archive::apply_retention_as`]).
    /// With `dry_run`, only counts. A policy below the locked minimum is refused
    /// ([`ArchiveError::RetentionLocked`]) before anything is read.
    pub fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now_ns: i64,
        dry_run: bool,
    ) -> Result<RetentionReport, ArchiveError> {
        self.run_retention(policy, now_ns, dry_run, None)
    }

    /// [`Archive::apply_retention`] for `by`: a run that purges first appends a
    /// `retention purge` record (who, the policy, the minimum, the ids), which the purge
    /// checkpoint then signs. For threads outside an async runtime.
    pub fn apply_retention_as(
        &self,
        policy: &RetentionPolicy,
        now_ns: i64,
        dry_run: bool,
        by: &Accessor,
        trigger: PurgeTrigger,
    ) -> Result<RetentionReport, ArchiveError> {
        self.run_retention(policy, now_ns, dry_run, Some((by, trigger)))
    }

    /// The run: a signed purge checkpoint first, then the deletes, so a crash in between
    /// leaves records that verify accepts.
    fn run_retention(
        &self,
        policy: &RetentionPolicy,
        now_ns: i64,
        dry_run: bool,
        by: Option<(&Accessor, PurgeTrigger)>,
    ) -> Result<RetentionReport, ArchiveError> {
        let _one = purge_lock();
        let lock = self.retention_lock()?;
        check_policy(lock.as_ref(), policy)?;
        let mut report = RetentionReport {
            dry_run,
            minimum: lock.map(|l| l.minimum),
            ..RetentionReport::default()
        };
        let Some(latest) = Protocol::ALL
            .iter()
            .filter_map(|p| policy.cutoff(*p, now_ns))
            .max()
        else {
            return Ok(report);
        };
        let holds = self.holds(false)?;
        // Only purges delete, and they are serialised above: what is picked here is still
        // there when the checkpoint is written below.
        let mut doomed: BTreeSet<u64> = BTreeSet::new();
        let mut keys = Vec::new();
        for item in self.store.indexes.time.range(..time_key(latest, 0)) {
            let id = id_of(&item?.0)?;
            let Some(bytes) = self.store.records.get(id_key(id))? else {
                continue;
            };
            let record = Stored::decode(&bytes)?.into_record();
            // The access trail (who searched, exported, held, purged, verified) is what an
            // auditor checks the retention runs themselves against, and the reviews are the
            // proof the content was supervised: the content's retention policy expires
            // neither.
            if matches!(record.event.kind, Kind::Access | Kind::Review) {
                continue;
            }
            let expired = policy
                .cutoff(record.event.protocol, now_ns)
                .is_some_and(|cut| record.event.time_ns < cut);
            if !expired {
                continue;
            }
            report.expired += 1;
            if holds.iter().any(|h| h.covers(&record)) {
                report.held += 1;
                continue;
            }
            keys.push(IndexKeys::of(id, &record.event));
            doomed.insert(id);
        }
        if dry_run || doomed.is_empty() {
            return Ok(report);
        }
        if let Some((by, trigger)) = by {
            let access = Access {
                accessor: by.clone(),
                command: PURGE_COMMAND.to_owned(),
                query: None,
                args: serde_json::json!({
                    "policy": policy,
                    "minimum": report.minimum,
                    "purged": ranges(&doomed),
                    "now_ns": now_ns,
                    "trigger": trigger,
                }),
                count: doomed.len() as u64,
            };
            report.record = Some(self.record_access(&access)?.id);
        }
        let head = self.store.head_lock();
        // Anchors: the prev hash of every surviving record right after a purged one, and of
        // the next record to be appended when the head itself is purged.
        let mut anchors = Vec::new();
        for id in &doomed {
            let after = id + 1;
            if doomed.contains(&after) {
                continue;
            }
            if let Some(bytes) = self.store.records.get(id_key(after))? {
                anchors.push((after, Stored::decode(&bytes)?.prev));
            } else if *id == head.id {
                anchors.push((after, head.hash));
            }
        }
        let cp = self.store.write_checkpoint_locked(
            *head,
            CheckpointReason::Purge {
                purged: ranges(&doomed),
                anchors,
            },
        )?;
        self.store.durable_flush()?;
        let mut batch = sled::Batch::default();
        for id in &doomed {
            batch.remove(&id_key(*id)[..]);
        }
        self.store.records.apply_batch(batch)?;
        self.store.indexes.apply(&keys, true)?;
        self.store.durable_flush()?;
        report.purged = doomed.len() as u64;
        report.checkpoint = Some(cp.seq);
        tracing::info!(
            purged = report.purged,
            held = report.held,
            checkpoint = cp.seq,
            "retention purge"
        );
        drop(head);
        Ok(report)
    }
}

/// `reason` trimmed, refused when empty: a hold or release without a why is not one a
/// regulator can follow.
fn required_reason(reason: &str, what: &str) -> Result<String, ArchiveError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ArchiveError::Invalid {
            what: "reason",
            detail: format!("{what} needs a reason (the matter or case reference)"),
        });
    }
    Ok(reason.to_owned())
}

/// Compresses sorted ids into inclusive ranges.
fn ranges(ids: &BTreeSet<u64>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &id in ids {
        match out.last_mut() {
            Some((_, to)) if *to + 1 == id => *to = id,
            _ => out.push((id, id)),
        }
    }
    out
}

/// Applies `policy` every `every` (first run at once) until the returned task is aborted or
/// the runtime stops, as this process's user ([`PurgeTrigger::Schedule`]). Each run logs
/// what it purged; a failed run is logged and retried at the next tick, never fatal to the
/// gateway.
pub fn spawn_retention(
    archive: Archive,
    policy: RetentionPolicy,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (a, p) = (archive.clone(), policy.clone());
            let run = move || {
                let by = Accessor::this_process();
                a.apply_retention_as(&p, now_ns(), false, &by, PurgeTrigger::Schedule)
            };
            match tokio::task::spawn_blocking(run).await {
                Ok(Ok(report)) if report.purged > 0 => {
                    tracing::info!(purged = report.purged, held = report.held, "retention run");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "retention run failed; retrying next time")
                }
                Err(e) => {
                    tracing::error!(error = %e, "retention task panicked; retrying next time")
                }
            }
        }
    })
}
