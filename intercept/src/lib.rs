//! The OSCAR relay: client-facing listeners, one session per connection relayed to the real
//! servers, rewriting of every server address handed to the client (so follow-on
//! connections come back through the gateway), cookie routing, and capture of every message
//! into the archive.
//!
//! The caller binds the listeners and passes them in with a shutdown token (`serve`); this
//! crate never reads the environment or configuration files.
#![forbid(unsafe_code)]

mod capture;
mod config;
mod cookies;
mod error;
mod listener;
mod proxy;
mod relay;
mod resolver;
mod rewrite;
mod session;
mod stream_halves;
mod upstream;

pub use config::{CaptureMode, RelayConfig};
pub use cookies::{CookieRoutes, Route};
pub use error::{SessionError, Side};
pub use listener::serve;
pub use relay::{Relay, RelayStats};
pub use resolver::UpstreamResolver;
pub use session::{Outcome, run_session};
