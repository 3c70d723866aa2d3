//! The console's accounts: one owner-only TOML file of names, roles, scopes and argon2id
//! hashes. Changed only under an exclusive lock and replaced whole (written beside, synced,
//! renamed), so a crash or a second `user add` at the same moment never leaves half a file.
//!
//! Accounts are disabled, never deleted: the access trail and the review records name
//! them, and a name must not come back meaning someone else.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::ConsoleError;
use crate::password;
use crate::role::{Permission, Role};

/// The scope that covers every directory group (and users in none).
pub const ALL_GROUPS: &str = "*";

/// The format this version reads and writes.
const VERSION: u32 = 1;

/// One console account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The login name.
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// The directory groups whose messages a reviewer or supervisor reads (`*` for all);
    /// empty for the other roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The directory id of the person behind the account, whose own messages the account
    /// may never read (a reviewer does not review themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee: Option<String>,
    /// What it may do beyond its role (legal holds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// The argon2id hash (a PHC string). Never shown.
    pub password: String,
    /// When the account was made (UTC ns).
    pub created_ns: i64,
    /// Who made it (the operating-system user who ran `user add`).
    pub created_by: String,
    /// When it was disabled, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_ns: Option<i64>,
    /// Who disabled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
    /// When its password was last set (UTC ns).
    pub password_set_ns: i64,
}

impl fmt::Debug for Account {
    /// Everything but the hash: a hash in a log is a hash someone can attack offline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("scopes", &self.scopes)
            .field("employee", &self.employee)
            .field("permissions", &self.permissions)
            .field("created_ns", &self.created_ns)
            .field("created_by", &self.created_by)
            .field("disabled_ns", &self.disabled_ns)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// Whether the account may log in.
    pub fn enabled(&self) -> bool {
        self.disabled_ns.is_none()
    }
}

/// The file as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    version: u32,
    #[serde(default, rename = "account")]
    accounts: Vec<Account>,
}

/// What `user add` asks for.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// The login name.
    pub name: &'a str,
    /// The role.
    pub role: Role,
    /// Directory groups (reviewer and supervisor only).
    pub scopes: &'a [String],
    /// The person's directory id, if they have one.
    pub employee: Option<&'a str>,
    /// Permissions beyond the role.
    pub permissions: &'a [Permission],
    /// The password, checked and hashed here.
    pub password: &'a str,
    /// Who is adding it.
    pub by: &'a str,
}

/// The accounts file, read (and, for changes, locked) at one moment.
#[derive(Debug)]
pub struct Accounts {
    path: PathBuf,
    accounts: Vec<Account>,
    /// Held while this value lives when it was opened for a change.
    _lock: Option<File>,
}

impl Accounts {
    /// Reads the accounts at `path` (none if the file does not exist yet).
    pub fn read(path: &Path) -> Result<Self, ConsoleError> {
        Ok(Self {
            accounts: load(path)?,
            path: path.to_path_buf(),
            _lock: None,
        })
    }

    /// Opens the accounts at `path` for a change: creates its directory (owner-only) and
    /// takes the exclusive lock, then reads the file, so no other change can come between
    /// this read and [`Accounts::save`].
    pub fn lock(path: &Path) -> Result<Self, ConsoleError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            owner_only::prepare_dir(dir)?;
        }
        let lock_path = sibling(path, "lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(owner_only::FILE_MODE)
            .open(&lock_path)
            .map_err(file_error(&lock_path))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| file_error(&lock_path)(e.into()))?;
        Ok(Self {
            accounts: load(path)?,
            path: path.to_path_buf(),
            _lock: Some(lock),
        })
    }

    /// Every account, in the order they were added.
    pub fn all(&self) -> &[Account] {
        &self.accounts
    }

    /// The account named `name`, enabled or not.
    pub fn get(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// Adds an account. `groups` are the directory groups a scope may name.
    pub fn add(
        &mut self,
        new: &NewAccount<'_>,
        groups: &[String],
    ) -> Result<&Account, ConsoleError> {
        check_name(new.name)?;
        if self.get(new.name).is_some() {
            return Err(ConsoleError::Exists(new.name.to_owned()));
        }
        let scopes = check_scopes(new.role, new.scopes, groups)?;
        let now = now_ns();
        self.accounts.push(Account {
            name: new.name.to_owned(),
            role: new.role,
            scopes,
            employee: new.employee.map(|e| e.trim().to_lowercase()),
            permissions: check_permissions(new.role, new.permissions)?,
            password: password::hash(new.password)?,
            created_ns: now,
            created_by: new.by.to_owned(),
            disabled_ns: None,
            disabled_by: None,
            password_set_ns: now,
        });
        let added = self.accounts.len() - 1;
        Ok(&self.accounts[added])
    }

    /// Disables `name`: it can no longer log in (its sessions end at their next request).
    /// Disabling a disabled account changes nothing.
    pub fn disable(&mut self, name: &str, by: &str) -> Result<&Account, ConsoleError> {
        let account = self
            .accounts
            .iter_mut()
            .find(|a| a.name == name)
            .ok_or_else(|| ConsoleError::NoSuchUser(name.to_owned()))?;
        if account.disabled_ns.is_none() {
            account.disabled_ns = Some(now_ns());
            account.disabled_by = Some(by.to_owned());
        }
        Ok(account)
    }

    /// Sets `name`'s password.
    pub fn set_password(&mut self, name: &str, new_password: &str) -> Result<(), ConsoleError> {
        let hash = password::hash(new_password)?;
        let account = self
            .accounts
            .iter_mut()
            .find(|a| a.name == name)
            .ok_or_else(|| ConsoleError::NoSuchUser(name.to_owned()))?;
        account.password = hash;
        account.password_set_ns = now_ns();
        Ok(())
    }

    /// The enabled account `name` if `password` is its password. An unknown or disabled
    /// name costs the same argon2 work, so the time taken does not tell them apart.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<&Account> {
        match self.get(name).filter(|a| a.enabled()) {
            Some(account) if password::matches(password, &account.password) => Some(account),
            Some(_) => None,
            None => {
                password::waste_a_comparison(password);
                None
            }
        }
    }

    /// Writes the accounts back: to a private file beside, synced, then renamed over the
    /// old one and the directory synced.
    pub fn save(&self) -> Result<(), ConsoleError> {
        let text = format!(
            "# IMtegrity console accounts: written by `imtegrity console user ...`; do not \
             edit while the console runs.\n{}",
            toml::to_string(&Stored {
                version: VERSION,
                accounts: self.accounts.clone(),
            })?
        );
        let temp = sibling(&self.path, "new");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(owner_only::FILE_MODE)
            .open(&temp)
            .map_err(file_error(&temp))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(file_error(&temp))?;
        std::fs::rename(&temp, &self.path).map_err(file_error(&self.path))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(file_error(dir))?;
        }
        Ok(())
    }
}

/// Reads the file (no accounts if it does not exist); it must be private.
fn load(path: &Path) -> Result<Vec<Account>, ConsoleError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(path)(e)),
    };
    // Password hashes: a file others could read may have been copied already.
    owner_only::check_key_file(path)?;
    let stored: Stored = toml::from_str(&text).map_err(|e| ConsoleError::Parse {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    if stored.version != VERSION {
        return Err(ConsoleError::Parse {
            path: path.to_path_buf(),
            source: Box::new(serde::de::Error::custom(format!(
                "version {} (this version reads {VERSION})",
                stored.version
            ))),
        });
    }
    Ok(stored.accounts)
}

/// 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit: safe in a URL, a log line
/// and a file name, and one spelling per person.
fn check_name(name: &str) -> Result<(), ConsoleError> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ConsoleError::InvalidName(name.to_owned()))
    }
}

/// A content role needs at least one scope, each a configured group or `*`; the others
/// read no content, so a scope would mean nothing and is refused.
fn check_scopes(
    role: Role,
    scopes: &[String],
    groups: &[String],
) -> Result<Vec<String>, ConsoleError> {
    let mut out: Vec<String> = scopes.iter().map(|s| s.trim().to_owned()).collect();
    out.sort();
    out.dedup();
    if !role.reads_content() {
        if out.is_empty() {
            return Ok(out);
        }
        return Err(ConsoleError::Scope(format!(
            "the {role} role reads no message content: --scope is for reviewers and supervisors"
        )));
    }
    if out.is_empty() {
        return Err(ConsoleError::Scope(format!(
            "the {role} role needs at least one --scope: a directory group ([[policy.groups]] name), or '{ALL_GROUPS}' for all"
        )));
    }
    if let Some(unknown) = out
        .iter()
        .find(|s| s.as_str() != ALL_GROUPS && !groups.contains(s))
    {
        let known = if groups.is_empty() {
            "the configuration defines no groups".to_owned()
        } else {
            format!("the groups are {}", groups.join(", "))
        };
        return Err(ConsoleError::Scope(format!(
            "--scope {unknown:?} names no directory group ({known}; '{ALL_GROUPS}' means all)"
        )));
    }
    Ok(out)
}

/// Holds act on what a content role reads: only reviewers and supervisors get them.
fn check_permissions(
    role: Role,
    permissions: &[Permission],
) -> Result<Vec<Permission>, ConsoleError> {
    let mut out = permissions.to_vec();
    out.sort();
    out.dedup();
    if !out.is_empty() && !role.reads_content() {
        return Err(ConsoleError::Scope(format!(
            "the {role} role cannot be given --permit: holds are placed on what reviewers and supervisors read"
        )));
    }
    Ok(out)
}

/// `path` with `.suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> ConsoleError + '_ {
    move |source| ConsoleError::File {
        path: path.to_path_buf(),
        source,
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn new<'a>(name: &'a str, role: Role, scopes: &'a [String]) -> NewAccount<'a> {
        NewAccount {
            name,
            role,
            scopes,
            employee: None,
            permissions: &[],
            password: "a long enough password",
            by: "root (uid 0)",
        }
    }

    fn groups() -> Vec<String> {
        vec!["traders".into(), "sales".into()]
    }

    #[test]
    fn added_accounts_survive_a_reopen_in_a_private_file_without_plain_passwords() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("console/users.toml");
        let mut accounts = Accounts::lock(&path).unwrap();
        let scopes = vec!["traders".to_owned()];
        accounts
            .add(&new("rita", Role::Reviewer, &scopes), &groups())
            .unwrap();
        accounts
            .add(&new("al", Role::Auditor, &[]), &groups())
            .unwrap();
        accounts.save().unwrap();
        drop(accounts);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("a long enough password"));
        let read = Accounts::read(&path).unwrap();
        let names: Vec<_> = read
            .all()
            .iter()
            .map(|a| (a.name.as_str(), a.role))
            .collect();
        assert_eq!(names, [("rita", Role::Reviewer), ("al", Role::Auditor)]);
        assert_eq!(read.get("rita").unwrap().scopes, ["traders"]);
        assert!(!format!("{:?}", read.all()).contains("argon2"));
    }

    #[test]
    fn only_an_enabled_account_with_its_password_logs_in() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("users.toml");
        let mut accounts = Accounts::lock(&path).unwrap();
        accounts.add(&new("al", Role::Auditor, &[]), &[]).unwrap();
        assert!(
            accounts
                .authenticate("al", "a long enough password")
                .is_some()
        );
        assert!(
            accounts
                .authenticate("al", "a long enough passwort")
                .is_none()
        );
        assert!(
            accounts
                .authenticate("nobody", "a long enough password")
                .is_none()
        );
        accounts.disable("al", "root (uid 0)").unwrap();
        assert!(
            accounts
                .authenticate("al", "a long enough password")
                .is_none()
        );
        accounts
            .set_password("al", "another long password")
            .unwrap();
        assert!(
            accounts
                .authenticate("al", "another long password")
                .is_none()
        );
    }

    #[test]
    fn names_scopes_and_duplicates_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let mut accounts = Accounts::lock(&tmp.path().join("users.toml")).unwrap();
        for bad in ["", "Rita", "-x", "a b", "ä", &"x".repeat(65)] {
            assert!(
                matches!(
                    accounts.add(&new(bad, Role::Auditor, &[]), &[]),
                    Err(ConsoleError::InvalidName(_))
                ),
                "{bad:?}"
            );
        }
        let none: Vec<String> = Vec::new();
        let unknown = vec!["hr".to_owned()];
        let all = vec![ALL_GROUPS.to_owned()];
        assert!(matches!(
            accounts.add(&new("rita", Role::Reviewer, &none), &groups()),
            Err(ConsoleError::Scope(_))
        ));
        assert!(matches!(
            accounts.add(&new("rita", Role::Reviewer, &unknown), &groups()),
            Err(ConsoleError::Scope(_))
        ));
        assert!(matches!(
            accounts.add(&new("ada", Role::Admin, &all), &groups()),
            Err(ConsoleError::Scope(_))
        ));
        accounts
            .add(&new("rita", Role::Supervisor, &all), &[])
            .unwrap();
        assert!(matches!(
            accounts.add(&new("rita", Role::Auditor, &none), &[]),
            Err(ConsoleError::Exists(_))
        ));
        assert!(matches!(
            accounts.disable("bob", "x"),
            Err(ConsoleError::NoSuchUser(_))
        ));
    }

    #[test]
    fn a_file_others_can_read_or_of_another_version_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("users.toml");
        let mut accounts = Accounts::lock(&path).unwrap();
        accounts.add(&new("al", Role::Auditor, &[]), &[]).unwrap();
        accounts.save().unwrap();
        drop(accounts);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Accounts::read(&path),
            Err(ConsoleError::Private(_))
        ));
        std::fs::write(&path, "version = 2\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = Accounts::read(&path).unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }
}
