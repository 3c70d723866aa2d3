//! The sensor's core, without I/O: captured frames in, archive records out. The capture
//! thread (`capture.rs`) feeds it; tests, the benchmark and the fuzz target feed it too.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use archive::Event;
use bytes::BytesMut;
use settings::dns::NameSet;

use crate::bypass::{AllowList, Bypass, Transport};
use crate::cookies::CookieNames;
use crate::flow_table::{FlowKey, FlowTable, Way};
use crate::oscar_detect::{self, Framing};
use crate::packet::{self, TcpSegment};
use crate::passive::{FlowContext, PassiveSession};
use crate::reassembly::Reassembler;
use crate::sni::{self, Hello};
use crate::stats::SensorStats;

/// How long an OSCAR bypass alert waits for the screen name before it is recorded without
/// one (the key request, the second frame of a login, comes at once).
const ALERT_WAIT: Duration = Duration::from_secs(2);
/// Client frames after which an alert is recorded even without a name (a BOS connection
/// whose login the sensor did not see: self-info comes within a few frames).
const ALERT_FRAMES: u32 = 12;
/// How many login cookies are remembered, and for how long.
const COOKIES: usize = 4096;
const COOKIE_TTL: Duration = Duration::from_secs(600);
/// Bytes of a stream's start kept while deciding what it is: a ClientHello and two FLAP
/// frames fit.
const DETECT_BYTES: usize = 16 * 1024 + 5;
/// Flows that ended while waiting for their name (`name_wait.rs`), kept until it comes or
/// the wait is over; past this many, one is recorded at once without its name.
pub(crate) const PARKED_MAX: usize = 256;

/// What the sensor is told at start.
#[derive(Debug, Clone)]
pub struct SensorSettings {
    /// The capture interface, for records and logs.
    pub interface: String,
    /// This node's name, for records.
    pub node: String,
    /// The gateway's addresses.
    pub allow: AllowList,
    /// TLS server names that are AIM/ICQ.
    pub tls_names: NameSet,
    /// Archive the IMs of unencrypted bypass flows.
    pub passive: bool,
    /// Flows tracked at once.
    pub max_flows: usize,
    /// Bytes buffered per direction.
    pub flow_buffer: usize,
    /// Idle time before a flow is forgotten.
    pub flow_idle: Duration,
}

/// What a flow turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Class {
    Undecided,
    /// OSCAR or AIM TLS around the gateway: being read (OSCAR) or just tracked (TLS).
    Bypass,
    /// Anything else, or the gateway's own: only its end is waited for.
    Ignored,
}

#[derive(Debug)]
struct Half {
    reasm: Reassembler,
    /// In-order bytes not yet consumed (the stream's start while undecided; an unfinished
    /// frame once reading OSCAR).
    buf: BytesMut,
    /// The stream started before the sensor saw it (no SYN).
    mid_stream: bool,
    fin: bool,
}

impl Half {
    fn new(cap: usize) -> Self {
        Self {
            reasm: Reassembler::new(cap),
            buf: BytesMut::new(),
            mid_stream: false,
            fin: false,
        }
    }

    fn release(&mut self) {
        self.reasm = Reassembler::new(0);
        self.buf = BytesMut::new();
    }
}

#[derive(Debug)]
enum Alert {
    None,
    Pending { bypass: Bypass, since: Instant },
    Recorded,
}

#[derive(Debug)]
struct Flow {
    up: Half,
    down: Half,
    class: Class,
    alert: Alert,
    session: Option<PassiveSession>,
    first_seen_ns: i64,
}

impl Flow {
    fn half(&mut self, way: Way) -> &mut Half {
        match way {
            Way::Up => &mut self.up,
            Way::Down => &mut self.down,
        }
    }
}

/// The sensor: flows, what each is, and the records they give.
#[derive(Debug)]
pub struct Sensor {
    settings: SensorSettings,
    flows: FlowTable<Flow>,
    /// Login cookies, shared by the engines of every capture thread: a login and its BOS
    /// connection are two flows, which the kernel may give to two threads.
    cookies: Arc<CookieNames>,
    stats: Arc<SensorStats>,
    /// Flows this engine last added to `stats.flows_active` (which all engines add to).
    active_reported: usize,
    /// Flows that ended while waiting for their name: only their session and alert are
    /// left, and they are recorded on a tick.
    parked: Vec<(FlowKey, Flow)>,
}

impl Sensor {
    /// A sensor with no flows yet, counting into `stats`.
    pub fn new(settings: SensorSettings, stats: Arc<SensorStats>) -> Self {
        Self::with_cookies(
            settings,
            stats,
            Arc::new(CookieNames::new(COOKIES, COOKIE_TTL)),
        )
    }

    fn with_cookies(
        settings: SensorSettings,
        stats: Arc<SensorStats>,
        cookies: Arc<CookieNames>,
    ) -> Self {
        Self {
            flows: FlowTable::new(settings.max_flows, settings.flow_idle),
            cookies,
            settings,
            stats,
            active_reported: 0,
            parked: Vec::new(),
        }
    }

    /// `n` sensors for `n` capture threads (at least one): each tracks its share of
    /// `settings.max_flows`, all count into `stats` and share the login cookies.
    pub fn group(settings: SensorSettings, stats: Arc<SensorStats>, n: usize) -> Vec<Self> {
        let n = n.max(1);
        let cookies = Arc::new(CookieNames::new(COOKIES, COOKIE_TTL));
        let settings = SensorSettings {
            max_flows: settings.max_flows.div_ceil(n),
            ..settings
        };
        (0..n)
            .map(|_| Self::with_cookies(settings.clone(), Arc::clone(&stats), Arc::clone(&cookies)))
            .collect()
    }

    /// Brings `stats.flows_active` up to date with this engine's table: by the change since
    /// the last report, as other engines add theirs to the same counter.
    fn report_active(&mut self) {
        let now = self.flows.len();
        let before = std::mem::replace(&mut self.active_reported, now);
        if now >= before {
            self.stats
                .flows_active
                .fetch_add((now - before) as u64, Ordering::Relaxed);
        } else {
            self.stats
                .flows_active
                .fetch_sub((before - now) as u64, Ordering::Relaxed);
        }
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<SensorStats> {
        &self.stats
    }

    /// Flows tracked now.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Flows that ended while waiting for their name (their IMs and alert not recorded
    /// yet); at most a few hundred, each for at most `name_wait::NAME_WAIT`.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Bytes buffered in every flow now (reassembly, unread frames, IMs held while waiting
    /// for a name), parked flows included: what the per-flow bound holds down.
    pub fn buffered_bytes(&mut self) -> usize {
        let held = |f: &Flow| f.session.as_ref().map_or(0, PassiveSession::held_bytes);
        let live: usize = self
            .flows
            .iter_mut()
            .map(|(_, f)| {
                f.up.buf.len()
                    + f.down.buf.len()
                    + f.up.reasm.buffered()
                    + f.down.reasm.buffered()
                    + held(f)
            })
            .sum();
        live + self.parked.iter().map(|(_, f)| held(f)).sum::<usize>()
    }

    /// Takes one captured Ethernet frame.
    pub fn on_frame(&mut self, frame: &[u8], now: Instant, out: &mut Vec<Event>) {
        self.on_frames([frame], now, out);
    }

    /// Takes captured Ethernet frames (a ring block's), counting them once for all: the
    /// counters are shared by every capture thread, and one update per frame from each
    /// thread would have them bounce between cores.
    pub fn on_frames<'a>(
        &mut self,
        frames: impl IntoIterator<Item = &'a [u8]>,
        now: Instant,
        out: &mut Vec<Event>,
    ) {
        let (mut packets, mut bytes, mut not_tcp) = (0u64, 0u64, 0u64);
        for frame in frames {
            packets += 1;
            bytes += frame.len() as u64;
            match packet::parse_ethernet(frame) {
                Ok(segment) => self.on_segment(&segment, now, out),
                Err(_) => not_tcp += 1,
            }
        }
        self.stats.packets.fetch_add(packets, Ordering::Relaxed);
        self.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
        if not_tcp > 0 {
            self.stats.not_tcp.fetch_add(not_tcp, Ordering::Relaxed);
        }
    }

    /// Takes one TCP segment.
    pub fn on_segment(&mut self, s: &TcpSegment<'_>, now: Instant, out: &mut Vec<Event>) {
        let known = self.flows.find(s.src, s.dst, now).map(|(k, w, _)| (k, w));
        let (key, way) = match known {
            Some(found) => found,
            None => {
                // Only a SYN or data starts tracking; a stray ACK, FIN or RST does not.
                if s.flags.rst || (!s.flags.syn && s.payload.is_empty()) {
                    return;
                }
                self.start_flow(s, now, out)
            }
        };
        let cap = self.settings.flow_buffer;
        let mut ended = false;
        // The key is known now: one lookup each, not `find`'s two (the hashing is a good
        // part of what a packet costs).
        if let Some(flow) = self.flows.get_mut(&key, now) {
            let half = flow.half(way);
            if s.flags.syn {
                half.reasm.syn(s.seq);
            }
            let seq = if s.flags.syn {
                s.seq.wrapping_add(1)
            } else {
                s.seq
            };
            if !s.payload.is_empty() && flow.class != Class::Ignored {
                let half = flow.half(way);
                if !half.reasm.started() {
                    half.mid_stream = true;
                }
                let delivery = half.reasm.push(seq, s.payload);
                if delivery.gap {
                    SensorStats::bump(&self.stats.gaps);
                    half.buf.clear();
                    if let Some(session) = flow.session.as_mut() {
                        session.gap(way);
                    } else {
                        flow.half(way).mid_stream = true;
                    }
                }
                let half = flow.half(way);
                half.buf.extend_from_slice(&delivery.bytes);
                if half.buf.len() > cap.max(DETECT_BYTES) {
                    // An unfinished frame larger than the bound: skip it.
                    SensorStats::bump(&self.stats.gaps);
                    half.buf.clear();
                    if let Some(session) = flow.session.as_mut() {
                        session.gap(way);
                    }
                }
            }
            if s.flags.fin {
                flow.half(way).fin = true;
            }
            ended = s.flags.rst || (flow.up.fin && flow.down.fin);
        }
        self.advance(key, way, now, out);
        if ended {
            self.end_flow(&key, now, out);
        }
    }

    fn start_flow(
        &mut self,
        s: &TcpSegment<'_>,
        now: Instant,
        out: &mut Vec<Event>,
    ) -> (FlowKey, Way) {
        // The SYN's sender is the client; a SYN-ACK's receiver is. Joined mid-stream, the
        // side with the higher port is taken for the client (ephemeral ports are high).
        let src_is_client = match (s.flags.syn, s.flags.ack) {
            (true, false) => true,
            (true, true) => false,
            _ => s.src.port() > s.dst.port(),
        };
        let (client, server) = if src_is_client {
            (s.src, s.dst)
        } else {
            (s.dst, s.src)
        };
        let key = FlowKey { client, server };
        let cap = self.settings.flow_buffer;
        let flow = Flow {
            up: Half::new(cap),
            down: Half::new(cap),
            class: Class::Undecided,
            alert: Alert::None,
            session: None,
            first_seen_ns: archive::now_ns(),
        };
        SensorStats::bump(&self.stats.flows_seen);
        for (k, f) in self.flows.insert(key, flow, now) {
            SensorStats::bump(&self.stats.flows_evicted);
            self.finish(k, f, now, out);
        }
        self.report_active();
        (key, if src_is_client { Way::Up } else { Way::Down })
    }

    /// Classifies, reads, and records what the flow's new bytes allow.
    fn advance(&mut self, key: FlowKey, way: Way, now: Instant, out: &mut Vec<Event>) {
        let settings = &self.settings;
        let stats = &self.stats;
        let cookies = &*self.cookies;
        let Some(flow) = self.flows.get_mut(&key, now) else {
            return;
        };
        if flow.class == Class::Undecided {
            decide(flow, key, settings, stats, now);
        }
        if let Some(session) = flow.session.as_mut() {
            let cx = context(settings, key, now);
            let before = out.len();
            let buf = match way {
                Way::Up => &mut flow.up.buf,
                Way::Down => &mut flow.down.buf,
            };
            session.read(way, buf, cookies, &cx, out);
            // The other side may hold frames read before the flow was decided.
            let other = match way {
                Way::Up => (Way::Down, &mut flow.down.buf),
                Way::Down => (Way::Up, &mut flow.up.buf),
            };
            if !other.1.is_empty() {
                session.read(other.0, other.1, cookies, &cx, out);
            }
            stats
                .passive_records
                .fetch_add((out.len() - before) as u64, Ordering::Relaxed);
        }
        maybe_record_alert(flow, settings, now, false, out);
    }

    /// Records what a flow that is going away still owes (its held IMs, a pending alert),
    /// or parks it while it waits for its name.
    fn finish(&mut self, key: FlowKey, mut flow: Flow, now: Instant, out: &mut Vec<Event>) {
        flow.up.release();
        flow.down.release();
        if flow
            .session
            .as_ref()
            .is_some_and(PassiveSession::waits_for_name)
        {
            if self.parked.len() < PARKED_MAX {
                self.parked.push((key, flow));
                return;
            }
            if let Some(session) = flow.session.as_mut() {
                let before = out.len();
                session.stop_waiting(&context(&self.settings, key, now), out);
                self.stats
                    .passive_records
                    .fetch_add((out.len() - before) as u64, Ordering::Relaxed);
            }
        }
        maybe_record_alert(&mut flow, &self.settings, now, true, out);
    }

    fn end_flow(&mut self, key: &FlowKey, now: Instant, out: &mut Vec<Event>) {
        if let Some(flow) = self.flows.remove(key) {
            self.finish(*key, flow, now, out);
        }
        self.report_active();
    }

    /// Periodic work: forget idle flows; record the IMs and alerts of sessions whose name
    /// came (or whose wait for it is over), and alerts that waited long enough.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<Event>) {
        for (k, f) in self.flows.expire(now) {
            self.finish(k, f, now, out);
        }
        let (settings, cookies, stats) = (&self.settings, &*self.cookies, &*self.stats);
        for (key, flow) in self.flows.iter_mut() {
            settle(flow, *key, settings, cookies, stats, now, out);
            maybe_record_alert(flow, settings, now, false, out);
        }
        for (key, mut flow) in std::mem::take(&mut self.parked) {
            settle(&mut flow, key, settings, cookies, stats, now, out);
            if flow
                .session
                .as_ref()
                .is_some_and(PassiveSession::waits_for_name)
            {
                self.parked.push((key, flow));
            } else {
                maybe_record_alert(&mut flow, settings, now, true, out);
            }
        }
        self.report_active();
    }
}

/// What a flow's session needs to build records.
fn context(settings: &SensorSettings, key: FlowKey, now: Instant) -> FlowContext<'_> {
    FlowContext {
        client: key.client,
        server: key.server,
        node: &settings.node,
        interface: &settings.interface,
        now,
    }
}

/// Ends a session's wait for its name if it can end now (`PassiveSession::settle`),
/// counting the IMs that were held.
fn settle(
    flow: &mut Flow,
    key: FlowKey,
    settings: &SensorSettings,
    cookies: &CookieNames,
    stats: &SensorStats,
    now: Instant,
    out: &mut Vec<Event>,
) {
    if let Some(session) = flow.session.as_mut() {
        let before = out.len();
        session.settle(cookies, &context(settings, key, now), out);
        stats
            .passive_records
            .fetch_add((out.len() - before) as u64, Ordering::Relaxed);
    }
}

/// Decides what an undecided flow is from the first bytes of each side.
fn decide(
    flow: &mut Flow,
    key: FlowKey,
    settings: &SensorSettings,
    stats: &SensorStats,
    now: Instant,
) {
    let framing = |half: &Half| {
        if half.buf.is_empty() {
            Framing::NeedMore
        } else if half.mid_stream {
            match oscar_detect::resync(&half.buf, oscar_detect::DETECT_MAX_PAYLOAD) {
                Some(_) => Framing::Oscar,
                None if half.buf.len() >= DETECT_BYTES => Framing::NotOscar,
                None => Framing::NeedMore,
            }
        } else {
            oscar_detect::classify(&half.buf)
        }
    };
    let (up, down) = (framing(&flow.up), framing(&flow.down));
    let hello = if flow.up.mid_stream {
        Hello::NotTls
    } else {
        sni::client_hello(&flow.up.buf)
    };
    let transport = if up == Framing::Oscar || down == Framing::Oscar {
        Some(Transport::Oscar)
    } else {
        match hello {
            Hello::Tls(Some(name)) if settings.tls_names.lookup(&name).is_some() => {
                Some(Transport::Tls { sni: name })
            }
            Hello::Tls(_) => None,
            // The client spoke and it is neither; or too much without a verdict.
            Hello::NotTls if up == Framing::NotOscar => None,
            _ if flow.up.buf.len() + flow.down.buf.len() >= 2 * DETECT_BYTES => None,
            _ if down == Framing::NotOscar && flow.up.buf.is_empty() => None,
            _ => return, // wait for more bytes
        }
    };
    let Some(transport) = transport else {
        flow.class = Class::Ignored;
        flow.up.release();
        flow.down.release();
        return;
    };
    match &transport {
        Transport::Oscar => SensorStats::bump(&stats.oscar_flows),
        Transport::Tls { .. } => SensorStats::bump(&stats.tls_flows),
    }
    if settings.allow.is_gateway_flow(key.client, key.server) {
        SensorStats::bump(&stats.gateway_flows);
        flow.class = Class::Ignored;
        flow.up.release();
        flow.down.release();
        return;
    }
    SensorStats::bump(&stats.bypasses);
    flow.class = Class::Bypass;
    if transport == Transport::Oscar {
        flow.session = Some(PassiveSession::new(
            settings
                .flow_buffer
                .saturating_sub(oscar::FLAP_HEADER_LEN)
                .min(oscar::FLAP_MAX_PAYLOAD),
            settings.passive,
            flow.up.mid_stream || flow.down.mid_stream,
        ));
    } else {
        // Nothing more to read in TLS.
        flow.up.release();
        flow.down.release();
        flow.class = Class::Ignored;
    }
    flow.alert = Alert::Pending {
        bypass: Bypass {
            client: key.client,
            server: key.server,
            transport,
            screen_name: None,
            first_seen_ns: flow.first_seen_ns,
            interface: settings.interface.clone(),
        },
        since: now,
    };
}

/// Records the flow's pending alert once it has its screen name, or has waited enough, or
/// the flow is ending.
fn maybe_record_alert(
    flow: &mut Flow,
    settings: &SensorSettings,
    now: Instant,
    ending: bool,
    out: &mut Vec<Event>,
) {
    let Alert::Pending { bypass, since } = &mut flow.alert else {
        return;
    };
    let (name, frames, waits) = flow.session.as_ref().map_or((None, 0, false), |s| {
        (s.screen_name.clone(), s.client_frames, s.waits_for_name())
    });
    let tls = matches!(bypass.transport, Transport::Tls { .. });
    // A session whose cookie may yet name it waits for that (as long as NAME_WAIT) rather
    // than for a number of frames or ALERT_WAIT.
    let ready = ending
        || tls
        || name.is_some()
        || (!waits
            && (frames >= ALERT_FRAMES || now.saturating_duration_since(*since) >= ALERT_WAIT));
    if !ready {
        return;
    }
    bypass.screen_name = name;
    log_bypass(bypass);
    // The alert goes first: IMs read in the same batch come after it in `out`.
    out.insert(0, bypass.to_event(&settings.node));
    flow.alert = Alert::Recorded;
}

fn log_bypass(b: &Bypass) {
    let (transport, sni) = match &b.transport {
        Transport::Oscar => ("oscar", ""),
        Transport::Tls { sni } => ("tls", sni.as_str()),
    };
    tracing::warn!(
        target: "imtegrity::sensor::bypass",
        client = %b.client,
        server = %b.server,
        transport,
        sni,
        screen_name = b.screen_name.as_deref().unwrap_or("-"),
        interface = %b.interface,
        "AIM/ICQ traffic around the gateway"
    );
}

#[cfg(test)]
mod tests;
