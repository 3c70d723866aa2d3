//! A small OSCAR server and a scripted client, for tests and `imtegrity demo`.
//!
//! Not a product server: AOL's servers are gone, so every test of the gateway needs an
//! upstream it can log in to. The server has an authorizer (BUCP MD5 and legacy
//! roasted-password logins), a BOS host that routes IMs and presence, chat navigation
//! (family 0x000D: rights, room creation by name) and a chat service behind 0x0001/0x0004
//! redirects, a way to trigger migration, and an echo bot. It binds loopback
//! unless told otherwise.
//!
//! With [`LabConfig::tls`] it also runs what AOL ran over TLS (oscar.md §2.3, §2.5, §5): an
//! SSL authorizer, a TLS BOS and a TLS chat listener, and the HTTPS clientLogin /
//! startOSCARSession API, all under a lab CA minted in memory ([`LabServer::ca_pem`]). The
//! scripted client speaks all of them ([`SslLogin`], [`ClientLogin`]).
#![forbid(unsafe_code)]

mod accounts;
mod api;
mod api_client;
mod api_reply;
pub mod api_sign;
mod auth;
mod auth_hash;
mod bos;
mod chat;
mod chatnav;
mod client;
mod client_conn;
mod client_tls;
mod conn;
mod error;
mod server;
mod state;
mod stream;
mod tls;

pub use accounts::Accounts;
pub use api::{
    CLIENT_LOGIN_PATH, DETAIL_BAD_PASSWORD, DETAIL_BAD_SIGNATURE, DETAIL_BAD_TOKEN,
    START_SESSION_PATH,
};
pub use api_client::{AIM_CLIENT_KEY, AIM_DIST_ID, ClientLogin};
pub use api_reply::{ApiFormat, ApiReply};
pub use auth::{ERR_BAD_PASSWORD, ERR_UNKNOWN_ACCOUNT};
pub use auth_hash::{strong_hash, weak_hash};
pub use chat::room_for;
pub use client::{ChatClient, ClientEvent, LabClient, LoginMethod, SslLogin};
pub use client_tls::ClientTls;
pub use error::LabError;
pub use server::{DEFAULT_BOT, LabConfig, LabServer};
pub use tls::{
    BOS_CERT_NAME, CHAT_CERT_NAME, CLIENT_LOGIN_HOST, LAB_CA_NAMES, LabTlsConfig, SSL_LOGIN_NAME,
    START_SESSION_HOST, TlsListeners,
};
