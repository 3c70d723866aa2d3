//! The admin socket: how other processes use an archive the gateway owns (sled allows one
//! process per store). JSON lines over a Unix socket at `<dir>/admin.sock`, mode 0600: one
//! request line; the answer is zero or more `{"record": ...}` lines and then either
//! `{"done": ...}` or `{"error": "..."}`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::archive::Archive;
use crate::error::ArchiveError;
use crate::query::Query;
use crate::record::Record;
use crate::retention::{Hold, HoldTarget, RetentionPolicy, RetentionReport};
use crate::signing::parse_public_key;
use crate::verify::VerifyReport;

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
        /// The filters.
        query: Query,
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
    },
    /// The owner's status: the archive's counters plus whatever the owner adds (the
    /// gateway: its relay's sessions and egress load).
    Status,
    /// Apply (or dry-run) a retention policy.
    Retention {
        /// The policy.
        policy: RetentionPolicy,
        /// "Now", UTC ns.
        now_ns: i64,
        /// Count only.
        dry_run: bool,
    },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Record(Box<Record>),
    Done(serde_json::Value),
    Error(String),
}

/// Binds the admin socket for the archive in `dir` (replacing a stale socket file) with
/// mode 0600: only the gateway's user may read the archive through it.
pub fn bind(dir: &Path) -> Result<UnixListener, ArchiveError> {
    let path = socket_path(dir);
    let err = |source| ArchiveError::Admin {
        path: path.clone(),
        source,
    };
    if path.exists() {
        std::fs::remove_file(&path).map_err(err)?;
    }
    let listener = UnixListener::bind(&path).map_err(err)?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(err)?;
    Ok(listener)
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
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let archive = archive.clone();
                let owner = owner.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_one(archive, stream, owner).await {
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

async fn serve_one(
    archive: Archive,
    stream: tokio::net::UnixStream,
    owner: OwnerStatus,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut request = String::new();
    let n = tokio::io::BufReader::new(read)
        .read_line(&mut request)
        .await?;
    // `Client::connect` checks that an owner answers by connecting and closing: nothing
    // to answer, and writing an error back would only meet a closed socket.
    if n == 0 {
        return Ok(());
    }
    let (tx, mut rx) = mpsc::channel::<Line>(256);
    let worker = tokio::task::spawn_blocking(move || {
        let request: Request = match serde_json::from_str(&request) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.blocking_send(Line::Error(format!("bad request: {e}")));
                return;
            }
        };
        let last = match handle(&archive, request, &tx, &owner) {
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
    tx: &mpsc::Sender<Line>,
    owner: &OwnerStatus,
) -> Result<serde_json::Value, ArchiveError> {
    match request {
        Request::Search { query } => {
            let mut n = 0u64;
            for record in archive.search(&query) {
                if tx.blocking_send(Line::Record(Box::new(record?))).is_err() {
                    break; // the client went away
                }
                n += 1;
            }
            Ok(serde_json::json!({ "count": n }))
        }
        Request::Verify { public_key } => {
            let report = match public_key {
                Some(hex) => archive.verify_with(&parse_public_key(&hex)?)?,
                None => archive.verify()?,
            };
            to_value(&report)
        }
        Request::Holds { released } => to_value(&archive.holds(released)?),
        Request::HoldAdd { target, reason } => to_value(&archive.hold_add(target, &reason)?),
        Request::HoldRelease { id } => to_value(&archive.hold_release(id)?),
        Request::Status => {
            Ok(serde_json::json!({ "archive": archive.status()?, "owner": owner() }))
        }
        Request::Retention {
            policy,
            now_ns,
            dry_run,
        } => to_value(&archive.apply_retention(&policy, now_ns, dry_run)?),
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
        let err = |source| ArchiveError::Admin {
            path: self.path.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.path).map_err(err)?;
        let mut line =
            serde_json::to_vec(request).map_err(|e| ArchiveError::corrupt("admin request", e))?;
        line.push(b'\n');
        stream.write_all(&line).map_err(err)?;
        Ok(AnswerLines {
            lines: BufReader::new(stream).lines(),
            path: self.path.clone(),
            done: None,
        })
    }

    fn call<T: for<'de> Deserialize<'de>>(&self, request: &Request) -> Result<T, ArchiveError> {
        let mut answer = self.request(request)?;
        for record in answer.by_ref() {
            record?;
        }
        let done = answer.done.take().ok_or(ArchiveError::WriterGone)?;
        serde_json::from_value(done).map_err(|e| ArchiveError::corrupt("admin answer", e))
    }

    /// Records matching `query`, streamed.
    pub fn search(&self, query: &Query) -> Result<AnswerLines, ArchiveError> {
        self.request(&Request::Search {
            query: query.clone(),
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

    /// Release a hold.
    pub fn hold_release(&self, id: u64) -> Result<Hold, ArchiveError> {
        self.call(&Request::HoldRelease { id })
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
            Ok(Line::Done(v)) => {
                self.done = Some(v);
                None
            }
            Ok(Line::Error(e)) => Some(Err(ArchiveError::Remote(e))),
            Err(e) => Some(Err(ArchiveError::corrupt("admin answer", e))),
        }
    }
}
