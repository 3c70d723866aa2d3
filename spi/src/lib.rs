//! The Sametime chat-logging SPI module: a C-ABI shared library the Sametime server loads as
//! its chat-logging "black box" (`[ST_BB_NAMES] ST_CHAT_LOG=imtegrity_stchatlog`), which
//! records every chat as `record::Event`s in a durable local spool.
//!
//! What it does: the 16 `stDdaCl*` entry points of IBM's Chat Logging SPI version 16
//! ([`entry_points`], `docs/protocol/sametime-spi.md` §2), sessions from
//! start to end ([`sessions`]), text messages as records and data messages as counts
//! ([`records`], [`data_msgs`]), each record durable in the spool ([`spool`], our own
//! segment log) before the call returns, written by one thread so that no call waits on the
//! disk longer than its bound ([`spool_worker`]), and a background thread ([`shipper`])
//! that ships the spool to the gateway's ingest endpoint and forgets records once
//! acknowledged.
//!
//! Its configuration is a small TOML file next to the library ([`config`]); the spool
//! defaults to a data directory the server's user can write ([`spool_path`]). With a policy
//! configured ([`spi_policy`]), the policy check and the `*WithSrvMsg` entry points apply
//! the gateway's rules ([`policy_verdicts`]): chats declined, messages blocked or masked,
//! disclaimers sent, through server messages the library allocates ([`srv_msgs`]).
//!
//! The only crate with `unsafe`: every block says why it is sound, and every entry point
//! runs behind a panic boundary.

pub mod abi_types;
pub mod capture_gap;
pub mod codes;
pub mod config;
pub mod data_msgs;
pub mod entry_points;
pub mod error;
pub mod ffi_strings;
pub mod fuzzing;
mod library_pin;
pub mod policy_verdicts;
pub mod records;
mod runtime;
pub mod sessions;
mod ship_http;
pub mod ship_status;
pub mod ship_tls;
pub mod shipper;
pub mod shipping_reload;
pub mod sink;
pub mod sled_migration;
pub mod spi_policy;
pub mod spool;
pub mod spool_files;
pub mod spool_inspect;
pub mod spool_path;
pub mod spool_scan;
pub mod spool_sink;
pub mod spool_worker;
pub mod srv_msgs;

pub use error::SpiError;
pub use sink::RecordSink;
pub use spool::Spool;
