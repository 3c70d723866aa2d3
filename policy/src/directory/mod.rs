//! The employee directory: who is behind a screen name or a client address.
//!
//! Pure: the caller reads the file ([`Directory::parse_csv`], [`Directory::parse_toml`]) and
//! reloads it when it changes; another source (LDAP, later) builds one with
//! [`Directory::new`]. Lookups are by normalised screen name and by client address
//! (longest prefix).

mod csv_rows;
mod parse;

pub(crate) use self::parse::address;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use record::normalize_screen_name;
use serde::Serialize;

/// One person in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Employee {
    /// The directory id (`jsmith`): unique, compared case-insensitively; groups name it.
    pub id: String,
    /// Their name, for records and reports.
    pub name: String,
    /// Their e-mail address, if given.
    pub email: Option<String>,
    /// Their screen names, as written.
    pub screen_names: Vec<String>,
    /// Their workstations' addresses or networks, for clients whose screen name is not
    /// listed.
    pub addresses: Vec<IpNet>,
}

/// A directory that cannot be used, and where in its file the fault is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DirectoryError {
    /// The 1-based line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl DirectoryError {
    fn at(line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            line,
            message: message.into(),
        }
    }
}

/// Every employee, indexed by id, screen name and address.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    employees: Vec<Employee>,
    by_id: HashMap<String, usize>,
    by_screen_name: HashMap<String, usize>,
    /// (network, employee), longest prefix first.
    by_address: Vec<(IpNet, usize)>,
}

impl Directory {
    /// A directory of `employees`: ids must be unique and non-empty, and no screen name or
    /// network may belong to two people (a lookup could not choose).
    pub fn new(employees: Vec<Employee>) -> Result<Self, DirectoryError> {
        Self::build(employees.into_iter().map(|e| (e, None)).collect())
    }

    /// Each employee with the line it was written on, for errors.
    fn build(entries: Vec<(Employee, Option<usize>)>) -> Result<Self, DirectoryError> {
        let mut directory = Self::default();
        let mut networks: HashMap<IpNet, usize> = HashMap::new();
        for (index, (employee, line)) in entries.into_iter().enumerate() {
            let id = employee.id.trim();
            if id.is_empty() {
                return Err(DirectoryError::at(line, "empty id"));
            }
            if directory.by_id.insert(id.to_lowercase(), index).is_some() {
                return Err(DirectoryError::at(
                    line,
                    format!("id {id:?} is listed twice"),
                ));
            }
            for screen_name in &employee.screen_names {
                let normalized = normalize_screen_name(screen_name);
                if normalized.is_empty() {
                    return Err(DirectoryError::at(
                        line,
                        format!("{id}: an empty screen name"),
                    ));
                }
                if let Some(other) = directory.by_screen_name.insert(normalized, index) {
                    return Err(DirectoryError::at(
                        line,
                        format!(
                            "screen name {screen_name:?} of {id} {}",
                            directory.owned_by(other, index)
                        ),
                    ));
                }
            }
            for net in &employee.addresses {
                let net = net.trunc();
                if let Some(other) = networks.insert(net, index) {
                    return Err(DirectoryError::at(
                        line,
                        format!("address {net} of {id} {}", directory.owned_by(other, index)),
                    ));
                }
                directory.by_address.push((net, index));
            }
            directory.employees.push(Employee {
                id: id.to_owned(),
                ..employee
            });
        }
        // Stable: there are no equal networks, so the order among equal lengths is moot.
        directory
            .by_address
            .sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        Ok(directory)
    }

    /// "is listed twice" or "is already ID's", for a duplicate found while adding `index`.
    fn owned_by(&self, other: usize, index: usize) -> String {
        match self.employees.get(other) {
            Some(owner) if other != index => format!("is already {}'s", owner.id),
            _ => "is listed twice".to_owned(),
        }
    }

    /// The employee with this screen name (any case and spacing).
    pub fn by_screen_name(&self, screen_name: &str) -> Option<&Employee> {
        self.by_normalized(&normalize_screen_name(screen_name))
    }

    /// The employee with this screen name, already normalised.
    pub fn by_normalized(&self, normalized: &str) -> Option<&Employee> {
        self.by_screen_name
            .get(normalized)
            .and_then(|i| self.employees.get(*i))
    }

    /// The employee whose most specific network holds `client` (an IPv4 client on a
    /// dual-stack socket, `::ffff:10.1.2.3`, is looked up as IPv4).
    pub fn by_address(&self, client: IpAddr) -> Option<&Employee> {
        let client = client.to_canonical();
        self.by_address
            .iter()
            .find(|(net, _)| net.contains(&client))
            .and_then(|(_, i)| self.employees.get(*i))
    }

    /// The employee with this id (any case).
    pub fn by_id(&self, id: &str) -> Option<&Employee> {
        self.by_id
            .get(&id.trim().to_lowercase())
            .and_then(|i| self.employees.get(*i))
    }

    /// Every employee, in the order given.
    pub fn employees(&self) -> &[Employee] {
        &self.employees
    }

    /// How many employees.
    pub fn len(&self) -> usize {
        self.employees.len()
    }

    /// Whether there is no one in it.
    pub fn is_empty(&self) -> bool {
        self.employees.is_empty()
    }
}
