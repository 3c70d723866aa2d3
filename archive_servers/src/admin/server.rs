//! The owning process's side of the admin socket: bind it, admit a peer by its credentials,
//! read one bounded request within the deadline, answer it from the archive.

use std::path::Path;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::admin_peer::{AdminPolicy, parse_proc_groups};
use archive::Archive;
use archive::ArchiveError;
use archive::{AccessVia, Accessor};

use super::{Line, MAX_REQUEST_LINE, MAX_SIGNED_MANIFEST, REQUEST_DEADLINE, Request, socket_path};

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
