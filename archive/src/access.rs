//! The access audit trail: every `search`, `export`, `hold`, `retention` and `verify` that
//! reaches the archive, through the admin socket or directly, is itself recorded as an
//! `access` record: who (user name and uid), how (socket or direct), what (command, query,
//! arguments) and how many records it returned or affected.
//!
//! An access is recorded before any of its results leave: a search counts its matches
//! first, records the access durably (a strict append), and only then reads the records
//! out. If the record cannot be written, the command fails; a reviewer never reads the
//! archive without a trace. (The one exception, `verify`, is the caller's:
//! see `imtegrity verify`.)
//!
//! Access records are left out of every search and export that does not ask for the
//! `access` kind, so the trail does not mix into the transcripts a reviewer reads.

use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::error::ArchiveError;
use crate::query::Query;
use crate::writer::Receipt;
use record::{Direction, Event, Kind, Protocol, Record, Verdict};

/// How a command reached the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessVia {
    /// Through the owning process's admin socket (who: from the peer's credentials).
    Socket,
    /// The command opened the store itself (who: the process's own user).
    Direct,
    /// Through the reviewer console (who: the console account; uid: the console process's).
    Console,
}

/// Who accessed the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accessor {
    /// The user's name, or the uid in decimal when the system has no name for it.
    pub user: String,
    /// The uid.
    pub uid: u32,
    /// How.
    pub via: AccessVia,
}

impl Accessor {
    /// The user with `uid`, named from the system's user database.
    pub fn of_uid(uid: u32, via: AccessVia) -> Self {
        let user = uzers::get_user_by_uid(uid).map_or_else(
            || uid.to_string(),
            |u| u.name().to_string_lossy().into_owned(),
        );
        Self { user, uid, via }
    }

    /// This process's effective user, opening the store directly.
    pub fn this_process() -> Self {
        Self::of_uid(rustix::process::geteuid().as_raw(), AccessVia::Direct)
    }

    /// "alice (uid 1000)", or "console user rita" for a console account (the uid there is
    /// the console process's, not the person's).
    pub fn describe(&self) -> String {
        match self.via {
            AccessVia::Console => format!("console user {}", self.user),
            AccessVia::Socket | AccessVia::Direct => format!("{} (uid {})", self.user, self.uid),
        }
    }
}

/// One access, as stored (JSON in the record's `detail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Who.
    #[serde(flatten)]
    pub accessor: Accessor,
    /// The command: `search`, `export`, `hold add`, `hold list`, `hold release`,
    /// `retention`, `retention dry-run`, `verify`.
    pub command: String,
    /// The query's filters, for `search` and `export`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<Query>,
    /// The command's other arguments (hold target and reason, retention policy, format).
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub args: serde_json::Value,
    /// Records returned (search, export), affected (retention: purged, or expired for a dry
    /// run; hold: 1) or listed (holds).
    pub count: u64,
}

impl Access {
    /// The archive event that records this access.
    pub(crate) fn event(&self, node: &str) -> Result<Event, ArchiveError> {
        let detail =
            serde_json::to_string(self).map_err(|e| ArchiveError::corrupt("access record", e))?;
        let a = &self.accessor;
        let via = match a.via {
            AccessVia::Socket => "through the admin socket",
            AccessVia::Direct => "directly",
            AccessVia::Console => "in the reviewer console",
        };
        Ok(Event {
            time_ns: record::now_ns(),
            // Not an IM network; the field is required, and AIM keeps old readers working.
            protocol: Protocol::Aim,
            kind: Kind::Access,
            conversation: "access".to_owned(),
            sender: a.user.clone(),
            recipients: Vec::new(),
            direction: Direction::Internal,
            local_user: a.user.clone(),
            room: None,
            client_addr: None,
            node: node.to_owned(),
            text: format!(
                "{} {} {} {via}: {} records",
                a.describe(),
                if a.via == AccessVia::Console {
                    "used"
                } else {
                    "ran"
                },
                self.command,
                self.count
            ),
            raw: String::new(),
            charset: None,
            verdict: Verdict::Allowed,
            detail: Some(detail),
            employee: None,
        })
    }
}

impl Archive {
    /// Records `access` durably (a strict append); an error means it is not recorded and the
    /// command must fail.
    pub fn record_access(&self, access: &Access) -> Result<Receipt, ArchiveError> {
        let event = access.event(&self.store.node)?;
        self.append_blocking(event)
    }

    /// The newest `limit` accesses, newest first: what an auditor reads.
    pub fn access_trail(&self, limit: usize) -> Result<Vec<(Record, Access)>, ArchiveError> {
        self.access_trail_newest_first().take(limit).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ArchiveOptions;

    /// Two synthetic records, as `imtegrity generate` makes them.
    fn archive_of_two(dir: &std::path::Path) -> Archive {
        let archive = Archive::open(dir, ArchiveOptions::default()).unwrap();
        let mut synthetic = crate::synthetic::Synthetic::new(1, 3, 1, record::now_ns());
        for i in 0..2 {
            archive.append_blocking(synthetic.event(i, 2)).unwrap();
        }
        archive
    }

    #[test]
    fn a_search_is_recorded_before_its_results_and_shown_only_when_asked() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = archive_of_two(tmp.path());
        let who = Accessor {
            user: "rev".into(),
            uid: 1234,
            via: AccessVia::Socket,
        };
        let query = Query {
            limit: Some(5),
            ..Query::default()
        };
        let found: Vec<_> = archive
            .audited_search(&query, &who, "search", serde_json::Value::Null)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(archive.head_id(), 3, "the access record was appended");

        // A plain search does not show it; asking for the kind does.
        let all: Vec<_> = archive.search(&Query::default()).collect();
        assert_eq!(all.len(), 2);
        let access_query = Query {
            kinds: vec![Kind::Access],
            ..Query::default()
        };
        let trail: Vec<_> = archive
            .search(&access_query)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(trail.len(), 1);
        let record = &trail[0];
        assert_eq!(record.event.kind, Kind::Access);
        assert_eq!(record.event.sender, "rev");
        let stored: Access = serde_json::from_str(record.event.detail.as_deref().unwrap()).unwrap();
        assert_eq!(
            stored,
            Access {
                accessor: who,
                command: "search".into(),
                query: Some(query),
                args: serde_json::Value::Null,
                count: 2,
            }
        );
        assert_eq!(
            record.event.text,
            "rev (uid 1234) ran search through the admin socket: 2 records"
        );
    }

    #[test]
    fn an_access_that_cannot_be_recorded_returns_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let archive = archive_of_two(tmp.path());
        // The store refuses appends (as after a failed integrity check at open).
        archive.store.refuse_for_test("tampered");
        let result = archive.audited_search(
            &Query::default(),
            &Accessor::this_process(),
            "search",
            serde_json::Value::Null,
        );
        assert!(
            matches!(result, Err(ArchiveError::Integrity(_))),
            "{:?}",
            result.err()
        );
    }
}
