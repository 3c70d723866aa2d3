//! Entry points for the sensor's cargo-fuzz targets: `sensor_stream`, arbitrary captured
//! frames through the whole sensor (packet parsing, flow table, reassembly, detection, SNI,
//! passive OSCAR decoding), checking the memory bounds hold; and `ring_block`, arbitrary
//! bytes walked as a capture ring's block.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use settings::dns::NameSet;

use crate::bypass::AllowList;
use crate::engine::{Sensor, SensorSettings};
use crate::packet::build;
use crate::stats::SensorStats;

/// A small sensor: few flows and small buffers, so the bounds are reached.
fn small_sensor() -> Sensor {
    Sensor::new(
        SensorSettings {
            interface: "fuzz0".into(),
            node: "fuzz".into(),
            allow: AllowList::new("192.0.2.1/32".parse::<ipnet::IpNet>()),
            tls_names: NameSet::from_config(true, &[]).unwrap_or_default(),
            passive: true,
            max_flows: 8,
            flow_buffer: 2048,
            flow_idle: Duration::from_secs(5),
        },
        Arc::new(SensorStats::default()),
    )
}

/// `data` is a sequence of records: byte 0 chooses what the record is (a raw Ethernet frame
/// of the following `len` bytes, or a TCP segment of flow `n` with flags and a sequence
/// offset built around the following bytes, or a clock step); nothing may panic, the flow
/// table never exceeds its bound, and no flow buffers more than its two directions allow.
pub fn sensor_stream(data: &[u8]) {
    let mut sensor = small_sensor();
    let mut out = Vec::new();
    let mut now = Instant::now();
    let mut rest = data;
    let mut seqs = [[0u32; 2]; 4];
    while let Some((&op, tail)) = rest.split_first() {
        let Some((&len, tail)) = tail.split_first() else {
            break;
        };
        let n = usize::from(len).min(tail.len());
        let (body, tail) = tail.split_at(n);
        rest = tail;
        match op % 4 {
            0 => sensor.on_frame(body, now, &mut out),
            1 | 2 => {
                let flow = usize::from(op >> 4) % 4;
                let up = op & 0x08 != 0;
                let client = SocketAddr::from(([10, 0, 0, 2], 40_000 + flow as u16));
                let server =
                    SocketAddr::from(([203, 0, 113, 5], if flow % 2 == 0 { 5190 } else { 80 }));
                let (src, dst) = if up {
                    (client, server)
                } else {
                    (server, client)
                };
                let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
                    continue;
                };
                let dir = usize::from(up);
                let flags = match op & 0x06 {
                    0 => build::SYN,
                    2 => build::PSH_ACK,
                    4 => build::FIN_ACK,
                    _ => build::ACK,
                };
                // Mostly in order; op 2 jumps (a gap or reordering).
                let seq = if op % 4 == 2 {
                    seqs[flow][dir].wrapping_add(u32::from(len) * 7)
                } else {
                    seqs[flow][dir]
                };
                let frame = build::tcp_v4(src, dst, seq, flags, body);
                seqs[flow][dir] = seq
                    .wrapping_add(body.len() as u32)
                    .wrapping_add(u32::from(flags == build::SYN));
                sensor.on_frame(&frame, now, &mut out);
            }
            _ => {
                now += Duration::from_millis(u64::from(len) * 50);
                sensor.tick(now, &mut out);
            }
        }
        assert!(sensor.flows() <= 8, "the flow table grew past its bound");
        assert!(
            sensor.parked() <= crate::engine::PARKED_MAX,
            "too many flows wait for a name"
        );
        // Two directions, each at most the detection window or the flow buffer, plus
        // reassembly's out-of-order bytes, plus the IMs held while waiting for a name (at
        // most a frame's worth, for live and parked flows alike).
        let per_flow = 2 * (16 * 1024 + 5 + 2048 + 2048 + 256) + 2048;
        assert!(
            sensor.buffered_bytes() <= 8 * per_flow + sensor.parked() * 2048,
            "a flow buffered past its bound"
        );
    }
    sensor.tick(now + Duration::from_secs(3600), &mut out);
    assert_eq!(sensor.flows(), 0, "every flow expires");
    assert_eq!(sensor.parked(), 0, "every wait for a name ends");
}

/// `data` walked as one `TPACKET_V3` block the kernel handed over (`ring_block.rs`): nothing
/// panics, every frame lies inside the block, and the walk moves forward, so it ends.
pub fn ring_block(data: &[u8]) {
    let block = data.as_ptr_range();
    let mut frames = 0usize;
    for frame in crate::ring_block::frames(data) {
        let at = frame.as_ptr_range();
        assert!(
            block.start <= at.start && at.end <= block.end,
            "a frame outside its block"
        );
        frames += 1;
        assert!(
            frames <= data.len() / size_of::<libc::tpacket3_hdr>() + 1,
            "the walk did not move forward"
        );
    }
}
