//! The DNS end-to-end tests' shared parts: a dnsmasq upstream, `imtegrity run` with its
//! responder on loopback, `dig` and its output, and raw wire-format exchanges over UDP.

mod dig;
mod dnsmasq;
mod gateway;
mod logged_gateway;
mod wire;

pub use dig::{DIG, Dug, Rr, dig, dig_until, try_dig};
pub use dnsmasq::{BIG_TXT, DNSMASQ, Dnsmasq, EXAMPLE_TEST, REAL_LOGIN, answers, big_txt_strings};
pub use gateway::{DnsGateway, NO_UPSTREAM, THIS_HOST, sighup, view_stats};
pub use logged_gateway::LoggedGateway;
pub use wire::{UDP_TIMEOUT, exchange_within, query_bytes, reply_addrs};
