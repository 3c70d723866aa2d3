//! The alert raised when an ingest client writes under a source another client owns: a
//! warning in the log and a `policy_action` record (verdict `alerted`, rule
//! [`SOURCE_CLAIMED`]) in the archive, once per (client, source) while the process runs,
//! so a sender retrying with back-off does not fill the archive with the same alert.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::ingest::IngestPeer;
use archive::Archive;
use record::now_ns;
use record::{Direction, Event, Kind, Protocol, Verdict};

/// The rule name the alert record carries (`search --kind policy_action`).
pub const SOURCE_CLAIMED: &str = "ingest_source_claimed";

/// Most (client, source) pairs remembered as alerted; past that, every claim alerts again.
const REMEMBERED: usize = 1024;

/// Which claims were already alerted.
#[derive(Debug, Default)]
pub(crate) struct ClaimAlerts {
    alerted: Mutex<HashSet<(String, String)>>,
}

impl ClaimAlerts {
    /// Logs and archives that `client`, at `peer`, wrote under `source_id`, which belongs
    /// to `owner` (or only logs it at debug, if this pair was alerted before).
    pub(crate) async fn source_claimed(
        &self,
        archive: &Archive,
        peer: &IngestPeer,
        client: &str,
        source_id: &str,
        owner: &str,
    ) {
        let first = {
            let mut alerted = self.alerted.lock().unwrap_or_else(PoisonError::into_inner);
            if alerted.len() >= REMEMBERED {
                alerted.clear();
            }
            alerted.insert((client.to_owned(), source_id.to_owned()))
        };
        if !first {
            tracing::debug!(peer = %peer.addr, client, source = source_id, owner, "ingest source claimed again; refused");
            return;
        }
        tracing::warn!(
            target: "imtegrity::ingest::alert",
            peer = %peer.addr, client, source = source_id, owner,
            "ingest client wrote under a source bound to another client; refused (409)"
        );
        if let Err(error) = archive.append(event(peer, client, source_id, owner)).await {
            tracing::error!(%error, client, source = source_id, "the ingest alert could not be archived");
        }
    }
}

/// The alert as a record: the claiming client as sender and local user, the owner as
/// recipient, the peer's address, and what happened in words.
fn event(peer: &IngestPeer, client: &str, source_id: &str, owner: &str) -> Event {
    let text = format!(
        "ingest client {client:?} wrote under source {source_id:?}, which belongs to client \
         {owner:?}; refused, nothing stored"
    );
    Event {
        time_ns: now_ns(),
        protocol: Protocol::Sametime,
        kind: Kind::PolicyAction,
        conversation: format!("sametime:ingest:{source_id}"),
        sender: client.to_owned(),
        recipients: vec![owner.to_owned()],
        direction: Direction::Internal,
        local_user: client.to_owned(),
        room: None,
        client_addr: Some(peer.addr.to_string()),
        node: String::new(),
        raw: text.clone(),
        text,
        charset: None,
        verdict: Verdict::Alerted(SOURCE_CLAIMED.to_owned()),
        detail: Some(format!("source={source_id} owner={owner} client={client}")),
        employee: None,
    }
}
