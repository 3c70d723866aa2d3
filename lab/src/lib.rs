//! A small OSCAR server and a scripted client, for tests and `imtegrity demo`.
//!
//! Not a product server: AOL's servers are gone, so every test of the gateway needs an
//! upstream it can log in to. The server has an authorizer (BUCP MD5 and legacy
//! roasted-password logins), a BOS host that routes IMs and presence, chat navigation
//! (family 0x000D: rights, room creation by name) and a chat service behind 0x0001/0x0004
//! redirects, a way to trigger migration, and an echo bot. It binds loopback
//! unless told otherwise.
#![forbid(unsafe_code)]

mod accounts;
mod auth;
mod auth_hash;
mod bos;
mod chat;
mod chatnav;
mod client;
mod conn;
mod error;
mod server;
mod state;

pub use accounts::Accounts;
pub use auth::{ERR_BAD_PASSWORD, ERR_UNKNOWN_ACCOUNT};
pub use auth_hash::{strong_hash, weak_hash};
pub use chat::room_for;
pub use client::{ChatClient, ClientEvent, LabClient, LoginMethod};
pub use error::LabError;
pub use server::{DEFAULT_BOT, LabConfig, LabServer};
