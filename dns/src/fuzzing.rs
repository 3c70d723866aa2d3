//! Entry points for the cargo-fuzz targets in `fuzz/`: each parses arbitrary bytes the way
//! the responder does and checks what it writes back is well-formed DNS.

use hickory_server::proto::op::{Message, ResponseCode};

use crate::decision::Redirect;
use crate::fast_answer::{self, FastReply};
use crate::query::FastQuery;

/// The fast path on arbitrary bytes: parsing never panics, and whenever a query is
/// accepted, every answer written for it decodes with hickory, echoes the ID and the
/// question, fits the client's buffer and 1232 bytes, and if truncated holds no record;
/// the name it yields goes through the name matcher without panicking.
pub fn fast_query(data: &[u8]) {
    let Some(q) = FastQuery::parse(data) else {
        return;
    };
    let redirects = [
        Redirect {
            addrs: vec![
                "192.0.2.1"
                    .parse()
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into()),
            ],
            ttl: 30,
            zone_labels: 2,
            serial: 1,
        },
        Redirect {
            addrs: Vec::new(),
            ttl: 30,
            zone_labels: 1,
            serial: 7,
        },
    ];
    if let Some(name) = q.name() {
        let names = settings::dns::NameSet::from_config(true, &[]).unwrap_or_default();
        if let Some(m) = names.lookup(name) {
            // A match is by whole labels: its zone is the name or a suffix after a dot.
            assert!(name == m.zone || name.ends_with(&format!(".{}", m.zone)));
        }
    }
    let mut out = Vec::new();
    let replies = [
        FastReply::Redirect(&redirects[0]),
        FastReply::Redirect(&redirects[1]),
        FastReply::Rfc8482(3600),
        FastReply::Refused,
        FastReply::NotImp,
        FastReply::ServFail,
        FastReply::Truncated,
    ];
    for reply in replies {
        fast_answer::write(&q, data, reply, &mut out);
        let limit = usize::from(q.edns_payload.map_or(512, |p| p.clamp(512, 1232)));
        assert!(
            out.len() <= limit,
            "answer larger than the client's buffer or 1232"
        );
        let message = match Message::from_vec(&out) {
            Ok(m) => m,
            Err(e) => panic!("fast answer does not decode: {e}: {out:02x?}"),
        };
        assert_eq!(message.metadata.id, q.id);
        assert_eq!(message.queries.len(), 1);
        if message.metadata.truncation {
            assert!(message.answers.is_empty() && message.authorities.is_empty());
        }
        let expected = match reply {
            FastReply::Refused => ResponseCode::Refused,
            FastReply::NotImp => ResponseCode::NotImp,
            FastReply::ServFail => ResponseCode::ServFail,
            _ => ResponseCode::NoError,
        };
        assert_eq!(message.metadata.response_code, expected);
    }
}

/// The `[dns]` configuration's own parsers: upstream addresses and name patterns.
pub fn config_values(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(u) = settings::DnsUpstream::parse(text) {
        // What is printed parses back to the same value.
        assert_eq!(settings::DnsUpstream::parse(&u.to_string()).ok(), Some(u));
    }
    if let Ok(p) = settings::dns::NamePattern::parse(text) {
        assert_eq!(
            settings::dns::NamePattern::parse(&p.to_string()).ok(),
            Some(p)
        );
    }
}
