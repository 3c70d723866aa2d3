//! The fast path's view of a query: the common shape (one IN question, no compression,
//! at most an OPT record) parsed without allocation. Anything else is `None` and goes to
//! hickory's full decoder.

// Bytes from the network: no index or slice that could panic (as in `oscar`); tests may.
#![warn(clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::indexing_slicing))]

/// DNS record types the responder answers itself.
pub(crate) mod qtype {
    /// IPv4 address.
    pub(crate) const A: u16 = 1;
    /// Start of authority.
    pub(crate) const SOA: u16 = 6;
    /// IPv6 address.
    pub(crate) const AAAA: u16 = 28;
    /// EDNS pseudo-record.
    pub(crate) const OPT: u16 = 41;
    /// Any type.
    pub(crate) const ANY: u16 = 255;
}

/// Longest name in wire form (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;

/// A query in the common shape.
#[derive(Debug)]
pub(crate) struct FastQuery {
    /// The query's ID, echoed in the answer.
    pub(crate) id: u16,
    /// Recursion desired, echoed.
    pub(crate) rd: bool,
    /// The query type.
    pub(crate) qtype: u16,
    /// Where the question ends (after QCLASS): the answer copies bytes 12..this.
    pub(crate) question_end: usize,
    /// The EDNS payload size the client offered, if it sent OPT.
    pub(crate) edns_payload: Option<u16>,
    name: [u8; MAX_NAME],
    name_len: usize,
    /// Offsets (from the start of the message) of each label's length byte.
    label_offsets: [u16; 128],
    labels: usize,
    /// A label holds a `.`: joined with dots the name would read as other labels than it
    /// has (`login.oscar` + `aol.com` as `login.oscar.aol.com`), so it has no usable name.
    dotted: bool,
}

impl FastQuery {
    /// Parses `msg`, or `None` if it is not in the common shape.
    pub(crate) fn parse(msg: &[u8]) -> Option<Self> {
        let header: [u8; 12] = msg.get(..12)?.try_into().ok()?;
        let [id_hi, id_lo, flags_hi, _, counts @ ..] = header;
        // QR=0 and OPCODE=QUERY; a response or another opcode goes the slow way.
        if flags_hi & 0xF8 != 0 {
            return None;
        }
        let [0, 1, 0, 0, 0, 0, 0, ar] = counts else {
            return None;
        };
        if ar > 1 {
            return None;
        }
        let mut q = Self {
            id: u16::from_be_bytes([id_hi, id_lo]),
            rd: flags_hi & 0x01 != 0,
            qtype: 0,
            question_end: 0,
            edns_payload: None,
            name: [0; MAX_NAME],
            name_len: 0,
            label_offsets: [0; 128],
            labels: 0,
            dotted: false,
        };
        let mut at = 12;
        let mut wire_len = 0;
        loop {
            let len = usize::from(*msg.get(at)?);
            wire_len += 1 + len;
            if wire_len > MAX_NAME {
                return None;
            }
            if len == 0 {
                at += 1;
                break;
            }
            // A compression pointer or reserved label type: not in a plain query.
            if len > 63 {
                return None;
            }
            let label = msg.get(at + 1..at + 1 + len)?;
            *q.label_offsets.get_mut(q.labels)? = u16::try_from(at).ok()?;
            q.labels += 1;
            if q.name_len > 0 {
                *q.name.get_mut(q.name_len)? = b'.';
                q.name_len += 1;
            }
            q.dotted |= label.contains(&b'.');
            for &b in label {
                *q.name.get_mut(q.name_len)? = b.to_ascii_lowercase();
                q.name_len += 1;
            }
            at += 1 + len;
        }
        let [type_hi, type_lo, class_hi, class_lo] = msg.get(at..at + 4)?.try_into().ok()?;
        q.qtype = u16::from_be_bytes([type_hi, type_lo]);
        let qclass = u16::from_be_bytes([class_hi, class_lo]);
        if qclass != 1 {
            return None;
        }
        at += 4;
        q.question_end = at;
        if ar == 1 {
            // OPT: root owner, TYPE 41, CLASS = payload, TTL = ext-rcode|version|flags.
            let opt: [u8; 11] = msg.get(at..at + 11)?.try_into().ok()?;
            let [
                owner,
                t_hi,
                t_lo,
                payload_hi,
                payload_lo,
                _,
                version,
                _,
                _,
                rd_hi,
                rd_lo,
            ] = opt;
            if owner != 0 || u16::from_be_bytes([t_hi, t_lo]) != qtype::OPT {
                return None;
            }
            // EDNS version other than 0 needs BADVERS, which hickory sends.
            if version != 0 {
                return None;
            }
            let rdlen = usize::from(u16::from_be_bytes([rd_hi, rd_lo]));
            at += 11 + rdlen;
            q.edns_payload = Some(u16::from_be_bytes([payload_hi, payload_lo]));
        }
        // Trailing bytes mean something we did not parse: let the full decoder judge.
        (at == msg.len()).then_some(q)
    }

    /// The queried name, lower case, without the trailing dot (`""` for the root); `None`
    /// if it is not UTF-8 or a label holds a dot (no such name is redirected).
    pub(crate) fn name(&self) -> Option<&str> {
        if self.dotted {
            return None;
        }
        std::str::from_utf8(self.name.get(..self.name_len)?).ok()
    }

    /// The message offset of the suffix of the name with `labels` labels, for a
    /// compression pointer to it.
    pub(crate) fn suffix_offset(&self, labels: usize) -> Option<u16> {
        let skip = self.labels.checked_sub(labels)?;
        if skip == self.labels {
            return None;
        }
        self.label_offsets.get(skip).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as dig sends it: RD, one question, OPT with a cookie option.
    fn query(name: &str, qtype: u16, opt: bool) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, u8::from(opt)];
        for label in name.split('.').filter(|l| !l.is_empty()) {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        if opt {
            m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12]);
            m.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        }
        m
    }

    #[test]
    fn parses_the_common_shape() {
        let q = FastQuery::parse(&query("Login.OSCAR.aol.com", 1, true)).unwrap();
        assert_eq!(q.id, 0x1234);
        assert!(q.rd);
        assert_eq!(q.name(), Some("login.oscar.aol.com"));
        assert_eq!(q.qtype, 1);
        assert_eq!(q.edns_payload, Some(1232));
        assert_eq!(q.question_end, 12 + 21 + 4);
        assert_eq!(q.suffix_offset(3), Some(12 + 6));
        assert_eq!(q.suffix_offset(4), Some(12));
        assert_eq!(q.suffix_offset(0), None);
    }

    #[test]
    fn declines_everything_else() {
        let good = query("a.example", 1, false);
        assert!(FastQuery::parse(&good).is_some());
        let mut response = good.clone();
        response[2] |= 0x80;
        let mut two_questions = good.clone();
        two_questions[5] = 2;
        let mut chaos = good.clone();
        let n = chaos.len();
        chaos[n - 1] = 3;
        let mut trailing = good.clone();
        trailing.push(0);
        let mut pointer = good.clone();
        pointer[12] = 0xC0;
        for bad in [response, two_questions, chaos, trailing, pointer] {
            assert!(FastQuery::parse(&bad).is_none(), "{bad:?}");
        }
        for cut in 0..good.len() {
            assert!(FastQuery::parse(&good[..cut]).is_none());
        }
    }

    /// The fuzz target's checks on real-shaped queries, of every answer kind.
    #[test]
    fn every_answer_to_a_parsed_query_is_well_formed() {
        for (name, qtype, opt) in [
            ("login.oscar.aol.com", 1, true),
            ("x.oscar.aol.com", 255, false),
            ("big.example.test", 16, true),
        ] {
            crate::fuzzing::fast_query(&query(name, qtype, opt));
        }
    }

    /// `login.oscar` is one label here, under `aol.com`: no name that could match
    /// `login.oscar.aol.com` or `*.oscar.aol.com`.
    #[test]
    fn a_dot_inside_a_label_leaves_no_name() {
        let mut m = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 11];
        m.extend_from_slice(b"login.oscar\x03aol\x03com\x00\x00\x01\x00\x01");
        let q = FastQuery::parse(&m).unwrap();
        assert_eq!(q.name(), None);
        assert_eq!(q.labels, 3);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = FastQuery::parse(&bytes);
            // And every answer to whatever parses is well-formed (the fuzz target's checks).
            crate::fuzzing::fast_query(&bytes);
        }
    }
}
