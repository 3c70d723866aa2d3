//! What every request handler shares.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use archive::export::Zone;
use archive::{Access, AccessVia, Accessor, Archive, Query};
use policy::PolicyEngine;

use crate::error::ConsoleWebError;
use crate::sessions::Sessions;
use crate::throttle::Throttle;

/// The console's shared state.
pub struct ConsoleState {
    /// The archive it reads and records every access in.
    pub archive: Archive,
    /// The accounts file, read again for every request so a disabled account is out at once.
    pub accounts: PathBuf,
    /// The policy: each screen name's directory entry and group, for scopes.
    pub engine: Arc<PolicyEngine>,
    /// Live sessions.
    pub sessions: Sessions,
    /// Failed logins.
    pub throttle: Mutex<Throttle>,
    /// The zone pages show times in.
    pub zone: Zone,
    /// This process's uid, stored with each access beside the console account's name.
    pub uid: u32,
    /// The full-text index, followed from its own thread, if it could be opened.
    pub text_index: Option<Arc<text_index::TextIndex>>,
    /// Random samples for the review queue, by group.
    pub sampling: Vec<crate::sampling::SampleRule>,
    /// Whether the session cookie is marked `Secure` (it is whenever the console is reached
    /// over HTTPS; plain HTTP is loopback only).
    pub secure_cookie: bool,
}

impl ConsoleState {
    /// Runs a blocking archive read (sled) off the async workers.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, ConsoleWebError>
    where
        T: Send + 'static,
        F: FnOnce(&Self) -> Result<T, ConsoleWebError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || f(&state))
            .await
            .map_err(|e| ConsoleWebError::Io(std::io::Error::other(e)))?
    }

    /// Records that console account `account` did `command` (durably; an error means it is
    /// not recorded, and the caller shows nothing).
    pub fn record_access(
        &self,
        account: &str,
        command: &str,
        query: Option<Query>,
        args: serde_json::Value,
        count: u64,
    ) -> Result<(), ConsoleWebError> {
        self.archive.record_access(&Access {
            accessor: Accessor {
                user: account.to_owned(),
                uid: self.uid,
                via: AccessVia::Console,
            },
            command: command.to_owned(),
            query,
            args,
            count,
        })?;
        Ok(())
    }
}
