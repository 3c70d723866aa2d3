//! `imtegrity run` with its DNS responder on loopback, and what its `status` says about it.

// These helpers assert as the calling test would: a failure panics with what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::Value;
use tempfile::TempDir;

use super::dnsmasq::Dnsmasq;
use crate::{Binary, Gateway, cli};

/// Where the gateway itself answers a loopback client (`dns.gateway` empty).
pub const THIS_HOST: &str = "127.0.0.1";
/// An `upstream.login` for tests that never sign on: nothing listens there.
pub const NO_UPSTREAM: &str = "127.0.0.1:9";

/// `imtegrity run` with its DNS responder on an ephemeral loopback port, forwarding to
/// `upstream`, and its archive in a temporary directory.
pub struct DnsGateway {
    /// The gateway.
    pub gw: Gateway,
    /// The responder's address, UDP and TCP, from the `running` line.
    pub dns: SocketAddr,
    /// Holds the archive.
    pub dir: TempDir,
    /// The binary it runs, for `status`.
    pub binary: Binary,
}

impl DnsGateway {
    /// Starts `binary` forwarding to `upstream`, with `extra` further `--set KEY=VALUE`
    /// overrides.
    pub async fn start(binary: Binary, upstream: &Dnsmasq, extra: &[&str]) -> Self {
        Self::start_with(binary, &[], upstream, NO_UPSTREAM, extra).await
    }

    /// With `leading` arguments to `run` (`--config FILE`) and `login` as `upstream.login`.
    pub async fn start_with(
        binary: Binary,
        leading: &[&str],
        upstream: &Dnsmasq,
        login: &str,
        extra: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let forward = format!(r#"dns.upstream=["{}"]"#, upstream.addr);
        let mut sets = vec![r#"dns.listen=["127.0.0.1:0"]"#, forward.as_str()];
        sets.extend_from_slice(extra);
        let archive = dir.path().join("archive");
        let gw = Gateway::start_with(binary, leading, login, &archive, "gw-dns", &sets).await;
        let listening = gw.running["dns"]
            .as_array()
            .expect("dns in the running line");
        assert_eq!(listening.len(), 1, "{}", gw.running);
        let dns: SocketAddr = listening[0].as_str().unwrap().parse().unwrap();
        assert_eq!(
            dns.ip(),
            IpAddr::from(Ipv4Addr::LOCALHOST),
            "{}",
            gw.running
        );
        assert_ne!(dns.port(), 0, "{}", gw.running);
        Self {
            gw,
            dns,
            dir,
            binary,
        }
    }

    /// `owner.dns.stats` of `imtegrity --json status`.
    pub async fn stats(&self) -> Value {
        let dir = self.gw.archive.to_str().unwrap();
        let (code, stdout, stderr) = cli(self.binary, &["status", "--archive", dir]).await;
        assert_eq!(code, Some(0), "status failed: {stderr}");
        let status: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("status printed no JSON: {stdout:?}: {e}"));
        status["owner"]["dns"]["stats"].clone()
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.gw.process.child.id().expect("the gateway runs")
    }

    /// Stops the gateway with SIGTERM and checks it exits cleanly.
    pub async fn stop(self) -> Value {
        self.gw.stop().await
    }
}

/// One view's counters from [`DnsGateway::stats`].
pub fn view_stats<'a>(stats: &'a Value, view: &str) -> &'a Value {
    stats["views"]
        .as_array()
        .unwrap_or_else(|| panic!("no views in {stats}"))
        .iter()
        .find(|v| v["view"] == view)
        .unwrap_or_else(|| panic!("no view {view} in {stats}"))
}

/// Sends SIGHUP (reload) to the process `pid`.
pub fn sighup(pid: u32) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    assert!(pid.as_raw_nonzero().get() > 1);
    rustix::process::kill_process(pid, rustix::process::Signal::HUP).unwrap();
}
