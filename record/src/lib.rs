//! The record model at the ground floor: what every capture point (the OSCAR relay, the
//! passive sensor, the Sametime module) writes and the archive stores.
//!
//! An [`Event`] is one captured happening, in the same shape for AIM, ICQ and Sametime; the
//! archive gives it an id and makes it a [`Record`]. Conversations are keyed so that both
//! sides of a one-to-one conversation, and every line of a room, share one key
//! ([`conversation_for_pair`], [`conversation_for_room`]). Screen names are stored as seen and
//! compared through [`normalize`], the one normalisation the relay, the policy engine and the
//! archive's search all use.
//!
//! No I/O beyond reading the host name; nothing here depends on the network, the archive's
//! storage or an async runtime, so the library loaded into the Sametime server links it
//! without them.

mod clock;
mod markup;
mod model;
mod node;
mod screen_name;

pub use clock::now_ns;
pub use markup::{escape_markup, escape_markup_into};
pub use model::{
    Direction, Event, Kind, Protocol, Record, Verdict, conversation_for_pair,
    conversation_for_room, conversation_for_sign_on,
};
pub use node::{hex, host_name};
pub use screen_name::{normalize, normalize_screen_name};
