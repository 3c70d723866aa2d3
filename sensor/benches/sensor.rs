//! How fast the sensor keeps up, and what a tracked flow costs.
//!
//! ```sh
//! cargo bench -p sensor --bench sensor           # about two minutes; needs root, tcpreplay
//! IMT_BENCH_QUICK=1 cargo bench -p sensor --bench sensor
//! ```
//!
//! * **Memory per flow** (no root needed): a sensor in this process takes N connections
//!   that stay open, OSCAR bypass flows (each read as OSCAR, screen name known) and then
//!   plain HTTP flows (ignored once classified); the resident-set growth divided by N.
//! * **Packets per second without kernel drops**: a generated capture (OSCAR logins with
//!   IMs both ways around the gateway, plus HTTP and random TCP noise) is replayed with
//!   tcpreplay at increasing rates into one end of a veth pair, inside a network namespace
//!   the bench creates; the sensor captures on the other end, and in the same run so does
//!   `tcpdump -w /dev/null` (the peer). Each row says what tcpreplay achieved, what each
//!   capture saw and what the kernel dropped before each could read it.
//!
//! Environment: `IMT_BENCH_QUICK=1` (short cells, fewer flows), `IMT_BENCH_SECS` (seconds
//! per rate, default 4), `IMT_BENCH_RATES` (comma-separated packets per second; 0 is
//! tcpreplay's top speed), `IMT_BENCH_THREADS` (capture threads, default 0: one per core,
//! at most 4, as `sensor.capture_threads`), `IMT_BENCH_RING_MIB` (the sensor's rings, MiB
//! between the threads; default `sensor.socket_buffer`'s; tcpdump gets `-B 8192`),
//! `IMT_BENCH_FLOWS` (flows for the memory part, default 50 000), `IMT_BENCH_JSON=FILE` (also
//! append every table row to FILE as a JSON line, see the `bench_json` crate: per rate, the
//! packets the sensor captured with tcpdump's as the peer; memory per flow and the engine's
//! cost per frame without one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::SocketAddrV4;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sensor::packet::build;
use sensor::{AllowList, Capture, CaptureOptions, Sensor, SensorSettings, SensorStats};
use settings::SensorConfig;
use settings::dns::NameSet;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn settings(interface: &str, max_flows: usize) -> SensorSettings {
    SensorSettings {
        interface: interface.into(),
        node: "bench".into(),
        allow: AllowList::new(["192.0.2.10/32".parse().unwrap()]),
        tls_names: NameSet::from_config(true, &[]).unwrap(),
        passive: true,
        max_flows,
        flow_buffer: 65_542,
        flow_idle: Duration::from_secs(300),
    }
}

/// Connection `n` of the generated capture: its own client address and port, a server on
/// `port`, sequence numbers derived from `n`.
fn conn(n: u32, port: u16) -> build::Connection {
    let c = n.to_be_bytes();
    build::Connection::new(
        SocketAddrV4::new(
            [10, 70, c[2], c[3].max(1)].into(),
            20_000 + (n % 40_000) as u16,
        ),
        SocketAddrV4::new([203, 0, 113, (n % 200) as u8 + 1].into(), port),
        [n.wrapping_mul(7919), n.wrapping_mul(104_729)],
    )
}

fn flap(channel: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x2a, channel, 0, 1];
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const HELLO: &[u8] = &[0, 0, 0, 1];

fn key_request(name: &str) -> Vec<u8> {
    let mut p = vec![0, 0x17, 0, 6, 0, 0, 0, 0, 0, 1, 0, 1, 0, name.len() as u8];
    p.extend_from_slice(name.as_bytes());
    flap(2, &p)
}

/// An outgoing text IM (0x0004/0x0006, channel 1, one text fragment).
fn im(to: &str, text: &str) -> Vec<u8> {
    let mut frag = vec![5, 1, 0, 1, 1, 1, 1];
    frag.extend_from_slice(&((text.len() + 4) as u16).to_be_bytes());
    frag.extend_from_slice(&[0, 0, 0, 0]);
    frag.extend_from_slice(text.as_bytes());
    let mut p = vec![0, 4, 0, 6, 0, 0, 0, 0, 0, 2];
    p.extend_from_slice(&[1; 8]);
    p.extend_from_slice(&[0, 1, to.len() as u8]);
    p.extend_from_slice(to.as_bytes());
    p.extend_from_slice(&[0, 2]);
    p.extend_from_slice(&(frag.len() as u16).to_be_bytes());
    p.extend_from_slice(&frag);
    flap(2, &p)
}

/// A whole OSCAR bypass connection: handshake, hellos, key request, IMs, close.
fn oscar_flow(n: u32, ims: usize) -> Vec<Vec<u8>> {
    let port = if n.is_multiple_of(2) { 5190 } else { 80 };
    let mut c = conn(n, port);
    let mut v = vec![
        c.frame(true, build::SYN, b""),
        c.frame(false, build::SYN | build::ACK, b""),
        c.frame(true, build::ACK, b""),
        c.frame(false, build::PSH_ACK, &flap(1, HELLO)),
        c.frame(true, build::PSH_ACK, &flap(1, HELLO)),
        c.frame(true, build::PSH_ACK, &key_request(&format!("user{n}"))),
    ];
    for i in 0..ims {
        v.push(c.frame(
            true,
            build::PSH_ACK,
            &im("buddy", &format!("message {i} of flow {n}")),
        ));
        v.push(c.frame(false, build::ACK, b""));
    }
    v.push(c.frame(true, build::FIN_ACK, b""));
    v.push(c.frame(false, build::FIN_ACK, b""));
    v
}

/// A plain HTTP exchange (noise).
fn http_flow(n: u32) -> Vec<Vec<u8>> {
    let mut c = conn(n + 1_000_000, 8000 + (n % 100) as u16);
    vec![
        c.frame(true, build::SYN, b""),
        c.frame(false, build::SYN | build::ACK, b""),
        c.frame(
            true,
            build::PSH_ACK,
            b"GET /index.html HTTP/1.1\r\nHost: intranet.example\r\n\r\n",
        ),
        c.frame(false, build::PSH_ACK, &[b'x'; 1200]),
        c.frame(false, build::PSH_ACK, &[b'y'; 1200]),
        c.frame(true, build::FIN_ACK, b""),
        c.frame(false, build::FIN_ACK, b""),
    ]
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Resident bytes per open flow: OSCAR bypass flows, then HTTP flows.
fn memory_per_flow(n: u32) -> (f64, f64) {
    let now = Instant::now();
    let measure = |flows: &dyn Fn(u32) -> Vec<Vec<u8>>| {
        let mut s = Sensor::new(
            settings("bench0", n as usize + 10),
            Arc::new(SensorStats::default()),
        );
        let before = rss_bytes();
        let mut out = Vec::new();
        for i in 0..n {
            let frames = flows(i);
            // Everything but the closing FINs: the flow stays open.
            for f in &frames[..frames.len() - 2] {
                s.on_frame(f, now, &mut out);
            }
            out.clear();
        }
        assert_eq!(s.flows(), n as usize);
        let grown = rss_bytes().saturating_sub(before);
        drop(s);
        grown as f64 / f64::from(n)
    };
    let oscar = measure(&|i| oscar_flow(i, 1));
    let http = measure(&|i| http_flow(i));
    (oscar, http)
}

/// The replayed capture: `n_oscar` OSCAR flows with 10 IMs each, as many HTTP flows, and
/// five times as many segments of random bytes on port 9000.
fn capture_frames(n_oscar: u32) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for n in 0..n_oscar {
        frames.extend(oscar_flow(n, 10));
        frames.extend(http_flow(n));
    }
    let mut rng = 0x2545_f491_u64;
    for n in 0..n_oscar * 5 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut c = conn(n + 2_000_000, 9000);
        frames.push(c.frame(true, build::PSH_ACK, &rng.to_le_bytes().repeat(40)));
    }
    frames
}

/// What the engine costs per frame with no capture around it: the same frames fed straight
/// to a fresh sensor, pass after pass for at least a second. Tells whether the packet-rate
/// limit below is the engine's or the capture path's.
fn engine_alone(frames: &[Vec<u8>]) -> (u32, f64) {
    let start = Instant::now();
    let mut passes = 0u32;
    let mut fed = 0u64;
    while passes < 3 || start.elapsed() < Duration::from_secs(1) {
        let mut s = Sensor::new(
            settings("bench0", 100_000),
            Arc::new(SensorStats::default()),
        );
        let mut out = Vec::new();
        let now = Instant::now();
        for f in frames {
            s.on_frame(f, now, &mut out);
            out.clear();
        }
        fed += frames.len() as u64;
        passes += 1;
    }
    (passes, start.elapsed().as_nanos() as f64 / fed as f64)
}

/// Writes `frames` as a classic pcap file (Ethernet link type).
fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut w = BufWriter::new(File::create(path).unwrap());
    w.write_all(&0xa1b2_c3d4_u32.to_le_bytes()).unwrap();
    w.write_all(&2u16.to_le_bytes()).unwrap();
    w.write_all(&4u16.to_le_bytes()).unwrap();
    w.write_all(&[0; 8]).unwrap();
    w.write_all(&65_535u32.to_le_bytes()).unwrap();
    w.write_all(&1u32.to_le_bytes()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let len = f.len() as u32;
        w.write_all(&(i as u32 / 1_000_000).to_le_bytes()).unwrap();
        w.write_all(&(i as u32 % 1_000_000).to_le_bytes()).unwrap();
        w.write_all(&len.to_le_bytes()).unwrap();
        w.write_all(&len.to_le_bytes()).unwrap();
        w.write_all(f).unwrap();
    }
    w.flush().unwrap();
}

/// The namespace with the veth pair, deleted on drop.
struct Ns(String);

impl Ns {
    fn create() -> Self {
        let name = format!("imt-sensor-bench-{}", std::process::id());
        let ip = |args: &[&str]| {
            let ok = Command::new("ip").args(args).status().unwrap().success();
            assert!(ok, "ip {args:?}");
        };
        let _ = Command::new("ip")
            .args(["netns", "delete", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let ns = Self(name.clone());
        ip(&[
            "-n", &name, "link", "add", "rep0", "type", "veth", "peer", "name", "cap0",
        ]);
        for dev in ["rep0", "cap0", "lo"] {
            ip(&["-n", &name, "link", "set", dev, "up"]);
        }
        ns
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

struct Cell {
    rate: u64,
    sent: u64,
    achieved_pps: f64,
    sensor_seen: u64,
    sensor_drops: u64,
    bypasses: u64,
    tcpdump_seen: u64,
    tcpdump_drops: u64,
}

fn number_before(text: &str, what: &str) -> u64 {
    text.lines()
        .find(|l| l.contains(what))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn cell(ns: &Ns, pcap: &Path, rate: u64, secs: u64, capture: CaptureOptions) -> Cell {
    // The sensor: a thread in the namespace, capturing on cap0 as `capture` says, its
    // records only counted.
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(SensorStats::default());
    let (tx, rx) = std::sync::mpsc::sync_channel(1 << 16);
    let counter = std::thread::spawn(move || rx.iter().count());
    let ns_path = PathBuf::from("/run/netns").join(&ns.0);
    let (stop2, stats2) = (Arc::clone(&stop), Arc::clone(&stats));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let capture = std::thread::spawn(move || {
        let target = File::open(&ns_path).unwrap();
        rustix::thread::move_into_link_name_space(
            target.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .unwrap();
        let capture = Capture::open("cap0", capture).unwrap();
        ready_tx.send(()).unwrap();
        sensor::run_capture(capture, settings("cap0", 65_536), stats2, &tx, &stop2).unwrap();
    });
    ready_rx.recv().unwrap();
    let mut tcpdump = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "tcpdump",
            "-i",
            "cap0",
            "-n",
            "-s",
            "0",
            "-B",
            "8192",
            "-w",
            "/dev/null",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let limit = if rate == 0 {
        500_000 * secs
    } else {
        rate * secs
    };
    let replay = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "tcpreplay",
            "-i",
            "rep0",
            "-q",
            "--loop=0",
        ])
        .arg(format!("--limit={limit}"))
        .arg(if rate == 0 {
            "--topspeed".to_owned()
        } else {
            format!("--pps={rate}")
        })
        .arg(pcap)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&replay.stdout).into_owned();
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    capture.join().unwrap();
    let _ = Command::new("kill")
        .args(["-INT", &tcpdump.id().to_string()])
        .status();
    let _ = tcpdump.wait();
    let mut td = String::new();
    std::io::Read::read_to_string(tcpdump.stderr.as_mut().unwrap(), &mut td).unwrap();
    drop(counter);
    let s = stats.snapshot();
    // "Actual: 400000 packets (...) sent in 4.00 seconds"
    let sent = report
        .split("Actual: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let seconds: f64 = report
        .split(" sent in ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(f64::NAN);
    Cell {
        rate,
        sent,
        achieved_pps: sent as f64 / seconds,
        sensor_seen: s.packets,
        sensor_drops: s.kernel_drops,
        bypasses: s.bypasses,
        tcpdump_seen: number_before(&td, "packets captured"),
        tcpdump_drops: number_before(&td, "packets dropped by kernel"),
    }
}

/// A figure without a peer measured beside it.
fn alone(json: &mut bench_json::BenchJson, what: &str, unit: &str, ours: f64) {
    json.figure(&bench_json::Figure {
        what,
        unit,
        better: bench_json::Better::Lower,
        ours,
        peer: None,
        peer_value: None,
    })
    .expect("IMT_BENCH_JSON");
}

fn main() {
    let quick = std::env::var_os("IMT_BENCH_QUICK").is_some();
    let mut json = bench_json::BenchJson::from_env("sensor", quick).expect("IMT_BENCH_JSON");
    let flows = env_num("IMT_BENCH_FLOWS", if quick { 5_000 } else { 50_000 }) as u32;
    let (oscar, http) = memory_per_flow(flows);
    let n_oscar = if quick { 200 } else { 1_000 };
    let frames = capture_frames(n_oscar);
    println!("## Sensor: memory per tracked flow ({flows} open flows, RSS growth)\n");
    println!("| flow | bytes per flow |\n|---|---:|");
    println!("| OSCAR bypass flow, being read (screen name known, 1 IM seen) | {oscar:.0} |");
    println!("| other TCP flow (HTTP), classified and ignored | {http:.0} |\n");
    alone(
        &mut json,
        "memory per open flow, OSCAR bypass flow being read",
        "bytes",
        oscar,
    );
    alone(
        &mut json,
        "memory per open flow, other TCP flow (HTTP), classified and ignored",
        "bytes",
        http,
    );
    let (passes, per_frame_ns) = engine_alone(&frames);
    println!(
        "## Sensor engine alone, no capture ({} frames × {passes} passes, one thread)\n",
        frames.len()
    );
    println!("| ns per frame | frames per second |\n|---:|---:|");
    println!(
        "| {per_frame_ns:.0} | {:.0} |\n",
        1e9 / per_frame_ns.max(f64::MIN_POSITIVE)
    );
    alone(
        &mut json,
        "sensor engine alone, ns per frame",
        "ns",
        per_frame_ns,
    );

    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if !root || !have("tcpreplay") || !have("tcpdump") {
        println!(
            "packet-rate part skipped: needs root, tcpreplay and tcpdump (tests/peers/install.sh)"
        );
        return;
    }
    let secs = env_num("IMT_BENCH_SECS", if quick { 1 } else { 4 });
    let rates: Vec<u64> = std::env::var("IMT_BENCH_RATES")
        .ok()
        .map(|r| r.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| {
            if quick {
                vec![20_000, 100_000, 200_000, 0]
            } else {
                vec![25_000, 50_000, 100_000, 200_000, 400_000, 800_000, 0]
            }
        });
    let capture = CaptureOptions {
        ring_bytes: std::env::var("IMT_BENCH_RING_MIB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(SensorConfig::default().socket_buffer, |mib| {
                mib * 1024 * 1024
            }),
        threads: env_num("IMT_BENCH_THREADS", 0) as usize,
    };
    let (thread_count, ring_mib) = (capture.thread_count(), capture.ring_bytes >> 20);
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("bench.pcap");
    write_pcap(&pcap, &frames);
    let ns = Ns::create();
    println!(
        "## Sensor: packets per second without kernel drops ({} frames per pass: {n_oscar} OSCAR flows with 10 IMs, {n_oscar} HTTP flows, {} random segments; {secs} s per rate; {thread_count} capture threads, {ring_mib} MiB of ring between them; tcpdump -B 8192)\n",
        frames.len(),
        n_oscar * 5
    );
    println!(
        "| asked pps | tcpreplay achieved pps | sensor: seen / kernel drops | bypasses | tcpdump -w /dev/null: seen / kernel drops |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for rate in rates {
        let c = cell(&ns, &pcap, rate, secs, capture);
        println!(
            "| {} | {:.0} | {} / {} | {} | {} / {} |",
            if c.rate == 0 {
                "top speed".to_owned()
            } else {
                c.rate.to_string()
            },
            c.achieved_pps,
            c.sensor_seen,
            c.sensor_drops,
            c.bypasses,
            c.tcpdump_seen,
            c.tcpdump_drops
        );
        let _ = c.sent;
        // Both captured the same replay on the same interface: the ratio is the share of
        // tcpdump's packets the sensor saw, below 1 by what the kernel dropped before it read.
        json.rate(
            &format!(
                "packets captured, {} asked",
                if c.rate == 0 {
                    "top speed".to_owned()
                } else {
                    format!("{} pps", c.rate)
                }
            ),
            "packets",
            c.sensor_seen as f64,
            "tcpdump -w /dev/null",
            c.tcpdump_seen as f64,
        )
        .expect("IMT_BENCH_JSON");
    }
}
