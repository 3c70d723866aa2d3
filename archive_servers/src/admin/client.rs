//! Another process's side of the admin socket: send one request, read the answer lines.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use archive::ArchiveError;
use archive::Query;
use archive::RetentionState;
use archive::VerifyReport;
use archive::{Hold, HoldTarget, RetentionPolicy, RetentionReport};
use archive::{LockChange, RetentionMinimum};
use record::Record;

use super::{Line, MAX_SIGNED_MANIFEST, Request, socket_path};

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
