//! Reading an unencrypted bypass flow as OSCAR: who is signing on, and every IM, turned into
//! the same records the relay writes (`capture::Capturer`), marked passive. An ICBM is read
//! as its recipient's client reads it (`oscar::message::icbm_reading`, libpurple's rules), as
//! the relay reads it, so a message a strict decoder would misread or miss (two text TLVs, a
//! trailing byte) is recorded as shown, with every variant where clients may differ, and
//! one nobody can read is recorded raw: it was delivered anyway.
//!
//! The screen name comes from where oscar.md §4.1 says it travels: the BUCP key and login
//! requests, a legacy channel-1 login, the login reply (which also ties the BOS cookie to
//! the name, so the BOS connection that follows is named too), and the self-info the BOS
//! server sends after sign-on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use archive::{Direction, Event, Kind, Verdict};
use bytes::{Bytes, BytesMut};
use capture::Capturer;
use oscar::message::icbm_reading::{IcbmFrame, Shown};
use oscar::message::signon::{Redirect, SignonKind, TLV_SCREEN_NAME};
use oscar::{Family, Flap, FlapCodec, Message, Snac, SnacMessage};
use tokio_util::codec::Decoder;

use crate::flow_table::Way;
use crate::oscar_detect;

/// Login cookies seen in login replies, to name the BOS connection that presents one.
/// Shared by the capture threads (the login and the BOS connection are two flows, which
/// may be read by two threads), behind a lock taken only for a login reply or a BOS
/// sign-on.
#[derive(Debug)]
pub(crate) struct CookieNames {
    names: Mutex<HashMap<Bytes, (String, Instant)>>,
    max: usize,
    ttl: Duration,
}

impl CookieNames {
    /// At most `max` cookies, each kept `ttl`.
    pub(crate) fn new(max: usize, ttl: Duration) -> Self {
        Self {
            names: Mutex::new(HashMap::new()),
            max,
            ttl,
        }
    }

    fn names(&self) -> MutexGuard<'_, HashMap<Bytes, (String, Instant)>> {
        // A thread that panicked holding the lock left a map that is still a map: at worst
        // a cookie is missing, and a BOS connection goes unnamed.
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, cookie: Bytes, name: String, now: Instant) {
        let mut names = self.names();
        if names.len() >= self.max {
            let ttl = self.ttl;
            names.retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
            if names.len() >= self.max {
                names.clear(); // a flood of logins: start over rather than grow
            }
        }
        names.insert(cookie, (name, now));
    }

    fn get(&self, cookie: &[u8], now: Instant) -> Option<String> {
        self.names()
            .get(cookie)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(n, _)| n.clone())
    }
}

/// What the decoder needs from the flow around it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowContext<'a> {
    /// The client's address.
    pub(crate) client: SocketAddr,
    /// The server's address.
    pub(crate) server: SocketAddr,
    /// This node's name, for records.
    pub(crate) node: &'a str,
    /// The capture interface, for records.
    pub(crate) interface: &'a str,
    /// Now.
    pub(crate) now: Instant,
}

/// The body of `flap` if it is an ICBM this side sends: 0x0004/0x0006 from the client,
/// 0x0004/0x0007 from the server.
fn icbm_of(way: Way, flap: &Flap) -> Option<Bytes> {
    let snac = Snac::from_flap(flap).ok()?;
    let subtype = match way {
        Way::Up => 0x0006,
        Way::Down => 0x0007,
    };
    snac.header.is(Family::ICBM, subtype).then_some(snac.body)
}

/// One direction's frame reader.
#[derive(Debug)]
struct FrameReader {
    codec: FlapCodec,
    /// Looking for a frame boundary (after a gap, or a bad frame).
    lost: bool,
}

impl FrameReader {
    fn new(max_payload: usize, lost: bool) -> Self {
        Self {
            codec: FlapCodec::with_max_payload(max_payload),
            lost,
        }
    }
}

/// The decoding state of one bypass flow.
#[derive(Debug)]
pub(crate) struct PassiveSession {
    /// The local user's screen name, once seen.
    pub(crate) screen_name: Option<String>,
    /// Frames the client has sent.
    pub(crate) client_frames: u32,
    /// The cookie a BOS sign-on presented before its login's reply was read (by another
    /// capture thread, which may be behind this one): looked up again until it names.
    unknown_cookie: Option<Bytes>,
    up: FrameReader,
    down: FrameReader,
    max_payload: usize,
    capture_ims: bool,
}

impl PassiveSession {
    /// A session reading frames of at most `max_payload` bytes; `capture_ims` records IMs
    /// (else only the screen name is learnt, for the alert). `joined_mid_stream`: the
    /// reader starts by looking for a frame boundary.
    pub(crate) fn new(max_payload: usize, capture_ims: bool, joined_mid_stream: bool) -> Self {
        Self {
            screen_name: None,
            client_frames: 0,
            unknown_cookie: None,
            up: FrameReader::new(max_payload, joined_mid_stream),
            down: FrameReader::new(max_payload, joined_mid_stream),
            max_payload,
            capture_ims,
        }
    }

    /// Names the session from the cookie its sign-on presented, if that cookie is known by
    /// now.
    pub(crate) fn name_from_cookie(&mut self, cookies: &CookieNames, now: Instant) {
        if self.screen_name.is_some() {
            self.unknown_cookie = None;
        }
        let Some(cookie) = &self.unknown_cookie else {
            return;
        };
        if let Some(name) = cookies.get(cookie, now) {
            self.unknown_cookie = None;
            self.learn(name.as_bytes());
        }
    }

    /// The stream in `way` skipped bytes: find the next frame boundary before reading on.
    pub(crate) fn gap(&mut self, way: Way) {
        let reader = match way {
            Way::Up => &mut self.up,
            Way::Down => &mut self.down,
        };
        *reader = FrameReader::new(self.max_payload, true);
    }

    /// Reads every whole frame in `buf` (bytes of `way`, in order), leaving a partial frame
    /// there; records IMs into `out`. Returns how many frames were read.
    pub(crate) fn read(
        &mut self,
        way: Way,
        buf: &mut BytesMut,
        cookies: &CookieNames,
        cx: &FlowContext<'_>,
        out: &mut Vec<Event>,
    ) -> usize {
        // A BOS sign-on's cookie that another capture thread may have named since.
        self.name_from_cookie(cookies, cx.now);
        let mut frames = 0;
        loop {
            let reader = match way {
                Way::Up => &mut self.up,
                Way::Down => &mut self.down,
            };
            if reader.lost {
                match oscar_detect::resync(buf, self.max_payload) {
                    Some(at) => {
                        let _ = buf.split_to(at);
                        reader.lost = false;
                    }
                    None => {
                        // Keep the tail that may hold the start of a header pair.
                        let keep = buf.len().min(2 * oscar::FLAP_HEADER_LEN + self.max_payload);
                        let _ = buf.split_to(buf.len() - keep);
                        return frames;
                    }
                }
            }
            let flap = match reader.codec.decode(buf) {
                Ok(Some(flap)) => flap,
                Ok(None) => return frames,
                Err(_) => {
                    *reader = FrameReader::new(self.max_payload, true);
                    continue;
                }
            };
            frames += 1;
            if way == Way::Up {
                self.client_frames = self.client_frames.saturating_add(1);
            }
            if let Some(snac) = icbm_of(way, &flap) {
                if self.capture_ims {
                    self.on_icbm(way, snac, &flap.payload, cx, out);
                }
            } else if let Ok(message) = Message::decode(&flap) {
                self.on_message(way, &message, cookies, cx);
            }
        }
    }

    fn learn(&mut self, name: &[u8]) {
        if self.screen_name.is_none() && !name.is_empty() {
            self.screen_name = Some(String::from_utf8_lossy(name).into_owned());
        }
    }

    fn on_message(
        &mut self,
        way: Way,
        message: &Message,
        cookies: &CookieNames,
        cx: &FlowContext<'_>,
    ) {
        match (way, message) {
            (Way::Up, Message::Signon(hello)) => match hello.kind() {
                SignonKind::Cookie(cookie) => match cookies.get(&cookie, cx.now) {
                    Some(name) => self.learn(name.as_bytes()),
                    None => self.unknown_cookie = Some(cookie),
                },
                SignonKind::LegacyLogin { screen_name } => self.learn(&screen_name),
                SignonKind::Plain => {}
            },
            (Way::Down, Message::SignOff(off)) => {
                // A legacy login's answer: screen name and cookie on channel 4.
                if let (Some(name), Some(cookie)) = (
                    off.tlvs.value(TLV_SCREEN_NAME),
                    off.tlvs.value(oscar::message::signon::TLV_COOKIE),
                ) {
                    cookies.insert(
                        cookie.clone(),
                        String::from_utf8_lossy(name).into_owned(),
                        cx.now,
                    );
                }
            }
            (_, Message::Snac { body, .. }) => self.on_snac(way, body, cookies, cx),
            _ => {}
        }
    }

    fn on_snac(
        &mut self,
        way: Way,
        body: &SnacMessage,
        cookies: &CookieNames,
        cx: &FlowContext<'_>,
    ) {
        match (way, body) {
            (Way::Up, SnacMessage::KeyRequest(req)) => {
                if let Some(n) = req.screen_name() {
                    self.learn(n);
                }
            }
            (Way::Up, SnacMessage::LoginRequest(req)) => {
                if let Some(n) = req.screen_name() {
                    self.learn(n);
                }
            }
            (Way::Down, SnacMessage::LoginReply(reply)) => {
                let name = reply
                    .redirect_tlvs()
                    .value(TLV_SCREEN_NAME)
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .or_else(|| self.screen_name.clone());
                if let (Some(name), Some(cookie)) = (name, reply.cookie()) {
                    cookies.insert(cookie.clone(), name, cx.now);
                }
            }
            (Way::Down, SnacMessage::SelfInfo(info)) => {
                if let Ok(name) = info.user.name() {
                    self.learn(name.display().as_bytes());
                }
            }
            _ => {}
        }
    }

    /// An ICBM (`body`, of the whole frame `payload`) read the way its recipient's client
    /// reads it, as the relay does (`session/messages.rs`), so a bypass flow's record says
    /// what the relay's would have; one that cannot be read is recorded raw, as it went
    /// through anyway.
    fn on_icbm(
        &self,
        way: Way,
        body: Bytes,
        payload: &[u8],
        cx: &FlowContext<'_>,
        out: &mut Vec<Event>,
    ) {
        let me = self.screen_name.clone().unwrap_or_default();
        let (frame, direction) = match way {
            Way::Up => (IcbmFrame::of_send(body), Direction::Outbound),
            Way::Down => (IcbmFrame::of_receive(body), Direction::Inbound),
        };
        let peer = frame
            .as_ref()
            .map(|f| String::from_utf8_lossy(&f.peer).into_owned())
            .unwrap_or_default();
        let (sender, recipient) = match way {
            Way::Up => (&me, &peer),
            Way::Down => (&peer, &me),
        };
        let reading = frame.as_ref().map(IcbmFrame::reading);
        self.record(cx, out, |cap, now| match &reading {
            Ok(reading) => match reading.shown {
                Shown::Unreadable(why) => Some(cap.unreadable(
                    Kind::Im,
                    sender,
                    recipient,
                    why,
                    &reading.variants,
                    payload,
                    direction,
                    Verdict::Allowed,
                )),
                _ => cap.reading(sender, recipient, reading, payload, direction, now),
            },
            Err(_) => Some(cap.unreadable(
                Kind::Im,
                sender,
                recipient,
                "an ICBM whose header does not parse",
                &[],
                payload,
                direction,
                Verdict::Allowed,
            )),
        });
    }

    fn record(
        &self,
        cx: &FlowContext<'_>,
        out: &mut Vec<Event>,
        build: impl FnOnce(&Capturer<'_>, i64) -> Option<Event>,
    ) {
        let me = self.screen_name.as_deref().unwrap_or("");
        let cap = Capturer {
            local_user: me,
            client_addr: cx.client.to_string(),
            node: cx.node,
        };
        if let Some(mut event) = build(&cap, archive::now_ns()) {
            event.verdict = Verdict::Passive;
            let note = format!(
                "captured passively on {} ({} -> {}): it went around the gateway and could not be blocked",
                cx.interface, cx.client, cx.server
            );
            event.detail = Some(match event.detail.take() {
                Some(d) => format!("{d}; {note}"),
                None => note,
            });
            out.push(event);
        }
    }
}
