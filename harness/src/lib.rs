//! End-to-end test harness for IMtegrity: drives the **real** third-party AIM client
//! (libpurple 2.14.1's AIM/ICQ plugins, loaded into Debian's bitlbee-libpurple and driven over
//! IRC on loopback), and captures and decodes the OSCAR traffic with tshark.
//!
//! The peers are installed by `tests/peers/install.sh` (as root); tests call
//! [`require_peers`] first, which skips when they are missing, except under `CI=true`, where it
//! fails. Every skip goes through [`skip_or_fail`], which also lists it at the end of
//! `cargo test --workspace`. Everything listens on and connects to 127.0.0.1 only, except inside a pair of
//! network namespaces a test creates itself ([`NetnsPair`]); every wait has a timeout, and
//! every process and namespace started here is removed on drop. See
//! `docs/protocol/real-peers.md` §2 and §5.
//!
//! This crate does not speak OSCAR itself; the server side of a test is `lab` (or a listener).
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

pub mod aim_client;
pub mod bitlbee;
pub mod capture;
pub mod error;
pub mod irc;
pub mod irc_line;
pub mod netns;
pub mod peers;
pub mod ports;
pub mod process;
pub mod tshark;

pub use aim_client::{AimClient, AimLogin, Protocol, ReceivedIm};
pub use bitlbee::Bitlbee;
pub use capture::Capture;
pub use error::HarnessError;
pub use irc::IrcClient;
pub use irc_line::IrcLine;
pub use netns::{NetnsPair, require_netns};
pub use peers::{Peers, require_peers};
pub use ports::free_loopback_port;
pub use test_skips::skip_or_fail;
pub use tshark::{
    AimPacket, FieldRow, aim_field_values, aim_packets, field_rows, malformed_count,
    malformed_packets,
};
