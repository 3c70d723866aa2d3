//! `imtegrity lab` as a child process: the lab server the way a user starts it.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use crate::{Binary, Imtegrity};

/// Starts `imtegrity lab` on ephemeral loopback ports; returns it with its auth, BOS and
/// chat addresses as printed.
pub async fn start_lab(
    binary: Binary,
    extra: &[&str],
) -> (Imtegrity, SocketAddr, SocketAddr, SocketAddr) {
    let mut args = vec!["lab", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut lab = Imtegrity::spawn(binary, &args);
    let line = lab.next_json().await;
    assert_eq!(line["event"], "listening", "{line}");
    let addr = |k: &str| line[k].as_str().unwrap().parse::<SocketAddr>().unwrap();
    let (auth, bos, chat) = (addr("auth"), addr("bos"), addr("chat"));
    (lab, auth, bos, chat)
}
