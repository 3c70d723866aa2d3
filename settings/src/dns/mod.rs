//! DNS policy evaluation: which names are redirected ([`NameSet`]) and which view a client
//! is in ([`ViewTable`]). Pure; the `dns` crate does the sockets and the wire format.

mod names;
mod views;

pub use names::{BUILTIN_NAMES, NameMatch, NamePattern, NameSet};
pub use views::{View, ViewTable};
