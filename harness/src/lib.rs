//! The one end-to-end test harness of IMtegrity: what the root package's tests (`tests/*.rs`)
//! and `lab`'s share. It runs the real `imtegrity` binary ([`Imtegrity`], [`Gateway`], [`cli`],
//! [`dns`], [`ingest`]), speaks raw OSCAR to the relay ([`scripted`]), and drives the **real**
//! third-party AIM client (libpurple 2.14.1's AIM/ICQ plugins, loaded into Debian's
//! bitlbee-libpurple and driven over IRC on loopback), capturing and decoding the OSCAR traffic
//! with tshark.
//!
//! Only the root package's tests know where cargo built the binary, so they pass it in: each
//! test file names it once as a [`Binary`] and hands it to every helper that starts it.
//!
//! The peers are installed by `tests/peers/install.sh` (as root); tests call
//! [`require_peers`] first, which skips when they are missing, except under `CI=true`, where it
//! fails. Every skip goes through [`skip_or_fail`], which also lists it at the end of
//! `cargo test --workspace`. Everything listens on and connects to 127.0.0.1 only, except inside a pair of
//! network namespaces a test creates itself ([`NetnsPair`]); every wait has a timeout, and
//! every process and namespace started here is removed on drop. See
//! `docs/protocol/real-peers.md` §2 and §5.
//!
//! Helpers that drive the real peers return [`HarnessError`], since a test may expect a step to
//! fail; helpers that run `imtegrity` assert, and panic with what went wrong as the calling
//! test would. The OSCAR server side of a test is `lab` (or a listener).
//!
//! ```no_run
//! # async fn demo(server: std::net::SocketAddr) -> Result<(), imtegrity_harness::HarnessError> {
//! use std::time::Duration;
//! use imtegrity_harness::{AimClient, Bitlbee, require_peers};
//!
//! let Some(peers) = require_peers("demo") else { return Ok(()) };
//! let bitlbee = Bitlbee::start(&peers).await?;
//! let mut alice = AimClient::connect(&bitlbee, server, "alice", "secret").await?;
//! alice.send_im("bob", "hello").await?;
//! alice.wait_im("bob", "hi back", Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod error;

// The real peers: libpurple in bitlbee over IRC, tshark, network namespaces.
pub mod aim_client;
pub mod aim_login;
pub mod bitlbee;
pub mod capture;
pub mod irc;
pub mod irc_line;
pub mod netns;
pub mod peers;
pub mod tshark;

// Processes, ports and the programs a test needs.
pub mod ports;
pub mod process;
pub mod tools;

// The `imtegrity` binary under test, and what it writes.
pub mod archive_copy;
pub mod binary;
pub mod cli;
pub mod gateway;
pub mod gateway_ca;
pub mod im_record;
pub mod imtegrity;
pub mod lab_process;
pub mod libpurple_recipient;

// What the gateway talks to: DNS, the ingest endpoint, raw OSCAR clients, resolvers.
pub mod dns;
pub mod fixed_resolver;
pub mod ingest;
pub mod scripted;

pub use aim_client::{AimClient, ReceivedIm};
pub use aim_login::{AimLogin, PurpleProtocol};
pub use archive_copy::copy_dir;
pub use binary::Binary;
pub use bitlbee::Bitlbee;
pub use capture::Capture;
pub use cli::{add_console_user, cli, output_text, search, status, verify_intact};
pub use error::HarnessError;
pub use fixed_resolver::FixedResolver;
pub use gateway::Gateway;
pub use im_record::{ImRecord, assert_standard_ims, standard_ims};
pub use imtegrity::Imtegrity;
pub use irc::IrcClient;
pub use irc_line::IrcLine;
pub use lab_process::start_lab;
pub use libpurple_recipient::LibpurpleRecipient;
pub use netns::{NetnsPair, require_netns};
pub use peers::{Peers, require_peers};
pub use ports::free_loopback_port;
pub use test_skips::skip_or_fail;
pub use tools::tools_present;
pub use tshark::{
    AimPacket, FieldRow, aim_field_values, aim_packets, field_rows, malformed_count,
    malformed_packets,
};
