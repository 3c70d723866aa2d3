//! The sensor end to end without sockets: frames of whole connections in, records out.

use archive::{Direction, Kind, Verdict};
use oscar::message::signon::TLV_SCREEN_NAME;
use oscar::message::{IcbmSend, KeyRequest, SignonHello};
use oscar::{ScreenName, SnacBody, Tlv};

use super::*;
use crate::packet::build;
use crate::sni::build_client_hello;

/// A connection between two `address:port`s, its sides' sequences starting apart.
fn conn(client: &str, server: &str) -> build::Connection {
    build::Connection::new(
        client.parse().unwrap(),
        server.parse().unwrap(),
        [1000, 9000],
    )
}

fn flap(channel: u8, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x2a, channel];
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn bytes_of(flap: &oscar::Flap) -> Vec<u8> {
    flap.to_bytes().unwrap().to_vec()
}

fn hello() -> Vec<u8> {
    bytes_of(&SignonHello::default().to_flap().unwrap())
}

fn key_request(name: &str) -> Vec<u8> {
    let mut req = KeyRequest::default();
    req.tlvs.set(
        TLV_SCREEN_NAME,
        ScreenName::parse(name.as_bytes()).unwrap().to_bytes(),
    );
    req.tlvs.push(Tlv::flag(0x004b));
    bytes_of(&req.to_snac(1).unwrap().to_flap().unwrap())
}

fn im(to: &str, text: &str) -> Vec<u8> {
    let send = IcbmSend::text([1; 8], &ScreenName::parse(to.as_bytes()).unwrap(), text).unwrap();
    bytes_of(&send.to_snac(2).unwrap().to_flap().unwrap())
}

fn settings(passive: bool) -> SensorSettings {
    SensorSettings {
        interface: "test0".into(),
        node: "gw-test".into(),
        allow: AllowList::new(["192.0.2.10/32".parse().unwrap()]),
        tls_names: NameSet::from_config(true, &[]).unwrap(),
        passive,
        max_flows: 100,
        flow_buffer: 65_542,
        flow_idle: Duration::from_secs(300),
    }
}

fn sensor(passive: bool) -> Sensor {
    Sensor::new(settings(passive), Arc::new(SensorStats::default()))
}

fn run(sensor: &mut Sensor, frames: &[Vec<u8>]) -> Vec<Event> {
    let mut out = Vec::new();
    let now = Instant::now();
    for f in frames {
        sensor.on_frame(f, now, &mut out);
    }
    out
}

fn oscar_login_and_im(conn: &mut build::Connection) -> Vec<Vec<u8>> {
    let mut frames = conn.handshake();
    frames.push(conn.frame(false, build::PSH_ACK, &hello()));
    frames.push(conn.frame(true, build::PSH_ACK, &hello()));
    frames.push(conn.frame(true, build::PSH_ACK, &key_request("Trader Joe")));
    frames.push(conn.frame(true, build::PSH_ACK, &im("buddy", "the deal is on")));
    frames.extend(conn.close());
    frames
}

#[test]
fn oscar_on_port_80_is_a_bypass_with_its_screen_name_and_its_im() {
    let mut s = sensor(true);
    let mut conn = conn("10.0.0.2:40000", "203.0.113.5:80");
    let out = run(&mut s, &oscar_login_and_im(&mut conn));
    assert_eq!(out.len(), 2, "{out:#?}");
    let alert = &out[0];
    assert_eq!(alert.kind, Kind::BypassAlert);
    assert_eq!(alert.sender, "Trader Joe");
    assert_eq!(alert.client_addr.as_deref(), Some("10.0.0.2:40000"));
    assert!(
        alert
            .detail
            .as_deref()
            .unwrap()
            .contains("server=203.0.113.5 port=80")
    );
    let msg = &out[1];
    assert_eq!(msg.kind, Kind::Im);
    assert_eq!(msg.verdict, Verdict::Passive);
    assert_eq!(msg.text, "the deal is on");
    assert_eq!(msg.sender, "Trader Joe");
    assert_eq!(msg.recipients, vec!["buddy".to_owned()]);
    assert_eq!(msg.direction, Direction::Outbound);
    let st = s.stats().snapshot();
    assert_eq!(
        (
            st.flows_seen,
            st.oscar_flows,
            st.bypasses,
            st.passive_records
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(s.flows(), 0, "the closed flow is forgotten");
}

#[test]
fn without_passive_capture_only_the_alert_is_recorded() {
    let mut s = sensor(false);
    let mut conn = conn("10.0.0.2:40001", "203.0.113.5:5190");
    let out = run(&mut s, &oscar_login_and_im(&mut conn));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sender, "Trader Joe");
}

#[test]
fn the_gateways_own_flows_are_not_bypasses() {
    let mut s = sensor(true);
    let mut conn = conn("192.0.2.10:40000", "203.0.113.5:5190");
    let out = run(&mut s, &oscar_login_and_im(&mut conn));
    assert!(out.is_empty(), "{out:#?}");
    let st = s.stats().snapshot();
    assert_eq!((st.oscar_flows, st.gateway_flows, st.bypasses), (1, 1, 0));
}

#[test]
fn http_and_other_tls_are_ignored_and_aim_tls_is_a_bypass() {
    let mut s = sensor(true);
    let mut http = conn("10.0.0.2:40010", "203.0.113.9:80");
    let mut frames = http.handshake();
    frames.push(http.frame(
        true,
        build::PSH_ACK,
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    ));
    frames.push(http.frame(
        false,
        build::PSH_ACK,
        b"HTTP/1.1 200 OK\r\n\r\n*\x02\x00\x01",
    ));
    let mut web = conn("10.0.0.2:40011", "203.0.113.9:443");
    frames.extend(web.handshake());
    frames.push(web.frame(
        true,
        build::PSH_ACK,
        &build_client_hello(Some("www.example.com")),
    ));
    let mut aim = conn("10.0.0.2:40012", "203.0.113.5:443");
    frames.extend(aim.handshake());
    frames.push(aim.frame(
        true,
        build::PSH_ACK,
        &build_client_hello(Some("slogin.oscar.aol.com")),
    ));
    let out = run(&mut s, &frames);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(
        out[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("transport=tls sni=slogin.oscar.aol.com")
    );
    let st = s.stats().snapshot();
    assert_eq!(
        (st.flows_seen, st.oscar_flows, st.tls_flows, st.bypasses),
        (3, 0, 1, 1)
    );
}

#[test]
fn out_of_order_and_retransmitted_segments_still_read() {
    let mut s = sensor(true);
    let mut conn = conn("10.0.0.2:40020", "203.0.113.5:5190");
    let mut frames = conn.handshake();
    frames.push(conn.frame(true, build::PSH_ACK, &hello()));
    let key = conn.frame(true, build::PSH_ACK, &key_request("ooo"));
    let msg = conn.frame(true, build::PSH_ACK, &im("x", "late"));
    frames.push(msg.clone());
    frames.push(key.clone());
    frames.push(key);
    frames.push(msg);
    let out = run(&mut s, &frames);
    let texts: Vec<&str> = out.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(out.len(), 2, "{texts:?}");
    assert_eq!(out[0].sender, "ooo");
    assert_eq!(out[1].text, "late");
}

#[test]
fn a_flow_joined_mid_stream_resynchronises() {
    let mut s = sensor(true);
    let mut conn = conn("10.0.0.2:40030", "203.0.113.5:5190");
    // No handshake seen; the first segment starts inside a frame.
    let mut stream = key_request("late joiner")[7..].to_vec();
    stream.extend(im("a", "one"));
    stream.extend(im("a", "two"));
    let out = run(&mut s, &[conn.frame(true, build::PSH_ACK, &stream)]);
    let ims: Vec<&str> = out
        .iter()
        .filter(|e| e.kind == Kind::Im)
        .map(|e| e.text.as_str())
        .collect();
    assert_eq!(ims, ["one", "two"]);
}

#[test]
fn an_alert_without_a_name_is_recorded_after_the_wait() {
    let mut s = sensor(true);
    let mut conn = conn("10.0.0.2:40040", "203.0.113.5:5190");
    let mut frames = conn.handshake();
    frames.push(conn.frame(false, build::PSH_ACK, &hello()));
    frames.push(conn.frame(true, build::PSH_ACK, &flap(1, 1, &[0, 0, 0, 1])));
    let t0 = Instant::now();
    let mut out = Vec::new();
    for f in &frames {
        s.on_frame(f, t0, &mut out);
    }
    assert!(out.is_empty());
    s.tick(t0 + ALERT_WAIT, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].sender, "");
    // Expired later, nothing is recorded twice.
    s.tick(t0 + Duration::from_secs(301), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(s.flows(), 0);
}

#[test]
fn memory_per_flow_is_bounded_by_the_flow_buffer() {
    let mut settings = sensor(true).settings;
    settings.flow_buffer = 4096;
    settings.max_flows = 10;
    let mut s = Sensor::new(settings, Arc::new(SensorStats::default()));
    let mut out = Vec::new();
    let now = Instant::now();
    for n in 0..50u16 {
        let mut conn = conn(&format!("10.0.0.2:{}", 41_000 + n), "203.0.113.5:5190");
        for f in conn.handshake() {
            s.on_frame(&f, now, &mut out);
        }
        s.on_frame(&conn.frame(true, build::PSH_ACK, &hello()), now, &mut out);
        // A frame announcing 60 000 bytes, fed in pieces, and segments far ahead.
        let mut big = vec![0x2a, 0x02, 0, 2, 0xea, 0x60];
        big.extend(vec![7u8; 1400]);
        s.on_frame(&conn.frame(true, build::PSH_ACK, &big), now, &mut out);
        for _ in 0..10 {
            let ahead = conn.seq[0].wrapping_add(100_000);
            let f = build::tcp_v4(conn.client, conn.server, ahead, build::PSH_ACK, &[1; 1400]);
            conn.seq[0] = conn.seq[0].wrapping_add(1);
            s.on_frame(&f, now, &mut out);
        }
        assert!(s.flows() <= 10);
        assert!(s.buffered_bytes() <= 10 * 2 * (DETECT_BYTES + 2 * 4096 + 1400));
    }
    assert!(s.stats().snapshot().flows_evicted >= 40);
}

/// A 0x0004/0x0006 frame to `to` on `channel` with TLV area `area`, as sent.
fn raw_im(to: &str, channel: u16, area: &[u8]) -> Vec<u8> {
    let mut payload = vec![0, 4, 0, 6, 0, 0, 0, 0, 0, 3];
    payload.extend_from_slice(&[7; 8]);
    payload.extend_from_slice(&channel.to_be_bytes());
    payload.push(u8::try_from(to.len()).unwrap());
    payload.extend_from_slice(to.as_bytes());
    payload.extend_from_slice(area);
    flap(2, 9, &payload)
}

fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

#[test]
fn bypass_ims_are_read_as_the_recipients_client_reads_them() {
    use oscar::message::icbm::text_message_data;
    let mut s = sensor(true);
    let mut conn = conn("10.0.0.2:40001", "203.0.113.5:5190");
    let mut frames = conn.handshake();
    frames.push(conn.frame(false, build::PSH_ACK, &hello()));
    frames.push(conn.frame(true, build::PSH_ACK, &hello()));
    frames.push(conn.frame(true, build::PSH_ACK, &key_request("Trader Joe")));
    let two = [
        tlv(2, &text_message_data("first").unwrap()),
        tlv(2, &text_message_data("second").unwrap()),
    ]
    .concat();
    let mut trailing = tlv(2, &text_message_data("with a tail").unwrap());
    trailing.push(0x42);
    let channel_three = tlv(2, &text_message_data("on channel three").unwrap());
    for (channel, area) in [(1, &two), (1, &trailing), (3, &channel_three)] {
        frames.push(conn.frame(true, build::PSH_ACK, &raw_im("buddy", channel, area)));
    }
    frames.extend(conn.close());
    let out = run(&mut s, &frames);
    let ims: Vec<&Event> = out.iter().filter(|e| e.kind == Kind::Im).collect();
    assert_eq!(ims.len(), 3, "{out:#?}");
    assert!(ims.iter().all(|e| e.verdict == Verdict::Passive));
    // libpurple shows the second TLV; the record says so and keeps both.
    assert_eq!(ims[0].text, "second");
    let detail = ims[0].detail.as_deref().unwrap();
    assert!(
        detail.starts_with(
            "uncertain reading (several message-data TLVs (0x0002), several text fragments); \
             shown as libpurple shows it; every text: [1] \"first\" [2] \"second\"; payload hex: "
        ),
        "{detail}"
    );
    // A strict decoder refuses the trailing byte; the text is still what is shown.
    assert_eq!(ims[1].text, "with a tail");
    assert!(ims[1].detail.as_deref().unwrap().starts_with(
        "uncertain reading (trailing bytes after the last TLV); shown as libpurple shows it"
    ));
    // Nobody shows channel 3, but it went through: recorded raw.
    assert_eq!(ims[2].text, "");
    assert!(
        ims[2].detail.as_deref().unwrap().starts_with(
            "unreadable message (an ICBM on a channel clients do not show as an IM), relayed; "
        ),
        "{:?}",
        ims[2].detail
    );
    assert!(
        ims[2]
            .detail
            .as_deref()
            .unwrap()
            .contains("captured passively on test0")
    );
}

fn login_reply(name: &str, cookie: &[u8]) -> Vec<u8> {
    let mut reply = oscar::message::LoginReply::default();
    reply.tlvs.set(
        TLV_SCREEN_NAME,
        ScreenName::parse(name.as_bytes()).unwrap().to_bytes(),
    );
    reply
        .tlvs
        .set(oscar::message::signon::TLV_COOKIE, cookie.to_vec());
    bytes_of(&reply.to_snac(2).unwrap().to_flap().unwrap())
}

#[test]
fn engines_of_one_group_share_cookies_and_counters_and_split_the_flow_bound() {
    let stats = Arc::new(SensorStats::default());
    let mut group = Sensor::group(settings(true), Arc::clone(&stats), 3);
    assert_eq!(group.len(), 3);
    // 100 flows among 3 threads: 34 each, so together at least the configured bound.
    assert!(group.iter().all(|s| s.settings.max_flows == 34));
    let (first, rest) = group.split_first_mut().unwrap();
    let second = &mut rest[0];
    let mut auth = conn("10.0.0.2:40000", "203.0.113.5:5190");
    let mut bos = conn("10.0.0.2:40001", "203.0.113.6:5191");
    let cookie = b"a-cookie-of-some-bytes";
    // Thread 1 reads the login up to the key request; thread 2 reads the BOS sign-on
    // before thread 1 gets to the login reply (it fell behind).
    let mut login = auth.handshake();
    login.push(auth.frame(false, build::PSH_ACK, &hello()));
    login.push(auth.frame(true, build::PSH_ACK, &hello()));
    login.push(auth.frame(true, build::PSH_ACK, &key_request("Trader Joe")));
    let out = run(first, &login);
    assert_eq!(
        out.len(),
        1,
        "the login's alert, named by its key request: {out:#?}"
    );
    assert_eq!(out[0].sender, "Trader Joe");
    let mut signon = bos.handshake();
    signon.push(bos.frame(false, build::PSH_ACK, &hello()));
    let with_cookie = SignonHello::with_cookie(cookie.to_vec());
    signon.push(bos.frame(
        true,
        build::PSH_ACK,
        &bytes_of(&with_cookie.to_flap().unwrap()),
    ));
    let out = run(second, &signon);
    assert!(out.is_empty(), "no name yet, so the alert waits: {out:#?}");
    let out = run(
        first,
        &[auth.frame(false, build::PSH_ACK, &login_reply("Trader Joe", cookie))],
    );
    assert!(out.is_empty(), "{out:#?}");
    // Thread 2 reads on: the cookie is known now.
    let mut more = vec![bos.frame(true, build::PSH_ACK, &im("buddy", "named after all"))];
    more.extend(bos.close());
    let out = run(second, &more);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0].kind, Kind::BypassAlert);
    assert_eq!(out[0].sender, "Trader Joe");
    assert!(out[0].detail.as_deref().unwrap().contains("port=5191"));
    assert_eq!(
        (out[1].kind, out[1].sender.as_str()),
        (Kind::Im, "Trader Joe")
    );
    // One counter for all: two flows seen, one still open (the login, on thread 1).
    let st = stats.snapshot();
    assert_eq!((st.flows_seen, st.bypasses, st.flows_active), (2, 2, 1));
    let out = run(first, &auth.close());
    assert!(
        out.is_empty(),
        "the login's alert was recorded once, already: {out:#?}"
    );
    assert_eq!(stats.snapshot().flows_active, 0);
}

/// A BOS connection presenting `cookie`, sending one IM, and closing: the whole session.
fn bos_session(bos: &mut build::Connection, cookie: &[u8], text: &str) -> Vec<Vec<u8>> {
    let mut frames = bos.handshake();
    frames.push(bos.frame(false, build::PSH_ACK, &hello()));
    let with_cookie = SignonHello::with_cookie(cookie.to_vec());
    frames.push(bos.frame(
        true,
        build::PSH_ACK,
        &bytes_of(&with_cookie.to_flap().unwrap()),
    ));
    frames.push(bos.frame(true, build::PSH_ACK, &im("buddy", text)));
    frames.extend(bos.close());
    frames
}

#[test]
fn a_bos_session_read_whole_before_its_login_reply_is_recorded_with_the_name() {
    // One thread reads a short BOS session to its end before the other thread gets to the
    // login reply: the ended flow is parked, and recorded on the tick after the reply.
    let stats = Arc::new(SensorStats::default());
    let mut group = Sensor::group(settings(true), Arc::clone(&stats), 2);
    let (first, rest) = group.split_first_mut().unwrap();
    let second = &mut rest[0];
    let cookie = b"cookie-for-a-short-session";
    let mut bos = conn("10.0.0.2:40001", "203.0.113.6:5191");
    let out = run(second, &bos_session(&mut bos, cookie, "quick one"));
    assert!(out.is_empty(), "held while the name may come: {out:#?}");
    assert_eq!(second.flows(), 0, "the flow itself is gone");
    let mut auth = conn("10.0.0.2:40000", "203.0.113.5:5190");
    let mut login = auth.handshake();
    login.push(auth.frame(false, build::PSH_ACK, &hello()));
    login.push(auth.frame(true, build::PSH_ACK, &hello()));
    login.push(auth.frame(true, build::PSH_ACK, &key_request("Trader Joe")));
    login.push(auth.frame(false, build::PSH_ACK, &login_reply("Trader Joe", cookie)));
    assert_eq!(run(first, &login).len(), 1, "the login's own alert");
    let mut out = Vec::new();
    second.tick(Instant::now(), &mut out);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(
        (out[0].kind, out[0].sender.as_str()),
        (Kind::BypassAlert, "Trader Joe")
    );
    assert_eq!(
        (out[1].kind, out[1].sender.as_str()),
        (Kind::Im, "Trader Joe")
    );
    assert_eq!(out[1].text, "quick one");
    let mut again = Vec::new();
    second.tick(Instant::now() + Duration::from_secs(60), &mut again);
    assert!(again.is_empty(), "recorded once: {again:#?}");
    assert_eq!(stats.snapshot().passive_records, 1);
}

#[test]
fn a_cookie_that_never_names_its_session_is_recorded_without_after_the_wait() {
    let mut s = sensor(true);
    let mut bos = conn("10.0.0.2:40001", "203.0.113.6:5191");
    let t0 = Instant::now();
    let mut out = Vec::new();
    for f in bos_session(&mut bos, b"a-login-the-sensor-never-saw", "hello?") {
        s.on_frame(&f, t0, &mut out);
    }
    s.tick(t0 + Duration::from_secs(1), &mut out);
    assert!(out.is_empty(), "still waiting: {out:#?}");
    s.tick(t0 + crate::name_wait::NAME_WAIT, &mut out);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(
        (out[0].kind, out[0].sender.as_str()),
        (Kind::BypassAlert, "")
    );
    assert_eq!((out[1].kind, out[1].text.as_str()), (Kind::Im, "hello?"));
}

#[test]
fn a_live_session_waiting_for_its_name_records_its_ims_once_named() {
    let stats = Arc::new(SensorStats::default());
    let mut group = Sensor::group(settings(true), Arc::clone(&stats), 2);
    let (first, rest) = group.split_first_mut().unwrap();
    let second = &mut rest[0];
    let cookie = b"cookie-of-a-long-session";
    let mut bos = conn("10.0.0.2:40001", "203.0.113.6:5191");
    let mut frames = bos_session(&mut bos, cookie, "first");
    frames.truncate(frames.len() - 2); // still open
    // More client frames than an alert usually waits for: it waits for the name instead.
    for n in 0..ALERT_FRAMES {
        frames.push(bos.frame(true, build::PSH_ACK, &im("buddy", &format!("more {n}"))));
    }
    assert!(run(second, &frames).is_empty());
    let mut auth = conn("10.0.0.2:40000", "203.0.113.5:5190");
    let mut login = auth.handshake();
    login.push(auth.frame(false, build::PSH_ACK, &hello()));
    login.push(auth.frame(true, build::PSH_ACK, &hello()));
    login.push(auth.frame(false, build::PSH_ACK, &login_reply("Trader Joe", cookie)));
    run(first, &login);
    let mut out = Vec::new();
    second.tick(Instant::now(), &mut out);
    assert_eq!(out.len(), 2 + ALERT_FRAMES as usize, "{out:#?}");
    assert_eq!(out[0].kind, Kind::BypassAlert);
    assert!(out.iter().all(|e| e.sender == "Trader Joe"), "{out:#?}");
    let texts: Vec<&str> = out[1..].iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts[..2], ["first", "more 0"], "in the order sent");
    // Named now: the next IM is recorded at once.
    let next = run(
        second,
        &[bos.frame(true, build::PSH_ACK, &im("buddy", "live"))],
    );
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].sender, "Trader Joe");
}
