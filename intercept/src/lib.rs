//! The OSCAR relay: client-facing listeners, one session per connection relayed to the real
//! servers, rewriting of every server address handed to the client (so follow-on
//! connections come back through the gateway), cookie routing, and capture of every message
//! into the archive.
//!
//! The caller binds the listeners and passes them in with a shutdown token (`serve`); this
//! crate never reads the environment or configuration files.
#![forbid(unsafe_code)]

mod admission;
mod alert_webhook;
mod api;
mod config;
mod connect_reply;
mod connection_gate;
mod cookies;
mod enforce;
mod error;
pub mod fuzzing;
mod listener;
mod local_users;
mod plan;
mod prefixed_io;
mod proxy;
mod recorded_icbms;
mod redirect_scope;
mod refusal_log;
mod relay;
mod resolver;
mod rewrite;
mod room_members;
mod session;
mod stream_halves;
mod tls_route;
mod upstream;
mod upstream_tls;

pub use admission::ConnectionLimits;
pub use capture::Capturer;
pub use config::{CaptureMode, RelaySettings, TlsTermination};
pub use connect_reply::BadConnectReply;
pub use connection_gate::{ConnectionGate, GateSnapshot};
pub use cookies::{CookieRefusal, CookieRoutes, Route, same_client};
pub use enforce::PolicyRuntime;
pub use error::{ApiFailure, ConnectFailure, SessionError, Side, TunnelFailure};
pub use listener::serve;
pub use refusal_log::RefusalCounts;
pub use relay::{Relay, RelayStats};
pub use resolver::UpstreamResolver;
pub use session::{Outcome, run_session};
pub use upstream_tls::upstream_client_config;
