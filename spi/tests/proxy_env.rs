//! A proxy in the Sametime server's environment (`ALL_PROXY`, `HTTPS_PROXY`, `http_proxy`,
//! as a corporate host may set for other programs) does not divert the shipper: it ships
//! straight to `[gateway] address`, as it always has, though ureq takes a proxy from the
//! environment by default. The C host plays the server, with every such variable naming a
//! port nobody listens on; the gateway is the fake one, on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod c_host_harness;
mod fake_gateway;

use std::process::Command;

use c_host_harness::{HOST_RECORDS, build_host, library};
use fake_gateway::FakeGateway;
use imtegrity_stchatlog::Spool;

const TOKEN: &str = "proxy-env-token-8f2a6c4e1b9d";
const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

#[test]
fn a_proxy_in_the_servers_environment_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let host = build_host(dir.path());
    let spool = dir.path().join("spool");
    let gateway = FakeGateway::start("127.0.0.1:0".parse().unwrap(), TOKEN, &[]);
    let mut command = Command::new(&host);
    command
        .arg(library())
        .env("IMTEGRITY_SPI_SPOOL", &spool)
        .env("IMTEGRITY_SPI_GATEWAY", gateway.addr.to_string())
        .env("IMTEGRITY_SPI_TOKEN", TOKEN)
        .env_remove("IMTEGRITY_SPI_CONFIG")
        .env_remove("IMTEGRITY_SPI_TOKEN_FILE")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    for name in PROXY_VARIABLES {
        command.env(name, "http://127.0.0.1:9");
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "host: {}: {stderr}", output.status);
    // Terminate ships what is left to a live gateway: everything arrived, none by a proxy.
    assert_eq!(gateway.stored(), HOST_RECORDS, "{stderr}");
    assert!(Spool::read_all(&spool).unwrap().is_empty(), "{stderr}");
    assert!(!stderr.contains("failed, retrying"), "{stderr}");
}
