//! The embedded DNS responder: answers the AIM/ICQ login names with the gateway's address
//! for the asking client's view and forwards every other name to the upstream resolvers.
//!
//! * [`DnsServer::start`] binds every `dns.listen` address (UDP and TCP) and serves until
//!   cancelled; [`DnsServer::reload`] swaps the name list and views without touching the
//!   sockets, so no query is dropped.
//! * Redirected names get A records with the view's healthy gateway addresses, AAAA
//!   records only if a gateway address is IPv6 (otherwise NODATA, so clients cannot go
//!   around the gateway over IPv6), and NODATA for every other type.
//! * Clients outside `dns.allow` get REFUSED: never an open resolver.
//! * UDP queries for redirected names are answered on a fast path that encodes the answer
//!   directly; everything else goes through hickory-server's request handling and its
//!   forwarding zone handler (with its cache).
#![forbid(unsafe_code)]

mod decision;
mod error;
mod fast_answer;
mod forward;
pub mod fuzzing;
mod handler;
mod health;
mod idle_tcp;
mod live;
mod log_budget;
mod log_queue;
mod per_client;
mod query;
mod query_log;
mod rate_limit;
mod route;
mod server;
mod stats;
mod udp;
mod udp_batch;

pub use error::DnsError;
pub use forward::system_upstreams;
pub use server::{DnsServer, DnsSettings, UdpPath};
pub use stats::{DnsStats, ViewStats};
