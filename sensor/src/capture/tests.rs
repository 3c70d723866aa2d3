//! The capture on a real link: a veth pair in a network namespace each test creates (the
//! root namespace is not touched), frames sent into one end with a packet socket (pnet's
//! datalink channel) and read from the rings at the other.
//!
//! Needs root and iproute2; skipped with a message otherwise (a failure under `CI=true`).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use archive::Kind;
use oscar::message::signon::{TLV_COOKIE, TLV_SCREEN_NAME};
use oscar::message::{IcbmSend, KeyRequest, LoginReply, SignonHello};
use oscar::{ScreenName, SnacBody};
use pnet_datalink::{Channel, DataLinkSender};
use settings::dns::NameSet;

use super::*;
use crate::bypass::AllowList;
use crate::packet::{self, build};
use crate::ring_block;

/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(10);

/// A network namespace with a veth pair, `tx0` (frames are sent into it) and `cap0` (the
/// capture), IPv6 off so nothing but the test's frames crosses it. Deleted on drop.
struct Link {
    ns: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Link {
    /// The link, or `None` (the test skipped) without root or `ip`.
    fn create(test: &str) -> Option<Self> {
        let root = rustix::process::geteuid().is_root();
        let have_ip = Command::new("ip")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !root || !have_ip {
            test_skips::skip_or_fail(
                test,
                "needs root and iproute2's `ip` (network namespaces, packet sockets)",
            );
            return None;
        }
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let ns = format!("imt-ring-{}-{n}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "delete", &ns])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &ns]);
        let link = Self { ns };
        ip(&[
            "netns",
            "exec",
            &link.ns,
            "sysctl",
            "-q",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]);
        ip(&[
            "-n", &link.ns, "link", "add", "tx0", "type", "veth", "peer", "name", "cap0",
        ]);
        for dev in ["tx0", "cap0"] {
            ip(&["-n", &link.ns, "link", "set", dev, "up"]);
        }
        Some(link)
    }

    /// Runs `script` on a thread moved into the namespace, so the sockets it opens live
    /// there.
    fn run<T: Send + 'static>(&self, script: impl FnOnce() -> T + Send + 'static) -> T {
        let path = PathBuf::from("/run/netns").join(&self.ns);
        std::thread::spawn(move || {
            let target = File::open(&path).expect("open the namespace");
            rustix::thread::move_into_link_name_space(
                target.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .expect("setns");
            script()
        })
        .join()
        .expect("the test's thread in the namespace")
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.ns])
            .status();
    }
}

/// A packet socket that sends frames out of `tx0`.
fn sender() -> Box<dyn DataLinkSender> {
    let nic = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == "tx0")
        .expect("tx0");
    match pnet_datalink::channel(&nic, pnet_datalink::Config::default()) {
        Ok(Channel::Ethernet(tx, _rx)) => tx,
        Ok(_) => panic!("not an Ethernet channel"),
        Err(e) => panic!("open tx0: {e}"),
    }
}

fn send(tx: &mut dyn DataLinkSender, frames: &[Vec<u8>]) {
    for f in frames {
        tx.send_to(f, None).expect("a send").expect("sent");
    }
}

/// Every frame in `ring`'s blocks handed over so far.
fn drain(ring: &mut Ring, into: &mut Vec<Vec<u8>>) {
    while let Some(block) = ring.next_block() {
        let mut frames = ring_block::frames(block.bytes());
        into.extend(frames.by_ref().map(<[u8]>::to_vec));
        assert!(!frames.broken());
    }
}

/// A connection between two `address:port`s, its sides' sequences starting apart.
fn conn(client: &str, server: &str) -> build::Connection {
    build::Connection::new(
        client.parse().unwrap(),
        server.parse().unwrap(),
        [1000, 9000],
    )
}

/// The flow a captured frame is on, the same both ways.
fn flow_of(frame: &[u8]) -> (SocketAddr, SocketAddr) {
    let s = packet::parse_ethernet(frame).expect("only the test's TCP frames cross the link");
    (s.src.min(s.dst), s.src.max(s.dst))
}

#[test]
fn fanout_gives_each_flow_both_ways_to_one_ring_and_every_frame_once() {
    let Some(link) =
        Link::create("fanout_gives_each_flow_both_ways_to_one_ring_and_every_frame_once")
    else {
        return;
    };
    // An odd number, so that a round-robin split (not by flow) would split every flow.
    let flows = 61u16;
    let (per_ring, sent, counted) = link.run(move || {
        let capture = Capture::open(
            "cap0",
            CaptureOptions {
                ring_bytes: 2 * 1024 * 1024,
                threads: 2,
            },
        )
        .expect("open the capture");
        assert_eq!(capture.threads(), 2);
        let mut rings = capture.into_rings();
        let mut tx = sender();
        let mut frames = Vec::new();
        let mut conns: Vec<build::Connection> = (0..flows)
            .map(|n| {
                conn(
                    &format!("10.80.{}.{}:{}", n / 200, n % 200 + 1, 40_000 + n),
                    &format!("203.0.113.{}:5190", n % 7 + 1),
                )
            })
            .collect();
        // Interleaved, both ways: a handshake, data each way, a close.
        for (up, flags, payload) in [
            (true, build::SYN, &b""[..]),
            (false, build::SYN | build::ACK, b""),
            (true, build::PSH_ACK, b"up data"),
            (false, build::PSH_ACK, b"down data"),
            (true, build::FIN_ACK, b""),
            (false, build::FIN_ACK, b""),
        ] {
            for c in &mut conns {
                frames.push(c.frame(up, flags, payload));
            }
        }
        send(tx.as_mut(), &frames);
        let mut per_ring = vec![Vec::new(), Vec::new()];
        let deadline = Instant::now() + WAIT;
        while per_ring.iter().map(Vec::len).sum::<usize>() < frames.len()
            && Instant::now() < deadline
        {
            for (ring, got) in rings.iter_mut().zip(&mut per_ring) {
                drain(ring, got);
                ring.wait(Duration::from_millis(20)).expect("poll");
            }
        }
        let counted: Vec<kernel_stats::KernelCounts> = rings
            .iter()
            .map(|r| kernel_stats::read(r.fd()).expect("PACKET_STATISTICS"))
            .collect();
        (per_ring, frames.len(), counted)
    });
    let mut ring_of: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut seen = HashSet::new();
    for (i, frames) in per_ring.iter().enumerate() {
        for f in frames {
            assert!(seen.insert(f.clone()), "a frame was captured twice");
            let flow = flow_of(f);
            let ring = *ring_of.entry(flow).or_insert(i);
            assert_eq!(ring, i, "flow {flow:?} was split between the rings");
        }
    }
    assert_eq!(seen.len(), sent, "every frame, once");
    assert_eq!(ring_of.len(), usize::from(flows));
    for i in 0..2 {
        assert!(
            ring_of.values().any(|&r| r == i),
            "ring {i} got no flow: the traffic was not split"
        );
    }
    // The kernel's counts, summed over the rings, say the same.
    let packets: u64 = counted.iter().map(|k| k.packets).sum();
    let drops: u64 = counted.iter().map(|k| k.drops).sum();
    assert_eq!((packets, drops), (sent as u64, 0), "{counted:?}");
}

#[test]
fn a_full_ring_drops_and_says_how_many() {
    let Some(link) = Link::create("a_full_ring_drops_and_says_how_many") else {
        return;
    };
    let (sent, captured, counted) = link.run(|| {
        // The smallest ring (1 MiB), not read while some 4 MB arrive.
        let capture = Capture::open(
            "cap0",
            CaptureOptions {
                ring_bytes: 0,
                threads: 1,
            },
        )
        .expect("open the capture");
        assert_eq!(capture.ring_bytes(), 1024 * 1024);
        let mut rings = capture.into_rings();
        let mut tx = sender();
        let mut conn = conn("10.80.0.1:40000", "203.0.113.1:80");
        let frames: Vec<Vec<u8>> = (0..3000)
            .map(|_| conn.frame(true, build::PSH_ACK, &[0x55; 1400]))
            .collect();
        send(tx.as_mut(), &frames);
        // Let the kernel hand over the last, partly filled block.
        std::thread::sleep(Duration::from_millis(200));
        let counted = kernel_stats::read(rings[0].fd()).expect("PACKET_STATISTICS");
        let mut captured = Vec::new();
        drain(&mut rings[0], &mut captured);
        (frames.len() as u64, captured.len() as u64, counted)
    });
    assert!(counted.drops > 0, "{counted:?}");
    assert!(counted.ring_full > 0, "{counted:?}");
    assert_eq!(counted.packets, sent, "{counted:?}");
    assert_eq!(captured + counted.drops, sent, "{counted:?}");
}

fn sensor_settings(max_flows: usize) -> SensorSettings {
    SensorSettings {
        interface: "cap0".into(),
        node: "ring-test".into(),
        allow: AllowList::new(["192.0.2.10/32".parse().unwrap()]),
        tls_names: NameSet::from_config(true, &[]).unwrap(),
        passive: true,
        max_flows,
        flow_buffer: 65_542,
        flow_idle: Duration::from_secs(300),
    }
}

fn flap_bytes(snac: &impl SnacBody) -> Vec<u8> {
    snac.to_snac(1)
        .unwrap()
        .to_flap()
        .unwrap()
        .to_bytes()
        .unwrap()
        .to_vec()
}

fn hello(cookie: Option<&[u8]>) -> Vec<u8> {
    let hello = match cookie {
        Some(c) => SignonHello::with_cookie(c.to_vec()),
        None => SignonHello::default(),
    };
    hello.to_flap().unwrap().to_bytes().unwrap().to_vec()
}

/// A login at the authorizer that names `name` and hands out `cookie`, then the BOS
/// connection that presents it and sends an IM: two bypass flows.
fn login_then_bos(name: &str, cookie: &[u8]) -> Vec<Vec<u8>> {
    let sn = ScreenName::parse(name.as_bytes()).unwrap();
    let mut auth = conn("10.80.1.2:40001", "203.0.113.5:5190");
    let mut req = KeyRequest::default();
    req.tlvs.set(TLV_SCREEN_NAME, sn.to_bytes());
    let mut reply = LoginReply::default();
    reply.tlvs.set(TLV_SCREEN_NAME, sn.to_bytes());
    reply.tlvs.set(TLV_COOKIE, cookie.to_vec());
    let mut frames = vec![
        auth.frame(true, build::SYN, b""),
        auth.frame(false, build::SYN | build::ACK, b""),
        auth.frame(false, build::PSH_ACK, &hello(None)),
        auth.frame(true, build::PSH_ACK, &hello(None)),
        auth.frame(true, build::PSH_ACK, &flap_bytes(&req)),
        auth.frame(false, build::PSH_ACK, &flap_bytes(&reply)),
        auth.frame(true, build::FIN_ACK, b""),
        auth.frame(false, build::FIN_ACK, b""),
    ];
    let mut bos = conn("10.80.1.2:40002", "203.0.113.6:5191");
    let buddy = ScreenName::parse(b"buddy").unwrap();
    let im = IcbmSend::text([1; 8], &buddy, "over the ring").unwrap();
    frames.extend([
        bos.frame(true, build::SYN, b""),
        bos.frame(false, build::SYN | build::ACK, b""),
        bos.frame(false, build::PSH_ACK, &hello(None)),
        bos.frame(true, build::PSH_ACK, &hello(Some(cookie))),
        bos.frame(true, build::PSH_ACK, &flap_bytes(&im)),
        bos.frame(true, build::FIN_ACK, b""),
        bos.frame(false, build::FIN_ACK, b""),
    ]);
    frames
}

#[test]
fn the_sensor_on_two_rings_reports_each_flow_once_with_its_name() {
    let Some(link) = Link::create("the_sensor_on_two_rings_reports_each_flow_once_with_its_name")
    else {
        return;
    };
    let (events, stats) = link.run(|| {
        let capture = Capture::open(
            "cap0",
            CaptureOptions {
                ring_bytes: 2 * 1024 * 1024,
                threads: 2,
            },
        )
        .expect("open the capture");
        let stats = Arc::new(SensorStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, records) = std::sync::mpsc::sync_channel(1024);
        let (run_stats, run_stop) = (Arc::clone(&stats), Arc::clone(&stop));
        let reader = std::thread::spawn(move || {
            run(capture, sensor_settings(100), run_stats, &sink, &run_stop)
        });
        let frames = login_then_bos("Trader Joe", b"cookie-0123456789");
        send(sender().as_mut(), &frames);
        let deadline = Instant::now() + WAIT;
        while stats.snapshot().packets < frames.len() as u64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        reader.join().expect("the capture").expect("capture ran");
        (records.try_iter().collect::<Vec<_>>(), stats.snapshot())
    });
    let alerts: Vec<_> = events
        .iter()
        .filter(|e| e.kind == Kind::BypassAlert)
        .collect();
    assert_eq!(alerts.len(), 2, "one alert per flow: {events:#?}");
    for alert in &alerts {
        assert_eq!(alert.sender, "Trader Joe", "{alert:#?}");
    }
    let ims: Vec<_> = events.iter().filter(|e| e.kind == Kind::Im).collect();
    assert_eq!(ims.len(), 1, "{events:#?}");
    assert_eq!(ims[0].text, "over the ring");
    assert_eq!(ims[0].sender, "Trader Joe");
    assert_eq!(stats.bypasses, 2, "{stats:?}");
    assert_eq!(stats.kernel_drops, 0, "{stats:?}");
    assert_eq!(stats.kernel_packets, stats.packets, "{stats:?}");
    assert_eq!(stats.flows_active, 0, "{stats:?}");
}

#[test]
fn a_ring_takes_nothing_until_it_is_started() {
    // A socket of a fanout group that is not whole yet must not read packets the group will
    // also deliver; the start-up filter keeps them out.
    let Some(link) = Link::create("a_ring_takes_nothing_until_it_is_started") else {
        return;
    };
    let (before, counted_before, after) = link.run(|| {
        let index = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == "cap0")
            .expect("cap0")
            .index;
        let mut ring = Ring::open(index, RingSize::share(0, 1)).expect("open");
        ring.join_fanout(None).expect("a new group");
        let mut tx = sender();
        let mut conn = conn("10.80.0.1:40000", "203.0.113.1:80");
        let mut burst = || -> Vec<Vec<u8>> {
            (0..20)
                .map(|_| conn.frame(true, build::PSH_ACK, b"data"))
                .collect()
        };
        send(tx.as_mut(), &burst());
        std::thread::sleep(Duration::from_millis(200));
        let mut before = Vec::new();
        drain(&mut ring, &mut before);
        let counted_before = kernel_stats::read(ring.fd()).expect("PACKET_STATISTICS");
        ring.start().expect("start");
        send(tx.as_mut(), &burst());
        let mut after = Vec::new();
        let deadline = Instant::now() + WAIT;
        while after.len() < 20 && Instant::now() < deadline {
            ring.wait(Duration::from_millis(20)).expect("poll");
            drain(&mut ring, &mut after);
        }
        (before.len(), counted_before.packets, after.len())
    });
    assert_eq!((before, counted_before, after), (0, 0, 20));
}

/// `frame` (Ethernet, IPv4 without options) cut into two IPv4 fragments at `at` bytes of
/// IP payload (a multiple of 8).
fn fragments(frame: &[u8], at: usize) -> [Vec<u8>; 2] {
    let (eth, rest) = frame.split_at(14);
    let (ip, payload) = rest.split_at(20);
    let piece = |bytes: &[u8], offset: usize, more: bool| {
        let mut header = ip.to_vec();
        header[2..4].copy_from_slice(&u16::try_from(20 + bytes.len()).unwrap().to_be_bytes());
        header[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        let flags_offset = u16::try_from(offset / 8).unwrap() | if more { 0x2000 } else { 0 };
        header[6..8].copy_from_slice(&flags_offset.to_be_bytes());
        header[10..12].copy_from_slice(&[0, 0]);
        let sum = header
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = (sum & 0xffff) + (sum >> 16);
        header[10..12].copy_from_slice(&(!((sum & 0xffff) + (sum >> 16)) as u16).to_be_bytes());
        [eth, &header, bytes].concat()
    };
    [
        piece(&payload[..at], 0, true),
        piece(&payload[at..], at, false),
    ]
}

#[test]
fn ipv4_fragments_are_reassembled_before_they_reach_a_ring() {
    // PACKET_FANOUT_FLAG_DEFRAG: the fanout hashes a datagram, not its fragments, and the
    // ring gets it whole; so the sensor reads TCP sent in fragments.
    let Some(link) = Link::create("ipv4_fragments_are_reassembled_before_they_reach_a_ring") else {
        return;
    };
    let text = vec![b'x'; 200];
    let mut conn = conn("10.80.0.1:40000", "203.0.113.1:5190");
    let whole = conn.frame(true, build::PSH_ACK, &text);
    let pieces = fragments(&whole, 128);
    let captured = link.run(move || {
        let capture = Capture::open(
            "cap0",
            CaptureOptions {
                ring_bytes: 0,
                threads: 2,
            },
        )
        .expect("open the capture");
        let mut rings = capture.into_rings();
        send(sender().as_mut(), &pieces);
        let mut captured = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while captured.is_empty() && Instant::now() < deadline {
            for ring in &mut rings {
                ring.wait(Duration::from_millis(20)).expect("poll");
                drain(ring, &mut captured);
            }
        }
        // Anything else (a fragment on its own) would have come by now.
        std::thread::sleep(Duration::from_millis(100));
        for ring in &mut rings {
            drain(ring, &mut captured);
        }
        captured
    });
    assert_eq!(captured.len(), 1, "one datagram, not two fragments");
    let segment = packet::parse_ethernet(&captured[0]).expect("a whole TCP segment");
    assert_eq!(segment.payload, &text[..]);
}
