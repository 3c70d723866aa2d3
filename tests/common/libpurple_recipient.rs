//! The setup of tests whose reference is what libpurple shows: a lab server, `imtegrity
//! run` in front of it, alice signed on through the gateway, and libpurple (bullseye's
//! 2.14.1 prpl in bitlbee) signed on to the lab directly as the outsider `tester1`.

use std::path::PathBuf;

use imtegrity_harness::{AimClient, Bitlbee};
use lab::{Accounts, LabClient, LabConfig, LabServer};

use super::gateway::Gateway;

/// The password of `tester1`, libpurple's account.
const TESTER_PASSWORD: &str = "secret";

/// alice behind the gateway, libpurple outside it; fields in drop order.
pub(crate) struct LibpurpleRecipient {
    /// alice, through the gateway.
    pub(crate) alice: LabClient,
    /// libpurple, signed on as `tester1`.
    pub(crate) aim: AimClient,
    /// The bitlbee libpurple runs in (its log explains a failure).
    pub(crate) bitlbee: Bitlbee,
    /// The gateway, archiving into `archive`.
    pub(crate) gw: Gateway,
    /// The archive directory.
    pub(crate) archive: PathBuf,
    /// The lab server both sign on to.
    pub(crate) lab: LabServer,
    _dir: tempfile::TempDir,
}

impl LibpurpleRecipient {
    /// Starts it all, the gateway as node `node`; `None` when the
    /// peers are not installed (the test is skipped locally, and fails under `CI=true`).
    pub(crate) async fn start(test: &str, node: &str, alice_password: &str) -> Option<Self> {
        let peers = imtegrity_harness::require_peers(test)?;
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
        let gw = Gateway::start(&lab.auth_addr.to_string(), &archive, node, &[]).await;
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
