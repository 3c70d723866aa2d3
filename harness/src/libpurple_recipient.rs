//! The setup of tests whose reference is what libpurple shows: a lab server, `imtegrity
//! run` in front of it, alice signed on through the gateway, and libpurple (bullseye's
//! 2.14.1 prpl in bitlbee) signed on to the lab directly as the outsider `tester1`.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use lab::{Accounts, LabClient, LabConfig, LabServer};

use crate::{AimClient, Binary, Bitlbee, Gateway};

/// The password of `tester1`, libpurple's account.
const TESTER_PASSWORD: &str = "secret";

/// alice behind the gateway, libpurple outside it; fields in drop order.
pub struct LibpurpleRecipient {
    /// alice, through the gateway.
    pub alice: LabClient,
    /// libpurple, signed on as `tester1`.
    pub aim: AimClient,
    /// The bitlbee libpurple runs in (its log explains a failure).
    pub bitlbee: Bitlbee,
    /// The gateway, archiving into `archive`.
    pub gw: Gateway,
    /// The archive directory.
    pub archive: PathBuf,
    /// The lab server both sign on to.
    pub lab: LabServer,
    _dir: tempfile::TempDir,
}

impl LibpurpleRecipient {
    /// Starts it all, the gateway (`binary`) as node `node`; `None` when the
    /// peers are not installed (the test is skipped locally, and fails under `CI=true`).
    pub async fn start(
        binary: Binary,
        test: &str,
        node: &str,
        alice_password: &str,
    ) -> Option<Self> {
        let peers = crate::require_peers(test)?;
        let lab = LabServer::start(LabConfig {
            accounts: Accounts::from_pairs([
                ("alice", alice_password),
                ("tester1", TESTER_PASSWORD),
            ]),
            ..LabConfig::ephemeral()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("archive");
        let gw = Gateway::start(binary, &lab.auth_addr.to_string(), &archive, node, &[]).await;
        let bitlbee = Bitlbee::start(&peers).await.unwrap();
        let aim = AimClient::connect(&bitlbee, lab.auth_addr, "tester1", TESTER_PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("libpurple could not sign on to the lab: {e}"));
        let alice = LabClient::login(gw.relay, "alice", alice_password)
            .await
            .unwrap();
        Some(Self {
            alice,
            aim,
            bitlbee,
            gw,
            archive,
            lab,
            _dir: dir,
        })
    }
}
