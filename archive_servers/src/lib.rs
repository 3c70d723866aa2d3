//! The archive's servers, apart from its storage: the ingest endpoint (records shipped by the
//! Sametime module's spool, over HTTP) and the admin socket (`<dir>/admin.sock`, through
//! which other processes search, export, hold and verify an archive the gateway owns).
//!
//! The `archive` crate is the store alone; what speaks to the network or to other processes
//! lives here, so the store can be used (by the CLI opening an archive no gateway owns, by
//! tests, by benchmarks) without a server stack, and the servers can change without
//! touching the record's durability. Every request ends in the archive's own calls, and
//! every read is recorded there as an `access` record before its result is returned.
#![forbid(unsafe_code)]

pub mod admin;
mod admin_peer;
mod ingest;
mod ingest_alert;
mod ingest_auth;
mod ingest_stats;

pub use admin_peer::{AdminPolicy, Admitted, parse_proc_groups};
pub use ingest::{IngestEndpoint, IngestPeer, serve_ingest, serve_ingest_with};
pub use ingest_alert::SOURCE_CLAIMED;
pub use ingest_auth::{DEFAULT_CLIENT, IngestAuth, IngestClient, IngestToken, Refused};
pub use ingest_stats::{ClientStats, IngestSnapshot, IngestStats, RefusedSender};
