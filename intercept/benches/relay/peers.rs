//! The relays IMtegrity is measured against: a plain tokio `copy_bidirectional` relay and
//! HAProxy in `mode tcp`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A plain relay: accept, connect upstream, `copy_bidirectional` (8 KiB buffers each way).
pub(crate) async fn copy_relay(
    listener: TcpListener,
    upstream: SocketAddr,
    stop: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                tasks.spawn(async move {
                    let Ok(mut up) = TcpStream::connect(upstream).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = up.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.shutdown().await;
}

/// HAProxy in `mode tcp` on a loopback port, in the foreground, killed on drop.
pub(crate) struct Haproxy {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) _dir: tempfile::TempDir,
}

impl Haproxy {
    /// `Err` says why it is not available.
    pub(crate) fn start(binary: &str, backend: SocketAddr, maxconn: usize) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = format!(
            "global\n    nbthread 1\n    maxconn {maxconn}\n\n\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 10m\n    \
             timeout server 10m\n\n\
             frontend bench\n    bind {addr}\n    default_backend upstream\n\n\
             backend upstream\n    server up {backend}\n"
        );
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, config).map_err(|e| e.to_string())?;
        let log =
            std::fs::File::create(dir.path().join("haproxy.log")).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run `{binary}`: {e}"))?;
        let mut haproxy = Self {
            child,
            addr,
            _dir: dir,
        };
        // Ready once its port listens (not probed by connecting: that would open a
        // session to the backend).
        for _ in 0..200 {
            if let Ok(Some(status)) = haproxy.child.try_wait() {
                let log = std::fs::read_to_string(haproxy._dir.path().join("haproxy.log"))
                    .unwrap_or_default();
                return Err(format!("haproxy exited ({status}): {}", log.trim()));
            }
            if is_listening(port) {
                return Ok(haproxy);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = haproxy.child.kill();
        Err("haproxy did not start listening within 5 s".into())
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something listens on 127.0.0.1:`port` (from `/proc/net/tcp`).
pub(crate) fn is_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1);
            let state = f.nth(1);
            local == Some(want.as_str()) && state == Some("0A")
        })
    })
}
