//! The embedded DNS responder end to end: `imtegrity run` with `dns.listen` on an ephemeral
//! loopback port and a real dnsmasq as its upstream, asked by real clients: `dig`, hickory's
//! stub resolver, and hickory-encoded messages over a plain UDP socket where a test needs
//! exact control (IDs, malformed bytes, bursts). All of 127.0.0.0/8 is local on Linux, so a
//! client picks its view (or its place in `dns.allow`) by its source address: `dig -b
//! 127.0.0.N`, or a socket bound there.
//!
//! Needs dnsmasq and dig (tests/peers/install.sh); skipped locally without them, a failure in
//! CI. Every wait is bounded, and every process is stopped or killed when its test ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::{Resolver, TokioResolver};
use imtegrity_harness::dns::*;
use imtegrity_harness::{Binary, ImRecord, cli, search, tools_present};
use serde_json::Value;
use tokio::net::UdpSocket;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

/// A hickory stub resolver using only `server`, one try, no cache, not reading /etc/hosts.
fn resolver(server: SocketAddr, case_randomization: bool) -> TokioResolver {
    let mut ns = NameServerConfig::udp_and_tcp(server.ip());
    for connection in &mut ns.connections {
        connection.port = server.port();
    }
    let mut builder = Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![ns]),
        TokioRuntimeProvider::default(),
    );
    let options = builder.options_mut();
    options.timeout = UDP_TIMEOUT;
    options.attempts = 1;
    options.cache_size = 0;
    options.use_hosts_file = ResolveHosts::Never;
    options.case_randomization = case_randomization;
    builder.build().unwrap()
}

async fn resolve(resolver: &TokioResolver, name: &str) -> Vec<IpAddr> {
    let lookup = tokio::time::timeout(Duration::from_secs(10), resolver.lookup_ip(name))
        .await
        .unwrap_or_else(|_| panic!("lookup of {name} did not finish"))
        .unwrap_or_else(|e| panic!("lookup of {name}: {e}"));
    lookup.iter().collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. Redirected names.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_names_are_answered_with_the_gateway_over_udp_and_tcp() {
    if !tools_present("redirect", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &["dns.ttl=42", r#"dns.names=["*.aim.example.test"]"#],
    )
    .await;
    let a_record = |name: &str| Rr {
        name: format!("{name}."),
        ttl: 42,
        rtype: "A".into(),
        data: THIS_HOST.into(),
    };
    for (name, rtype) in [
        ("login.oscar.aol.com", "A"),
        ("LOGIN.OSCAR.AOL.COM", "A"),
        ("bos.oscar.aol.com", "A"),
        ("a.b.aim.example.test", "A"),
        ("aim.example.test", "A"),
        ("login.oscar.aol.com", "AAAA"),
        ("login.oscar.aol.com", "MX"),
    ] {
        let udp = dig(gw.dns, THIS_HOST, &[name, rtype]).await;
        let tcp = dig(gw.dns, THIS_HOST, &[name, rtype, "+tcp"]).await;
        assert_eq!(udp, tcp, "{name} {rtype}: UDP and TCP differ");
        assert_eq!(udp.status, "NOERROR", "{name} {rtype}: {udp:?}");
        assert!(udp.flag("ra"), "{name} {rtype}: {udp:?}");
        match (name, rtype) {
            // The subtree's apex is not in it: forwarded, dnsmasq's answer.
            ("aim.example.test", _) => {
                assert!(!udp.flag("aa"), "{udp:?}");
                assert_eq!(udp.addrs(), [EXAMPLE_TEST], "{udp:?}");
            }
            (_, "A") => {
                assert!(udp.flag("aa"), "{name}: {udp:?}");
                // The owner keeps the letter case the client asked with.
                assert_eq!(udp.answer, [a_record(name)], "{name}");
                assert!(udp.authority.is_empty(), "{udp:?}");
            }
            // NODATA: no IPv6 gateway, and no other type is answered for a login name; the
            // SOA of the redirected zone says how long to cache that.
            _ => {
                assert!(udp.flag("aa"), "{name} {rtype}: {udp:?}");
                assert!(udp.answer.is_empty(), "{name} {rtype}: {udp:?}");
                assert_eq!(udp.authority.len(), 1, "{udp:?}");
                let soa = &udp.authority[0];
                assert_eq!(soa.rtype, "SOA", "{udp:?}");
                assert!(
                    format!(".{name}.").ends_with(&format!(".{}", soa.name)),
                    "the SOA owner {} is not the name or above it",
                    soa.name
                );
                assert!(
                    soa.data.ends_with(" 42"),
                    "SOA minimum should be the TTL: {soa:?}"
                );
            }
        }
    }

    // A stub resolver with 0x20 case randomisation checks the answer echoes its question.
    let hickory = resolver(gw.dns, true);
    assert_eq!(
        resolve(&hickory, "login.oscar.aol.com.").await,
        [ip(THIS_HOST)]
    );
    assert_eq!(
        resolve(&hickory, "x.aim.example.test.").await,
        [ip(THIS_HOST)]
    );
    assert_eq!(
        resolve(&hickory, "www.example.test.").await,
        [ip(EXAMPLE_TEST)]
    );

    let stats = gw.stats().await;
    let default = view_stats(&stats, "default");
    assert!(default["redirected"].as_u64().unwrap() >= 12, "{stats}");
    assert!(default["forwarded"].as_u64().unwrap() >= 3, "{stats}");
    assert_eq!(default["servfail"], 0, "{stats}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// 2. Views.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_group_drives_a_dns_view() {
    if !tools_present("group views", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &[
            "dns.health_interval_secs=0",
            r#"policy.groups=[{name="traders", subnets=["127.0.0.6"], profile="default"}]"#,
            r#"dns.views=[{name="floor", group="traders", gateway=["127.0.0.60"]}]"#,
        ],
    )
    .await;
    for (client, expected) in [("127.0.0.6", "127.0.0.60"), ("127.0.0.7", THIS_HOST)] {
        let answer = dig(gw.dns, client, &["login.oscar.aol.com", "+notcp"]).await;
        assert_eq!(answer.addrs(), [expected], "{client}: {answer:?}");
    }
    let stats = gw.stats().await;
    assert_eq!(view_stats(&stats, "floor")["redirected"], 1, "{stats}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_gets_the_gateway_of_its_longest_matching_view() {
    if !tools_present("views", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &[
            // No health checks: nothing listens on the views' gateway addresses.
            "dns.health_interval_secs=0",
            concat!(
                r#"dns.views=[{name="narrow", subnets=["127.0.0.2/32"], gateway=["127.0.0.20"]},"#,
                r#" {name="wide", subnets=["127.0.0.0/29"], gateway=["127.0.0.30"]},"#,
                r#" {name="gateways", subnets=["127.0.0.10/32"], redirect=false},"#,
                r#" {name="dual", subnets=["127.0.0.11/32"], gateway=["::1", "127.0.0.40"]}]"#,
            ),
        ],
    )
    .await;
    for (client, expected, redirected) in [
        ("127.0.0.2", "127.0.0.20", true),
        ("127.0.0.3", "127.0.0.30", true),
        ("127.0.0.9", THIS_HOST, true),
        ("127.0.0.10", REAL_LOGIN, false),
    ] {
        for transport in ["+notcp", "+tcp"] {
            let answer = dig(gw.dns, client, &["login.oscar.aol.com", transport]).await;
            assert_eq!(answer.status, "NOERROR", "{client} {transport}: {answer:?}");
            assert_eq!(answer.addrs(), [expected], "{client} {transport}");
            assert_eq!(answer.flag("aa"), redirected, "{client}: {answer:?}");
        }
    }
    // A view with an IPv6 gateway answers AAAA with it, and A with its IPv4 one.
    for transport in ["+notcp", "+tcp"] {
        let a = dig(
            gw.dns,
            "127.0.0.11",
            &["login.oscar.aol.com", "A", transport],
        )
        .await;
        assert_eq!(a.addrs(), ["127.0.0.40"], "{transport}: {a:?}");
        let aaaa = dig(
            gw.dns,
            "127.0.0.11",
            &["login.oscar.aol.com", "AAAA", transport],
        )
        .await;
        assert_eq!(aaaa.status, "NOERROR", "{aaaa:?}");
        assert_eq!(aaaa.addrs(), ["::1"], "{transport}: {aaaa:?}");
        assert!(aaaa.authority.is_empty(), "{aaaa:?}");
    }
    // Each client asked twice (UDP, TCP); the counters say which view answered.
    let stats = gw.stats().await;
    for (view, queries, redirected, forwarded) in [
        ("narrow", 2, 2, 0),
        ("wide", 2, 2, 0),
        ("default", 2, 2, 0),
        ("gateways", 2, 0, 2),
        ("dual", 4, 4, 0),
    ] {
        let v = view_stats(&stats, view);
        let counters = [&v["queries"], &v["redirected"], &v["forwarded"]];
        assert_eq!(
            counters.map(Value::as_u64),
            [Some(queries), Some(redirected), Some(forwarded)],
            "{view}: {stats}"
        );
    }
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// 3. Forwarding.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_names_are_forwarded_with_rcode_and_truncation_intact() {
    if !tools_present("forwarding", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(IMTEGRITY, &upstream, &[]).await;
    for transport in ["+notcp", "+tcp"] {
        let www = dig(gw.dns, THIS_HOST, &["www.example.test", transport]).await;
        assert_eq!(www.status, "NOERROR", "{www:?}");
        assert_eq!(www.addrs(), [EXAMPLE_TEST], "{www:?}");
        assert!(www.flag("ra") && !www.flag("aa"), "{www:?}");

        let nx = dig(gw.dns, THIS_HOST, &["gone.nx.test", transport]).await;
        assert_eq!(nx.status, "NXDOMAIN", "{transport}: {nx:?}");
        assert!(nx.answer.is_empty(), "{nx:?}");
    }

    // What dnsmasq itself says for the big record, over TCP.
    let direct = dig(upstream.addr, THIS_HOST, &[BIG_TXT, "TXT", "+tcp"]).await;
    let quoted: Vec<String> = big_txt_strings()
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    assert_eq!(direct.answer.len(), 1, "{direct:?}");
    assert_eq!(direct.answer[0].data, quoted.join(" "));
    let data = |d: &Dug| d.answer.iter().map(|r| r.data.clone()).collect::<Vec<_>>();

    // With EDNS (dig offers 1232 bytes) it fits a datagram.
    let edns = dig(gw.dns, THIS_HOST, &[BIG_TXT, "TXT", "+notcp", "+ignore"]).await;
    assert!(!edns.flag("tc"), "{edns:?}");
    assert_eq!(data(&edns), data(&direct));
    // Without EDNS the limit is 512 bytes: truncated, so the client retries over TCP...
    let plain = dig(
        gw.dns,
        THIS_HOST,
        &[BIG_TXT, "TXT", "+noedns", "+notcp", "+ignore"],
    )
    .await;
    assert_eq!(plain.status, "NOERROR", "{plain:?}");
    assert!(plain.flag("tc"), "{plain:?}");
    // ... where it gets all of it.
    let tcp = dig(gw.dns, THIS_HOST, &[BIG_TXT, "TXT", "+noedns", "+tcp"]).await;
    assert!(!tcp.flag("tc"), "{tcp:?}");
    assert_eq!(data(&tcp), data(&direct));
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// 4. Safety: allow list, malformed queries, rate limit.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_outside_the_allow_list_are_refused() {
    if !tools_present("allow", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &[
            r#"dns.allow=["127.0.0.2/32"]"#,
            "dns.health_interval_secs=0",
        ],
    )
    .await;
    for name in ["login.oscar.aol.com", "www.example.test"] {
        for transport in ["+notcp", "+tcp"] {
            let refused = dig(gw.dns, "127.0.0.1", &[name, transport]).await;
            assert_eq!(refused.status, "REFUSED", "{name} {transport}: {refused:?}");
            assert!(refused.answer.is_empty(), "{refused:?}");
        }
    }
    let login = dig(gw.dns, "127.0.0.2", &["login.oscar.aol.com"]).await;
    assert_eq!(login.addrs(), [THIS_HOST], "{login:?}");
    let www = dig(gw.dns, "127.0.0.2", &["www.example.test", "+tcp"]).await;
    assert_eq!(www.addrs(), [EXAMPLE_TEST], "{www:?}");

    let stats = gw.stats().await;
    assert_eq!(stats["refused"], 4, "{stats}");
    assert_eq!(view_stats(&stats, "default")["queries"], 2, "{stats}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_get_formerr_or_nothing_and_do_not_stop_the_responder() {
    if !tools_present("malformed", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(IMTEGRITY, &upstream, &["dns.health_interval_secs=0"]).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    let truncated_question = garbage_query(0xBEEF);
    // No question at all.
    let no_question = [0xBE, 0xF0, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
    // Two questions (a name server answers exactly one).
    let mut two_questions = query_bytes(0xBEF1, "login.oscar.aol.com", RecordType::A);
    let question = two_questions[12..].to_vec();
    two_questions[5] = 2;
    two_questions.extend_from_slice(&question);
    for bad in [&truncated_question[..], &no_question, &two_questions] {
        let reply = exchange_within(&socket, gw.dns, bad, UDP_TIMEOUT)
            .await
            .unwrap_or_else(|| panic!("no answer to {bad:02x?}"));
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::FormErr,
            "{bad:02x?}: {reply:?}"
        );
        assert!(reply.answers.is_empty(), "{reply:?}");
    }

    // Shorter than a header: no answer. The next query's reply is the first datagram back:
    // one client socket is served by one responder socket, whose task handles both of these
    // itself, in order (neither is handed to another task).
    socket.send_to(&[0xAB, 0xCD, 0x01], gw.dns).await.unwrap();
    let query = query_bytes(0x4242, "login.oscar.aol.com", RecordType::A);
    socket.send_to(&query, gw.dns).await.unwrap();
    let mut buf = vec![0u8; 1500];
    let (len, _) = tokio::time::timeout(UDP_TIMEOUT, socket.recv_from(&mut buf))
        .await
        .expect("the responder answers after a runt datagram")
        .unwrap();
    let reply = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(reply.metadata.id, 0x4242, "{reply:?}");
    assert_eq!(reply_addrs(&reply), [ip(THIS_HOST)]);
    // And dig, over both transports.
    for transport in ["+notcp", "+tcp"] {
        let login = dig(gw.dns, THIS_HOST, &["login.oscar.aol.com", transport]).await;
        assert_eq!(login.addrs(), [THIS_HOST], "{login:?}");
    }
    let stats = gw.stats().await;
    assert_eq!(stats["formerr"], 3, "{stats}");
    gw.stop().await;
}

/// A header claiming one question, then a 5-byte label with 2 bytes: undecodable.
fn garbage_query(id: u16) -> Vec<u8> {
    let mut bytes = id.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'a', b'b']);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_from_outside_the_allow_list_get_no_formerr() {
    if !tools_present("malformed, not allowed", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &[
            r#"dns.allow=["127.0.0.2/32"]"#,
            "dns.health_interval_secs=0",
        ],
    )
    .await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let no_question = [0x00, 0x02, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
    socket.send_to(&garbage_query(1), gw.dns).await.unwrap();
    socket.send_to(&no_question, gw.dns).await.unwrap();
    // A well-formed query last: it is refused. The message without a question is decoded
    // in a task of its own, so its reply (if any) may come later: wait for a quiet second.
    let query = query_bytes(3, "login.oscar.aol.com", RecordType::A);
    socket.send_to(&query, gw.dns).await.unwrap();
    let mut buf = vec![0u8; 1500];
    let mut replies = Vec::new();
    for _ in 0..3 {
        let Ok(received) =
            tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await
        else {
            break;
        };
        let (len, _) = received.unwrap();
        let reply = Message::from_vec(&buf[..len]).unwrap();
        replies.push((reply.metadata.id, reply.metadata.response_code));
    }
    assert!(
        replies.contains(&(3, ResponseCode::Refused)),
        "the well-formed query is refused: {replies:?}"
    );
    // Outside dns.allow every answer is REFUSED (or none at all): never FORMERR.
    assert!(
        replies
            .iter()
            .all(|(_, code)| *code == ResponseCode::Refused),
        "{replies:?}"
    );
    let stats = gw.stats().await;
    assert_eq!(stats["formerr"], 0, "{stats}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formerr_answers_count_against_the_rate_limit() {
    if !tools_present("malformed, rate", &[DNSMASQ, DIG]) {
        return;
    }
    const RATE: usize = 5;
    const BURST: u16 = 40;
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &["dns.rate_limit=5", "dns.health_interval_secs=0"],
    )
    .await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let started = Instant::now();
    for id in 0..BURST {
        socket.send_to(&garbage_query(id), gw.dns).await.unwrap();
    }
    let mut formerr = 0usize;
    let mut buf = vec![0u8; 1500];
    for _ in 0..BURST {
        let Ok(received) =
            tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await
        else {
            break;
        };
        let (len, _) = received.unwrap();
        let reply = Message::from_vec(&buf[..len]).unwrap();
        if reply.metadata.response_code == ResponseCode::FormErr {
            formerr += 1;
        }
    }
    let windows = usize::try_from(started.elapsed().as_secs()).unwrap() + 2;
    assert!(
        formerr <= RATE * windows,
        "{formerr} FORMERR answers to {BURST} garbage datagrams in {windows} windows of {RATE}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_rate_limit_is_dropped_or_truncated_but_tcp_still_answers() {
    if !tools_present("rate limit", &[DNSMASQ, DIG]) {
        return;
    }
    const RATE: usize = 5;
    const BURST: u16 = 40;
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &["dns.rate_limit=5", "dns.health_interval_secs=0"],
    )
    .await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let started = Instant::now();
    for id in 0..BURST {
        let query = query_bytes(id, "login.oscar.aol.com", RecordType::A);
        socket.send_to(&query, gw.dns).await.unwrap();
    }
    let (mut answered, mut truncated) = (0usize, 0usize);
    let mut buf = vec![0u8; 1500];
    // Until a second passes without a reply; at most one reply per query.
    for _ in 0..BURST {
        let Ok(received) =
            tokio::time::timeout(Duration::from_secs(1), socket.recv_from(&mut buf)).await
        else {
            break;
        };
        let (len, _) = received.unwrap();
        let reply = Message::from_vec(&buf[..len]).unwrap();
        assert!(reply.metadata.id < BURST, "{reply:?}");
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        if reply.metadata.truncation {
            assert!(
                reply.answers.is_empty(),
                "a slip carries no data: {reply:?}"
            );
            truncated += 1;
        } else {
            assert_eq!(reply_addrs(&reply), [ip(THIS_HOST)], "{reply:?}");
            answered += 1;
        }
    }
    // Every counted reply was sent within `span`, which touches at most span+2 of the
    // limiter's one-second windows.
    let span = started.elapsed().as_secs();
    let windows = usize::try_from(span).unwrap() + 2;
    assert!(
        answered <= RATE * windows,
        "{answered} full answers in {windows} windows of {RATE}"
    );
    let dropped = usize::from(BURST) - answered - truncated;
    eprintln!("burst of {BURST}: {answered} answered, {truncated} truncated, {dropped} dropped");
    assert!(
        truncated >= 1,
        "no truncated reply: {answered} answered, {dropped} dropped"
    );
    assert!(
        dropped >= 1,
        "nothing dropped: {answered} answered, {truncated} truncated"
    );

    // The same client over TCP (what a truncated reply tells it to do) is not limited.
    for _ in 0..3 {
        let tcp = dig(gw.dns, THIS_HOST, &["login.oscar.aol.com", "+tcp"]).await;
        assert_eq!(tcp.addrs(), [THIS_HOST], "{tcp:?}");
    }
    let stats = gw.stats().await;
    let limited = stats["rate_limited"].as_u64().unwrap();
    // Every slip and drop is counted; full answers are not.
    let limited = usize::try_from(limited).unwrap();
    assert!(
        (truncated..=usize::from(BURST) - answered).contains(&limited),
        "rate_limited {limited}, {truncated} truncated, {dropped} dropped: {stats}"
    );
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// 5. Gateways down: the fail policy.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_gateway_is_down_the_fail_policy_decides() {
    if !tools_present("fail policy", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    // Nothing listens on 127.0.0.99; the default view (this host) has the relay up.
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &[
            "dns.health_interval_secs=1",
            concat!(
                r#"dns.views=[{name="closed", subnets=["127.0.0.5/32"], gateway=["127.0.0.99"]},"#,
                r#" {name="open", subnets=["127.0.0.6/32"], gateway=["127.0.0.99"], fail="open"}]"#,
            ),
        ],
    )
    .await;
    // Until the first probe, an unprobed gateway counts as up.
    let closed = dig_until(
        gw.dns,
        "127.0.0.5",
        &["login.oscar.aol.com"],
        "SERVFAIL once 127.0.0.99 fails its probe",
        |d| d.status != "NOERROR",
    )
    .await;
    assert_eq!(closed.status, "SERVFAIL", "{closed:?}");
    assert!(closed.answer.is_empty(), "{closed:?}");
    let closed_tcp = dig(gw.dns, "127.0.0.5", &["login.oscar.aol.com", "+tcp"]).await;
    assert_eq!(closed_tcp.status, "SERVFAIL", "{closed_tcp:?}");
    // The same probe round marked the open view's gateway down: the real address.
    for transport in ["+notcp", "+tcp"] {
        let open = dig(gw.dns, "127.0.0.6", &["login.oscar.aol.com", transport]).await;
        assert_eq!(open.status, "NOERROR", "{open:?}");
        assert_eq!(open.addrs(), [REAL_LOGIN], "{transport}: {open:?}");
        assert!(!open.flag("aa"), "{open:?}");
    }
    // This host's relay passed the same round: the default view is redirected as usual.
    for transport in ["+notcp", "+tcp"] {
        let up = dig(gw.dns, THIS_HOST, &["login.oscar.aol.com", transport]).await;
        assert_eq!(up.addrs(), [THIS_HOST], "{transport}: {up:?}");
        assert!(up.flag("aa"), "{up:?}");
    }
    let stats = gw.stats().await;
    assert!(
        view_stats(&stats, "closed")["servfail"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    assert!(
        view_stats(&stats, "open")["forwarded"].as_u64().unwrap() >= 2,
        "{stats}"
    );
    assert_eq!(view_stats(&stats, "default")["servfail"], 0, "{stats}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// 6. Reload.

/// Writes `text` to `path` in one step (a rename), so the gateway never reads half a file.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The next JSON line the gateway has already printed, without waiting.
async fn printed_line(gw: &mut DnsGateway) -> Option<Value> {
    let line = tokio::time::timeout(Duration::ZERO, gw.gw.process.stdout.next_line())
        .await
        .ok()?
        .expect("read the gateway's stdout")
        .expect("the gateway closed stdout");
    Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_reload_on_sighup_and_file_change_without_losing_a_query() {
    if !tools_present("reload", &[DNSMASQ, DIG]) {
        return;
    }
    const NAME: &str = "extra.example.test";
    const NEW_TTL: u32 = 7;
    let upstream = Dnsmasq::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("imtegrity.toml");
    replace_file(&file, "[dns]\nttl = 30\n");
    let mut gw = DnsGateway::start_with(
        IMTEGRITY,
        &["--config", file.to_str().unwrap()],
        &upstream,
        NO_UPSTREAM,
        &["dns.health_interval_secs=0"],
    )
    .await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Phase {
        /// The file has no `names`.
        Before,
        /// Rewritten and signalled; no `reloaded` line read yet.
        Reloading,
        /// A `reloaded` line was read before this query was sent.
        After,
    }
    let mut phase = Phase::Before;
    let (mut after, mut switched_at) = (0, None);
    // Bounded: 100 queries before the edit, then until 200 after the reload was announced.
    for i in 0..3000u16 {
        if i == 100 {
            let edited = format!("[dns]\nttl = {NEW_TTL}\nnames = [\"{NAME}\"]\n");
            replace_file(&file, &edited);
            sighup(gw.pid());
            phase = Phase::Reloading;
        }
        if phase == Phase::Reloading
            && let Some(line) = printed_line(&mut gw).await
        {
            assert_eq!(line["event"], "reloaded", "{line}");
            phase = Phase::After;
        }
        let reply = exchange_within(
            &socket,
            gw.dns,
            &query_bytes(i, NAME, RecordType::A),
            UDP_TIMEOUT,
        )
        .await
        .unwrap_or_else(|| panic!("query {i} ({phase:?}) got no answer"));
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        let addrs = reply_addrs(&reply);
        let redirected = match addrs.as_slice() {
            [a] if *a == ip(EXAMPLE_TEST) => false,
            [a] if *a == ip(THIS_HOST) => true,
            other => panic!("query {i} ({phase:?}): {other:?}"),
        };
        if redirected {
            // Names and TTL come from one generation of the policy.
            assert_eq!(reply.answers[0].ttl, NEW_TTL, "query {i}: {reply:?}");
        }
        match phase {
            Phase::Before => assert!(!redirected, "query {i} redirected before the edit"),
            Phase::After => assert!(redirected, "query {i} not redirected after the reload"),
            Phase::Reloading => {}
        }
        match switched_at {
            Some(at) => assert!(redirected, "query {i} went back to upstream after {at}"),
            None if redirected => switched_at = Some(i),
            None => {}
        }
        if phase == Phase::After {
            after += 1;
            if after == 200 {
                break;
            }
        }
    }
    assert_eq!(phase, Phase::After, "no reloaded line after SIGHUP");
    eprintln!("edited before query 100, answers switched at query {switched_at:?}");
    assert_eq!(after, 200);

    // A broken edit, noticed by the file watch alone: the running policy stays.
    replace_file(&file, "[dns\nnames = [\n");
    let mut failed = None;
    for _ in 0..5 {
        let line = gw.gw.process.next_json().await;
        match line["event"].as_str() {
            // Saving the good file is seen by the watch too (after the SIGHUP reload).
            Some("reloaded") => {}
            Some("reload_failed") => {
                failed = Some(line);
                break;
            }
            _ => panic!("unexpected line {line}"),
        }
    }
    let failed = failed.expect("a reload_failed line");
    assert_eq!(
        failed["trigger"], "the configuration file changed",
        "{failed}"
    );
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("imtegrity.toml")),
        "{failed}"
    );
    for name in [NAME, "login.oscar.aol.com"] {
        let answer = dig(gw.dns, THIS_HOST, &[name]).await;
        assert_eq!(answer.addrs(), [THIS_HOST], "{name}: {answer:?}");
    }
    let before = gw.stats().await["reloads"].as_u64().unwrap();
    // Once for SIGHUP; the file watch may have loaded the same edit again.
    assert!((1..=2).contains(&before), "{before} reloads");

    // A good edit again, on SIGHUP: a new allow list and a view; the extra name is gone.
    replace_file(
        &file,
        concat!(
            "[dns]\nallow = [\"127.0.0.2/32\"]\n\n",
            "[[dns.views]]\nname = \"moved\"\nsubnets = [\"127.0.0.2/32\"]\n",
            "gateway = [\"127.0.0.50\"]\n",
        ),
    );
    sighup(gw.pid());
    let line = gw.gw.process.next_json().await;
    assert_eq!(line["event"], "reloaded", "{line}");
    let refused = dig(gw.dns, THIS_HOST, &["login.oscar.aol.com"]).await;
    assert_eq!(refused.status, "REFUSED", "{refused:?}");
    let moved = dig(gw.dns, "127.0.0.2", &["login.oscar.aol.com"]).await;
    assert_eq!(moved.addrs(), ["127.0.0.50"], "{moved:?}");
    let extra = dig(gw.dns, "127.0.0.2", &[NAME]).await;
    assert_eq!(extra.addrs(), [EXAMPLE_TEST], "{extra:?}");

    let stats = gw.stats().await;
    let reloads = stats["reloads"].as_u64().unwrap();
    assert!(reloads > before, "{stats}");
    assert_eq!(view_stats(&stats, "moved")["redirected"], 1, "{stats}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// 7. End to end: resolve, sign on through the relay, archived.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resolving_through_the_responder_signs_on_through_the_relay() {
    if !tools_present("end to end", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let lab = lab::LabServer::start(lab::LabConfig::ephemeral())
        .await
        .unwrap();
    let gw =
        DnsGateway::start_with(IMTEGRITY, &[], &upstream, &lab.auth_addr.to_string(), &[]).await;
    let hickory = resolver(gw.dns, false);
    let addrs = resolve(&hickory, "login.oscar.aol.com.").await;
    assert_eq!(addrs, [ip(THIS_HOST)]);
    let login = SocketAddr::new(addrs[0], gw.gw.relay.port());
    let mut alice = lab::LabClient::login(login, "alice", "a").await.unwrap();
    let mut bob = lab::LabClient::login(login, "bob", "b").await.unwrap();
    let text = "resolved by the gateway";
    alice.send_im("bob", text).await.unwrap();
    assert_eq!(
        bob.expect_im("alice", Duration::from_secs(5))
            .await
            .unwrap(),
        text
    );
    alice.logout().await.unwrap();
    bob.logout().await.unwrap();
    // The archive outlives the gateway, to be searched.
    let DnsGateway { gw, dir, .. } = gw;
    let archive = gw.archive.clone();
    let stopped = gw.stop().await;
    // The IM, and alice's and bob's session_start and session_end.
    assert_eq!(stopped["records"], 5, "{stopped}");
    let records: Vec<ImRecord> = search(IMTEGRITY, &archive, &["--kind", "im"])
        .await
        .iter()
        .map(ImRecord::from_json)
        .collect();
    assert_eq!(
        records,
        [ImRecord::new(
            "aim", "alice", "bob", "internal", "alice", text
        )]
    );
    drop(dir);
}

/// `upstream.egress` applies to forwarding too, and the relay finds its own upstream through
/// `dns.upstream` rather than the system resolver (which may be this very responder). The
/// upstream login host's name exists only in the upstream dnsmasq's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_leaves_from_the_egress_address_and_the_relay_resolves_upstream_there() {
    if !tools_present("egress", &[DNSMASQ, DIG]) {
        return;
    }
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("dnsmasq.log");
    let upstream = Dnsmasq::start_with(&[
        "--log-queries",
        &format!("--log-facility={}", log.display()),
        "--address=/lab.internal/127.0.0.1",
    ])
    .await;
    let lab = lab::LabServer::start(lab::LabConfig::ephemeral())
        .await
        .unwrap();
    let login = format!("login.lab.internal:{}", lab.auth_addr.port());
    let gw = DnsGateway::start_with(
        IMTEGRITY,
        &[],
        &upstream,
        &login,
        &[r#"upstream.egress=["127.0.0.2"]"#],
    )
    .await;
    let dug = dig(gw.dns, THIS_HOST, &["www.egress.example.test"]).await;
    assert_eq!(dug.addrs(), [EXAMPLE_TEST], "{dug:?}");
    let seen = |needle: String| {
        let log = log.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if let Some(line) = text.lines().find(|l| l.contains(&needle)) {
                    return line.to_owned();
                }
                assert!(
                    Instant::now() < deadline,
                    "{needle:?} not in dnsmasq's log:\n{text}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let line = seen("www.egress.example.test".to_owned()).await;
    assert!(
        line.ends_with("from 127.0.0.2"),
        "forwarded from the wrong address: {line}"
    );
    // Signing on makes the relay look up login.lab.internal: only the upstream knows it.
    let alice = lab::LabClient::login(gw.gw.relay, "alice", "a")
        .await
        .unwrap();
    seen("login.lab.internal".to_owned()).await;
    alice.logout().await.unwrap();
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// 8. check-config.

#[tokio::test]
async fn check_config_points_at_a_bad_dns_entry() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, needle) in [
        (
            "[dns]\nttl = 30\nnames = [\"login.example.net\", \"bad name\"]\n",
            3,
            "bad name",
        ),
        (
            "[dns]\n\n[[dns.views]]\nname = \"lan\"\nsubnets = [\"10.0.0.0/33\"]\n",
            5,
            "dns.views[0].subnets[0]",
        ),
        ("[dns]\nupstream = [\"dns.example\"]\n", 2, "dns.example"),
    ] {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, text).unwrap();
        let path = file.to_str().unwrap();
        let (code, _, stderr) = cli(IMTEGRITY, &["check-config", path]).await;
        assert_eq!(code, Some(64), "{text}: {stderr}");
        assert!(
            stderr.contains(&format!("{path}:{line}:")),
            "{text}: expected {path}:{line}: in {stderr}"
        );
        assert!(stderr.contains(needle), "{text}: {stderr}");
    }
}
