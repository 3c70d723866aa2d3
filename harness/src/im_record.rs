//! What an archived IM record says, compared exactly, and the four IMs the real-client tests
//! exchange.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::expect_used)]

use std::net::Ipv4Addr;

use serde_json::Value;

/// What an archived IM record says, for exact comparison: (protocol, sender, recipients,
/// direction, local user, text, conversation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImRecord {
    /// `aim`, `icq` or `sametime`.
    pub protocol: String,
    /// The screen name that sent it.
    pub sender: String,
    /// Who it was for.
    pub recipients: Vec<String>,
    /// `inbound`, `outbound` or `internal`.
    pub direction: String,
    /// The organisation's user whose session recorded it.
    pub local_user: String,
    /// What it said, as the archive reads it.
    pub text: String,
    /// The conversation key (`protocol:a|b`, names lower case and sorted).
    pub conversation: String,
}

impl ImRecord {
    /// The record as the archive's JSON line has it; panics on a missing field.
    pub fn from_json(v: &Value) -> Self {
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("field {k} missing in {v}"))
                .to_owned()
        };
        Self {
            protocol: s("protocol"),
            sender: s("sender"),
            recipients: v["recipients"]
                .as_array()
                .unwrap_or_else(|| panic!("recipients missing in {v}"))
                .iter()
                .map(|r| r.as_str().expect("recipient is a string").to_owned())
                .collect(),
            direction: s("direction"),
            local_user: s("local_user"),
            text: s("text"),
            conversation: s("conversation"),
        }
    }

    /// An expected record.
    pub fn new(
        protocol: &str,
        sender: &str,
        recipient: &str,
        direction: &str,
        local_user: &str,
        text: &str,
    ) -> Self {
        let (a, b) = (sender.to_lowercase(), recipient.to_lowercase());
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        Self {
            protocol: protocol.to_owned(),
            sender: sender.to_owned(),
            recipients: vec![recipient.to_owned()],
            direction: direction.to_owned(),
            local_user: local_user.to_owned(),
            text: text.to_owned(),
            conversation: format!("{protocol}:{first}|{second}"),
        }
    }
}

/// The four IMs the real-client tests exchange, as the archive must hold them, sorted:
/// tester1 (libpurple) and the echo bot both ways, alice (a lab client) to tester1 and back.
pub fn standard_ims(to_bot: &str, to_tester: &str, to_alice: &str) -> Vec<ImRecord> {
    let mut want = vec![
        ImRecord::new("aim", "tester1", "labbot", "outbound", "tester1", to_bot),
        ImRecord::new("aim", "labbot", "tester1", "inbound", "tester1", to_bot),
        ImRecord::new("aim", "alice", "tester1", "internal", "alice", to_tester),
        ImRecord::new("aim", "tester1", "alice", "internal", "tester1", to_alice),
    ];
    want.sort();
    want
}

/// Checks that `records` (every `im` record) are those four IMs, from node `node`, allowed,
/// tester1's from `client_ip` (the client namespace) and alice's from `gateway_ip`.
pub fn assert_standard_ims(
    records: &[Value],
    node: &str,
    (client_ip, gateway_ip): (Ipv4Addr, Ipv4Addr),
    (to_bot, to_tester, to_alice): (&str, &str, &str),
) {
    assert_eq!(records.len(), 4, "{records:#?}");
    for r in records {
        assert_eq!(r["node"], node, "{r}");
        assert_eq!(r["verdict"], "allowed", "{r}");
        let from = match r["local_user"].as_str() {
            Some("tester1") => client_ip,
            Some("alice") => gateway_ip,
            _ => panic!("unexpected local user in {r}"),
        };
        assert!(
            r["client_addr"]
                .as_str()
                .is_some_and(|a| a.starts_with(&format!("{from}:"))),
            "{r}"
        );
    }
    let mut got: Vec<ImRecord> = records.iter().map(ImRecord::from_json).collect();
    got.sort();
    assert_eq!(got, standard_ims(to_bot, to_tester, to_alice));
}
