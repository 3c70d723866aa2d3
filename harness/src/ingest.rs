//! Talking to the gateway's ingest endpoint as the Sametime module does: requests over plain
//! HTTP ([`request`]), and over TLS with a gateway CA and client certificates ([`tls`]).

pub mod request;
pub mod tls;

pub use request::{batch, event, post};
pub use tls::{bearer, curl, gateway_ca, issue_client};
