//! The OSCAR (AIM/ICQ) wire codec: FLAP framing, SNAC headers, TLV containers and the typed
//! messages a logging relay rewrites and records.
//!
//! This crate performs **no I/O**: it turns bytes into values and values into bytes. The
//! framing ([`FlapCodec`]) is a `tokio_util` codec so the relay and the lab server can wrap a
//! socket in it. Every length is checked before use; hostile input gives a [`DecodeError`]
//! or [`FlapError`], never a panic. What is not interpreted is kept as raw bytes, so an
//! unmodified frame re-encodes byte for byte. Protocol notes: `docs/protocol/oscar.md`.
#![forbid(unsafe_code)]
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

mod error;
mod flap;
#[cfg(feature = "codec")]
mod flap_codec;
#[doc(hidden)]
#[cfg(feature = "codec")]
pub mod fuzzing;
pub mod message;
mod reader;
mod screen_name;
mod server_address;
mod snac;
mod text;
mod tlv;
mod writer;

pub use error::{DecodeError, EncodeError, FlapError};
pub use flap::{Channel, FLAP_HEADER_LEN, FLAP_MARKER, FLAP_MAX_PAYLOAD, Flap};
#[cfg(feature = "codec")]
pub use flap_codec::FlapCodec;
pub use message::{Message, SnacBody, SnacMessage};
pub use screen_name::ScreenName;
pub use server_address::ServerAddress;
pub use snac::{
    Family, SERVER_REQUEST_ID_BIT, SNAC_FLAG_MORE, SNAC_FLAG_PREFIX, SNAC_HEADER_LEN, Snac,
    SnacHeader,
};
pub use text::{Charset, MessageText, html_body, html_to_plain};
pub use tlv::{MAX_TLVS_PER_BLOCK, Tlv, TlvList};
