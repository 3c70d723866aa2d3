//! IMtegrity's own rows: `imtegrity run`, and the responder alone in this binary re-executed.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::GATEWAY;
use crate::servers::{Row, Server, free_port, loopback};

pub(crate) fn start_imtegrity(
    binary: &Path,
    row: Row,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<Server, String> {
    let port = free_port();
    let query_log = row != Row::Imtegrity;
    let archive = dir.join(format!("archive-{}", row.key()));
    let log = dir.join(format!("{}.stderr", row.key()));
    let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(binary);
    cmd.arg("run");
    for set in [
        format!("dns.listen=[\"127.0.0.1:{port}\"]"),
        "relay.listen=[\"127.0.0.1:0\"]".to_owned(),
        format!("dns.upstream=[\"{upstream}\"]"),
        format!("dns.gateway=[\"{GATEWAY}\"]"),
        // Both limits off, as unbound and dnsmasq have none here: one dnsperf client is one
        // address, which the per-client answer and byte limits would otherwise throttle (the
        // byte limit's default, 128 KiB/s, allows about 2 500 answers a second).
        "dns.rate_limit=0".to_owned(),
        "dns.rate_limit_bytes=0".to_owned(),
        "dns.health_interval_secs=0".to_owned(),
        format!("archive.path=\"{}\"", archive.display()),
        format!(
            "dns.query_log={}",
            if row == Row::ImtegrityFirst {
                "first"
            } else {
                "every"
            }
        ),
    ] {
        cmd.arg("--set").arg(set);
    }
    if query_log {
        cmd.env_remove("IMTEGRITY_LOG");
    } else {
        cmd.env("IMTEGRITY_LOG", "warn");
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    Ok(Server {
        child,
        addr: loopback(port),
        log: Some(log),
        stdin: None,
    })
}

/// This binary re-executed as a bare responder (see [`child_main`]).
pub(crate) fn start_responder_child(row: Row, upstream: SocketAddr) -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .env("IMT_DNS_BENCH_CHILD", row.key())
        .env("IMT_DNS_BENCH_UPSTREAM", upstream.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdin = child.stdin.take();
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let Some(addr) = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|a| a.parse().ok())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("the responder child said {line:?}"));
    };
    Ok(Server {
        child,
        addr,
        log: None,
        stdin,
    })
}

/// The child side: one responder on 127.0.0.1:0 until stdin closes.
pub(crate) fn child_main(kind: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let upstream = std::env::var("IMT_DNS_BENCH_UPSTREAM").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let server = rt.block_on(async {
        let config = settings::DnsConfig {
            listen: vec![loopback(0)],
            upstream: vec![settings::DnsUpstream::parse(&upstream).unwrap()],
            gateway: vec![GATEWAY.into()],
            rate_limit: 0,
            rate_limit_bytes: 0,
            health_interval_secs: 0,
            ..settings::DnsConfig::default()
        };
        dns::DnsServer::start(
            dns::DnsSettings {
                config,
                fallback_upstreams: Vec::new(),
                egress: Vec::new(),
                relay_port: 5190,
                local_relay: None,
                udp_sockets: 0,
                udp_path: match kind {
                    "responder" => dns::UdpPath::Threads,
                    "responder-tasks" => dns::UdpPath::Tasks,
                    _ => dns::UdpPath::Hickory,
                },
            },
            cancel.clone(),
        )
        .await
        .unwrap()
    });
    println!("ready {}", server.local_addrs()[0]);
    std::io::stdout().flush().unwrap();
    // Until the parent closes our stdin (or goes away).
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
        sink.clear();
    }
    rt.block_on(server.stop());
}
