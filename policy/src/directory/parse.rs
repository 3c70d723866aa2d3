//! The directory's two file forms: CSV (what HR systems export) and TOML (what people
//! write by hand).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

use super::{Directory, DirectoryError, Employee, csv_rows};

/// The CSV columns, in the order documented.
const COLUMNS: [&str; 5] = ["id", "name", "email", "screen_names", "addresses"];

impl Directory {
    /// Parses the text of the file at `path`: TOML when its extension is `toml` (any case),
    /// CSV otherwise, which is how `policy.directory` names its format.
    pub fn parse_for_path(path: &std::path::Path, text: &str) -> Result<Self, DirectoryError> {
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        if is_toml {
            Self::parse_toml(text)
        } else {
            Self::parse_csv(text)
        }
    }

    /// A CSV directory: a header naming some of the columns `id,name,email,screen_names,
    /// addresses` (in any order; `id` is required), then one employee per line.
    /// `screen_names` and `addresses` hold `;`-separated lists; an address is an IP address
    /// or a network (`10.20.0.0/16`). Lines starting with `#` are comments. An empty name
    /// is the id.
    ///
    /// ```csv
    /// id,name,email,screen_names,addresses
    /// jsmith,John Smith,jsmith@example.com,JSmith Trader;jsmith2,10.20.1.7
    /// ```
    pub fn parse_csv(text: &str) -> Result<Self, DirectoryError> {
        let mut rows = csv_rows::rows(text).into_iter();
        let (header_line, headers) = rows
            .next()
            .map_or((Some(1), Vec::new()), |r| (Some(r.line), r.fields));
        let mut columns: [Option<usize>; 5] = [None; 5];
        for (i, name) in headers.iter().enumerate() {
            let lower = name.to_lowercase();
            let Some(c) = COLUMNS.iter().position(|c| *c == lower) else {
                return Err(DirectoryError::at(
                    header_line,
                    format!(
                        "unknown column {name:?}, expected the header {}",
                        COLUMNS.join(",")
                    ),
                ));
            };
            if columns[c].replace(i).is_some() {
                return Err(DirectoryError::at(
                    header_line,
                    format!("column {name:?} is named twice"),
                ));
            }
        }
        let [Some(id), name, email, screen_names, addresses] = columns else {
            return Err(DirectoryError::at(
                header_line,
                format!("no id column: the header is {}", COLUMNS.join(",")),
            ));
        };
        let mut entries = Vec::new();
        for row in rows {
            let line = Some(row.line);
            if row.fields.len() != headers.len() {
                return Err(DirectoryError::at(
                    line,
                    format!(
                        "{} fields, but the header has {}",
                        row.fields.len(),
                        headers.len()
                    ),
                ));
            }
            let field =
                |c: Option<usize>| c.and_then(|c| row.fields.get(c)).map_or("", String::as_str);
            let id = field(Some(id)).to_owned();
            let employee = Employee {
                name: non_empty(field(name)).unwrap_or(&id).to_owned(),
                email: non_empty(field(email)).map(str::to_owned),
                screen_names: list(field(screen_names)).map(str::to_owned).collect(),
                addresses: list(field(addresses))
                    .map(|a| address(a).map_err(|e| DirectoryError::at(line, format!("{id}: {e}"))))
                    .collect::<Result<_, _>>()?,
                id,
            };
            entries.push((employee, line));
        }
        Self::build(entries)
    }

    /// A TOML directory: one `[[employee]]` table per person, with `id` (required), `name`,
    /// `email`, `screen_names` and `addresses` (lists, as in [`parse_csv`](Self::parse_csv)).
    ///
    /// ```toml
    /// [[employee]]
    /// id = "jsmith"
    /// name = "John Smith"
    /// screen_names = ["JSmith Trader"]
    /// addresses = ["10.20.1.7"]
    /// ```
    pub fn parse_toml(text: &str) -> Result<Self, DirectoryError> {
        let file: TomlDirectory = toml::from_str(text).map_err(|e| {
            DirectoryError::at(
                e.span().map(|s| line_at(text, s.start)),
                e.message().trim_end(),
            )
        })?;
        let mut entries = Vec::with_capacity(file.employee.len());
        for spanned in file.employee {
            let line = Some(line_at(text, spanned.span().start));
            let e = spanned.into_inner();
            let addresses = e
                .addresses
                .iter()
                .map(|a| {
                    address(a).map_err(|msg| DirectoryError::at(line, format!("{}: {msg}", e.id)))
                })
                .collect::<Result<_, _>>()?;
            entries.push((
                Employee {
                    name: e
                        .name
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| e.id.clone()),
                    email: e.email.filter(|m| !m.trim().is_empty()),
                    screen_names: e.screen_names,
                    addresses,
                    id: e.id,
                },
                line,
            ));
        }
        Self::build(entries)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlDirectory {
    #[serde(default)]
    employee: Vec<toml::Spanned<TomlEmployee>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlEmployee {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    screen_names: Vec<String>,
    #[serde(default)]
    addresses: Vec<String>,
}

/// An address (`10.20.1.7`, a one-host network) or a network (`10.20.0.0/16`).
pub(crate) fn address(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP address or network (10.20.1.7, 10.20.0.0/16)"))
}

fn list(field: &str) -> impl Iterator<Item = &str> {
    field.split(';').map(str::trim).filter(|s| !s.is_empty())
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}
