//! The task behind each scripted connection (BOS or a chat room): it owns the socket, writes
//! what the client asks, turns server frames into events, answers service requests and
//! follows migrations, so the client's methods only send commands and wait for events.

use std::time::Duration;

use oscar::message::{IcbmReceive, Migration, ServiceRequest, ServiceResponse, SignOff};
use oscar::{Channel, Flap, Snac, SnacBody};
use tokio::sync::{mpsc, oneshot};

use super::events::{ClientEvent, events_of};
use crate::client_conn::{Conn, connect_with_cookie, hop_of, next_frame, send};
use crate::client_tls::ClientTls;
use crate::error::LabError;

/// What the client asks of its connection's task.
pub(super) enum Command {
    Send(Flap),
    ReportIcbms,
    Service {
        request: ServiceRequest,
        reply: oneshot::Sender<ServiceResponse>,
    },
}

/// The client's end of a connection's task: commands to it, events from it.
#[derive(Debug)]
pub(super) struct Session {
    /// To the task.
    pub(super) commands: mpsc::Sender<Command>,
    /// From the task, in the order the server sent them.
    pub(super) events: mpsc::Receiver<ClientEvent>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// How a session's connection was made, so a migration is followed the same way.
#[derive(Debug, Clone)]
struct Link {
    /// The port for an address without one.
    default_port: u16,
    /// What to trust for TLS hops.
    tls: Option<ClientTls>,
    /// The certificate name of the current connection, if it is TLS.
    tls_name: Option<String>,
}

impl Session {
    pub(super) fn spawn(
        (conn, seq): (Conn, u16),
        default_port: u16,
        tls: Option<ClientTls>,
        tls_name: Option<String>,
    ) -> Self {
        let (commands, rx) = mpsc::channel(64);
        let (tx, events) = mpsc::channel(256);
        let link = Link {
            default_port,
            tls,
            tls_name,
        };
        tokio::spawn(drive(conn, seq, rx, tx, link));
        Self { commands, events }
    }

    pub(super) async fn send(&self, flap: Flap) -> Result<(), LabError> {
        self.commands
            .send(Command::Send(flap))
            .await
            .map_err(|_| LabError::Closed(" (client)"))
    }

    pub(super) async fn next_event(&mut self, timeout: Duration) -> Result<ClientEvent, LabError> {
        match tokio::time::timeout(timeout, self.events.recv()).await {
            Ok(Some(event)) => Ok(event),
            Ok(None) => Ok(ClientEvent::Disconnected),
            Err(_) => Err(LabError::Timeout("an event")),
        }
    }

    pub(super) async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        what: &'static str,
        want: impl Fn(&ClientEvent) -> Option<T>,
    ) -> Result<T, LabError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| LabError::Timeout(what))?
                .ok_or(LabError::Closed(" before the expected event"))?;
            if let Some(found) = want(&event) {
                return Ok(found);
            }
        }
    }
}

/// Owns one connection: writes commands, turns server frames into events, and follows a
/// migration by reconnecting with the new cookie.
async fn drive(
    mut conn: Conn,
    mut seq: u16,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<ClientEvent>,
    mut link: Link,
) {
    let mut pending: Vec<(u32, oneshot::Sender<ServiceResponse>)> = Vec::new();
    let mut rid = 100u32;
    let mut report_icbms = false;
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Send(flap)) => {
                    if send(&mut conn, &mut seq, flap).await.is_err() { break; }
                }
                Some(Command::ReportIcbms) => report_icbms = true,
                Some(Command::Service { request, reply }) => {
                    rid += 1;
                    let Ok(flap) = request.to_snac(rid).and_then(|s| s.to_flap()) else { continue };
                    pending.push((rid, reply));
                    if send(&mut conn, &mut seq, flap).await.is_err() { break; }
                }
                None => break,
            },
            frame = next_frame(&mut conn) => {
                let Ok(flap) = frame else { break };
                if flap.channel == Channel::SIGNOFF {
                    break;
                }
                let Ok(snac) = Snac::from_flap(&flap) else { continue };
                if snac.header.is(Migration::FAMILY, Migration::SUBTYPE) {
                    match follow_migration(&snac, &link).await {
                        Ok((to, new_conn, new_seq, tls_name)) => {
                            // Leave the old host politely so it does not log a reset.
                            if let Ok(bye) = SignOff::default().to_flap() {
                                let _ = send(&mut conn, &mut seq, bye).await;
                            }
                            conn = new_conn;
                            seq = new_seq;
                            link.tls_name = tls_name;
                            let _ = events.send(ClientEvent::Migrated(to)).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "lab client: migration failed");
                            break;
                        }
                    }
                    continue;
                }
                if snac.header.is(ServiceResponse::FAMILY, ServiceResponse::SUBTYPE) {
                    if let Some(i) = pending.iter().position(|(r, _)| *r == snac.header.request_id) {
                        let (_, reply) = pending.swap_remove(i);
                        if let Ok(resp) = ServiceResponse::from_snac(&snac) {
                            let _ = reply.send(resp);
                        }
                    }
                    continue;
                }
                let raw = (report_icbms
                    && snac.header.is(IcbmReceive::FAMILY, IcbmReceive::SUBTYPE))
                .then(|| ClientEvent::Icbm(snac.body.clone()));
                for event in events_of(&snac).into_iter().chain(raw) {
                    if events.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
    let _ = events.send(ClientEvent::Disconnected).await;
}

/// Connects where a migration points. Migrations carry no TLV 0x008E: a TLS session moves
/// over TLS with the same certificate name, a plain one in plain text.
async fn follow_migration(
    snac: &Snac,
    link: &Link,
) -> Result<(String, Conn, u16, Option<String>), LabError> {
    let migration = Migration::from_snac(snac)?;
    let mut hop = hop_of(&migration)?;
    hop.tls_name = hop.tls_name.or_else(|| link.tls_name.clone());
    let (conn, seq) = connect_with_cookie(&hop, link.default_port, link.tls.as_ref()).await?;
    Ok((hop.address.to_string(), conn, seq, hop.tls_name))
}
