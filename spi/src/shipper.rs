//! The shipper: a background thread that drains the spool to the gateway's ingest endpoint,
//! oldest record first, and deletes records only once the gateway acknowledged them durable.
//!
//! Protocol (one request shape, so HTTP/1.1 is written by hand over a `TcpStream`): plain
//! HTTP, or TLS under the gateway CA when `[gateway] ca` is set ([`crate::ship_tls`]), with
//! this library's client certificate when `client_cert` is set (mutual TLS):
//!
//! ```text
//! POST /ingest/v1 HTTP/1.1
//! Authorization: Bearer <token>          (unless only the client certificate authenticates)
//! Content-Type: application/json
//!
//! {"source": "<spool id>", "records": [{"seq": <u64>, "event": <record::Event>}, ...]}
//! ```
//!
//! At most [`MAX_BATCH_RECORDS`] records per request (fewer if they pass
//! [`MAX_BATCH_BYTES`] encoded), `seq` strictly increasing. A `200` with
//! `{"acked_upto": n}` means every record of this source with `seq ≤ n` is durable in the
//! archive: those are deleted from the spool. Anything else (refused connection, 401, 400,
//! 503, a malformed answer, an ack below the batch, a TLS handshake that fails: wrong CA,
//! wrong name, expired or refused certificate) keeps the records and retries after a
//! backoff of 100 ms doubling to 5 s; each new kind of failure is written to stderr once.
//!
//! The thread wakes when a record is made durable ([`ShipNotifier`]) or every second, and
//! stops within the bound given to [`Shipper::stop`]: stopping also shuts down a request in
//! flight, so the thread does not sit in a socket read. At Terminate, [`Shipper::ship_all`]
//! cuts any backoff short and waits, within its deadline, for the spool to be empty.
//!
//! The shipper reads the spool's files itself, without the writer's lock
//! ([`crate::spool_scan`]), so a writer stuck on the disk does not stop shipping what is
//! already there.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use record::Event;

use crate::error::SpiError;
use crate::no_sigpipe::NoSigPipe;
use crate::ship_status::ShipStatus;
use crate::ship_tls::ShipTls;
use crate::spool::Spool;

/// How often [`Shipper::ship_all`] cuts a retry backoff short.
pub const HURRY_EVERY: Duration = Duration::from_millis(250);
/// The request path.
pub const INGEST_PATH: &str = "/ingest/v1";
/// Records per request, at most.
pub const MAX_BATCH_RECORDS: usize = 256;
/// Encoded (postcard) bytes per request, roughly: a batch stops growing past this, but always
/// holds at least one record.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// The most of an answer that is read.
pub(crate) const MAX_ANSWER: usize = 64 * 1024;

/// Where and how to ship.
#[derive(Clone)]
pub struct ShipperConfig {
    /// `host:port` of the ingest endpoint.
    pub gateway: String,
    /// The bearer token; `None` when the client certificate alone authenticates.
    pub token: Option<String>,
    /// TLS to the gateway; `None`: plain HTTP.
    pub tls: Option<ShipTls>,
    /// How long the thread sleeps when the spool is empty and nothing is appended.
    pub idle_wake: Duration,
    /// The first retry delay after a failure.
    pub backoff_min: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// Connect, read and write timeout of a request.
    pub io_timeout: Duration,
}

impl std::fmt::Debug for ShipperConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipperConfig")
            .field("gateway", &self.gateway)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl ShipperConfig {
    /// Shipping to `gateway` with `token` over plain HTTP, with the default timings (1 s
    /// idle wake, 100 ms to 5 s backoff, 10 s I/O timeout).
    pub fn new(gateway: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            gateway: gateway.into(),
            token: Some(token.into()),
            tls: None,
            idle_wake: Duration::from_secs(1),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            io_timeout: Duration::from_secs(10),
        }
    }

    /// From the library's configuration: `None` when no gateway is set; an error when a
    /// gateway is set without a usable token or client certificate, or a TLS file named
    /// cannot be read (so `stDdaClInit` fails with the reason, not every shipment later).
    pub fn from_config(config: &crate::config::SpiConfig) -> Result<Option<Self>, SpiError> {
        let Some(gateway) = &config.gateway else {
            return Ok(None);
        };
        let address = gateway.address.trim();
        let tls = match &gateway.ca {
            Some(ca) => {
                let name = gateway
                    .server_name
                    .as_deref()
                    .unwrap_or_else(|| crate::ship_tls::host_of(address));
                let client = gateway
                    .client_cert
                    .as_ref()
                    .zip(gateway.client_key.as_ref());
                let (cert, key) = match client {
                    Some((cert, key)) => (Some(config.resolve(cert)), Some(config.resolve(key))),
                    None => (None, None),
                };
                Some(ShipTls::load(
                    &config.resolve(ca),
                    name,
                    cert.as_deref().zip(key.as_deref()),
                )?)
            }
            None => None,
        };
        Ok(Some(Self {
            token: config.gateway_token()?,
            tls,
            ..Self::new(address, "")
        }))
    }
}

#[derive(Debug, Default)]
struct SignalState {
    /// Appends seen so far: the thread waits for this to change.
    appended: u64,
    stop: bool,
    /// Terminate is waiting: ship now, without the backoff's wait.
    hurry: bool,
    /// The request in flight, so `stop` can shut it down.
    connection: Option<TcpStream>,
}

#[derive(Debug, Default)]
struct Signal {
    state: Mutex<SignalState>,
    changed: Condvar,
}

impl Signal {
    fn lock(&self) -> MutexGuard<'_, SignalState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sleeps up to `timeout`, until stopped or (if `on_append`) a record is appended after
    /// `seen` appends. Returns whether to stop.
    fn wait(&self, timeout: Duration, on_append: Option<u64>) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if state.stop {
                return true;
            }
            if state.hurry {
                state.hurry = false;
                return false;
            }
            if on_append.is_some_and(|seen| state.appended != seen) {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// Wakes the shipper when a record is appended.
#[derive(Debug, Clone)]
pub struct ShipNotifier(Arc<Signal>);

impl ShipNotifier {
    /// A record was appended.
    pub fn notify(&self) {
        self.0.lock().appended += 1;
        self.0.changed.notify_all();
    }
}

/// The running shipper thread.
#[derive(Debug)]
pub struct Shipper {
    signal: Arc<Signal>,
    status: Arc<Mutex<ShipStatus>>,
    done: mpsc::Receiver<()>,
    handle: Option<JoinHandle<()>>,
}

impl Shipper {
    /// Starts the thread shipping the spool in `spool` as `config` says.
    pub fn start(spool: Arc<Spool>, config: ShipperConfig) -> Result<Self, SpiError> {
        let signal = Arc::new(Signal::default());
        let status = Arc::new(Mutex::new(ShipStatus {
            gateway: config.gateway.clone(),
            ..ShipStatus::read(spool.dir())
                .ok()
                .flatten()
                .unwrap_or_default()
        }));
        let (done_tx, done) = mpsc::channel();
        let thread_signal = Arc::clone(&signal);
        let thread_status = Arc::clone(&status);
        let handle = std::thread::Builder::new()
            .name("imtegrity-spi-shipper".into())
            .spawn(move || {
                run(&spool, &config, &thread_signal, &thread_status);
                // Drop the spool before saying "done", so a joined shipper has closed it.
                drop(spool);
                let _ = done_tx.send(());
            })
            .map_err(SpiError::Thread)?;
        Ok(Self {
            signal,
            status,
            done,
            handle: Some(handle),
        })
    }

    /// What the shipper last did.
    pub fn status(&self) -> ShipStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A handle that wakes this shipper.
    pub fn notifier(&self) -> ShipNotifier {
        ShipNotifier(Arc::clone(&self.signal))
    }

    /// Ships without waiting out a backoff, until nothing waits in `spool` (`true`) or
    /// `deadline` passes (`false`; the rest stays in the spool).
    ///
    /// The shipper is hurried at most every [`HURRY_EVERY`]: a gateway that refuses (a
    /// wrong token) is not asked fifty times a second, each a warning in its log.
    pub fn ship_all(&self, spool: &Spool, deadline: Instant) -> bool {
        let mut hurried: Option<Instant> = None;
        loop {
            if spool.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if hurried.is_none_or(|at| now - at >= HURRY_EVERY) {
                hurried = Some(now);
                self.signal.lock().hurry = true;
                self.signal.changed.notify_all();
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
        }
    }

    /// Stops the thread and joins it, waiting at most `bound`; `false` if it did not finish
    /// in time and was detached (it stops on its own once its current step ends).
    pub fn stop(mut self, bound: Duration) -> bool {
        self.stop_inner(bound)
    }

    fn stop_inner(&mut self, bound: Duration) -> bool {
        let Some(handle) = self.handle.take() else {
            return true;
        };
        {
            let mut state = self.signal.lock();
            state.stop = true;
            if let Some(c) = state.connection.take() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
        self.signal.changed.notify_all();
        match self.done.recv_timeout(bound) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                let _ = handle.join();
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                eprintln!(
                    "imtegrity_stchatlog: the shipper thread did not stop within {} ms; \
                     detached (what it did not ship stays in the spool)",
                    bound.as_millis()
                );
                // It returns into this library once its disk or socket lets it go.
                crate::library_pin::pin_library();
                false
            }
        }
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        self.stop_inner(Duration::from_secs(2));
    }
}

/// What one round did.
enum Round {
    /// The spool was empty (after `appended` appends had been signalled).
    Empty(u64),
    /// Records were acknowledged and deleted.
    Progress,
}

/// Keeps [`ShipStatus`] and its file up to date: the file at once when shipping starts or
/// stops failing, otherwise at most once a second.
struct StatusKeeper<'a> {
    spool: &'a Spool,
    status: &'a Mutex<ShipStatus>,
    written: Option<(Instant, ShipStatus)>,
}

impl StatusKeeper<'_> {
    fn update(&mut self, outcome: Result<bool, &str>, force: bool) {
        let now = record::now_ns();
        let current = {
            let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            match outcome {
                Ok(shipped) => {
                    if shipped {
                        status.last_shipped_ns = Some(now);
                    }
                    status.failing_since_ns = None;
                    status.last_error = None;
                }
                Err(e) => {
                    status.failing_since_ns.get_or_insert(now);
                    status.last_error = Some(e.to_owned());
                }
            }
            status.backlog = self.spool.backlog();
            status.clone()
        };
        let due = match &self.written {
            None => true,
            Some((at, last)) => {
                let flipped = last.failing_since_ns.is_some() != current.failing_since_ns.is_some()
                    || last.last_error != current.last_error;
                let changed = last.backlog != current.backlog
                    || last.last_shipped_ns != current.last_shipped_ns;
                force || flipped || (changed && at.elapsed() >= Duration::from_secs(1))
            }
        };
        if due {
            let mut stamped = current.clone();
            stamped.updated_ns = now;
            // Only the operator's view is lost if this fails; the records are not.
            let _ = stamped.write(self.spool.dir());
            self.written = Some((Instant::now(), current));
        }
    }
}

fn run(spool: &Spool, config: &ShipperConfig, signal: &Signal, status: &Mutex<ShipStatus>) {
    let mut keeper = StatusKeeper {
        spool,
        status,
        written: None,
    };
    let mut backoff = config.backoff_min;
    let mut last_error: Option<String> = None;
    loop {
        if signal.lock().stop {
            keeper.update(Ok(false), true);
            return;
        }
        match round(spool, config, signal, last_error.as_deref()) {
            Ok(round) => {
                keeper.update(Ok(matches!(round, Round::Progress)), false);
                if last_error.take().is_some() {
                    eprintln!(
                        "imtegrity_stchatlog: shipping to {} resumed",
                        config.gateway
                    );
                }
                backoff = config.backoff_min;
                if let Round::Empty(seen) = round
                    && signal.wait(config.idle_wake, Some(seen))
                {
                    keeper.update(Ok(false), true);
                    return;
                }
            }
            Err(e) => {
                // A request cut short by stop is not a failure worth a line on stderr.
                if signal.lock().stop {
                    return;
                }
                keeper.update(Err(&e), false);
                if last_error.as_deref() != Some(&e) {
                    eprintln!(
                        "imtegrity_stchatlog: shipping to {} failed, retrying: {e}",
                        config.gateway
                    );
                    last_error = Some(e);
                }
                if signal.wait(backoff, None) {
                    return;
                }
                backoff = (backoff * 2).min(config.backoff_max);
            }
        }
    }
}

/// One request of the oldest waiting records; `failing` (the error of the round before, if
/// it failed) goes with it, so the gateway's `status` says what held this spool up.
fn round(
    spool: &Spool,
    config: &ShipperConfig,
    signal: &Signal,
    failing: Option<&str>,
) -> Result<Round, String> {
    let seen = signal.lock().appended;
    let batch = spool
        .pending(MAX_BATCH_RECORDS, MAX_BATCH_BYTES)
        .map_err(|e| e.to_string())?;
    let (Some((first, _)), Some((last, _))) = (batch.first(), batch.last()) else {
        return Ok(Round::Empty(seen));
    };
    let (first, last) = (*first, *last);
    let report = Report {
        backlog: spool.backlog().saturating_sub(batch.len() as u64),
        last_error: failing,
    };
    let body = request_body(spool.source(), &batch, &report).map_err(|e| e.to_string())?;
    drop(batch);
    let acked = post(config, &body, signal)?;
    if acked < first {
        return Err(format!(
            "the gateway acknowledged up to {acked}, before the first record sent ({first})"
        ));
    }
    spool.ack_upto(acked.min(last)).map_err(|e| e.to_string())?;
    Ok(Round::Progress)
}

/// What a request tells the gateway about the spool besides its records, for `status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report<'a> {
    /// Records still waiting after this request's.
    pub backlog: u64,
    /// Why the previous request failed, if it did.
    pub last_error: Option<&'a str>,
}

/// The JSON body of one request.
pub fn request_body(
    source: &str,
    batch: &[(u64, Event)],
    report: &Report<'_>,
) -> serde_json::Result<Vec<u8>> {
    let records = batch
        .iter()
        .map(|(seq, event)| {
            Ok(serde_json::json!({ "seq": seq, "event": serde_json::to_value(event)? }))
        })
        .collect::<serde_json::Result<Vec<_>>>()?;
    serde_json::to_vec(&serde_json::json!({
        "source": source,
        "records": records,
        "backlog": report.backlog,
        "last_error": report.last_error,
    }))
}

/// Sends one request; the gateway's `acked_upto`, or why not.
fn post(config: &ShipperConfig, body: &[u8], signal: &Signal) -> Result<u64, String> {
    let addrs = config
        .gateway
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", config.gateway))?;
    let mut stream = None;
    let mut last = format!("{}: no address", config.gateway);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, config.io_timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect {addr}: {e}"),
        }
    }
    let stream = stream.ok_or(last)?;
    let io = |e: std::io::Error| format!("{}: {e}", config.gateway);
    stream
        .set_read_timeout(Some(config.io_timeout))
        .map_err(io)?;
    stream
        .set_write_timeout(Some(config.io_timeout))
        .map_err(io)?;
    let _ = stream.set_nodelay(true);
    {
        let mut state = signal.lock();
        if state.stop {
            return Err("stopping".into());
        }
        state.connection = stream.try_clone().ok();
    }
    // Stopping shuts the TcpStream down under rustls too, which ends a handshake or read.
    let outcome = match &config.tls {
        Some(tls) => match tls.connect(stream) {
            Ok(mut tls) => exchange(config, &mut tls, body).map_err(io),
            Err(e) => Err(format!("{}: {e}", config.gateway)),
        },
        None => exchange(config, &mut NoSigPipe(stream), body).map_err(io),
    };
    signal.lock().connection = None;
    let (status, answer) = outcome?;
    let text = String::from_utf8_lossy(&answer);
    if status != 200 {
        let text: String = text.chars().take(200).collect();
        return Err(format!("gateway answered {status}: {}", text.trim()));
    }
    serde_json::from_slice::<serde_json::Value>(&answer)
        .ok()
        .and_then(|v| v.get("acked_upto").and_then(serde_json::Value::as_u64))
        .ok_or_else(|| format!("gateway answered 200 without acked_upto: {text}"))
}

/// Writes the request and reads the answer: its status and body.
fn exchange(
    config: &ShipperConfig,
    stream: &mut (impl Read + Write),
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let authorization = config
        .token
        .as_ref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {INGEST_PATH} HTTP/1.1\r\nHost: {}\r\n{authorization}\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        config.gateway,
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    read_answer(stream)
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

/// Reads an HTTP/1.1 answer: `Content-Length`, chunked, or until the gateway closes.
pub(crate) fn read_answer(stream: &mut impl Read) -> std::io::Result<(u16, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_ANSWER {
            return Err(invalid("answer headers too long"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(invalid("connection closed before the answer"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|l| l.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("no HTTP status line"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| invalid("content-length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let mut body = buf.split_off(header_end);
    let want = length.filter(|_| !chunked).unwrap_or(usize::MAX);
    while body.len() < want {
        if body.len() > MAX_ANSWER {
            return Err(invalid("answer too long"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            if want == usize::MAX {
                break;
            }
            return Err(invalid("answer shorter than its content-length"));
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(want);
    if chunked {
        body = dechunk(&body).ok_or_else(|| invalid("bad chunked encoding"))?;
    }
    Ok((status, body))
}

/// Decodes a complete chunked body.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_answers_are_refused_within_their_bounds() {
        // Headers that never end, a body longer than any answer, a length that lies.
        let endless = [b"HTTP/1.1 200 OK\r\nx: ".as_slice(), &[b'a'; 100_000]].concat();
        assert!(read_answer(&mut &endless[..]).is_err());
        let huge = [
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n".as_slice(),
            &[b'a'; 100_000],
        ]
        .concat();
        assert!(read_answer(&mut &huge[..]).is_err());
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
        assert!(read_answer(&mut &short[..]).is_err());
        let bad_length = b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n";
        assert!(read_answer(&mut &bad_length[..]).is_err());
        // Chunk sizes that overflow, are not hex, or promise more than is there.
        for body in [
            "ffffffffffffffffff\r\nx\r\n0\r\n\r\n",
            "zz\r\nx\r\n0\r\n\r\n",
            "ffff\r\nxy\r\n0\r\n\r\n",
        ] {
            let answer = format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{body}");
            assert!(read_answer(&mut answer.as_bytes()).is_err(), "{body:?}");
        }
        for seed in [
            &b""[..],
            b"\x05HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        ] {
            crate::fuzzing::gateway_answer(seed);
        }
    }

    #[test]
    fn answers_with_length_chunks_or_close_are_read() {
        let with_length = b"HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n{\"acked_upto\":7}";
        let (status, body) = read_answer(&mut &with_length[..]).unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"{\"acked_upto\":7}"[..]));
        let chunked = b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbusy\r\n3\r\n!!!\r\n0\r\n\r\n";
        let (status, body) = read_answer(&mut &chunked[..]).unwrap();
        assert_eq!((status, body.as_slice()), (503, &b"busy!!!"[..]));
        let closed = b"HTTP/1.0 401 Unauthorized\r\n\r\nno";
        assert_eq!(read_answer(&mut &closed[..]).unwrap().0, 401);
        assert!(read_answer(&mut &b"garbage\r\n\r\n"[..]).is_err());
    }
}
