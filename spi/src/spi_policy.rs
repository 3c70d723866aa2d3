//! The policy the Sametime module applies: `[policy] file` of the module's configuration,
//! read at `stDdaClInit` and re-read at `stDdaClTimerEvent` when it changed.
//!
//! The file is read exactly as the gateway reads its `imtegrity.toml` (`policy::load_config`),
//! so the gateway's own file works and the rules are the same for AIM and Sametime; a file
//! with only a `[policy]` table works too, since every other section has defaults. The other
//! sections are checked as the gateway checks them, and otherwise ignored. A relative
//! `policy.directory` is relative to the policy file (the gateway's is relative to its working
//! directory; the Sametime server's working directory is not ours to know).
//!
//! A change is noticed by the modification time and size of the policy file and of the
//! directory file. The compiled engine is swapped whole, only when the new files compile;
//! otherwise the old one stays and the timer reports a warning, once per change.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::SystemTime;

use policy::{Directory, DisclaimerClock, NoticeLimiter, PolicyEngine};

use crate::config::SpiConfig;
use crate::error::SpiError;
use crate::ffi_strings::OwnedEntity;

/// Conversations remembered for disclaimers and notices (as the relay: past this, the
/// longest-silent one is forgotten and gets its disclaimer again early).
const CONVERSATIONS: usize = 65_536;

/// What a file looked like when read: enough to notice an edit without reading it.
type Stamp = Option<(SystemTime, u64)>;

/// The compiled policy and the module-wide memory of which conversations were told what.
#[derive(Debug)]
pub struct SpiPolicy {
    file: PathBuf,
    engine: RwLock<Arc<PolicyEngine>>,
    /// The files the engine came from, with their stamps when last read.
    read: Mutex<Vec<(PathBuf, Stamp)>>,
    notices: Mutex<NoticeLimiter>,
    disclaimers: Mutex<DisclaimerClock>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each value is replaced or updated in one step: a caught panic left it consistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SpiPolicy {
    /// The policy `config` names, compiled; `None` when it names none (everything is
    /// allowed, as without this feature).
    pub fn load(config: &SpiConfig) -> Result<Option<Self>, SpiError> {
        let Some(source) = &config.policy else {
            return Ok(None);
        };
        let policy = Self::from_file(&config.resolve(&source.file)).inspect_err(|e| {
            // appRetMsg holds 255 bytes; the server's log gets the whole reason.
            eprintln!("imtegrity_stchatlog: {e}");
        })?;
        Ok(Some(policy))
    }

    /// Compiles the policy in `file`.
    pub fn from_file(file: &Path) -> Result<Self, SpiError> {
        let (engine, read) = compile(file).map_err(SpiError::Policy)?;
        for warning in engine.warnings() {
            eprintln!("imtegrity_stchatlog: policy {}: {warning}", file.display());
        }
        Ok(Self {
            file: file.to_path_buf(),
            engine: RwLock::new(Arc::new(engine)),
            read: Mutex::new(read),
            notices: Mutex::new(NoticeLimiter::with_capacity(CONVERSATIONS)),
            disclaimers: Mutex::new(DisclaimerClock::with_capacity(CONVERSATIONS)),
        })
    }

    /// `entity` with the policy's one rule for who is the organisation's applied
    /// (`PolicyEngine::is_ours`): with a directory, listed means ours, whatever community
    /// the server says; with none, the server's community is.
    pub fn classified(&self, entity: &OwnedEntity) -> OwnedEntity {
        let mut entity = entity.clone();
        entity.outsider = !self.engine().is_ours(&entity.id, !entity.is_external());
        entity
    }

    /// The policy in force now.
    pub fn engine(&self) -> Arc<PolicyEngine> {
        self.engine
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the files if one changed since it was last read; `Ok(true)` when a new
    /// policy is now in force. A new policy that does not compile is reported once
    /// ([`SpiError::PolicyReload`]) and the previous one stays.
    pub fn reload_if_changed(&self) -> Result<bool, SpiError> {
        let mut read = lock(&self.read);
        if read.iter().all(|(path, stamp)| stamp_of(path) == *stamp) {
            return Ok(false);
        }
        match compile(&self.file) {
            Ok((engine, now_read)) => {
                *self.engine.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(engine);
                *read = now_read;
                eprintln!(
                    "imtegrity_stchatlog: policy {} reloaded",
                    self.file.display()
                );
                Ok(true)
            }
            Err(reason) => {
                // Remember what was tried, so the same broken file is reported once.
                for (path, stamp) in read.iter_mut() {
                    *stamp = stamp_of(path);
                }
                eprintln!(
                    "imtegrity_stchatlog: policy not reloaded, the previous one stays: {reason}"
                );
                Err(SpiError::PolicyReload(reason))
            }
        }
    }

    /// The disclaimer clock (`DisclaimerClock::due` with it locked).
    pub fn with_disclaimers<R>(&self, f: impl FnOnce(&mut DisclaimerClock) -> R) -> R {
        f(&mut lock(&self.disclaimers))
    }

    /// The notice limiter (`NoticeLimiter::permit` with it locked).
    pub fn with_notices<R>(&self, f: impl FnOnce(&mut NoticeLimiter) -> R) -> R {
        f(&mut lock(&self.notices))
    }
}

/// The modification time and size of `path`, or `None` if it cannot be read (a change, when
/// it comes back).
fn stamp_of(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads and compiles the policy file and its directory; returns the engine and the files
/// read with their stamps (taken before reading, so an edit during the read is seen next
/// time). Errors name the file, and the line and key when they are known.
fn compile(file: &Path) -> Result<(PolicyEngine, Vec<(PathBuf, Stamp)>), String> {
    let mut read = vec![(file.to_path_buf(), stamp_of(file))];
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let config =
        policy::load_config(&file.display().to_string(), &text, &[]).map_err(|e| e.to_string())?;
    let directory = match &config.policy.directory {
        Some(path) => {
            let path = match file.parent() {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.clone(),
            };
            read.push((path.clone(), stamp_of(&path)));
            read_directory(&path)?
        }
        None => Directory::default(),
    };
    let engine = PolicyEngine::compile(&config.policy, directory)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((engine, read))
}

/// The employee directory: CSV, or TOML by its extension, as the gateway reads it
/// (`src/policy_setup.rs`; the `policy` crate does no I/O, and this library cannot link the
/// gateway binary).
fn read_directory(path: &Path) -> Result<Directory, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the employee directory {}: {e}", path.display()))?;
    Directory::parse_for_path(path, &text).map_err(|e| {
        let line = e.line.map_or_else(String::new, |l| format!(":{l}"));
        format!("{}{line}: {}", path.display(), e.message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_gateways_own_file_works_and_a_relative_directory_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("people.csv"),
            "id,screen_names\njsmith,jsmith\n",
        );
        let file = dir.path().join("imtegrity.toml");
        write(
            &file,
            "[relay]\nlisten = [\"127.0.0.1:5190\"]\n[archive]\nmode = \"strict\"\n\
             [policy]\ndirectory = \"people.csv\"\nunknown_screen_names = \"block\"\n",
        );
        let policy = SpiPolicy::from_file(&file).unwrap();
        let engine = policy.engine();
        assert!(engine.identify("JSmith", None).employee.is_some());
        assert!(!policy.reload_if_changed().unwrap());
    }

    #[test]
    fn a_broken_file_names_the_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.toml");
        write(
            &file,
            "[policy]\n[policy.profiles.p]\n[[policy.profiles.p.rules]]\nname = \"r\"\nactoin = \"block\"\n",
        );
        let e = SpiPolicy::from_file(&file).unwrap_err().to_string();
        assert!(e.contains("policy.toml:5"), "{e}");
        assert!(e.contains("actoin"), "{e}");
        let missing = SpiPolicy::from_file(&dir.path().join("absent.toml"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("absent.toml"), "{missing}");
    }

    #[test]
    fn a_change_is_swapped_in_only_if_it_compiles() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.toml");
        write(&file, "[policy]\n");
        let policy = SpiPolicy::from_file(&file).unwrap();
        let before = policy.engine();
        // A different size is a change even within the file system's time resolution.
        write(&file, "[policy]\nunknown_screen_names = \"bogus\"\n");
        let e = policy.reload_if_changed().unwrap_err();
        assert!(matches!(e, SpiError::PolicyReload(_)), "{e}");
        assert!(Arc::ptr_eq(&before, &policy.engine()));
        // Reported once, not at every timer tick.
        assert!(!policy.reload_if_changed().unwrap());
        write(
            &file,
            "# fixed\n[policy]\nunknown_screen_names = \"allow\"\n",
        );
        assert!(policy.reload_if_changed().unwrap());
        assert!(!Arc::ptr_eq(&before, &policy.engine()));
    }
}
