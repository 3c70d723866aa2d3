//! Part 1, IMs per second: sender/receiver pairs of lab clients, each sender keeping a
//! window of IMs in flight, directly or through the relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lab::{LabClient, LabConfig, LabServer};
use tokio::sync::Semaphore;

use crate::gateway::{Gateway, Route};
use crate::settings::Settings;
use crate::system::cpu_secs;
use crate::{END, STALL, TEXT, WINDOW};

pub(crate) struct ImRow {
    pub(crate) route: Route,
    pub(crate) pairs: usize,
    pub(crate) delivered: u64,
    pub(crate) secs: f64,
    /// Records in the archive after the run (synced), and the relay's own count.
    pub(crate) records: Option<(u64, u64)>,
    pub(crate) failed_sessions: u64,
    /// CPU seconds of this whole process (clients, lab server, relay, archive writer).
    pub(crate) cpu: f64,
}

pub(crate) async fn login_all(
    auth: SocketAddr,
    names: Vec<String>,
) -> Result<Vec<LabClient>, String> {
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::new();
    for name in names {
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = gate.acquire_owned().await;
            tokio::time::timeout(STALL, LabClient::login(auth, &name, "bench"))
                .await
                .map_err(|_| format!("login of {name} timed out"))?
                .map_err(|e| format!("login of {name}: {e}"))
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.map_err(|e| e.to_string())??);
    }
    Ok(clients)
}

/// Sends `TEXT` to `to` while a window slot is free, until `deadline` or `max` IMs; the last
/// one is `END`. Returns the client so it stays connected until its peer has everything.
pub(crate) async fn im_sender(
    mut me: LabClient,
    to: String,
    window: Arc<Semaphore>,
    deadline: Instant,
    max: u64,
) -> Result<(u64, LabClient), String> {
    let mut sent = 0u64;
    loop {
        let last = sent + 1 >= max || Instant::now() >= deadline;
        let slot = tokio::time::timeout(STALL, window.acquire())
            .await
            .map_err(|_| format!("no delivery for {} s", STALL.as_secs()))?
            .map_err(|e| e.to_string())?;
        slot.forget();
        me.send_im(&to, if last { END } else { TEXT })
            .await
            .map_err(|e| e.to_string())?;
        sent += 1;
        if last {
            return Ok((sent, me));
        }
    }
}

/// Receives IMs from `from`, freeing a window slot for each, up to and including `END`.
pub(crate) async fn im_receiver(
    mut me: LabClient,
    from: String,
    window: Arc<Semaphore>,
) -> Result<(u64, LabClient), String> {
    let mut got = 0u64;
    loop {
        let text = me
            .expect_im(&from, STALL)
            .await
            .map_err(|e| format!("after {got} IMs: {e}"))?;
        got += 1;
        window.add_permits(1);
        if text == END {
            return Ok((got, me));
        }
    }
}

pub(crate) async fn im_throughput(
    route: Route,
    pairs: usize,
    s: &Settings,
) -> (Result<ImRow, String>, Option<tempfile::TempDir>) {
    let lab = LabServer::start(LabConfig::ephemeral()).await.unwrap();
    let gateway = match route.capture() {
        Some(mode) => {
            Some(Gateway::start(lab.auth_addr, mode, s.base.as_deref(), route.policy()).await)
        }
        None => None,
    };
    let entry = gateway.as_ref().map_or(lab.auth_addr, |g| g.addr);
    let result = async {
        let names: Vec<String> = (0..pairs)
            .flat_map(|i| [format!("rcv{i:03}"), format!("snd{i:03}")])
            .collect();
        let mut clients = login_all(entry, names).await?.into_iter();
        let cpu0 = cpu_secs(None);
        let started = Instant::now();
        let deadline = started + Duration::from_secs_f64(s.secs);
        let (mut senders, mut receivers) = (Vec::new(), Vec::new());
        for i in 0..pairs {
            let (rcv, snd) = (clients.next().unwrap(), clients.next().unwrap());
            let window = Arc::new(Semaphore::new(WINDOW));
            receivers.push(tokio::spawn(im_receiver(
                rcv,
                format!("snd{i:03}"),
                window.clone(),
            )));
            senders.push(tokio::spawn(im_sender(
                snd,
                format!("rcv{i:03}"),
                window,
                deadline,
                s.max_ims,
            )));
        }
        let mut delivered = 0;
        let mut keep = Vec::new();
        for r in receivers {
            let (n, client) = r.await.map_err(|e| e.to_string())??;
            delivered += n;
            keep.push(client);
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu = cpu_secs(None) - cpu0;
        let mut sent = 0;
        for t in senders {
            let (n, client) = t.await.map_err(|e| e.to_string())??;
            sent += n;
            keep.push(client);
        }
        if sent != delivered {
            return Err(format!("{sent} IMs sent, {delivered} delivered"));
        }
        let records = match gateway.as_ref().and_then(|g| g.archive.as_ref()) {
            Some(archive) => {
                archive.sync().await.map_err(|e| e.to_string())?;
                let relay_count = gateway
                    .as_ref()
                    .map_or(0, |g| g.relay.stats.records.load(Ordering::Relaxed));
                // The check is on IM records: each user's sign-on has its own record
                // (`session_start`), which the relay counts too.
                let ims = archive::Query {
                    kinds: vec![archive::Kind::Im],
                    ..archive::Query::default()
                };
                let im_records = archive.search(&ims).filter(Result::is_ok).count() as u64;
                let others = (archive.len() as u64).saturating_sub(im_records);
                Some((im_records, relay_count.saturating_sub(others)))
            }
            None => None,
        };
        let failed_sessions = gateway
            .as_ref()
            .map_or(0, |g| g.relay.stats.sessions_failed.load(Ordering::Relaxed));
        drop(keep);
        Ok(ImRow {
            route,
            pairs,
            delivered,
            secs,
            records,
            failed_sessions,
            cpu,
        })
    }
    .await;
    let dir = match gateway {
        Some(g) => g.shutdown().await,
        None => None,
    };
    lab.stop().await;
    (result, dir)
}
