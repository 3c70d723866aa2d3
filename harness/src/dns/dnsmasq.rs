//! The upstream the responder forwards to: dnsmasq on a free loopback port, with a few names
//! of its own.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;
use tokio::net::UdpSocket;

use super::wire::{exchange_within, query_bytes};
use crate::free_loopback_port;

/// Where Debian's dnsmasq is installed.
pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// What dnsmasq answers for every name under `example.test`.
pub const EXAMPLE_TEST: &str = "192.0.2.7";
/// login.oscar.aol.com's "real" address, as dnsmasq has it: what fail-open and unredirected
/// clients get.
pub const REAL_LOGIN: &str = "203.0.113.5";
/// A TXT name whose answer (four 200-byte strings) does not fit 512 bytes.
pub const BIG_TXT: &str = "big.example.test";

/// The strings of [`BIG_TXT`]'s answer.
pub fn big_txt_strings() -> Vec<String> {
    ["a", "b", "c", "d"].iter().map(|c| c.repeat(200)).collect()
}

/// A dnsmasq answering `*.example.test`, the real login name, `*.nx.test` (NXDOMAIN) and the
/// big TXT record; killed on drop.
pub struct Dnsmasq {
    /// The process.
    pub child: std::process::Child,
    /// Where it answers, UDP and TCP.
    pub addr: SocketAddr,
}

impl Dnsmasq {
    /// Starts it; panics when it comes up on none of three ports.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// With `extra` dnsmasq options.
    pub async fn start_with(extra: &[&str]) -> Self {
        // The port was free a moment ago; another process may take it first: try again.
        for _ in 0..3 {
            let port = free_loopback_port().unwrap();
            let mut child = std::process::Command::new(DNSMASQ)
                .args(extra)
                .args([
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--no-poll",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    &format!("--port={port}"),
                    &format!("--address=/example.test/{EXAMPLE_TEST}"),
                    &format!("--address=/login.oscar.aol.com/{REAL_LOGIN}"),
                    "--local=/nx.test/",
                    &format!("--txt-record={BIG_TXT},{}", big_txt_strings().join(",")),
                    "--pid-file=",
                    "--user=root",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dnsmasq");
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            if answers(&mut child, addr).await {
                return Self { child, addr };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not come up on any of three ports");
    }
}

/// Whether dnsmasq at `addr` answers within a few seconds (false as soon as it exits).
pub async fn answers(child: &mut std::process::Child, addr: SocketAddr) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for id in 0..50 {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let query = query_bytes(id, "www.example.test", RecordType::A);
        if exchange_within(&socket, addr, &query, Duration::from_millis(100))
            .await
            .is_some()
        {
            return true;
        }
    }
    false
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
