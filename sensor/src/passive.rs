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

use std::cell::OnceCell;
use std::net::SocketAddr;
use std::time::Instant;

use archive::{Direction, Event, Kind, Verdict};
use bytes::{Bytes, BytesMut};
use capture::Capturer;
use oscar::message::icbm_reading::{IcbmFrame, Shown};
use oscar::message::signon::{Redirect, SignonKind, TLV_SCREEN_NAME};
use oscar::{Family, Flap, FlapCodec, Message, Snac, SnacMessage};
use tokio_util::codec::Decoder;

use crate::cookies::CookieNames;
use crate::flow_table::Way;
use crate::name_wait::{HeldIcbm, NameWait};
use crate::oscar_detect;

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
    /// A BOS sign-on presented a cookie not yet tied to a name (its login's reply may be
    /// read by another capture thread, a little later): IMs are held, and the alert waits.
    wait: Option<NameWait>,
    /// The client's address and the passive note as records carry them: the same for
    /// every record of the flow, so written out once (formatting addresses was a tenth of
    /// what the sensor spent on a packet).
    labels: OnceCell<(String, String)>,
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
            wait: None,
            labels: OnceCell::new(),
            up: FrameReader::new(max_payload, joined_mid_stream),
            down: FrameReader::new(max_payload, joined_mid_stream),
            max_payload,
            capture_ims,
        }
    }

    /// Bytes of IMs held while waiting for the name (at most the largest frame).
    pub(crate) fn held_bytes(&self) -> usize {
        self.wait.as_ref().map_or(0, NameWait::held_bytes)
    }

    /// Whether the session waits for its sign-on's cookie to name it.
    pub(crate) fn waits_for_name(&self) -> bool {
        self.wait.is_some()
    }

    /// Ends the wait for a name when the cookie names the session by now (or the session
    /// learnt its name otherwise), or the wait has lasted long enough: the IMs held are
    /// recorded, with the name if there is one.
    pub(crate) fn settle(
        &mut self,
        cookies: &CookieNames,
        cx: &FlowContext<'_>,
        out: &mut Vec<Event>,
    ) {
        let Some(wait) = &self.wait else {
            return;
        };
        let over = wait.is_over(cx.now);
        if self.screen_name.is_none()
            && let Some(name) = cookies.get(&wait.cookie, cx.now)
        {
            self.learn(name.as_bytes());
        }
        if self.screen_name.is_some() || over {
            self.end_wait(cx, out);
        }
    }

    /// Ends the wait for a name now, recording the IMs held (with no name).
    pub(crate) fn stop_waiting(&mut self, cx: &FlowContext<'_>, out: &mut Vec<Event>) {
        self.end_wait(cx, out);
    }

    fn end_wait(&mut self, cx: &FlowContext<'_>, out: &mut Vec<Event>) {
        if let Some(wait) = self.wait.take() {
            for held in wait.into_held() {
                self.on_icbm(held.way, held.body, &held.payload, cx, out);
            }
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
    /// there; records IMs into `out` (or holds them while the session waits for its name).
    /// Returns how many frames were read.
    pub(crate) fn read(
        &mut self,
        way: Way,
        buf: &mut BytesMut,
        cookies: &CookieNames,
        cx: &FlowContext<'_>,
        out: &mut Vec<Event>,
    ) -> usize {
        let frames = self.read_frames(way, buf, cookies, cx, out);
        self.settle(cookies, cx, out);
        frames
    }

    fn read_frames(
        &mut self,
        way: Way,
        buf: &mut BytesMut,
        cookies: &CookieNames,
        cx: &FlowContext<'_>,
        out: &mut Vec<Event>,
    ) -> usize {
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
            if let Some(body) = icbm_of(way, &flap) {
                if self.capture_ims {
                    self.icbm(way, body, flap.payload, cx, out);
                }
            } else if let Ok(message) = Message::decode(&flap) {
                self.on_message(way, &message, cookies, cx);
            }
        }
    }

    /// An ICBM: recorded, or held while the session waits for its name.
    fn icbm(
        &mut self,
        way: Way,
        body: Bytes,
        payload: Bytes,
        cx: &FlowContext<'_>,
        out: &mut Vec<Event>,
    ) {
        let icbm = HeldIcbm { way, body, payload };
        let icbm = match self.wait.as_mut() {
            None => icbm,
            Some(wait) => match wait.hold(icbm) {
                Ok(()) => return,
                Err(icbm) => {
                    // Too much to hold: recorded without waiting any longer.
                    self.end_wait(cx, out);
                    icbm
                }
            },
        };
        self.on_icbm(icbm.way, icbm.body, &icbm.payload, cx, out);
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
                    None if self.screen_name.is_none() => {
                        self.wait = Some(NameWait::new(cookie, cx.now, self.max_payload));
                    }
                    None => {}
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
        let (client_addr, note) = self.labels.get_or_init(|| {
            (
                cx.client.to_string(),
                format!(
                    "captured passively on {} ({} -> {}): it went around the gateway and could not be blocked",
                    cx.interface, cx.client, cx.server
                ),
            )
        });
        let cap = Capturer {
            local_user: me,
            client_addr: client_addr.clone(),
            node: cx.node,
        };
        if let Some(mut event) = build(&cap, archive::now_ns()) {
            event.verdict = Verdict::Passive;
            event.detail = Some(match event.detail.take() {
                Some(d) => format!("{d}; {note}"),
                None => note.clone(),
            });
            out.push(event);
        }
    }
}
