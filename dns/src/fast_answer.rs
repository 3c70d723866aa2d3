//! Answers written straight into bytes for the fast path: the redirect (A/AAAA/NODATA with
//! SOA), RFC 8482's HINFO for ANY, REFUSED, NOTIMP, SERVFAIL and the truncated "slip".
//! Names are compression pointers into the question, which is copied as the client sent it
//! (keeping its 0x20 case mix). No UDP answer is larger than [`UDP_MAX`].

// Bytes from the network: no index or slice that could panic (as in `oscar`); tests may.
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

use std::net::IpAddr;

use crate::decision::Redirect;
use crate::query::{FastQuery, qtype};

/// The UDP payload size we advertise in OPT.
pub(crate) const EDNS_PAYLOAD: u16 = 1232;

/// The largest UDP answer we send, whatever buffer the client offers (DNS flag day 2020:
/// no IP fragmentation, and a forged query gains its victim at most this much). Larger
/// answers go out empty with TC, and the client asks again over TCP.
pub(crate) const UDP_MAX: u16 = 1232;

/// HINFO's CPU string in RFC 8482's answer to ANY (its §4.2); the OS string is empty.
pub(crate) const RFC8482_CPU: &str = "RFC8482";

/// That HINFO's RDATA: two character-strings, "RFC8482" and "".
const RFC8482_RDATA: [u8; 9] = *b"\x07RFC8482\x00";

/// How large a UDP answer to a query offering `edns_payload` (or no OPT) may be.
pub(crate) fn udp_limit(edns_payload: Option<u16>) -> usize {
    usize::from(edns_payload.map_or(512, |p| p.clamp(512, UDP_MAX)))
}

/// Which answer to write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FastReply<'a> {
    Redirect(&'a Redirect),
    /// RFC 8482's HINFO with this TTL.
    Rfc8482(u32),
    Refused,
    NotImp,
    ServFail,
    Truncated,
}

const RCODE_SERVFAIL: u8 = 2;
const RCODE_NOTIMP: u8 = 4;
const RCODE_REFUSED: u8 = 5;
/// HINFO's TYPE.
const HINFO: u16 = 13;

/// Writes the answer to `q` (whose bytes are `msg`) into `out`: whole if it fits
/// [`udp_limit`], else only header, question and OPT, with TC.
/// Returns whether it was truncated.
pub(crate) fn write(q: &FastQuery, msg: &[u8], reply: FastReply<'_>, out: &mut Vec<u8>) -> bool {
    out.clear();
    let (rcode, aa, ra, tc) = match reply {
        FastReply::Redirect(_) => (0, true, true, false),
        FastReply::Rfc8482(_) => (0, false, true, false),
        FastReply::Refused => (RCODE_REFUSED, false, false, false),
        FastReply::NotImp => (RCODE_NOTIMP, false, false, false),
        FastReply::ServFail => (RCODE_SERVFAIL, false, true, false),
        FastReply::Truncated => (0, false, true, true),
    };
    let opt = q.edns_payload.is_some();
    // The counts are known before anything is written, so the header is written once.
    let (an, ns) = match &reply {
        FastReply::Redirect(r) if r.addrs.is_empty() => (0, 1),
        FastReply::Redirect(r) => (u16::try_from(r.addrs.len()).unwrap_or(u16::MAX), 0),
        FastReply::Rfc8482(_) => (1, 0),
        _ => (0, 0),
    };
    let counts = Counts {
        an,
        ns,
        ar: u16::from(opt),
    };
    header(q, rcode, aa, ra, tc, counts, out);
    // The question as the client sent it (`q` was parsed from `msg`, so it is there).
    let question = msg.get(12..q.question_end).unwrap_or_default();
    out.extend_from_slice(question);
    if let FastReply::Redirect(r) = reply {
        for ip in &r.addrs {
            out.extend_from_slice(&[0xC0, 0x0C]);
            match ip {
                IpAddr::V4(v4) => {
                    rr_head(qtype::A, r.ttl, 4, out);
                    out.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    rr_head(qtype::AAAA, r.ttl, 16, out);
                    out.extend_from_slice(&v6.octets());
                }
            }
        }
        if r.addrs.is_empty() {
            soa(q, r, out);
        }
    }
    if let FastReply::Rfc8482(ttl) = reply {
        out.extend_from_slice(&[0xC0, 0x0C]);
        // RDLENGTH: RFC8482_RDATA's length, which its type fixes.
        rr_head(HINFO, ttl, 9, out);
        out.extend_from_slice(&RFC8482_RDATA);
    }
    if opt {
        write_opt(out);
    }
    if out.len() > udp_limit(q.edns_payload) {
        // Too big for the client's buffer: header, question and OPT with TC set, so it
        // retries over TCP (RFC 1035 §4.2.1, RFC 6891 §7).
        out.clear();
        let counts = Counts {
            an: 0,
            ns: 0,
            ar: u16::from(opt),
        };
        header(q, rcode, aa, ra, true, counts, out);
        out.extend_from_slice(question);
        if opt {
            write_opt(out);
        }
        return true;
    }
    false
}

/// The answer, authority and additional counts of a header (the question count is 1).
#[derive(Clone, Copy)]
struct Counts {
    an: u16,
    ns: u16,
    ar: u16,
}

fn header(
    q: &FastQuery,
    rcode: u8,
    aa: bool,
    ra: bool,
    tc: bool,
    counts: Counts,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(&q.id.to_be_bytes());
    out.push(0x80 | if aa { 0x04 } else { 0 } | if tc { 0x02 } else { 0 } | u8::from(q.rd));
    out.push(if ra { 0x80 } else { 0 } | rcode);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&counts.an.to_be_bytes());
    out.extend_from_slice(&counts.ns.to_be_bytes());
    out.extend_from_slice(&counts.ar.to_be_bytes());
}

fn rr_head(rtype: u16, ttl: u32, rdlen: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&rdlen.to_be_bytes());
}

/// The negative answer's SOA, owned by the matched zone, with MNAME and RNAME pointing at
/// it too, and MINIMUM = the TTL so resolvers cache the NODATA as long as the answer.
fn soa(q: &FastQuery, r: &Redirect, out: &mut Vec<u8>) {
    let zone = q.suffix_offset(r.zone_labels).unwrap_or(12);
    let pointer = (0xC000 | zone).to_be_bytes();
    out.extend_from_slice(&pointer);
    rr_head(qtype::SOA, r.ttl, 4 + 20, out);
    out.extend_from_slice(&pointer);
    out.extend_from_slice(&pointer);
    for v in soa_numbers(r) {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM of the synthesised SOA.
pub(crate) fn soa_numbers(r: &Redirect) -> [u32; 5] {
    [r.serial, 3600, 600, 86_400, r.ttl]
}

fn write_opt(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0, 0, 41]);
    out.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
}
