//! Search: filters, and a plan that reads one secondary index range instead of scanning.
//!
//! A user filter reads `idx_user` from `user‖since` to `user‖until`; a conversation or room
//! filter reads `idx_conv`; otherwise `idx_time` bounds the scan by time. Every other
//! filter (peer, kind, protocol, text) is checked on the records the range yields.

use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::chain::{Stored, id_key};
use crate::error::ArchiveError;
use crate::index::{employee_key, id_of, prefixed_key, time_key};
use record::{Kind, Protocol, Record, conversation_for_room, normalize};

/// What to look for. Every field narrows; an empty query returns everything in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// A participant, either side (sender, recipient or local user).
    pub user: Option<String>,
    /// Another participant that must also be in the record (with `user`: their conversation).
    pub peer: Option<String>,
    /// A chat room name.
    pub room: Option<String>,
    /// An exact conversation key.
    pub conversation: Option<String>,
    /// Inclusive lower bound, UTC ns.
    pub since_ns: Option<i64>,
    /// Exclusive upper bound, UTC ns.
    pub until_ns: Option<i64>,
    /// Case-insensitive substring of the plain or raw text.
    pub text: Option<String>,
    /// Only these kinds (empty: all but `access`, the audit trail, and `review`, the
    /// reviewers' dispositions, which are shown only when asked for).
    pub kinds: Vec<Kind>,
    /// Only this protocol.
    pub protocol: Option<Protocol>,
    /// At most this many records.
    pub limit: Option<usize>,
    /// An employee of the directory: records any of their screen names took part in, or
    /// stamped with their directory id (`employee`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee: Option<EmployeeQuery>,
}

/// Who an employee is on IM, as the directory says when the query is made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmployeeQuery {
    /// The directory id records are stamped with.
    pub id: String,
    /// Every screen name the directory lists for them. Records are read through the user
    /// index by each name and by the stamp (records archived before the stamp was indexed
    /// are found by name only).
    pub names: Vec<String>,
}

/// The records a query matched, in time order, read lazily.
pub type Records<'a> = Box<dyn Iterator<Item = Result<Record, ArchiveError>> + Send + 'a>;

impl Query {
    fn protocols(&self) -> Vec<Protocol> {
        self.protocol
            .map_or_else(|| Protocol::ALL.to_vec(), |p| vec![p])
    }

    /// The normalised forms a name can take under the protocols asked for.
    fn name_forms(&self, name: &str) -> Vec<String> {
        let mut forms: Vec<String> = self
            .protocols()
            .into_iter()
            .map(|p| normalize(p, name))
            .collect();
        forms.sort();
        forms.dedup();
        forms
    }

    /// Whether `record` passes every filter.
    pub fn matches(&self, record: &Record) -> bool {
        let e = &record.event;
        let participants = e.participants();
        let has = |name: &str| participants.contains(&normalize(e.protocol, name));
        self.since_ns.is_none_or(|t| e.time_ns >= t)
            && self.until_ns.is_none_or(|t| e.time_ns < t)
            && self.protocol.is_none_or(|p| e.protocol == p)
            && (if self.kinds.is_empty() {
                !matches!(e.kind, Kind::Access | Kind::Review)
            } else {
                self.kinds.contains(&e.kind)
            })
            && self.user.as_deref().is_none_or(has)
            && self.peer.as_deref().is_none_or(has)
            && self.employee.as_ref().is_none_or(|x| {
                e.employee
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&x.id))
                    || x.names.iter().any(|n| has(n))
            })
            && self
                .conversation
                .as_deref()
                .is_none_or(|c| e.conversation == c)
            && self.room.as_deref().is_none_or(|r| {
                e.room
                    .as_deref()
                    .is_some_and(|room| room.trim().eq_ignore_ascii_case(r.trim()))
            })
            && self.text.as_deref().is_none_or(|t| {
                let t = t.to_lowercase();
                e.text.to_lowercase().contains(&t) || e.raw.to_lowercase().contains(&t)
            })
    }
}

impl Archive {
    /// Runs `query`; records come in time order (ties by id).
    pub fn search<'a>(&'a self, query: &'a Query) -> Records<'a> {
        let ids = match self.candidate_ids(query) {
            Ok(ids) => ids,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let records = self.store.records.clone();
        let iter = ids
            .filter_map(move |id| match id {
                Err(e) => Some(Err(e)),
                Ok(id) => match records.get(id_key(id)) {
                    Err(e) => Some(Err(e.into())),
                    // An index entry whose record was purged meanwhile: skip it.
                    Ok(None) => None,
                    Ok(Some(bytes)) => Some(Stored::decode(&bytes).map(Stored::into_record)),
                },
            })
            .filter(move |r| r.as_ref().map_or(true, |r| query.matches(r)));
        match query.limit {
            Some(n) => Box::new(iter.take(n)),
            None => Box::new(iter),
        }
    }

    /// Record ids from the narrowest index range the query allows, in time order.
    pub(crate) fn candidate_ids<'a>(
        &self,
        q: &'a Query,
    ) -> Result<Box<dyn Iterator<Item = Result<u64, ArchiveError>> + Send + 'a>, ArchiveError> {
        let since = q.since_ns.unwrap_or(i64::MIN);
        let until = q.until_ns.unwrap_or(i64::MAX);
        if until <= since {
            return Ok(Box::new(std::iter::empty()));
        }
        let prefixes: Option<(sled::Tree, Vec<String>)> = if let Some(user) = &q.user {
            Some((self.store.indexes.user.clone(), q.name_forms(user)))
        } else if let Some(x) = &q.employee {
            let mut forms: Vec<String> = x.names.iter().flat_map(|n| q.name_forms(n)).collect();
            forms.push(employee_key(&x.id));
            forms.sort();
            forms.dedup();
            Some((self.store.indexes.user.clone(), forms))
        } else if let Some(conv) = &q.conversation {
            Some((self.store.indexes.conv.clone(), vec![conv.clone()]))
        } else {
            q.room.as_ref().map(|room| {
                let keys = q
                    .protocols()
                    .into_iter()
                    .map(|p| conversation_for_room(p, room))
                    .collect();
                (self.store.indexes.conv.clone(), keys)
            })
        };
        let Some((tree, prefixes)) = prefixes else {
            let range = self
                .store
                .indexes
                .time
                .range(time_key(since, 0)..time_key(until, 0));
            return Ok(Box::new(range.map(|item| id_of(&item?.0))));
        };
        let ranges: Vec<sled::Iter> = prefixes
            .iter()
            .map(|p| tree.range(prefixed_key(p, since, 0)..prefixed_key(p, until, 0)))
            .collect();
        if ranges.len() == 1 {
            let Some(range) = ranges.into_iter().next() else {
                return Ok(Box::new(std::iter::empty()));
            };
            return Ok(Box::new(range.map(|item| id_of(&item?.0))));
        }
        // Several name forms or protocols: merge by (time, id). Only the keys are held.
        let mut keyed = Vec::new();
        for range in ranges {
            for item in range {
                let key = item?.0;
                let tail = key.len().saturating_sub(16);
                keyed.push(key.get(tail..).map(<[u8]>::to_vec).unwrap_or_default());
            }
        }
        keyed.sort();
        keyed.dedup();
        Ok(Box::new(keyed.into_iter().map(|k| id_of(&k))))
    }

    /// Up to `limit` records after id `after`, in id order: what a follower of the archive
    /// (the text index) reads next.
    pub fn records_after(&self, after: u64, limit: usize) -> Result<Vec<Record>, ArchiveError> {
        self.store
            .records
            .range(id_key(after.saturating_add(1))..)
            .take(limit)
            .map(|item| {
                let (_, bytes) = item?;
                Stored::decode(&bytes).map(Stored::into_record)
            })
            .collect()
    }

    /// Record `id` as stored, if there is one (no access is recorded: the caller records it).
    pub fn record_by_id(&self, id: u64) -> Result<Option<Record>, ArchiveError> {
        self.store
            .records
            .get(id_key(id))?
            .map(|bytes| Stored::decode(&bytes).map(Stored::into_record))
            .transpose()
    }

    /// Every record, in id order (for verification and export of everything).
    pub fn all_records(&self) -> Records<'_> {
        Box::new(self.store.records.iter().map(|item| {
            let (_, bytes) = item?;
            Stored::decode(&bytes).map(Stored::into_record)
        }))
    }
}
