//! The hickory-server request handler: every TCP query, and the UDP queries the fast path
//! passes on (forwarded names, unusual shapes). Redirected names are answered here exactly
//! as the fast path answers them; everything else goes to the forwarding catalog.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, HINFO, SOA};
use hickory_server::proto::rr::{Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{Catalog, MessageResponseBuilder};

use crate::decision::{Asked, CLASS_IN, Decision, OPCODE_QUERY, Redirect, Shared};
use crate::fast_answer::{EDNS_PAYLOAD, RFC8482_CPU, soa_numbers};

/// The responder behind hickory's `Server` and the UDP slow path.
pub(crate) struct Responder {
    pub(crate) shared: Arc<Shared>,
    /// The forwarder, as a catalog with one zone handler at the root.
    pub(crate) catalog: Catalog,
}

#[async_trait::async_trait]
impl RequestHandler for Responder {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response: R,
    ) -> ResponseInfo {
        let client = request.src().ip();
        let udp = request.protocol() == Protocol::Udp;
        let live = self.shared.live.load();
        // The allow list and the rate limit before anything else, BADVERS included.
        if let Err(decision) = self.shared.admit(&live, client, udp) {
            return self.answer::<R, T>(request, decision, response).await;
        }
        // EDNS versions above 0 get BADVERS, which the catalog sends.
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return self.catalog.handle_request::<R, T>(request, response).await;
        }
        let opcode = u8::from(request.metadata.op_code);
        let name;
        let asked = match request.request_info() {
            Ok(info) => {
                name = info.query.name().to_string();
                Asked {
                    client,
                    local: None,
                    opcode,
                    qclass: u16::from(info.query.query_class()),
                    name: Some(name.strip_suffix('.').unwrap_or(&name)),
                    qtype: u16::from(info.query.query_type()),
                    udp,
                }
            }
            // Not exactly one question: for another opcode than QUERY that is NOTIMP
            // (the decision says so), for a query FORMERR.
            Err(_) if opcode != OPCODE_QUERY => Asked {
                client,
                local: None,
                opcode,
                qclass: CLASS_IN,
                name: None,
                qtype: 0,
                udp,
            },
            Err(_) => {
                self.shared.counters.global.formerr.fetch_add(1, Relaxed);
                return send_error(request, ResponseCode::FormErr, response).await;
            }
        };
        let decision = self.shared.decide_admitted(&live, &asked);
        self.answer::<R, T>(request, decision, response).await
    }
}

impl Responder {
    /// Sends the answer `decision` calls for.
    pub(crate) async fn answer<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        decision: Decision,
        response: R,
    ) -> ResponseInfo {
        match decision {
            Decision::Forward => self.catalog.handle_request::<R, T>(request, response).await,
            Decision::Redirect(r) => send_redirect(request, &r, response).await,
            Decision::Refuse => send_error(request, ResponseCode::Refused, response).await,
            Decision::NotImp => send_error(request, ResponseCode::NotImp, response).await,
            Decision::Rfc8482 { ttl } => send_rfc8482(request, ttl, response).await,
            Decision::ServFail => send_error(request, ResponseCode::ServFail, response).await,
            Decision::Slip => {
                let mut meta = Metadata::response_from_request(&request.metadata);
                meta.truncation = true;
                meta.recursion_available = true;
                let builder = MessageResponseBuilder::from_message_request(request);
                send(response, builder.build_no_records(meta), meta).await
            }
            Decision::Drop => ResponseInfo::from(Header {
                metadata: Metadata::response_from_request(&request.metadata),
                counts: HeaderCounts::default(),
            }),
        }
    }
}

async fn send_redirect<R: ResponseHandler>(
    request: &Request,
    r: &Redirect,
    response: R,
) -> ResponseInfo {
    let mut meta = Metadata::response_from_request(&request.metadata);
    meta.authoritative = true;
    meta.recursion_available = true;
    // The question as asked, so the owner keeps the client's letter case.
    let owner = match request.request_info() {
        Ok(info) => info.query.original().name().clone(),
        Err(_) => Name::root(),
    };
    let answers: Vec<Record> = r
        .addrs
        .iter()
        .map(|ip| {
            let rdata = match ip {
                std::net::IpAddr::V4(v4) => RData::A(A(*v4)),
                std::net::IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
            };
            Record::from_rdata(owner.clone(), r.ttl, rdata)
        })
        .collect();
    let soa: Vec<Record> = if answers.is_empty() {
        // The zone is a suffix of the asked name, kept in the client's letter case as the
        // fast path's compression pointer keeps it.
        let zone = owner.trim_to(r.zone_labels);
        let [serial, refresh, retry, expire, minimum] = soa_numbers(r);
        let as_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        vec![Record::from_rdata(
            zone.clone(),
            r.ttl,
            RData::SOA(SOA::new(
                zone.clone(),
                zone,
                serial,
                as_i32(refresh),
                as_i32(retry),
                as_i32(expire),
                minimum,
            )),
        )]
    } else {
        Vec::new()
    };
    let edns = response_edns(request);
    let mut builder = MessageResponseBuilder::from_message_request(request);
    if let Some(edns) = &edns {
        builder.edns(edns);
    }
    let message = builder.build(meta, answers.iter(), [].iter(), soa.iter(), [].iter());
    send(response, message, meta).await
}

/// RFC 8482 §4.2: ANY is answered with one synthesised HINFO record, not forwarded.
async fn send_rfc8482<R: ResponseHandler>(
    request: &Request,
    ttl: u32,
    response: R,
) -> ResponseInfo {
    let mut meta = Metadata::response_from_request(&request.metadata);
    meta.recursion_available = true;
    let owner = match request.request_info() {
        Ok(info) => info.query.original().name().clone(),
        Err(_) => Name::root(),
    };
    let hinfo = [Record::from_rdata(
        owner,
        ttl,
        RData::HINFO(HINFO::new(RFC8482_CPU.to_owned(), String::new())),
    )];
    let edns = response_edns(request);
    let mut builder = MessageResponseBuilder::from_message_request(request);
    if let Some(edns) = &edns {
        builder.edns(edns);
    }
    let message = builder.build(meta, hinfo.iter(), [].iter(), [].iter(), [].iter());
    send(response, message, meta).await
}

async fn send_error<R: ResponseHandler>(
    request: &Request,
    code: ResponseCode,
    response: R,
) -> ResponseInfo {
    let edns = response_edns(request);
    let mut builder = MessageResponseBuilder::from_message_request(request);
    if let Some(edns) = &edns {
        builder.edns(edns);
    }
    let mut meta = Metadata::response_from_request(&request.metadata);
    meta.response_code = code;
    // REFUSED goes to clients we do not serve, NOTIMP to what we do not do: claim no
    // recursion in either.
    meta.recursion_available = !matches!(code, ResponseCode::Refused | ResponseCode::NotImp);
    send(response, builder.build_no_records(meta), meta).await
}

/// An OPT record for the answer if the query had one.
fn response_edns(request: &Request) -> Option<Edns> {
    request.edns.as_ref().map(|_| {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        edns
    })
}

async fn send<'a, R: ResponseHandler>(
    mut response: R,
    message: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    meta: Metadata,
) -> ResponseInfo {
    match response.send_response(message).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "could not send a DNS answer");
            ResponseInfo::from(Header {
                metadata: meta,
                counts: HeaderCounts::default(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use hickory_server::net::NetError;
    use hickory_server::proto::op::Message;

    use crate::decision::Decision;
    use hickory_server::proto::serialize::binary::BinEncoder;
    use hickory_server::zone_handler::MessageResponse;

    use super::*;
    use crate::fast_answer::{self, FastReply};
    use crate::query::FastQuery;

    /// Keeps the bytes hickory would have sent.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    #[async_trait::async_trait]
    impl ResponseHandler for Captured {
        async fn send_response<'a>(
            &mut self,
            response: MessageResponse<
                '_,
                'a,
                impl Iterator<Item = &'a Record> + Send + 'a,
                impl Iterator<Item = &'a Record> + Send + 'a,
                impl Iterator<Item = &'a Record> + Send + 'a,
                impl Iterator<Item = &'a Record> + Send + 'a,
            >,
        ) -> Result<ResponseInfo, NetError> {
            let mut bytes = Vec::new();
            let info = response.destructive_emit(&mut BinEncoder::new(&mut bytes))?;
            *self.0.lock().unwrap() = bytes;
            Ok(info)
        }
    }

    fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
        let labels: Vec<&str> = name.split('.').collect();
        query_labels(&labels, qtype, edns)
    }

    /// A query whose labels are given one by one (so one may hold a dot).
    fn query_labels(labels: &[&str], qtype: u16, edns: bool) -> Vec<u8> {
        let mut m = vec![0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        for label in labels {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.push(0);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        if edns {
            m.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
        }
        m
    }

    /// What a client sees of an answer, with names compared case-insensitively.
    fn seen(bytes: &[u8]) -> String {
        let m = Message::from_vec(bytes).unwrap();
        let md = &m.metadata;
        format!(
            "id={} rcode={:?} aa={} ra={} rd={} tc={} q={:?} an={:?} ns={:?} edns={:?}",
            md.id,
            md.response_code,
            md.authoritative,
            md.recursion_available,
            md.recursion_desired,
            md.truncation,
            m.queries
                .iter()
                .map(|q| (q.name().to_lowercase().to_string(), q.query_type()))
                .collect::<Vec<_>>(),
            m.answers
                .iter()
                .map(|r| r.to_string().to_lowercase())
                .collect::<Vec<_>>(),
            m.authorities
                .iter()
                .map(|r| r.to_string().to_lowercase())
                .collect::<Vec<_>>(),
            m.edns.as_ref().map(|e| e.max_payload()),
        )
    }

    /// The answer hickory's path gives `raw` from `client` over `protocol`.
    async fn slow_answer(raw: &[u8], client: &str, protocol: Protocol) -> Vec<u8> {
        use hickory_server::net::runtime::TokioTime;
        let responder = Responder {
            shared: Arc::new(crate::decision::tests::shared()),
            // Nothing listens there; no test here forwards.
            catalog: crate::forward::catalog(
                &[settings::DnsUpstream::parse("127.0.0.1:9").unwrap()],
                &[],
                std::time::Duration::from_secs(1),
            )
            .unwrap(),
        };
        let src = std::net::SocketAddr::new(client.parse().unwrap(), 5000);
        let request = Request::from_bytes(raw.to_vec(), src, protocol).unwrap();
        let captured = Captured::default();
        responder
            .handle_request::<_, TokioTime>(&request, captured.clone())
            .await;
        captured.0.lock().unwrap().clone()
    }

    /// Both paths answer ANY for a name we do not redirect with RFC 8482's HINFO, and a
    /// name with a dot inside a label (`login.oscar` under `aol.com`) is not redirected on
    /// either: hickory shows it as `login\.oscar.aol.com`, which matches no rule.
    #[tokio::test]
    async fn any_and_dotted_labels_agree_on_both_paths() {
        use crate::decision::tests::INSIDE;
        for labels in [
            &["www", "example", "test"][..],
            &["login.oscar", "aol", "com"][..],
        ] {
            let raw = query_labels(labels, 255, true);
            let q = FastQuery::parse(&raw).unwrap();
            let s = crate::decision::tests::shared();
            let asked = Asked {
                client: INSIDE.parse().unwrap(),
                local: None,
                opcode: 0,
                qclass: 1,
                name: q.name(),
                qtype: q.qtype,
                udp: true,
            };
            let Decision::Rfc8482 { ttl } = s.decide(&asked) else {
                panic!("{labels:?}: not RFC 8482");
            };
            let mut fast = Vec::new();
            fast_answer::write(&q, &raw, FastReply::Rfc8482(ttl), &mut fast);
            let slow = slow_answer(&raw, INSIDE, Protocol::Udp).await;
            assert_eq!(seen(&fast), seen(&slow), "{labels:?}");
            assert!(
                seen(&slow).contains(" 3600 in hinfo rfc8482 "),
                "{}",
                seen(&slow)
            );
        }
    }

    /// NOTIFY, UPDATE and an unassigned opcode get NOTIMP; CH and ANY classes REFUSED;
    /// a client outside the allow list REFUSED whatever it sends.
    #[tokio::test]
    async fn other_opcodes_and_classes_are_not_answered() {
        use crate::decision::tests::{INSIDE, OUTSIDE};
        let rcode = |bytes: &[u8]| Message::from_vec(bytes).unwrap().metadata.response_code;
        for opcode in [4u8, 5, 3, 15] {
            let mut raw = query("login.oscar.aol.com", 1, false);
            raw[2] = (raw[2] & 0x87) | (opcode << 3);
            let answer = slow_answer(&raw, INSIDE, Protocol::Tcp).await;
            assert_eq!(rcode(&answer), ResponseCode::NotImp, "opcode {opcode}");
            assert!(Message::from_vec(&answer).unwrap().answers.is_empty());
            let answer = slow_answer(&raw, OUTSIDE, Protocol::Tcp).await;
            assert_eq!(rcode(&answer), ResponseCode::Refused, "opcode {opcode}");
        }
        for class in [3u16, 255] {
            let mut raw = query("login.oscar.aol.com", 1, false);
            let n = raw.len();
            raw[n - 2..].copy_from_slice(&class.to_be_bytes());
            let answer = slow_answer(&raw, INSIDE, Protocol::Tcp).await;
            assert_eq!(rcode(&answer), ResponseCode::Refused, "class {class}");
        }
    }

    /// The fast path and hickory's path give clients the same answer for redirected names.
    #[tokio::test]
    async fn fast_and_hickory_answers_agree() {
        let cases = [
            (
                "Login.OSCAR.aol.com",
                1,
                true,
                vec!["127.0.0.1", "192.0.2.5"],
                "login.oscar.aol.com",
                4,
            ),
            (
                "login.oscar.aol.com",
                28,
                false,
                vec![],
                "login.oscar.aol.com",
                4,
            ),
            ("a.B.aim.example", 15, true, vec![], "aim.example", 2),
            (
                "x.aim.example",
                28,
                true,
                vec!["2001:db8::1"],
                "aim.example",
                2,
            ),
        ];
        // The zone column names what `zone_labels` counts, for the reader.
        for (name, qtype, edns, addrs, _zone, zone_labels) in cases {
            let raw = query(name, qtype, edns);
            let r = Redirect {
                addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
                ttl: 45,
                zone_labels,
                serial: 3,
            };
            let q = FastQuery::parse(&raw).unwrap();
            let mut fast = Vec::new();
            fast_answer::write(&q, &raw, FastReply::Redirect(&r), &mut fast);
            let request = Request::from_bytes(
                raw.clone(),
                "127.0.0.1:5000".parse().unwrap(),
                Protocol::Udp,
            )
            .unwrap();
            let captured = Captured::default();
            send_redirect(&request, &r, captured.clone()).await;
            let slow = captured.0.lock().unwrap().clone();
            assert_eq!(seen(&fast), seen(&slow), "{name} {qtype}");
        }
    }
}
