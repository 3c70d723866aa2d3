//! The open chat sessions, from start through joins, messages and leaves to end.
//!
//! The server may call from many threads (the reference says the SPI is single-threaded,
//! but the host is not, §4.1), so the table is a map behind a mutex held only to find a
//! session; each session has its own mutex, held while its record is made durable, so one
//! session's records reach the spool in call order while other sessions proceed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use record::Kind;

use self::with_policy::JoinCheck;
use crate::abi_types::entity_type;
use crate::data_msgs::{DataMsg, classify};
use crate::error::SpiError;
use crate::ffi_strings::OwnedEntity;
use crate::records::{self, EndedBy};
use crate::sink::RecordSink;
use crate::spi_policy::SpiPolicy;
use crate::srv_msgs::EntryResult;

mod with_policy;

/// Session ids starting with this are announcements (reference §2.3, #7).
const ANNOUNCEMENT_PREFIX: &str = "ANNOUNCE_";
/// The scope id that, with type `SESSION`, marks an n-way chat (reference §2.3, #7).
const PLACE_SCOPE_ID: &str = "PLACE";

/// What a session is, learnt from its id and its first join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// Started, nobody joined yet.
    Undecided,
    /// A one-to-one chat: the first join had no scope.
    TwoWay,
    /// An n-way chat in a place: the first join had a scope.
    Place,
    /// A broadcast: the session id starts with `ANNOUNCE_`.
    Announcement,
}

impl SessionKind {
    /// The name used in records' `detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undecided => "undecided",
            Self::TwoWay => "two_way",
            Self::Place => "place",
            Self::Announcement => "announcement",
        }
    }
}

/// What a session's data messages were: counted, never stored.
#[derive(Debug, Clone, Default)]
pub struct DataCounts {
    /// Typing notices (started and stopped).
    pub typing: u64,
    /// Each sender's last rich-text capability announcement.
    pub rich_text: BTreeMap<String, bool>,
    /// Inline images.
    pub images: u64,
    /// Their total size.
    pub image_bytes: u64,
    /// Other data messages, by `"type/subtype"`.
    pub other: BTreeMap<String, u64>,
}

/// One open session.
#[derive(Debug)]
pub struct Session {
    /// The server's session id.
    pub id: String,
    /// From `stDdaClSessionStartedByOrgName`.
    pub organization: Option<String>,
    /// Two-way, place or announcement.
    pub kind: SessionKind,
    /// Who is in it now.
    pub present: Vec<OwnedEntity>,
    /// Everyone who ever joined, in order (the first two of a two-way chat are its pair).
    pub joined: Vec<OwnedEntity>,
    /// Senders whose client announced rich text: their messages are HTML.
    pub rich_text_senders: BTreeSet<String>,
    /// Data message counts.
    pub data: DataCounts,
    /// Set under the session's lock when it ends, for calls that found it just before.
    ended: bool,
}

impl Session {
    fn new(id: String, organization: Option<String>) -> Self {
        let kind = if id.starts_with(ANNOUNCEMENT_PREFIX) {
            SessionKind::Announcement
        } else {
            SessionKind::Undecided
        };
        Self {
            id,
            organization,
            kind,
            present: Vec::new(),
            joined: Vec::new(),
            rich_text_senders: BTreeSet::new(),
            data: DataCounts::default(),
            ended: false,
        }
    }

    fn count_data(&mut self, sender: &OwnedEntity, msg: DataMsg) {
        match msg {
            DataMsg::Typing { .. } => self.data.typing += 1,
            DataMsg::RichTextCapability { supported } => {
                self.data.rich_text.insert(sender.id.clone(), supported);
                if supported {
                    self.rich_text_senders.insert(sender.id.clone());
                } else {
                    self.rich_text_senders.remove(&sender.id);
                }
            }
            DataMsg::Image { bytes } => {
                self.data.images += 1;
                self.data.image_bytes += bytes as u64;
            }
            DataMsg::Other {
                data_type,
                sub_type,
            } => {
                *self
                    .data
                    .other
                    .entry(format!("{data_type}/{sub_type}"))
                    .or_default() += 1
            }
        }
    }
}

type Shared = Arc<Mutex<Session>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a lock was held was caught at the entry point; the data is still a
    // consistent session (every update is a single assignment or push), so carry on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sessions taken out of one [`SessionTable`] to go on in another.
#[derive(Default)]
pub struct OpenSessions(HashMap<String, Shared>);

impl std::fmt::Debug for OpenSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSessions")
            .field("open", &self.0.len())
            .finish()
    }
}

/// The open sessions and where their records go.
pub struct SessionTable {
    sessions: Mutex<HashMap<String, Shared>>,
    sink: Box<dyn RecordSink>,
    node: String,
}

impl std::fmt::Debug for SessionTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTable")
            .field("open", &self.open_count())
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl SessionTable {
    /// An empty table whose records go to `sink`, stamped with `node`.
    pub fn new(sink: Box<dyn RecordSink>, node: String) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            sink,
            node,
        }
    }

    /// A table whose records go to `sink`, holding sessions another table opened (a repeated
    /// `stDdaClInit` rebuilds the runtime; the server's sessions go on).
    pub fn with_open(sink: Box<dyn RecordSink>, node: String, open: OpenSessions) -> Self {
        Self {
            sessions: Mutex::new(open.0),
            sink,
            node,
        }
    }

    /// Takes the open sessions out, without end records, for [`SessionTable::with_open`].
    pub fn take_open(&self) -> OpenSessions {
        OpenSessions(std::mem::take(&mut *lock(&self.sessions)))
    }

    /// How many sessions are open.
    pub fn open_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Finds an open session and locks it.
    fn with_session<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Session) -> Result<R, SpiError>,
    ) -> Result<R, SpiError> {
        let shared = lock(&self.sessions)
            .get(id)
            .cloned()
            .ok_or_else(|| SpiError::SessionMissing(id.to_owned()))?;
        let mut session = lock(&shared);
        if session.ended {
            return Err(SpiError::SessionMissing(id.to_owned()));
        }
        f(&mut session)
    }

    /// `stDdaClSessionStarted(ByOrgName)`: opens the session and records its start.
    pub fn start(&self, id: String, organization: Option<String>) -> Result<(), SpiError> {
        let shared = Arc::new(Mutex::new(Session::new(id.clone(), organization)));
        // Lock the new session before it is visible, so no join overtakes its start record.
        let session = lock(&shared);
        {
            let mut sessions = lock(&self.sessions);
            if sessions.contains_key(&id) {
                return Err(SpiError::SessionExists(id));
            }
            sessions.insert(id.clone(), Arc::clone(&shared));
        }
        if let Err(e) = self
            .sink
            .append(&records::session_start(&self.node, &session))
        {
            // Not recorded, so not open: the server ends the chat in strict mode.
            lock(&self.sessions).remove(&id);
            return Err(e);
        }
        Ok(())
    }

    /// `stDdaClJoiningSession`: the first join decides a two-way chat (no scope) from a
    /// place (a scope); joins of a place are recorded, the others kept for the end record.
    pub fn join(
        &self,
        id: &str,
        who: OwnedEntity,
        scope: Option<OwnedEntity>,
    ) -> Result<(), SpiError> {
        self.join_with(id, who, scope, None, false).map(drop)
    }

    /// [`join`](Self::join) under `policy`, if any: the join may be declined (not made,
    /// recorded as a policy action) or bring a disclaimer; `replies` says whether the server
    /// takes server messages.
    pub fn join_with(
        &self,
        id: &str,
        who: OwnedEntity,
        scope: Option<OwnedEntity>,
        policy: Option<&SpiPolicy>,
        replies: bool,
    ) -> Result<EntryResult, SpiError> {
        let who = match policy {
            Some(p) => p.classified(&who),
            None => who,
        };
        self.with_session(id, |session| {
            if session.kind == SessionKind::Undecided {
                session.kind = match &scope {
                    None => SessionKind::TwoWay,
                    // The reference names {"PLACE", SESSION} as the n-way marker; any other
                    // scope (a section or activity of a place) is an n-way chat too.
                    Some(s) if s.id == PLACE_SCOPE_ID && s.entity_type == entity_type::SESSION => {
                        SessionKind::Place
                    }
                    Some(_) => SessionKind::Place,
                };
            }
            if session.present.iter().any(|m| m.id == who.id) {
                return Ok(EntryResult::allowed());
            }
            let (outcome, after) = match policy {
                None => (EntryResult::allowed(), Vec::new()),
                Some(policy) => match self.check_join(session, &who, policy, replies)? {
                    JoinCheck::Declined(outcome) => return Ok(outcome),
                    JoinCheck::Admitted { outcome, after } => (outcome, after),
                },
            };
            session.present.push(who.clone());
            if !session.joined.iter().any(|m| m.id == who.id) {
                session.joined.push(who.clone());
            }
            if session.kind == SessionKind::Place {
                let event = records::place_presence(&self.node, session, &who, Kind::ChatJoin);
                if let Err(e) = self.sink.append(&event) {
                    session.present.retain(|m| m.id != who.id);
                    return Err(e);
                }
            }
            for event in &after {
                self.sink.append(event)?;
            }
            Ok(outcome)
        })
    }

    /// `stDdaClLeavingSession`: a leave of a place is recorded; leaving twice is harmless.
    pub fn leave(&self, id: &str, who: &OwnedEntity) -> Result<(), SpiError> {
        self.with_session(id, |session| {
            let Some(at) = session.present.iter().position(|m| m.id == who.id) else {
                return Ok(());
            };
            session.present.remove(at);
            if session.kind == SessionKind::Place {
                let event = records::place_presence(&self.node, session, who, Kind::ChatLeave);
                self.sink.append(&event)?;
            }
            Ok(())
        })
    }

    /// `stDdaClSessionMsg`: one record, durable before this returns.
    pub fn text(
        &self,
        id: &str,
        sender: &OwnedEntity,
        receiver: Option<&OwnedEntity>,
        bytes: &[u8],
    ) -> Result<(), SpiError> {
        self.text_with(id, sender, receiver, bytes, None, false)
            .map(drop)
    }

    /// [`text`](Self::text) under `policy`, if any: the message may be blocked, masked or
    /// preceded by a disclaimer, the record saying so; `replies` says whether the server
    /// takes server messages.
    pub fn text_with(
        &self,
        id: &str,
        sender: &OwnedEntity,
        receiver: Option<&OwnedEntity>,
        bytes: &[u8],
        policy: Option<&SpiPolicy>,
        replies: bool,
    ) -> Result<EntryResult, SpiError> {
        let classified = policy.map(|p| (p.classified(sender), receiver.map(|r| p.classified(r))));
        let (sender, receiver) = match &classified {
            Some((sender, receiver)) => (sender, receiver.as_ref()),
            None => (sender, receiver),
        };
        let outcome = self.with_session(id, |session| {
            let event = records::text_message(&self.node, session, sender, receiver, bytes);
            match policy {
                None => self.sink.append(&event).map(|()| EntryResult::allowed()),
                Some(policy) => {
                    self.text_under_policy(session, event, sender, receiver, bytes, policy, replies)
                }
            }
        });
        if let Err(SpiError::SessionMissing(_)) = &outcome {
            self.record_orphan(id, sender, receiver, bytes)?;
        }
        outcome
    }

    /// A message in a session that was never started (or has ended): the server still says
    /// it was sent, so it is recorded, marked `session_unknown`, before the session error is
    /// returned (strict mode: the server ends the chat; relaxed: it goes on). No policy can
    /// judge it: there is no session to hold the disclaimer's and notices' state.
    fn record_orphan(
        &self,
        id: &str,
        sender: &OwnedEntity,
        receiver: Option<&OwnedEntity>,
        bytes: &[u8],
    ) -> Result<(), SpiError> {
        let mut detached = Session::new(id.to_owned(), None);
        if detached.kind == SessionKind::Undecided {
            detached.kind = if receiver.is_some() {
                SessionKind::TwoWay
            } else {
                SessionKind::Place
            };
        }
        let mut event = records::text_message(&self.node, &detached, sender, receiver, bytes);
        event.detail = Some(records::with_detail(
            event.detail.as_deref(),
            "session_unknown",
            true,
        ));
        self.sink.append(&event)
    }

    /// `stDdaClSessionDataMsg`: counted for the end record, nothing written now.
    pub fn data(
        &self,
        id: &str,
        sender: &OwnedEntity,
        data_type: u64,
        sub_type: u64,
        bytes: &[u8],
    ) -> Result<(), SpiError> {
        self.with_session(id, |session| {
            session.count_data(sender, classify(data_type, sub_type, bytes));
            Ok(())
        })
    }

    /// `stDdaClSessionEnded`: closes the session and records its end.
    pub fn end(&self, id: &str) -> Result<(), SpiError> {
        let shared = lock(&self.sessions)
            .remove(id)
            .ok_or_else(|| SpiError::SessionMissing(id.to_owned()))?;
        self.finish(&shared, EndedBy::Server)
    }

    fn finish(&self, shared: &Shared, ended_by: EndedBy) -> Result<(), SpiError> {
        let mut session = lock(shared);
        session.ended = true;
        self.sink
            .append(&records::session_end(&self.node, &session, ended_by))
    }

    /// `stDdaClTerminate`: ends every open session, in id order; returns the first error
    /// after trying them all.
    pub fn close_all(&self) -> Result<(), SpiError> {
        let mut open: Vec<(String, Shared)> = lock(&self.sessions).drain().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        let mut first_error = None;
        for (_, shared) in open {
            if let Err(e) = self.finish(&shared, EndedBy::Terminate) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests;
