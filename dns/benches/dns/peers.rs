//! The servers IMtegrity is measured against, unbound and dnsmasq, and the dnsmasq upstream
//! every forwarder asks.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::client::ready;
use crate::servers::{Server, free_port, loopback};
use crate::settings::{Settings, Tools};
use crate::{FORWARDED, FORWARDED_ANSWER, GATEWAY, REDIRECT_TTL};

/// The upstream every forwarder asks: dnsmasq answering `*.example.test` itself.
pub(crate) fn start_upstream(s: &Settings, dir: &Path) -> Result<Server, String> {
    let port = free_port();
    let child = Command::new(&s.tools.dnsmasq)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            &format!("--address=/example.test/{FORWARDED_ANSWER}"),
            "--local-ttl=300",
            &format!("--pid-file={}", dir.join("upstream.pid").display()),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("dnsmasq: {e}"))?;
    ready(
        Server {
            child,
            addr: loopback(port),
            log: None,
            stdin: None,
        },
        FORWARDED,
        FORWARDED_ANSWER,
    )
}

pub(crate) fn start_unbound(
    tools: &Tools,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<Server, String> {
    let port = free_port();
    let conf = dir.join("unbound.conf");
    let text = format!(
        r#"server:
    interface: 127.0.0.1@{port}
    port: {port}
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    num-threads: 2
    so-reuseport: yes
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    # The forward target is on loopback.
    do-not-query-localhost: no
    # .test is one of unbound's default blocked zones (RFC 6761); let it be forwarded.
    local-zone: "test." nodefault
    local-zone: "oscar.aol.com." redirect
    local-data: "oscar.aol.com. {REDIRECT_TTL} IN A {GATEWAY}"
forward-zone:
    name: "example.test."
    forward-addr: {ip}@{up_port}
"#,
        dir = dir.display(),
        ip = upstream.ip(),
        up_port = upstream.port(),
    );
    std::fs::write(&conf, text).map_err(|e| e.to_string())?;
    let child = Command::new(&tools.unbound)
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("unbound: {e}"))?;
    Ok(Server {
        child,
        addr: loopback(port),
        log: None,
        stdin: None,
    })
}

pub(crate) fn start_dnsmasq(
    tools: &Tools,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<Server, String> {
    let port = free_port();
    let child = Command::new(&tools.dnsmasq)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            &format!("--address=/oscar.aol.com/{GATEWAY}"),
            &format!("--local-ttl={REDIRECT_TTL}"),
            &format!(
                "--server=/example.test/{}#{}",
                upstream.ip(),
                upstream.port()
            ),
            "--cache-size=10000",
            &format!("--pid-file={}", dir.join("dnsmasq.pid").display()),
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("dnsmasq: {e}"))?;
    Ok(Server {
        child,
        addr: loopback(port),
        log: None,
        stdin: None,
    })
}
