//! The admin socket: how other processes use an archive the gateway owns (sled allows one
//! process per store). JSON lines over a Unix socket at `<dir>/admin.sock`: one request
//! line; the answer is zero or more `{"record": ...}` lines and then either `{"done": ...}`
//! or `{"error": "..."}`.
//!
//! Who may connect is checked twice: by the socket file's mode (0600, or 0660 for the admin
//! group, with the archive directory 0710 so the group can reach it) and by the peer's
//! credentials ([`AdminPolicy`]: the owner, root, or a member of the admin group); anyone
//! else gets an error line and a warning in the log. A request line is at most
//! [`MAX_REQUEST_LINE`] bytes and must arrive within [`REQUEST_DEADLINE`]; only a
//! `sign_export` line is followed by more (the manifest, at most [`MAX_SIGNED_MANIFEST`]
//! bytes, within the same time). Every search,
//! export, hold, retention and verify is recorded as an `access` record of the peer's uid
//! ([`archive::Access`]).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::admin_peer::{AdminPolicy, parse_proc_groups};
use archive::Archive;
use archive::ArchiveError;
use archive::Query;
use archive::RetentionState;
use archive::VerifyReport;
use archive::{AccessVia, Accessor};
use archive::{Hold, HoldTarget, RetentionPolicy, RetentionReport};
use archive::{LockChange, RetentionMinimum};
use record::Record;

/// The longest request line accepted (the newline included); a longer one is answered
/// with an error and the connection closed. Requests are small JSON: filters, a reason.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// The longest manifest a `sign_export` request may carry after its line: an EML export's
/// manifest names every file, so it outgrows a request line.
pub const MAX_SIGNED_MANIFEST: u64 = 16 << 20;

/// How long a client has, after connecting, to send its request line.
pub const REQUEST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the owning process listens, for the archive in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("admin.sock")
}

/// One request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Stream the records matching `query`.
    Search {
        /// The filters (boxed: the largest request by far).
        query: Box<Query>,
        /// Which command searches, for the access record (`search`, `export`). Default:
        /// `search`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        /// The command's other arguments, for the access record (an export's format).
        #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
        args: serde_json::Value,
    },
    /// Verify the chain, optionally against a pinned public key (hex).
    Verify {
        /// Pinned key; `None` uses the archive's own.
        public_key: Option<String>,
    },
    /// List holds.
    Holds {
        /// Include released ones.
        released: bool,
    },
    /// Place a hold.
    HoldAdd {
        /// What it covers.
        target: HoldTarget,
        /// Why.
        reason: String,
    },
    /// Release a hold.
    HoldRelease {
        /// Which.
        id: u64,
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The owner's status: the archive's counters plus whatever the owner adds (the
    /// gateway: its relay's sessions and egress load).
    Status,
    /// The archive's signed state and the exporter as the owner admitted them, for an
    /// export's manifest.
    ExportState,
    /// Sign an export's manifest with the archive key: the request line is followed by
    /// exactly `length` bytes (at most [`MAX_SIGNED_MANIFEST`]), the bytes of
    /// `manifest.json`; refused unless it names the admitted user as exporter and this
    /// archive's key ([`crate::export::seal`]).
    SignExport {
        /// How many bytes of manifest follow the line.
        length: u64,
    },
    /// Apply (or dry-run) a retention policy.
    Retention {
        /// The policy.
        policy: RetentionPolicy,
        /// "Now", UTC ns.
        now_ns: i64,
        /// Count only.
        dry_run: bool,
    },
    /// The locked retention minimum and every purge (what `verify` shows beside its verdict).
    RetentionState,
    /// Set or raise the retention minimum (a lower one is refused).
    RetentionMinimum {
        /// The minimum asked for.
        minimum: RetentionMinimum,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Record(Box<Record>),
    /// Said before the records: some could not be read (a damaged store).
    Warning(String),
    Done(serde_json::Value),
    Error(String),
}

/// Binds the admin socket for the archive in `dir` (replacing a stale socket file) with
/// mode 0600: only the gateway's user may read the archive through it.
pub fn bind(dir: &Path) -> Result<UnixListener, ArchiveError> {
    bind_for(dir, &AdminPolicy::owner_only())
}

/// [`bind`] for `policy`: with an admin group, the socket is 0660 in that group and the
/// archive directory 0710 in that group (its members may reach the socket, not list or
/// read the directory); without one, the socket is 0600.
pub fn bind_for(dir: &Path, policy: &AdminPolicy) -> Result<UnixListener, ArchiveError> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = socket_path(dir);
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Admin { path, source }
    };
    if path.exists() {
        std::fs::remove_file(&path).map_err(err(&path))?;
    }
    let listener = UnixListener::bind(&path).map_err(err(&path))?;
    let mode = match policy.admin_gid {
        Some(gid) => {
            std::os::unix::fs::chown(dir, None, Some(gid)).map_err(err(dir))?;
            std::fs::set_permissions(
                dir,
                std::fs::Permissions::from_mode(owner_only::DIR_MODE_GROUP_SEARCH),
            )
            .map_err(err(dir))?;
            std::os::unix::fs::chown(&path, None, Some(gid)).map_err(err(&path))?;
            0o660
        }
        None => 0o600,
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(err(&path))?;
    Ok(listener)
}

/// The gid of `archive.admin_group`: a group name from the system's group database, or a
/// decimal gid.
pub fn resolve_group(name: &str) -> Result<u32, ArchiveError> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse().map_err(|_| ArchiveError::Invalid {
            what: "admin group",
            detail: format!("{name} is not a gid"),
        });
    }
    uzers::get_group_by_name(name)
        .map(|g| g.gid())
        .ok_or_else(|| ArchiveError::Invalid {
            what: "admin group",
            detail: format!("no group named {name:?} on this system"),
        })
}

/// What the owning process adds to a status answer.
pub type OwnerStatus = std::sync::Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Answers admin requests until the task is dropped. Each connection is served on its own
/// task; archive work runs on blocking threads.
pub async fn serve(archive: Archive, listener: UnixListener) {
    serve_with_status(
        archive,
        listener,
        std::sync::Arc::new(|| serde_json::Value::Null),
    )
    .await;
}

/// [`serve`], with `owner` adding the owning process's own counters to status answers.
pub async fn serve_with_status(archive: Archive, listener: UnixListener, owner: OwnerStatus) {
    serve_with(archive, listener, owner, AdminPolicy::owner_only()).await;
}

/// [`serve_with_status`], letting in whom `policy` names.
pub async fn serve_with(
    archive: Archive,
    listener: UnixListener,
    owner: OwnerStatus,
    policy: AdminPolicy,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let archive = archive.clone();
                let owner = owner.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_one(archive, stream, owner, policy).await {
                        tracing::warn!(error = %e, "admin request failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Who the peer on `stream` is, if `policy` lets it in; else the refusal to send it.
fn admit(stream: &tokio::net::UnixStream, policy: &AdminPolicy) -> Result<Accessor, String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
    let (uid, gid) = (cred.uid(), cred.gid());
    let accessor = Accessor::of_uid(uid, AccessVia::Socket);
    let admitted = policy.admits(uid, gid).or_else(|| {
        // Supplementary groups are not in SO_PEERCRED; the kernel lists them per process.
        let pid = cred.pid().filter(|_| policy.has_group())?;
        let status = std::fs::read(format!("/proc/{pid}/status")).ok()?;
        policy.admits_groups(&parse_proc_groups(&status).ok()?)
    });
    match admitted {
        Some(why) => {
            tracing::debug!(uid, user = %accessor.user, ?why, "admin socket: peer admitted");
            Ok(accessor)
        }
        None => {
            tracing::warn!(
                uid,
                gid,
                pid = cred.pid(),
                user = %accessor.user,
                "admin socket: refused a peer that is not the archive's owner, root or in the admin group"
            );
            Err(format!(
                "permission denied: {} (uid {uid}) is not the archive's owner (uid {}), root, \
                 or a member of its admin group",
                accessor.user, policy.owner_uid
            ))
        }
    }
}

/// Reads one request line of at most [`MAX_REQUEST_LINE`] bytes within
/// [`REQUEST_DEADLINE`]. `Ok(None)`: the client closed without a request.
async fn read_request(
    read: &mut tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>,
) -> Result<Option<Vec<u8>>, String> {
    use tokio::io::AsyncReadExt as _;
    let mut line = Vec::new();
    // The caller's buffered reader, so bytes after the line (a manifest) stay in it.
    let mut bounded = read.take(MAX_REQUEST_LINE as u64);
    let n = tokio::time::timeout(REQUEST_DEADLINE, bounded.read_until(b'\n', &mut line))
        .await
        .map_err(|_| format!("no request line within {} s", REQUEST_DEADLINE.as_secs()))?
        .map_err(|e| format!("reading the request: {e}"))?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() >= MAX_REQUEST_LINE {
            format!("request line longer than {MAX_REQUEST_LINE} bytes")
        } else {
            "request line not ended by a newline".to_owned()
        });
    }
    Ok(Some(line))
}

/// The manifest after a `sign_export` request line, read within [`REQUEST_DEADLINE`];
/// `None` for every other request.
async fn read_body(
    request: &[u8],
    read: &mut tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>,
) -> Result<Option<Vec<u8>>, String> {
    use tokio::io::AsyncReadExt as _;
    let Ok(Request::SignExport { length }) = serde_json::from_slice(request) else {
        return Ok(None);
    };
    if length > MAX_SIGNED_MANIFEST {
        return Err(format!(
            "a manifest of {length} bytes is longer than {MAX_SIGNED_MANIFEST}"
        ));
    }
    let mut body = Vec::new();
    tokio::time::timeout(REQUEST_DEADLINE, read.take(length).read_to_end(&mut body))
        .await
        .map_err(|_| format!("no manifest within {} s", REQUEST_DEADLINE.as_secs()))?
        .map_err(|e| format!("reading the manifest: {e}"))?;
    if body.len() as u64 != length {
        return Err(format!(
            "the manifest ended after {} of {length} bytes",
            body.len()
        ));
    }
    Ok(Some(body))
}

/// Answers with an error line and closes. What the client still sends is read and dropped
/// for a moment first (at most [`MAX_REQUEST_LINE`] bytes, [`DRAIN_FOR`]): closing a Unix
/// socket with unread data resets it, and the client would see the reset, not the answer.
async fn send_error(
    mut read: tokio::net::unix::OwnedReadHalf,
    mut write: tokio::net::unix::OwnedWriteHalf,
    message: String,
) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt as _;
    let mut text = serde_json::to_vec(&Line::Error(message)).map_err(std::io::Error::other)?;
    text.push(b'\n');
    write.write_all(&text).await?;
    write.shutdown().await?;
    let mut rest = (&mut read).take(MAX_REQUEST_LINE as u64);
    let _ = tokio::time::timeout(
        DRAIN_FOR,
        tokio::io::copy(&mut rest, &mut tokio::io::sink()),
    )
    .await;
    Ok(())
}

/// How long a refused or failed request's remaining bytes are read before closing.
const DRAIN_FOR: std::time::Duration = std::time::Duration::from_secs(1);

async fn serve_one(
    archive: Archive,
    stream: tokio::net::UnixStream,
    owner: OwnerStatus,
    policy: AdminPolicy,
) -> std::io::Result<()> {
    let admitted = admit(&stream, &policy);
    let (read, mut write) = stream.into_split();
    let accessor = match admitted {
        Ok(accessor) => accessor,
        // The probe of `Client::connect` may have closed already: nothing to tell it.
        Err(refusal) => return send_error(read, write, refusal).await.or(Ok(())),
    };
    let mut read = tokio::io::BufReader::new(read);
    let request = match read_request(&mut read).await {
        Ok(Some(line)) => line,
        // `Client::connect` checks that an owner answers by connecting and closing: nothing
        // to answer, and writing an error back would only meet a closed socket.
        Ok(None) => return Ok(()),
        Err(problem) => {
            tracing::warn!(uid = accessor.uid, user = %accessor.user, %problem, "admin socket: bad request");
            return send_error(read.into_inner(), write, problem).await;
        }
    };
    let body = match read_body(&request, &mut read).await {
        Ok(body) => body,
        Err(problem) => {
            tracing::warn!(uid = accessor.uid, user = %accessor.user, %problem, "admin socket: bad request");
            return send_error(read.into_inner(), write, problem).await;
        }
    };
    let (tx, mut rx) = mpsc::channel::<Line>(256);
    let worker = tokio::task::spawn_blocking(move || {
        let request: Request = match serde_json::from_slice(&request) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Line::Error(format!("bad request: {e}")));
                return;
            }
        };
        let last = match handle(&archive, request, body, &tx, &owner, &accessor) {
            Ok(done) => Line::Done(done),
            Err(e) => Line::Error(e.to_string()),
        };
        let _ = tx.blocking_send(last);
    });
    while let Some(line) = rx.recv().await {
        let mut text = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
        text.push(b'\n');
        write.write_all(&text).await?;
    }
    write.flush().await?;
    let _ = worker.await;
    Ok(())
}

fn to_value<T: Serialize>(value: &T) -> Result<serde_json::Value, ArchiveError> {
    serde_json::to_value(value).map_err(|e| ArchiveError::corrupt("admin answer", e))
}

fn handle(
    archive: &Archive,
    request: Request,
    body: Option<Vec<u8>>,
    tx: &mpsc::Sender<Line>,
    owner: &OwnerStatus,
    who: &Accessor,
) -> Result<serde_json::Value, ArchiveError> {
    match request {
        Request::Search {
            query,
            command,
            args,
        } => {
            let command = command.as_deref().unwrap_or("search");
            let mut n = 0u64;
            let (records, unreadable) =
                archive.audited_readable_search(&query, who, command, args)?;
            if let Some(warning) = archive::unreadable_warning(&unreadable) {
                tracing::warn!(uid = who.uid, user = %who.user, "{warning}");
                let _ = tx.blocking_send(Line::Warning(warning));
            }
            for record in records {
                if tx.blocking_send(Line::Record(Box::new(record?))).is_err() {
                    break; // the client went away
                }
                n += 1;
            }
            Ok(serde_json::json!({ "count": n }))
        }
        Request::Verify { public_key } => {
            to_value(&archive.audited_verify(public_key.as_deref(), who)?)
        }
        Request::Holds { released } => to_value(&archive.audited_holds(released, who)?),
        Request::HoldAdd { target, reason } => {
            to_value(&archive.audited_hold_add(target, &reason, who)?)
        }
        Request::HoldRelease { id, reason } => {
            to_value(&archive.audited_hold_release(id, reason.as_deref(), who)?)
        }
        Request::RetentionState => to_value(&archive.retention_state()?),
        Request::RetentionMinimum { minimum } => {
            to_value(&archive.raise_retention_minimum(&minimum, who)?)
        }
        Request::Status => {
            Ok(serde_json::json!({ "archive": archive.status()?, "owner": owner() }))
        }
        Request::Retention {
            policy,
            now_ns,
            dry_run,
        } => to_value(&archive.audited_retention(&policy, now_ns, dry_run, who)?),
        Request::ExportState => to_value(&archive::export::seal::owner_state(archive, who)?),
        Request::SignExport { .. } => {
            let manifest = body.unwrap_or_default();
            to_value(&archive::export::seal::owner_sign(archive, &manifest, who)?.to_vec())
        }
    }
}

/// A connection to the owning process of an archive.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
}

impl Client {
    /// A client for the archive in `dir`; fails if nothing answers on its socket.
    pub fn connect(dir: &Path) -> Result<Self, ArchiveError> {
        let path = socket_path(dir);
        UnixStream::connect(&path).map_err(|source| ArchiveError::Admin {
            path: path.clone(),
            source,
        })?;
        Ok(Self { path })
    }

    fn request(&self, request: &Request) -> Result<AnswerLines, ArchiveError> {
        self.send(request, &[])
    }

    /// Sends the request line, then `body`.
    fn send(&self, request: &Request, body: &[u8]) -> Result<AnswerLines, ArchiveError> {
        let err = |source| ArchiveError::Admin {
            path: self.path.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.path).map_err(err)?;
        let mut line =
            serde_json::to_vec(request).map_err(|e| ArchiveError::corrupt("admin request", e))?;
        line.push(b'\n');
        stream.write_all(&line).map_err(err)?;
        stream.write_all(body).map_err(err)?;
        Ok(AnswerLines {
            lines: BufReader::new(stream).lines(),
            path: self.path.clone(),
            done: None,
        })
    }

    fn call<T: for<'de> Deserialize<'de>>(&self, request: &Request) -> Result<T, ArchiveError> {
        self.call_with(request, &[])
    }

    /// [`Client::call`] with `body` after the request line.
    fn call_with<T: for<'de> Deserialize<'de>>(
        &self,
        request: &Request,
        body: &[u8],
    ) -> Result<T, ArchiveError> {
        let mut answer = self.send(request, body)?;
        for record in answer.by_ref() {
            record?;
        }
        let done = answer.done.take().ok_or(ArchiveError::WriterGone)?;
        serde_json::from_value(done).map_err(|e| ArchiveError::corrupt("admin answer", e))
    }

    /// Records matching `query`, streamed.
    pub fn search(&self, query: &Query) -> Result<AnswerLines, ArchiveError> {
        self.search_for(query, "search", serde_json::Value::Null)
    }

    /// [`Client::search`] on behalf of `command` (`search`, `export`) with its other
    /// `args`, as the owner records the access.
    pub fn search_for(
        &self,
        query: &Query,
        command: &str,
        args: serde_json::Value,
    ) -> Result<AnswerLines, ArchiveError> {
        self.request(&Request::Search {
            query: Box::new(query.clone()),
            command: Some(command.to_owned()),
            args,
        })
    }

    /// Verify in the owning process.
    pub fn verify(&self, public_key: Option<String>) -> Result<VerifyReport, ArchiveError> {
        self.call(&Request::Verify { public_key })
    }

    /// List holds.
    pub fn holds(&self, released: bool) -> Result<Vec<Hold>, ArchiveError> {
        self.call(&Request::Holds { released })
    }

    /// The owner's status (archive counters and the owner's own).
    pub fn status(&self) -> Result<serde_json::Value, ArchiveError> {
        self.call(&Request::Status)
    }

    /// Place a hold.
    pub fn hold_add(&self, target: HoldTarget, reason: &str) -> Result<Hold, ArchiveError> {
        self.call(&Request::HoldAdd {
            target,
            reason: reason.to_owned(),
        })
    }

    /// Release a hold, saying why.
    pub fn hold_release(&self, id: u64, reason: Option<&str>) -> Result<Hold, ArchiveError> {
        self.call(&Request::HoldRelease {
            id,
            reason: reason.map(str::to_owned),
        })
    }

    /// The locked retention minimum and every purge.
    pub fn retention_state(&self) -> Result<RetentionState, ArchiveError> {
        self.call(&Request::RetentionState)
    }

    /// Set or raise the retention minimum.
    pub fn raise_retention_minimum(
        &self,
        minimum: &RetentionMinimum,
    ) -> Result<LockChange, ArchiveError> {
        self.call(&Request::RetentionMinimum {
            minimum: minimum.clone(),
        })
    }

    /// The archive's signed state and this user as the owner sees them, for an export.
    pub fn export_state(&self) -> Result<archive::export::seal::OwnerState, ArchiveError> {
        self.call(&Request::ExportState)
    }

    /// The archive key's signature over `manifest` (the bytes of `manifest.json`), by the
    /// owner. A manifest over [`MAX_SIGNED_MANIFEST`] is refused before it is sent.
    pub fn sign_export(&self, manifest: &[u8]) -> Result<[u8; 64], ArchiveError> {
        let length = manifest.len() as u64;
        if length > MAX_SIGNED_MANIFEST {
            return Err(ArchiveError::Invalid {
                what: "export manifest",
                detail: format!(
                    "{length} bytes is too long to send to the running gateway for signing \
                     (at most {MAX_SIGNED_MANIFEST}); narrow the query, or export with the \
                     gateway stopped"
                ),
            });
        }
        let signature: Vec<u8> = self.call_with(&Request::SignExport { length }, manifest)?;
        <[u8; 64]>::try_from(signature.as_slice())
            .map_err(|_| ArchiveError::corrupt("admin answer", "signature is not 64 bytes"))
    }

    /// Apply or dry-run retention.
    pub fn retention(
        &self,
        policy: &RetentionPolicy,
        now_ns: i64,
        dry_run: bool,
    ) -> Result<RetentionReport, ArchiveError> {
        self.call(&Request::Retention {
            policy: policy.clone(),
            now_ns,
            dry_run,
        })
    }
}

/// The records of an answer, read as they arrive; the final `done` value is kept.
pub struct AnswerLines {
    lines: std::io::Lines<BufReader<UnixStream>>,
    path: PathBuf,
    done: Option<serde_json::Value>,
}

impl Iterator for AnswerLines {
    type Item = Result<Record, ArchiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done.is_some() {
            return None;
        }
        let line = match self.lines.next()? {
            Ok(line) => line,
            Err(source) => {
                return Some(Err(ArchiveError::Admin {
                    path: self.path.clone(),
                    source,
                }));
            }
        };
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Record(r)) => Some(Ok(*r)),
            Ok(Line::Warning(warning)) => {
                // The owner could not read some records: the person asking must know.
                tracing::warn!("{warning}");
                self.next()
            }
            Ok(Line::Done(v)) => {
                self.done = Some(v);
                None
            }
            Ok(Line::Error(e)) => Some(Err(ArchiveError::Remote(e))),
            Err(e) => Some(Err(ArchiveError::corrupt("admin answer", e))),
        }
    }
}

/// An exporter that reaches the archive through its owner signs through it too.
impl archive::export::seal::ManifestSigner for Client {
    fn state(&self) -> Result<archive::export::seal::ArchiveState, ArchiveError> {
        Ok(self.export_state()?.state)
    }

    fn sign(&self, manifest: &[u8]) -> Result<[u8; 64], ArchiveError> {
        self.sign_export(manifest)
    }
}
