//! The product's promise, end to end, with the real client and no client configuration:
//! libpurple's AIM plugin (Debian bullseye's 2.14.1, inside bitlbee, driven over IRC) keeps
//! its login server and port at the defaults (`login.oscar.aol.com`, 5190), looks the name up
//! through the system resolver, is answered with the gateway's address by IMtegrity's own DNS
//! responder, signs on through the relay to a lab server, and its IMs are archived. (The
//! account still says `encryption = no_encryption` and `login_type = md5_login`, as docs/dns.md
//! asks of every client: the relay reads plain FLAP over BUCP, not TLS nor the web login.)
//!
//! The network is a pair of namespaces the test creates ([`NetnsPair`]), joined by a veth
//! link; the root namespace is not touched:
//!
//! ```text
//!  client side 10.53.90.2                      gateway side 10.53.90.1 (this test's thread)
//!  bitlbee + libpurple  ---- DNS :53 ------->  imtegrity run: DNS responder
//!  resolv.conf: 10.53.90.1 -- OSCAR :5190 -->                 relay --lo--> lab (in process)
//!  hosts: localhost only   <--- IRC ---------  IRC driver, scripted user, dumpcap -i any
//! ```
//!
//! The gateway side has to be a namespace of its own, not the root one: a host resolver
//! listening on `0.0.0.0:53` (dnsmasq, systemd-resolved) would make binding port 53 on any
//! address fail for TCP.
//!
//! Needs root, iproute2 and `tests/peers/install.sh`; skipped with a message otherwise, and a
//! failure in CI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::{Message, ResponseCode};
use imtegrity_harness::netns::{CLIENT_SIDE_IP, GATEWAY_SIDE_IP};
use imtegrity_harness::{
    AimClient, AimLogin, Binary, Bitlbee, Capture, FieldRow, Gateway, Imtegrity, NetnsPair,
    aim_field_values, assert_standard_ims, field_rows, malformed_count, require_netns,
    require_peers, search, status, verify_intact,
};
use lab::{Accounts, LabConfig, LabServer};
use serde_json::json;
use tokio::net::UdpSocket;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// Bound on each wait for an IM.
const WAIT: Duration = Duration::from_secs(10);
/// The gateway's node name in records.
const NODE: &str = "dns-test";
/// The name libpurple's AIM plugin looks up when its server is left at the default (with
/// `encryption = no_encryption`; see `AimLogin::server`).
const LOGIN_NAME: &str = "login.oscar.aol.com";
/// The port libpurple connects to by default, and so the port the relay must listen on.
const OSCAR_PORT: u16 = 5190;

/// `imtegrity run` on the gateway side: the relay on 10.53.90.1:5190 and the DNS responder on
/// 10.53.90.1:53 forwarding to `resolver`, relaying to `upstream`, archiving into `archive`.
async fn start_gateway(upstream: SocketAddr, resolver: SocketAddr, archive: &Path) -> Gateway {
    let relay = SocketAddr::from((GATEWAY_SIDE_IP, OSCAR_PORT));
    let dns = SocketAddr::from((GATEWAY_SIDE_IP, 53));
    let sets = [
        format!(r#"relay.listen=["{relay}"]"#),
        format!(r#"dns.listen=["{dns}"]"#),
        format!(r#"dns.upstream=["{resolver}"]"#),
        format!("upstream.login={upstream}"),
        format!("archive.path={}", archive.display()),
        format!("archive.node={NODE}"),
    ];
    let mut args = vec!["run"];
    for set in &sets {
        args.extend(["--set", set]);
    }
    // Spawned from this thread, so it runs on the gateway side too.
    let mut process = Imtegrity::spawn(IMTEGRITY, &args);
    let running = process.next_json().await;
    assert_eq!(running["event"], "running", "{running}");
    assert_eq!(running["relay"], json!([relay.to_string()]), "{running}");
    assert_eq!(running["dns"], json!([dns.to_string()]), "{running}");
    assert_eq!(running["upstream"], upstream.to_string(), "{running}");
    Gateway {
        process,
        relay,
        archive: archive.to_owned(),
        running,
    }
}

/// A stand-in for the organisation's resolver behind the responder, on the gateway side's
/// loopback: answers every query NXDOMAIN at once, and remembers the names it was asked.
///
/// bitlbee looks up the IRC peer's and its own address (PTR) when the test connects; with no
/// upstream at all, each of those waits out the forwarder's timeout, about ten seconds in all.
struct NxResolver {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl NxResolver {
    async fn start() -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let names = asked.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let mut reply = Message::error_msg(
                    query.metadata.id,
                    query.metadata.op_code,
                    ResponseCode::NXDomain,
                );
                reply.metadata.recursion_desired = query.metadata.recursion_desired;
                reply.metadata.recursion_available = true;
                reply.add_queries(query.queries.iter().cloned());
                names.lock().unwrap().extend(
                    query
                        .queries
                        .iter()
                        .map(|q| q.name().to_string().trim_end_matches('.').to_owned()),
                );
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        Self { addr, asked, task }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for NxResolver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The distinct values of `field` over `rows`.
fn distinct(rows: &[FieldRow], field: &str) -> BTreeSet<String> {
    rows.iter().flat_map(|r| r[field].iter().cloned()).collect()
}

/// What root says the account's `key` is (`account <tag> set <key>` → "key = `value'").
async fn account_setting(aim: &mut AimClient, key: &str) -> String {
    let prefix = format!("{key} = `");
    let mark = aim.irc().mark();
    let tag = aim.tag().to_owned();
    aim.irc()
        .command(&format!("account {tag} set {key}"))
        .await
        .unwrap();
    let line = aim
        .irc()
        .wait_for_since(mark, &format!("the account's {key}"), WAIT, |l| {
            l.root_text().is_some_and(|t| t.starts_with(&prefix))
        })
        .await
        .unwrap();
    let text = line.root_text().unwrap();
    text[prefix.len()..].trim_end_matches('\'').to_owned()
}

// Current-thread runtime: every socket of the test is made on the thread that enters the
// gateway side.
#[tokio::test]
async fn libpurple_with_its_default_server_is_sent_to_the_gateway_by_dns_and_archived() {
    const NAME: &str =
        "libpurple_with_its_default_server_is_sent_to_the_gateway_by_dns_and_archived";
    let Some(peers) = require_peers(NAME) else {
        return;
    };
    if !require_netns(NAME) {
        return;
    }
    let started = Instant::now();
    let net = NetnsPair::create("dns").unwrap();
    let _inside = net.enter_gateway_side().unwrap();

    let lab = LabServer::start(LabConfig {
        accounts: Accounts::from_pairs([("tester1", "secret"), ("alice", "pw")]),
        ..LabConfig::ephemeral()
    })
    .await
    .unwrap();
    let resolver = NxResolver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let aim_ports = [
        OSCAR_PORT,
        lab.auth_addr.port(),
        lab.bos_addr.port(),
        lab.chat_addr.port(),
    ];
    let capture = Capture::start_all_interfaces(
        &peers,
        &[&aim_ports[..], &[53]].concat(),
        &[53],
        &dir.path().join("dns.pcapng"),
    )
    .await
    .unwrap();
    // After the capture, so that it sees every connection the gateway counts.
    let gateway = start_gateway(lab.auth_addr, resolver.addr, &archive).await;

    let bitlbee = Bitlbee::start_in(&peers, &net).await.unwrap();
    assert_eq!(bitlbee.addr().ip(), CLIENT_SIDE_IP);
    let mut aim = AimClient::connect_with(&bitlbee, &AimLogin::default_server("tester1", "secret"))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "libpurple with the default server could not sign on: {e}\n{}",
                bitlbee.log()
            )
        });
    assert!(lab.is_online("tester1"), "the lab has no BOS session");
    // Nothing pointed the client anywhere: server and port are the plugin's defaults (bitlbee
    // shows the TLS host; libpurple uses the plain one with encryption off, as the capture
    // below shows).
    assert_eq!(
        account_setting(&mut aim, "server").await,
        "slogin.oscar.aol.com"
    );
    assert_eq!(account_setting(&mut aim, "port").await, "5190");

    // The echo bot is outside the gateway.
    let to_bot = "hello labbot, found the gateway by DNS";
    aim.send_im("labbot", to_bot).await.unwrap();
    let echo = aim.wait_im("labbot", to_bot, WAIT).await;
    let echo = echo.unwrap_or_else(|e| panic!("no echo: {e}\n{}", bitlbee.log()));
    assert_eq!(echo.text, to_bot);

    // A scripted user on the gateway side signs on through the same relay listener.
    let mut alice = lab::LabClient::login(gateway.relay, "alice", "pw")
        .await
        .unwrap();
    let to_tester = "hi tester1, alice here through the gateway";
    alice.send_im("tester1", to_tester).await.unwrap();
    let got = aim.wait_im("alice", to_tester, WAIT).await;
    assert_eq!(got.unwrap_or_else(|e| panic!("{e}")).text, to_tester);
    let to_alice = "hello alice, libpurple answering";
    aim.send_im("alice", to_alice).await.unwrap();
    assert_eq!(alice.expect_im("tester1", WAIT).await.unwrap(), to_alice);

    // The name went through our responder (not /etc/hosts, not another resolver).
    let status = status(IMTEGRITY, &archive).await;
    let dns = &status["owner"]["dns"];
    assert_eq!(
        dns["listening"],
        json!([format!("{GATEWAY_SIDE_IP}:53")]),
        "{status}"
    );
    let views = dns["stats"]["views"].as_array().expect("dns views");
    let default = views
        .iter()
        .find(|v| v["view"] == "default")
        .unwrap_or_else(|| panic!("no default view in {status}"));
    assert!(
        default["redirected"].as_u64().is_some_and(|n| n >= 1),
        "{status}"
    );
    assert_eq!(dns["stats"]["refused"], 0, "{status}");

    aim.sign_off().await.unwrap();
    alice.logout().await.unwrap();
    let stopped = gateway.stop().await;
    // Four IMs, and tester1's and alice's session_start and session_end.
    assert_eq!(stopped["records"], 8, "{stopped}");

    // On the wire: the client asked our responder for the default login host and got the
    // gateway side's address, then connected there on port 5190.
    let pcap = capture.stop().await.unwrap();
    let dns_packets = field_rows(
        &peers,
        &pcap,
        &aim_ports,
        "dns",
        &["ip.src", "ip.dst", "dns.qry.name", "dns.qry.type", "dns.a"],
    )
    .await
    .unwrap();
    let (client, gw) = (CLIENT_SIDE_IP.to_string(), GATEWAY_SIDE_IP.to_string());
    let one = |row: &FieldRow, field: &str| row[field].join(",");
    let asked: Vec<_> = dns_packets
        .iter()
        .filter(|r| one(r, "ip.src") == client && one(r, "ip.dst") == gw)
        .map(|r| one(r, "dns.qry.name"))
        .collect();
    assert!(
        asked.iter().any(|name| name == LOGIN_NAME),
        "the client never asked for {LOGIN_NAME}: {dns_packets:#?}"
    );
    let answers: Vec<_> = dns_packets
        .iter()
        .filter(|r| one(r, "ip.src") == gw && one(r, "dns.qry.name") == LOGIN_NAME)
        .filter(|r| !r["dns.a"].is_empty())
        .collect();
    assert!(!answers.is_empty(), "no A answer: {dns_packets:#?}");
    for answer in &answers {
        assert_eq!(answer["dns.a"], [gw.as_str()], "{answer:?}");
    }
    // The responder answered the login name itself; only other names reached the resolver.
    let forwarded = resolver.asked();
    assert!(
        !forwarded.iter().any(|n| n.eq_ignore_ascii_case(LOGIN_NAME)),
        "{LOGIN_NAME} was forwarded: {forwarded:?}"
    );
    eprintln!("the client asked for {asked:?}; forwarded: {forwarded:?}");
    let client_syns = field_rows(
        &peers,
        &pcap,
        &aim_ports,
        &format!("tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == {client}"),
        &["ip.dst", "tcp.dstport"],
    )
    .await
    .unwrap();
    let targets: Vec<String> = client_syns
        .iter()
        .map(|r| format!("{}:{}", one(r, "ip.dst"), one(r, "tcp.dstport")))
        .collect();
    // Authorizer, BOS (the rewritten redirect points back at the same listener) and chatnav.
    assert_eq!(
        targets,
        vec![format!("{gw}:{OSCAR_PORT}"); 3],
        "{targets:?}"
    );
    // Sessions: tester1's authorizer, BOS and the chat-navigation connection libpurple opens at
    // sign-on, and alice's authorizer and BOS. The responder's health probes (a bare TCP
    // connect to the relay every `dns.health_interval_secs`, 5 s by default) also reach the
    // relay; they are told apart in the capture as connections that carried no data, and the
    // relay must not count them as sessions.
    let relay_filter = format!("ip.dst == {gw} && tcp.dstport == {OSCAR_PORT}");
    let connections = field_rows(
        &peers,
        &pcap,
        &aim_ports,
        &format!("{relay_filter} && tcp.flags.syn == 1 && tcp.flags.ack == 0"),
        &["tcp.stream", "ip.src"],
    )
    .await
    .unwrap();
    let with_data = field_rows(
        &peers,
        &pcap,
        &aim_ports,
        &format!("{relay_filter} && tcp.len > 0"),
        &["tcp.stream"],
    )
    .await
    .unwrap();
    let (all, used) = (
        distinct(&connections, "tcp.stream"),
        distinct(&with_data, "tcp.stream"),
    );
    let probes: Vec<_> = connections
        .iter()
        .filter(|r| !r["tcp.stream"].iter().any(|s| used.contains(s)))
        .collect();
    assert_eq!(used.len(), 5, "{connections:?}");
    assert!(used.is_subset(&all), "{used:?} {all:?}");
    for probe in &probes {
        assert_eq!(
            probe["ip.src"],
            [gw.as_str()],
            "a data-less connection: {probe:?}"
        );
    }
    eprintln!(
        "relay connections: {} OSCAR sessions, {} health probes",
        used.len(),
        probes.len()
    );
    assert_eq!(
        stopped["sessions"],
        used.len(),
        "{stopped}: {} OSCAR sessions and {} health probes on the wire",
        used.len(),
        probes.len()
    );
    assert_eq!(
        malformed_count(&peers, &pcap, &aim_ports).await.unwrap(),
        0,
        "tshark found malformed AIM frames"
    );
    let texts = aim_field_values(&peers, &pcap, &aim_ports, "aim.messageblock.message")
        .await
        .unwrap();
    // Each IM crosses four legs: sender→relay, relay→lab, lab→relay, relay→recipient.
    for want in [to_bot, to_tester, to_alice] {
        let seen = texts.iter().filter(|t| t.contains(want)).count();
        assert_eq!(seen, 4, "{want:?} in {texts:?}");
    }

    // The archive: every IM once, tester1's sessions from the client side's address.
    let records = search(IMTEGRITY, &archive, &["--kind", "im"]).await;
    assert_standard_ims(
        &records,
        NODE,
        (CLIENT_SIDE_IP, GATEWAY_SIDE_IP),
        (to_bot, to_tester, to_alice),
    );
    let report = verify_intact(IMTEGRITY, &archive).await;
    assert_eq!(report["records"], 8, "{report}");

    let took = started.elapsed();
    eprintln!("{NAME}: {took:?}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
