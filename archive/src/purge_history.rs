//! What each retention purge was: how many records, which ids, when, under which policy and
//! minimum, by whom. The signed purge checkpoints say which ids went and when; the
//! `retention purge` record each run appends before its checkpoint (so the checkpoint signs
//! it) says who and under which policy. `verify` shows these instead of a bare "intact".

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::access::Accessor;
use crate::archive::Archive;
use crate::error::ArchiveError;
use crate::retention::{PURGE_COMMAND, PurgeTrigger, RetentionPolicy};
use crate::retention_lock::{RetentionLock, RetentionMinimum, utc};
use crate::signing::CheckpointReason;

/// One purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purge {
    /// The signed purge checkpoint.
    pub checkpoint: u64,
    /// When it was signed (UTC ns).
    pub time_ns: i64,
    /// Records removed.
    pub records: u64,
    /// The ids removed, as inclusive ranges.
    pub ranges: Vec<(u64, u64)>,
    /// Who ran it (`None`: a purge from before runs were recorded).
    pub by: Option<Accessor>,
    /// Whether a command or the gateway's schedule ran it.
    pub trigger: Option<PurgeTrigger>,
    /// The days it applied.
    pub policy: Option<RetentionPolicy>,
    /// The locked minimum in force (`None` in a recorded purge: there was none).
    pub minimum: Option<RetentionMinimum>,
    /// The `retention purge` record, if there is one.
    pub record: Option<u64>,
}

impl Purge {
    /// "3 records (ids 1-3) purged 2026-12-07 06:30:00 UTC by retention (90 days; minimum
    /// none) as root (uid 0), by command".
    pub fn describe(&self) -> String {
        let ids = self
            .ranges
            .iter()
            .map(|(from, to)| {
                if from == to {
                    from.to_string()
                } else {
                    format!("{from}-{to}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let noun = if self.records == 1 {
            "record"
        } else {
            "records"
        };
        let what = format!(
            "{} {noun} (ids {ids}) purged {}",
            self.records,
            utc(self.time_ns)
        );
        match (&self.by, &self.policy) {
            (Some(by), Some(policy)) => format!(
                "{what} by retention ({}; minimum {}) as {} (uid {}), {}",
                policy.describe(),
                self.minimum
                    .as_ref()
                    .map_or("none".to_owned(), RetentionMinimum::describe),
                by.user,
                by.uid,
                match self.trigger {
                    Some(PurgeTrigger::Schedule) => "on the gateway's schedule",
                    _ => "by command",
                }
            ),
            _ => format!(
                "{what}; who ran it and under which policy were not recorded (a purge from \
                 before IMtegrity recorded them)"
            ),
        }
    }
}

/// The retention facts `verify` and `retention apply` show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionState {
    /// The locked minimum, if one was set.
    pub lock: Option<RetentionLock>,
    /// Every purge, oldest first.
    pub purges: Vec<Purge>,
}

/// A `retention purge` record's arguments.
#[derive(Deserialize)]
struct PurgeArgs {
    policy: RetentionPolicy,
    minimum: Option<RetentionMinimum>,
    purged: Vec<(u64, u64)>,
    trigger: PurgeTrigger,
}

impl Archive {
    /// The checkpoints after `after_seq`: the newest of them that records a retention
    /// purge, if any, and the newest seq there is. Reads only those checkpoints, so a
    /// follower that remembers the seq it last looked at can ask every second what
    /// [`Archive::purge_history`] has that it has not applied.
    pub fn purge_checkpoints_after(
        &self,
        after_seq: u64,
    ) -> Result<(Option<u64>, u64), ArchiveError> {
        let (mut newest_purge, mut newest) = (None, after_seq);
        for item in self
            .store
            .checkpoints
            .range(after_seq.saturating_add(1).to_be_bytes()..)
        {
            let cp = crate::signing::Checkpoint::decode(&item?.1)?;
            newest = newest.max(cp.seq);
            if matches!(cp.reason, CheckpointReason::Purge { .. }) {
                newest_purge = Some(cp.seq);
            }
        }
        Ok((newest_purge, newest))
    }

    /// Every purge the signed checkpoints record, oldest first, each with the record that
    /// says who ran it and under which policy when there is one.
    pub fn purge_history(&self) -> Result<Vec<Purge>, ArchiveError> {
        let mut recorded: HashMap<Vec<(u64, u64)>, (u64, Accessor, PurgeArgs)> = HashMap::new();
        for item in self.access_trail_newest_first() {
            let (record, access) = item?;
            if access.command != PURGE_COMMAND {
                continue;
            }
            // Only the archive writes these; one that does not read is not one of its own.
            let Ok(args) = serde_json::from_value::<PurgeArgs>(access.args) else {
                tracing::warn!(
                    id = record.id,
                    "a retention purge record that does not read; skipped"
                );
                continue;
            };
            recorded
                .entry(args.purged.clone())
                .or_insert((record.id, access.accessor, args));
        }
        let mut out = Vec::new();
        for cp in self.store.all_checkpoints()? {
            let CheckpointReason::Purge { purged, .. } = cp.reason else {
                continue;
            };
            let found = recorded.remove(&purged);
            out.push(Purge {
                checkpoint: cp.seq,
                time_ns: cp.time_ns,
                records: purged.iter().map(|(from, to)| to - from + 1).sum(),
                by: found.as_ref().map(|(_, by, _)| by.clone()),
                trigger: found.as_ref().map(|(_, _, a)| a.trigger),
                policy: found.as_ref().map(|(_, _, a)| a.policy.clone()),
                minimum: found.as_ref().and_then(|(_, _, a)| a.minimum.clone()),
                record: found.as_ref().map(|(id, _, _)| *id),
                ranges: purged,
            });
        }
        Ok(out)
    }

    /// The locked minimum and every purge.
    pub fn retention_state(&self) -> Result<RetentionState, ArchiveError> {
        Ok(RetentionState {
            lock: self.retention_lock()?,
            purges: self.purge_history()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::AccessVia;
    use crate::{ArchiveOptions, PurgeTrigger};
    use record::Protocol;

    const DAY: i64 = 86_400 * 1_000_000_000;

    fn who() -> Accessor {
        Accessor {
            user: "root".into(),
            uid: 0,
            via: AccessVia::Direct,
        }
    }

    #[test]
    fn a_purge_names_its_records_policy_minimum_and_who_and_verify_stays_intact() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        let now = record::now_ns();
        let mut synthetic = crate::synthetic::Synthetic::new(1, 3, 1, now - 400 * DAY);
        for i in 0..3 {
            a.append_blocking(synthetic.event(i, 3)).unwrap();
        }
        a.raise_retention_minimum(&RetentionMinimum::configured(Some(300), &[]), &who())
            .unwrap();
        let policy = RetentionPolicy {
            default_days: Some(365),
            ..RetentionPolicy::default()
        };
        let done = a
            .apply_retention_as(&policy, now, false, &who(), PurgeTrigger::Command)
            .unwrap();
        assert_eq!(done.purged, 3);
        let history = a.purge_history().unwrap();
        assert_eq!(history.len(), 1);
        let purge = &history[0];
        assert_eq!(
            (purge.records, purge.ranges.clone(), purge.record),
            (3, vec![(1, 3)], done.record)
        );
        assert_eq!(purge.by, Some(who()));
        assert_eq!(purge.policy, Some(policy));
        assert_eq!(
            purge.minimum.as_ref().map(RetentionMinimum::describe),
            Some("300 days".to_owned())
        );
        let text = purge.describe();
        assert!(
            text.starts_with("3 records (ids 1-3) purged ")
                && text.ends_with(
                    " by retention (365 days; minimum 300 days) as root (uid 0), by command"
                ),
            "{text}"
        );
        assert!(a.verify().unwrap().is_intact());
    }

    #[test]
    fn a_purge_without_its_record_says_so_and_the_lock_refuses_before_any_purge() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        let now = record::now_ns();
        let mut synthetic = crate::synthetic::Synthetic::new(1, 3, 1, now - 40 * DAY);
        a.append_blocking(synthetic.event(0, 1)).unwrap();
        let all = RetentionPolicy {
            default_days: Some(0),
            ..RetentionPolicy::default()
        };
        // The bare primitive writes no record.
        assert_eq!(a.apply_retention(&all, now, false).unwrap().purged, 1);
        let history = a.purge_history().unwrap();
        assert!(
            history[0]
                .describe()
                .ends_with("were not recorded (a purge from before IMtegrity recorded them)"),
            "{history:?}"
        );
        a.append_blocking(synthetic.event(1, 1)).unwrap();
        let minimum = RetentionMinimum::configured(None, &[(Protocol::Aim, Some(10))]);
        a.raise_retention_minimum(&minimum, &who()).unwrap();
        for dry_run in [true, false] {
            let err = a
                .apply_retention_as(&all, now, dry_run, &who(), PurgeTrigger::Command)
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    ArchiveError::RetentionLocked {
                        asked: 0,
                        minimum: 10,
                        protocol: Protocol::Aim,
                        ..
                    }
                ),
                "{err}"
            );
        }
        assert_eq!(a.purge_history().unwrap().len(), 1);
        assert!(a.verify().unwrap().is_intact());
    }
}
