//! The archive operations a person runs (`search`, `export`, `hold`, `retention`,
//! `verify`), each recorded as an `access` record ([`crate::access`]) before its result is
//! returned. The admin socket and the CLI's direct path both call these, so the two paths
//! record the same way. For threads outside an async runtime (they append strictly).

use crate::access::{Access, Accessor};
use crate::archive::Archive;
use crate::chain::{Stored, id_key};
use crate::damage::Unreadable;
use crate::error::ArchiveError;
use crate::query::{Query, Records};
use crate::retention::{Hold, HoldTarget, PurgeTrigger, RetentionPolicy, RetentionReport};
use crate::signing::parse_public_key;
use crate::verify::VerifyReport;

impl Archive {
    fn record(
        &self,
        accessor: &Accessor,
        command: &str,
        query: Option<&Query>,
        args: serde_json::Value,
        count: u64,
    ) -> Result<(), ArchiveError> {
        self.record_access(&Access {
            accessor: accessor.clone(),
            command: command.to_owned(),
            query: query.cloned(),
            args,
            count,
        })
        .map(drop)
    }

    /// Runs `query` for `accessor` as `command` (`search`, `export`; its other `args`):
    /// counts the matches, records the access, then reads the matched records out.
    pub fn audited_search(
        &self,
        query: &Query,
        accessor: &Accessor,
        command: &str,
        args: serde_json::Value,
    ) -> Result<Records<'_>, ArchiveError> {
        let (records, unreadable) = self.audited_readable_search(query, accessor, command, args)?;
        if let Some(warning) = unreadable_warning(&unreadable) {
            tracing::warn!("{warning}");
        }
        Ok(records)
    }

    /// [`Archive::audited_search`] on a store that may be damaged: the readable matches,
    /// and the records that could not be read (empty on a sound store), for the caller to
    /// warn about ([`unreadable_warning`]).
    pub fn audited_readable_search(
        &self,
        query: &Query,
        accessor: &Accessor,
        command: &str,
        args: serde_json::Value,
    ) -> Result<(Records<'_>, Unreadable), ArchiveError> {
        // Only ids are held: the matches are read again, after the record is durable.
        let (ids, unreadable) = self.readable_matches(query)?;
        self.record(accessor, command, Some(query), args, ids.len() as u64)?;
        let records = self.store.records.clone();
        let records: Records<'_> = Box::new(ids.into_iter().filter_map(move |id| {
            match records.get(id_key(id)) {
                Err(e) => Some(Err(e.into())),
                // Purged by retention since it was counted.
                Ok(None) => None,
                Ok(Some(bytes)) => Some(Stored::decode(&bytes).map(Stored::into_record)),
            }
        }));
        Ok((records, unreadable))
    }

    /// Verifies the chain (against a pinned public key in hex, if given) and records the
    /// access. The one exception to "no record, no result": when the archive refuses
    /// appends because its integrity check failed, `verify` is how the operator finds out
    /// why, and it shows hashes and signatures, not messages; so the report is returned and
    /// the missing record is logged as an error.
    pub fn audited_verify(
        &self,
        public_key: Option<&str>,
        accessor: &Accessor,
    ) -> Result<VerifyReport, ArchiveError> {
        let report = match public_key {
            Some(hex) => self.verify_with(&parse_public_key(hex)?)?,
            None => self.verify()?,
        };
        let args = serde_json::json!({ "public_key": public_key });
        match self.record(accessor, "verify", None, args, report.records) {
            Ok(()) => Ok(report),
            Err(ArchiveError::Integrity(problem)) => {
                tracing::error!(
                    user = %accessor.user,
                    uid = accessor.uid,
                    %problem,
                    "verify ran but could not be recorded as an access: the archive refuses appends"
                );
                Ok(report)
            }
            Err(e) => Err(e),
        }
    }

    /// Lists holds (released ones too if `released`), recorded as `hold list`.
    pub fn audited_holds(
        &self,
        released: bool,
        accessor: &Accessor,
    ) -> Result<Vec<Hold>, ArchiveError> {
        let holds = self.holds(released)?;
        let args = serde_json::json!({ "released": released });
        self.record(accessor, "hold list", None, args, holds.len() as u64)?;
        Ok(holds)
    }

    /// Places a hold, recorded as `hold add`.
    pub fn audited_hold_add(
        &self,
        target: HoldTarget,
        reason: &str,
        accessor: &Accessor,
    ) -> Result<Hold, ArchiveError> {
        let hold = self.hold_add_as(target, reason, accessor)?;
        let args = serde_json::json!({ "target": hold.target, "reason": reason, "id": hold.id });
        self.record(accessor, "hold add", None, args, 1)?;
        Ok(hold)
    }

    /// Releases a hold (saying why, if `reason`), recorded as `hold release`.
    pub fn audited_hold_release(
        &self,
        id: u64,
        reason: Option<&str>,
        accessor: &Accessor,
    ) -> Result<Hold, ArchiveError> {
        let hold = self.hold_release_as(id, reason, accessor)?;
        self.record(
            accessor,
            "hold release",
            None,
            serde_json::json!({ "id": id, "reason": reason }),
            1,
        )?;
        Ok(hold)
    }

    /// Applies (or dry-runs) retention, recorded as `retention` (or `retention dry-run`)
    /// with the records purged (or that would be).
    pub fn audited_retention(
        &self,
        policy: &RetentionPolicy,
        now_ns: i64,
        dry_run: bool,
        accessor: &Accessor,
    ) -> Result<RetentionReport, ArchiveError> {
        let report =
            self.apply_retention_as(policy, now_ns, dry_run, accessor, PurgeTrigger::Command)?;
        let (command, count) = if dry_run {
            (
                "retention dry-run",
                report.expired.saturating_sub(report.held),
            )
        } else {
            ("retention", report.purged)
        };
        let args = serde_json::json!({ "policy": policy, "now_ns": now_ns });
        self.record(accessor, command, None, args, count)?;
        Ok(report)
    }
}

/// What to tell the person searching a damaged store (`None`: nothing was unreadable).
pub fn unreadable_warning(unreadable: &Unreadable) -> Option<String> {
    (!unreadable.is_empty()).then(|| {
        format!(
            "the archive is damaged: {unreadable}; they are left out of these results. \
             `imtegrity verify` names the damage; `imtegrity archive salvage --to DIR` copies \
             every readable record into a new store"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::AccessVia;
    use crate::{ArchiveOptions, Protocol};
    use record::Kind;

    fn trail(archive: &Archive) -> Vec<(String, u64)> {
        let query = Query {
            kinds: vec![Kind::Access],
            ..Query::default()
        };
        archive
            .search(&query)
            .map(|r| {
                let detail = r.unwrap().event.detail.unwrap();
                let access: Access = serde_json::from_str(&detail).unwrap();
                (access.command, access.count)
            })
            .collect()
    }

    #[test]
    fn every_command_is_on_the_trail_with_what_it_returned_or_affected() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        let mut synthetic = crate::synthetic::Synthetic::new(1, 3, 1, record::now_ns());
        for i in 0..3 {
            archive.append_blocking(synthetic.event(i, 3)).unwrap();
        }
        let who = Accessor {
            user: "rev".into(),
            uid: 1001,
            via: AccessVia::Direct,
        };
        let hold = archive
            .audited_hold_add(HoldTarget::User("nobody".into()), "case 7", &who)
            .unwrap();
        assert_eq!(archive.audited_holds(false, &who).unwrap().len(), 1);
        archive
            .audited_hold_release(hold.id, Some("case closed"), &who)
            .unwrap();
        let policy = RetentionPolicy {
            per_protocol: [(Protocol::Sametime, 1)].into_iter().collect(),
            ..RetentionPolicy::default()
        };
        let far_future = record::now_ns() + 400 * 86_400 * 1_000_000_000;
        let dry = archive
            .audited_retention(&policy, far_future, true, &who)
            .unwrap();
        let report = archive.audited_verify(None, &who).unwrap();
        assert!(report.is_intact());
        assert_eq!(
            trail(&archive),
            vec![
                ("hold add".to_owned(), 1),
                ("hold list".to_owned(), 1),
                ("hold release".to_owned(), 1),
                ("retention dry-run".to_owned(), dry.expired - dry.held),
                ("verify".to_owned(), report.records),
            ]
        );
        // Verify counted the three records and the four accesses before its own.
        assert_eq!(report.records, 7);
    }

    #[test]
    fn verify_still_reports_when_appends_are_refused_and_other_commands_fail() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        archive.store.refuse_for_test("changed while stopped");
        let who = Accessor::this_process();
        assert!(archive.audited_verify(None, &who).is_ok());
        assert!(matches!(
            archive.audited_holds(false, &who),
            Err(ArchiveError::Integrity(_))
        ));
        assert!(matches!(
            archive.audited_hold_add(HoldTarget::User("a".into()), "r", &who),
            Err(ArchiveError::Integrity(_))
        ));
        assert!(trail(&archive).is_empty());
    }
}
