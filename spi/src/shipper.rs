//! The shipper: a background thread that drains the spool to the gateway's ingest endpoint,
//! oldest record first, and deletes records only once the gateway acknowledged them durable.
//!
//! Protocol (HTTP/1.1 through ureq, `ship_http.rs`): plain HTTP, or TLS under the
//! gateway CA when `[gateway] ca` is set ([`crate::ship_tls`]), with this library's client
//! certificate when `client_cert` is set (mutual TLS):
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
//! flight (the socket under ureq's agent), so the thread does not sit in a socket read
//! inside a library the server is about to unload. At Terminate, [`Shipper::ship_all`]
//! cuts any backoff short and waits, within its deadline, for the spool to be empty.
//!
//! The shipper reads the spool's files itself, without the writer's lock
//! ([`crate::spool_scan`]), so a writer stuck on the disk does not stop shipping what is
//! already there.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use record::Event;

use crate::error::SpiError;
use crate::ship_http::GatewayClient;
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
    /// The shipper's HTTP agent, so `stop` can shut down its request in flight.
    agent: Option<ureq::Agent>,
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
        let client = GatewayClient::new(&config);
        let signal = Arc::new(Signal::default());
        signal.lock().agent = Some(client.agent());
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
                run(&spool, &config, &client, &thread_signal, &thread_status);
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
            // Shuts down the socket of a request in flight (a handshake, a write or a read
            // ends at once with an error) and fails any request started after this.
            if let Some(agent) = state.agent.take() {
                agent.shutdown();
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

fn run(
    spool: &Spool,
    config: &ShipperConfig,
    client: &GatewayClient,
    signal: &Signal,
    status: &Mutex<ShipStatus>,
) {
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
        match round(spool, client, signal, last_error.as_deref()) {
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
    client: &GatewayClient,
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
    let acked = client.post(&body)?;
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
