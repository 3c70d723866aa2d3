//! Packet capture on `lo` (or on every interface) with dumpcap, started before the client and
//! stopped after it.
//!
//! dumpcap 4.0 says `Capturing on 'Loopback: lo'` a few milliseconds before packets are really
//! captured, and on SIGTERM it drops what the kernel has not handed it yet (it delivers in
//! blocks, about every half second). Neither edge is a fixed delay, so both are marked: the
//! filter also admits UDP datagrams to a sentinel socket of ours, and start and stop each
//! send a unique token there until it shows up in the file. Packets are written in capture
//! order, so once the stop token is in the file, so is everything before it. The sentinel
//! datagrams stay in the capture (UDP, never on the AIM ports).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rustix::process::Signal;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::net::UdpSocket;
use tokio::process::{Child, ChildStderr, Command};
use tokio::time::Instant;

use crate::process::signal_process;
use crate::{HarnessError, Peers};

/// How long dumpcap may take to start capturing, and to finish after SIGTERM.
const DUMPCAP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a sentinel token is resent while waiting for it to reach the file.
const SENTINEL_EVERY: Duration = Duration::from_millis(100);

/// A running dumpcap writing loopback TCP traffic on some ports (or, with
/// [`start_all_interfaces`](Self::start_all_interfaces), TCP and UDP traffic on every
/// interface) to a pcapng file.
///
/// Dropping it without [`stop`](Self::stop) kills dumpcap with SIGKILL, which may leave the
/// file truncated.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    stderr: Lines<BufReader<ChildStderr>>,
    said: Vec<String>,
    path: PathBuf,
    sentinel: UdpSocket,
}

impl Capture {
    /// Starts capturing TCP traffic to or from any of `ports` on `lo` into `path` (pcapng), and
    /// returns once packets demonstrably reach the file.
    pub async fn start(peers: &Peers, ports: &[u16], path: &Path) -> Result<Self, HarnessError> {
        Self::start_on(peers, "lo", ports, &[], path).await
    }

    /// Like [`start`](Self::start), on every interface of the calling thread's network
    /// namespace (`-i any`: loopback and, inside a [`crate::NetnsPair`], the veth link), and
    /// for UDP traffic to or from `udp_ports` too (DNS: `&[53]`; DNS over TCP needs 53 in
    /// `tcp_ports`). Each packet is captured once, on the interface it crossed.
    pub async fn start_all_interfaces(
        peers: &Peers,
        tcp_ports: &[u16],
        udp_ports: &[u16],
        path: &Path,
    ) -> Result<Self, HarnessError> {
        Self::start_on(peers, "any", tcp_ports, udp_ports, path).await
    }

    async fn start_on(
        peers: &Peers,
        interface: &str,
        tcp_ports: &[u16],
        udp_ports: &[u16],
        path: &Path,
    ) -> Result<Self, HarnessError> {
        // The sentinel is on loopback, so `interface` must be `lo` or `any`.
        let sentinel = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| HarnessError::io("bind the capture sentinel socket", source))?;
        let sentinel_port = sentinel
            .local_addr()
            .map_err(|source| HarnessError::io("read the sentinel address", source))?
            .port();
        let filter = capture_filter_with(tcp_ports, udp_ports, sentinel_port)?;
        let mut child = Command::new(&peers.dumpcap)
            .args(["-q", "-i", interface, "-f", &filter, "-w"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                program: peers.dumpcap.clone(),
                source,
            })?;
        let Some(stderr) = child.stderr.take() else {
            return Err(HarnessError::io(
                "read dumpcap's stderr",
                std::io::Error::other("stderr was not piped"),
            ));
        };
        let mut capture = Self {
            child,
            stderr: BufReader::new(stderr).lines(),
            said: Vec::new(),
            path: path.to_owned(),
            sentinel,
        };
        let ready = tokio::time::timeout(DUMPCAP_TIMEOUT, capture.wait_capturing()).await;
        match ready {
            Ok(Ok(true)) => {
                capture.mark("start").await?;
                Ok(capture)
            }
            Ok(Ok(false)) => Err(capture.failed(&peers.dumpcap).await),
            Ok(Err(source)) => Err(HarnessError::io("read dumpcap's stderr", source)),
            Err(_) => Err(HarnessError::Timeout {
                waiting_for: format!("dumpcap to report `Capturing on` {interface}"),
                timeout: DUMPCAP_TIMEOUT,
                transcript: capture.said.join("\n"),
            }),
        }
    }

    /// The pcapng file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until everything captured so far is in the file, stops dumpcap with SIGTERM and
    /// returns the file's path.
    pub async fn stop(mut self) -> Result<PathBuf, HarnessError> {
        self.mark("stop").await?;
        if let Some(pid) = self.child.id() {
            signal_process(pid, Signal::TERM);
        }
        match tokio::time::timeout(DUMPCAP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(_)) => Ok(self.path.clone()),
            Ok(Err(source)) => Err(HarnessError::io("wait for dumpcap", source)),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(HarnessError::Timeout {
                    waiting_for: "dumpcap to exit after SIGTERM".to_owned(),
                    timeout: DUMPCAP_TIMEOUT,
                    transcript: self.said.join("\n"),
                })
            }
        }
    }

    /// Sends a unique `edge` token to the sentinel until it appears in the capture file.
    async fn mark(&self, edge: &str) -> Result<(), HarnessError> {
        let sentinel: SocketAddr = self
            .sentinel
            .local_addr()
            .map_err(|source| HarnessError::io("read the sentinel address", source))?;
        let token = format!("imtegrity-capture-{edge}-{}", sentinel.port());
        let deadline = Instant::now() + DUMPCAP_TIMEOUT;
        while Instant::now() < deadline {
            self.sentinel
                .send_to(token.as_bytes(), sentinel)
                .await
                .map_err(|source| HarnessError::io("send a capture sentinel", source))?;
            tokio::time::sleep(SENTINEL_EVERY).await;
            // Not there yet is fine: dumpcap creates the file when it starts writing.
            let written = tokio::fs::read(&self.path).await.unwrap_or_default();
            if written
                .windows(token.len())
                .any(|window| window == token.as_bytes())
            {
                return Ok(());
            }
        }
        Err(HarnessError::Timeout {
            waiting_for: format!("capture sentinel `{token}` in {}", self.path.display()),
            timeout: DUMPCAP_TIMEOUT,
            transcript: self.said.join("\n"),
        })
    }

    /// `Ok(true)` once dumpcap says it is capturing, `Ok(false)` if its stderr closed first.
    async fn wait_capturing(&mut self) -> std::io::Result<bool> {
        while let Some(line) = self.stderr.next_line().await? {
            let ready = line.starts_with("Capturing on");
            self.said.push(line);
            if ready {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn failed(mut self, program: &Path) -> HarnessError {
        match tokio::time::timeout(DUMPCAP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => HarnessError::ToolFailed {
                program: program.to_owned(),
                status,
                stderr: self.said.join("\n"),
            },
            _ => HarnessError::Closed {
                peer: "dumpcap stderr",
                transcript: self.said.join("\n"),
            },
        }
    }
}

/// `tcp port A or tcp port B or (udp and dst host 127.0.0.1 and dst port SENTINEL)`.
#[cfg(test)]
fn capture_filter(ports: &[u16], sentinel: u16) -> Result<String, HarnessError> {
    capture_filter_with(ports, &[], sentinel)
}

/// [`capture_filter`] with `udp port U` terms for `udp_ports` before the sentinel's.
fn capture_filter_with(
    tcp_ports: &[u16],
    udp_ports: &[u16],
    sentinel: u16,
) -> Result<String, HarnessError> {
    if tcp_ports.is_empty() && udp_ports.is_empty() {
        return Err(HarnessError::InvalidArgument {
            what: "capture ports",
            value: String::new(),
            why: "at least one port is needed",
        });
    }
    let mut terms: Vec<String> = tcp_ports
        .iter()
        .map(|port| format!("tcp port {port}"))
        .chain(udp_ports.iter().map(|port| format!("udp port {port}")))
        .collect();
    terms.push(format!(
        "(udp and dst host 127.0.0.1 and dst port {sentinel})"
    ));
    Ok(terms.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_names_every_port() {
        assert_eq!(
            capture_filter(&[5190], 9).unwrap(),
            "tcp port 5190 or (udp and dst host 127.0.0.1 and dst port 9)"
        );
        assert_eq!(
            capture_filter(&[1, 2], 9).unwrap(),
            "tcp port 1 or tcp port 2 or (udp and dst host 127.0.0.1 and dst port 9)"
        );
        assert!(capture_filter(&[], 9).is_err());
        assert_eq!(
            capture_filter_with(&[5190, 53], &[53], 9).unwrap(),
            concat!(
                "tcp port 5190 or tcp port 53 or udp port 53",
                " or (udp and dst host 127.0.0.1 and dst port 9)"
            )
        );
        assert!(capture_filter_with(&[], &[], 9).is_err());
    }
}
