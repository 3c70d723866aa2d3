//! The DNS responder's hardening, end to end against `imtegrity run` on loopback, asked by
//! real `dig` and `nsupdate` and by raw UDP sockets where a test needs exact bytes or many
//! source addresses (all of 127.0.0.0/8 is local on Linux, so a socket bound to 127.x.y.z
//! is a distinct client): the allow list before the rate limit, RFC 8482 for ANY, the
//! 1232-byte UDP cap with empty truncated answers, NOTIMP for other opcodes and REFUSED for
//! other classes, wildcards matched by whole labels, idle upstream TCP connections closed,
//! and a spoofed-source flood that leaves the per-client tables and the query log bounded.
//!
//! Needs dnsmasq, dig and nsupdate (tests/peers/install.sh); skipped locally without them, a
//! failure in CI. Every wait is bounded, and every process is stopped or killed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_resolver::proto::rr::rdata::A;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use imtegrity_harness::dns::*;
use imtegrity_harness::{Binary, tools_present};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::process::Command;

const IMTEGRITY: Binary = Binary::at(env!("CARGO_BIN_EXE_imtegrity"));

const NSUPDATE: &str = "/usr/bin/nsupdate";

/// A TXT record of ten 250-byte strings: about 2.6 KB, more than any UDP answer may be.
const HUGE_TXT: &str = "huge.example.test";

fn huge_txt_option() -> String {
    let strings: Vec<String> = (b'a'..b'k')
        .map(|c| char::from(c).to_string().repeat(250))
        .collect();
    format!("--txt-record={HUGE_TXT},{}", strings.join(","))
}

/// A query for `name`/`rtype` offering an EDNS buffer of `payload` bytes.
fn edns_query(id: u16, name: &str, rtype: RecordType, payload: u16) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    message.set_edns(edns);
    message.to_vec().unwrap()
}

/// Sends `query` from `socket` and returns the raw reply with its ID, within 3 s.
async fn raw_exchange(socket: &UdpSocket, server: SocketAddr, query: &[u8]) -> Vec<u8> {
    socket.send_to(query, server).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let (len, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .expect("an answer within 3 s")
            .unwrap();
        if from == server && buf[..2] == query[..2] {
            return buf[..len].to_vec();
        }
    }
}

/// Every reply to `socket` within `quiet` of the last one, as (ID, RCODE, TC).
async fn replies_until_quiet(
    socket: &UdpSocket,
    quiet: Duration,
    most: usize,
) -> Vec<(u16, ResponseCode, bool)> {
    let mut buf = vec![0u8; 65_535];
    let mut seen = Vec::new();
    while seen.len() < most {
        let Ok(received) = tokio::time::timeout(quiet, socket.recv_from(&mut buf)).await else {
            break;
        };
        let (len, _) = received.unwrap();
        let m = Message::from_vec(&buf[..len]).unwrap();
        seen.push((
            m.metadata.id,
            m.metadata.response_code,
            m.metadata.truncation,
        ));
    }
    seen
}

// ---------------------------------------------------------------------------------------
// The allow list before the rate limit.

/// An outsider's queries are all REFUSED, however many it sends within one second: the
/// rate limiter never sees them (it would drop most of them, and keep a table entry for
/// the address), and a client inside gets exactly its rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outsiders_are_refused_before_the_rate_limit_counts_them() {
    if !tools_present("allow before rate", &[DNSMASQ]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &[
            r#"dns.allow=["127.0.0.2/32"]"#,
            "dns.rate_limit=5",
            "dns.health_interval_secs=0",
        ],
    )
    .await;
    let outsider = UdpSocket::bind("127.0.0.3:0").await.unwrap();
    for id in 0..40 {
        let query = query_bytes(id, "login.oscar.aol.com", RecordType::A);
        outsider.send_to(&query, gw.dns).await.unwrap();
    }
    let replies = replies_until_quiet(&outsider, Duration::from_secs(1), 40).await;
    assert_eq!(
        replies.len(),
        40,
        "every outsider query is answered: {replies:?}"
    );
    assert!(
        replies
            .iter()
            .all(|(_, code, tc)| *code == ResponseCode::Refused && !tc),
        "{replies:?}"
    );
    let stats = gw.stats().await;
    assert_eq!(stats["refused"], 40, "{stats}");
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    assert_eq!(stats["clients_tracked"], 0, "{stats}");

    // Inside: five answers, then over the rate (dropped, or every second one TC).
    let inside = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    for id in 100..110 {
        let query = query_bytes(id, "login.oscar.aol.com", RecordType::A);
        inside.send_to(&query, gw.dns).await.unwrap();
    }
    let replies = replies_until_quiet(&inside, Duration::from_millis(700), 10).await;
    let answered = replies
        .iter()
        .filter(|(_, c, tc)| *c == ResponseCode::NoError && !tc);
    assert_eq!(answered.count(), 5, "{replies:?}");
    let stats = gw.stats().await;
    assert_eq!(stats["rate_limited"], 5, "{stats}");
    assert_eq!(stats["refused"], 40, "{stats}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// Amplification: ANY, the UDP size cap, the byte rate.

/// ANY for a forwarded name gets RFC 8482's HINFO (never the upstream's records); ANY for a
/// redirected name gets the gateway's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_gets_a_minimal_answer_and_is_never_forwarded() {
    if !tools_present("ANY", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(IMTEGRITY, &upstream, &["dns.health_interval_secs=0"]).await;
    for transport in ["+notcp", "+tcp"] {
        let any = dig(gw.dns, "127.0.0.1", &[transport, "www.example.test", "ANY"]).await;
        assert_eq!(any.status, "NOERROR", "{any:?}");
        assert_eq!(any.answer.len(), 1, "{any:?}");
        assert_eq!(any.answer[0].rtype, "HINFO", "{any:?}");
        assert_eq!(any.answer[0].data, "\"RFC8482\" \"\"", "{any:?}");
        assert_eq!(any.answer[0].ttl, 3600, "{any:?}");
        let login = dig(
            gw.dns,
            "127.0.0.1",
            &[transport, "login.oscar.aol.com", "ANY"],
        )
        .await;
        assert_eq!(login.addrs(), [THIS_HOST], "{login:?}");
    }
    // The same name's A record is still forwarded.
    let a = dig(gw.dns, "127.0.0.1", &["www.example.test", "A"]).await;
    assert_eq!(a.addrs(), [EXAMPLE_TEST], "{a:?}");
    let stats = gw.stats().await;
    assert_eq!(stats["any_minimal"], 2, "{stats}");
    gw.stop().await;
}

/// A 2.6 KB TXT answer asked over UDP with a 4096-byte buffer comes back as at most 1232
/// bytes: TC set, no record in any section but OPT. Over TCP it comes whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_udp_answers_are_truncated_empty_and_whole_over_tcp() {
    if !tools_present("UDP cap", &[DNSMASQ, DIG]) {
        return;
    }
    // dnsmasq drops (rather than truncates) a UDP answer over its packet size.
    let upstream = Dnsmasq::start_with(&["--edns-packet-max=4096", &huge_txt_option()]).await;
    // dnsmasq serves nothing else while a TCP connection is open (the idle-close test's
    // point): the gateway closes its own after a second, so dig's retry is answered in time.
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &["dns.upstream_idle_secs=1", "dns.health_interval_secs=0"],
    )
    .await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let query = edns_query(7, HUGE_TXT, RecordType::TXT, 4096);
    let reply = raw_exchange(&socket, gw.dns, &query).await;
    assert!(reply.len() <= 1232, "{} bytes", reply.len());
    let m = Message::from_vec(&reply).unwrap();
    assert!(m.metadata.truncation, "{m:?}");
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        (m.answers.len(), m.authorities.len(), m.additionals.len()),
        (0, 0, 0),
        "{m:?}"
    );
    assert!(m.edns.is_some(), "{m:?}");
    assert_eq!(m.queries.len(), 1);

    // dig follows the TC over TCP; +tcp asks there directly. Both get all ten strings.
    for args in [
        &["+bufsize=4096", HUGE_TXT, "TXT"][..],
        &["+tcp", HUGE_TXT, "TXT"][..],
    ] {
        let whole = dig(gw.dns, "127.0.0.1", args).await;
        assert_eq!(whole.answer.len(), 1, "{whole:?}");
        let text = &whole.answer[0].data;
        assert!(text.contains(&"j".repeat(250)), "{args:?}: {text}");
        assert!(text.len() > 2500, "{args:?}: {}", text.len());
    }
    let stats = gw.stats().await;
    assert!(stats["truncated"].as_u64().unwrap() >= 2, "{stats}");
    gw.stop().await;
}

/// With a byte rate of 2000 a second, a client asking the 850-byte TXT record ten times at
/// once gets three whole answers (the third crosses the budget) and no more in that second,
/// though its answer rate (1000) is far off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_rate_limited_by_their_bytes() {
    if !tools_present("byte rate", &[DNSMASQ]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &[
            "dns.rate_limit=1000",
            "dns.rate_limit_bytes=2000",
            "dns.health_interval_secs=0",
        ],
    )
    .await;
    let socket = UdpSocket::bind("127.0.0.5:0").await.unwrap();
    // Warm the forwarder's cache, so every answer below comes at once.
    let warm = raw_exchange(
        &socket,
        gw.dns,
        &edns_query(1, BIG_TXT, RecordType::TXT, 1232),
    )
    .await;
    assert!((800..1000).contains(&warm.len()), "{}", warm.len());
    // A burst may straddle the limiter's one-second windows; a few tries find one that
    // does not. Without the byte rate every try gets ten whole answers.
    let mut wholes = Vec::new();
    for attempt in 0..3u16 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for id in 0..10 {
            let query = edns_query(100 * (attempt + 1) + id, BIG_TXT, RecordType::TXT, 1232);
            socket.send_to(&query, gw.dns).await.unwrap();
        }
        let replies = replies_until_quiet(&socket, Duration::from_millis(500), 10).await;
        let whole = replies
            .iter()
            .filter(|(_, c, tc)| *c == ResponseCode::NoError && !tc)
            .count();
        wholes.push(whole);
        if whole == 3 {
            break;
        }
    }
    assert_eq!(
        wholes.last(),
        Some(&3),
        "whole answers per burst: {wholes:?}"
    );
    let stats = gw.stats().await;
    assert!(stats["rate_limited"].as_u64().unwrap() >= 7, "{stats}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// Opcodes and classes.

/// NOTIFY, UPDATE (from nsupdate) and unassigned opcodes get NOTIMP; CH and ANY classes
/// REFUSED. None of them gets the gateway's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_opcodes_get_notimp_and_other_classes_refused() {
    if !tools_present("opcodes", &[DNSMASQ, DIG, NSUPDATE]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(IMTEGRITY, &upstream, &["dns.health_interval_secs=0"]).await;
    for opcode in ["notify", "3", "15"] {
        for transport in ["+notcp", "+tcp"] {
            let opcode_arg = format!("+opcode={opcode}");
            let answer = dig(
                gw.dns,
                "127.0.0.1",
                &[transport, &opcode_arg, "login.oscar.aol.com", "A"],
            )
            .await;
            assert_eq!(answer.status, "NOTIMP", "{opcode} {transport}: {answer:?}");
            assert!(answer.answer.is_empty(), "{answer:?}");
        }
    }
    for class in ["CH", "ANY"] {
        let answer = dig(gw.dns, "127.0.0.1", &["-c", class, "version.bind", "TXT"]).await;
        assert_eq!(answer.status, "REFUSED", "{class}: {answer:?}");
        let answer = dig(
            gw.dns,
            "127.0.0.1",
            &["-c", class, "login.oscar.aol.com", "A"],
        )
        .await;
        assert_eq!(answer.status, "REFUSED", "{class}: {answer:?}");
        assert!(answer.answer.is_empty(), "{answer:?}");
    }

    let script = format!(
        "server {} {}\nlocal 127.0.0.1\nzone oscar.aol.com\nupdate add evil.oscar.aol.com 60 A 192.0.2.66\nsend\n",
        gw.dns.ip(),
        gw.dns.port()
    );
    let mut child = Command::new(NSUPDATE)
        .args(["-t", "5", "-r", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .await
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("nsupdate finishes")
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("NOTIMP"), "{said}");

    let stats = gw.stats().await;
    assert_eq!(stats["not_implemented"], 7, "{stats}");
    // dig may ask again after REFUSED; each of the four was refused at least once.
    assert!(stats["refused_class"].as_u64().unwrap() >= 4, "{stats}");
    assert_eq!(view_stats(&stats, "default")["redirected"], 0, "{stats}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// Wildcards by whole labels.

/// `login\.oscar.aol.com` is three labels, the first holding a dot: a name under
/// `aol.com`, matched neither by `*.oscar.aol.com` nor by `login.oscar.aol.com`, on the UDP
/// fast path and over TCP alike; a real subdomain is matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_match_whole_labels_only() {
    if !tools_present("wildcard labels", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = Dnsmasq::start().await;
    let gw = DnsGateway::start(
        IMTEGRITY,
        &upstream,
        &[r#"dns.gateway=["192.0.2.1"]"#, "dns.health_interval_secs=0"],
    )
    .await;
    for transport in ["+notcp", "+tcp"] {
        let real = dig(gw.dns, "127.0.0.1", &[transport, "x.oscar.aol.com", "A"]).await;
        assert_eq!(real.addrs(), ["192.0.2.1"], "{real:?}");
        for hostile in ["login\\.oscar.aol.com", "x\\.oscar.aol.com"] {
            let answer = dig(gw.dns, "127.0.0.1", &[transport, hostile, "A"]).await;
            assert!(
                !answer.addrs().contains(&"192.0.2.1"),
                "{hostile} {transport}: {answer:?}"
            );
            assert!(!answer.flag("aa"), "{hostile} {transport}: {answer:?}");
        }
    }
    let stats = gw.stats().await;
    let default = view_stats(&stats, "default");
    assert_eq!(default["redirected"], 2, "{stats}");
    assert_eq!(default["forwarded"], 4, "{stats}");
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// Idle upstream TCP connections.

/// What the fake upstream saw on one TCP connection.
#[derive(Debug, Clone, Copy)]
struct TcpConn {
    last_answer: Option<Instant>,
    closed: Option<Instant>,
}

/// A one-connection-at-a-time upstream, as a small appliance resolver is: every UDP query
/// gets an empty TC answer, so the gateway asks again over TCP, where it gets an A record.
struct SerialUpstream {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<TcpConn>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SerialUpstream {
    async fn start() -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).await.unwrap();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let seen = conns.clone();
        let task = tokio::spawn(async move {
            let udp_loop = async {
                let mut buf = vec![0u8; 4096];
                loop {
                    let Ok((len, from)) = udp.recv_from(&mut buf).await else {
                        return;
                    };
                    if let Some(reply) = upstream_answer(&buf[..len], true) {
                        let _ = udp.send_to(&reply, from).await;
                    }
                }
            };
            let tcp_loop = async {
                // Serially, like a single-threaded resolver; a handful of connections.
                for _ in 0..4 {
                    let Ok((mut stream, _)) = tcp.accept().await else {
                        return;
                    };
                    let index = {
                        let mut c = seen.lock().unwrap();
                        c.push(TcpConn {
                            last_answer: None,
                            closed: None,
                        });
                        c.len() - 1
                    };
                    loop {
                        let mut len = [0u8; 2];
                        if stream.read_exact(&mut len).await.is_err() {
                            break;
                        }
                        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        if stream.read_exact(&mut msg).await.is_err() {
                            break;
                        }
                        let Some(reply) = upstream_answer(&msg, false) else {
                            break;
                        };
                        let framed_len = u16::try_from(reply.len()).unwrap().to_be_bytes();
                        if stream.write_all(&framed_len).await.is_err()
                            || stream.write_all(&reply).await.is_err()
                        {
                            break;
                        }
                        seen.lock().unwrap()[index].last_answer = Some(Instant::now());
                    }
                    seen.lock().unwrap()[index].closed = Some(Instant::now());
                }
            };
            tokio::join!(udp_loop, tcp_loop);
        });
        Self { addr, conns, task }
    }

    fn conns(&self) -> Vec<TcpConn> {
        self.conns.lock().unwrap().clone()
    }
}

impl Drop for SerialUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The fake upstream's answer: TC and empty over UDP, an A record 192.0.2.77 over TCP.
fn upstream_answer(query: &[u8], udp: bool) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut m = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = q.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    let question = q.queries.first()?.clone();
    if udp {
        m.metadata.truncation = true;
    } else if question.query_type() == RecordType::A {
        let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 77)));
        m.add_answer(Record::from_rdata(question.name().clone(), 60, a));
    }
    m.add_query(question);
    m.to_vec().ok()
}

/// The gateway's TCP connection to a serial upstream is closed once idle for
/// `dns.upstream_idle_secs`, and the next query that needs TCP opens a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_upstream_tcp_connection_is_closed() {
    if !tools_present("upstream idle", &[DNSMASQ, DIG]) {
        return;
    }
    let upstream = SerialUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let forward = format!(r#"dns.upstream=["{}"]"#, upstream.addr);
    let gw = imtegrity_harness::Gateway::start_with(
        IMTEGRITY,
        &[],
        NO_UPSTREAM,
        &dir.path().join("archive"),
        "gw-idle",
        &[
            r#"dns.listen=["127.0.0.1:0"]"#,
            &forward,
            "dns.upstream_idle_secs=2",
            "dns.health_interval_secs=0",
        ],
    )
    .await;
    let dns: SocketAddr = gw.running["dns"][0].as_str().unwrap().parse().unwrap();
    let first = dig(dns, "127.0.0.1", &["one.example.test", "A"]).await;
    assert_eq!(first.addrs(), ["192.0.2.77"], "{first:?}");
    // Closed within the idle time plus slack, not held.
    let mut closed = None;
    for _ in 0..100 {
        let conns = upstream.conns();
        if let Some(TcpConn {
            last_answer: Some(answered),
            closed: Some(at),
        }) = conns.first().copied()
        {
            closed = Some(at.duration_since(answered));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle = closed.expect("the gateway closes its idle upstream connection within 10 s");
    assert!(idle >= Duration::from_millis(1500), "closed after {idle:?}");
    assert!(idle <= Duration::from_secs(6), "closed after {idle:?}");

    let second = dig(dns, "127.0.0.1", &["two.example.test", "A"]).await;
    assert_eq!(second.addrs(), ["192.0.2.77"], "{second:?}");
    assert_eq!(upstream.conns().len(), 2, "{:?}", upstream.conns());
    gw.stop().await;
}

// ---------------------------------------------------------------------------------------
// A spoofed-source flood.

/// Sources of the flood: 2000 distinct addresses in 127.10.0.0/16.
fn flood_sources() -> impl Iterator<Item = Ipv4Addr> {
    (0u8..8).flat_map(|c| (1u8..=250).map(move |d| Ipv4Addr::new(127, 10, c, d)))
}

/// A flood from 2000 source addresses, one redirected query each: the per-client tables
/// stay at their cap (64) and are empty again after the next sweep; the query log writes
/// at most its rate, and the lines it left out are counted to the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_source_flood_leaves_tables_and_log_bounded() {
    let gw = LoggedGateway::start(
        IMTEGRITY,
        &[
            "dns.client_table_size=64",
            "dns.query_log=every",
            "dns.query_log_rate=5",
            r#"dns.gateway=["192.0.2.1"]"#,
            "dns.health_interval_secs=0",
        ],
    )
    .await;
    let query = query_bytes(9, "login.oscar.aol.com", RecordType::A);
    let started = Instant::now();
    let mut max_tracked = 0;
    for (i, source) in flood_sources().enumerate() {
        let socket = std::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
        socket.send_to(&query, gw.dns).unwrap();
        if i % 500 == 499 {
            let stats = gw.stats().await;
            max_tracked = max_tracked.max(stats["clients_tracked"].as_u64().unwrap());
        }
    }
    let flood_secs = started.elapsed().as_secs();
    // Every query answered (none of them over the rate): wait for the counter.
    let mut stats = gw.stats().await;
    for _ in 0..50 {
        if view_stats(&stats, "default")["redirected"] == 2000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        stats = gw.stats().await;
    }
    assert_eq!(view_stats(&stats, "default")["redirected"], 2000, "{stats}");
    assert_eq!(stats["client_table_size"], 64, "{stats}");
    let tracked = stats["clients_tracked"].as_u64().unwrap();
    assert!(
        tracked <= 64 && max_tracked <= 64,
        "{tracked} {max_tracked}: {stats}"
    );
    assert!(tracked > 0, "{stats}");

    // The sweep every 10 s empties the tables once the flood is over.
    let mut emptied = false;
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if gw.stats().await["clients_tracked"] == 0 {
            emptied = true;
            break;
        }
    }
    assert!(emptied, "the per-client tables were not swept within 25 s");

    let stats = gw.stats().await;
    let suppressed_total = stats["query_log_suppressed"].as_u64().unwrap();
    let log = gw.stop().await;
    let written = log
        .lines()
        .filter(|l| l.contains("imtegrity::dns::query") && l.contains("redirected"))
        .count();
    let written = u64::try_from(written).unwrap();
    // At most 5 in each of the log budget's one-second windows the flood and the status
    // calls touched: `elapsed` whole seconds span at most elapsed + 2 of them.
    let elapsed = started.elapsed().as_secs();
    assert!(
        written <= 5 * (elapsed + 2),
        "{written} lines in {elapsed} s (flood {flood_secs} s)"
    );
    assert!(written >= 5, "{written}");
    assert_eq!(written + suppressed_total, 2000);
    let reported: u64 = log
        .lines()
        .filter(|l| l.contains("query log lines suppressed"))
        .filter_map(|l| {
            let rest = l.split("suppressed=").nth(1)?;
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert_eq!(reported, suppressed_total, "{log}");
}
