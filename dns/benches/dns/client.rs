//! A minimal DNS client for the readiness and correctness check.

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use crate::START_TIMEOUT;
use crate::servers::Server;

pub(crate) fn query_bytes(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Skips a possibly compressed name at `at`; where it ends.
pub(crate) fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xC0 == 0xC0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

/// The RCODE and the A addresses of the answer section of a response to `id`.
pub(crate) fn parse_answer(msg: &[u8], id: u16) -> Option<(u8, Vec<Ipv4Addr>)> {
    let h = msg.get(..12)?;
    if u16::from_be_bytes([h[0], h[1]]) != id || h[2] & 0x80 == 0 {
        return None;
    }
    let rcode = h[3] & 0x0F;
    let qd = u16::from_be_bytes([h[4], h[5]]);
    let an = u16::from_be_bytes([h[6], h[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        at = skip_name(msg, at)?;
        let fixed = msg.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = msg.get(at + 10..at + 10 + rdlen)?;
        if rtype == 1 && rdlen == 4 {
            addrs.push(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        at += 10 + rdlen;
    }
    Some((rcode, addrs))
}

/// Asks `name A` until the server answers (or `START_TIMEOUT`); the answer must be `want`.
pub(crate) fn ready(mut server: Server, name: &str, want: Ipv4Addr) -> Result<Server, String> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    let mut buf = [0u8; 4096];
    let mut id: u16 = 0x4242;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("exited with {status} before answering"));
        }
        id = id.wrapping_add(1);
        let _ = socket.send_to(&query_bytes(id, name), server.addr);
        let Ok((len, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        match parse_answer(&buf[..len], id) {
            Some((0, addrs)) if addrs == [want] => return Ok(server),
            Some((rcode, addrs)) => last = format!("rcode {rcode}, A {addrs:?}"),
            None => last = "an unparsable answer".into(),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "{name} A: expected {want}, got {last} within {START_TIMEOUT:?}"
    ))
}
