//! `ConfigError`: what is wrong with the configuration, and where it was written.

use std::fmt;

/// A configuration the gateway cannot start with. Every variant says where the fault was
/// written (the file and line, or the `--set` argument) when that is known, and which key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML.
    ///
    /// ``imtegrity.toml:3:9: unclosed table, expected `]` ``
    #[error("{origin}: {message}")]
    Syntax {
        /// The file, line and column.
        origin: Origin,
        /// toml's description.
        message: String,
    },
    /// A `--set` argument is not `key=value` with a dotted key of bare words, or its key
    /// goes through a value that is not a table.
    ///
    /// `--set relay: expected key=value, e.g. --set archive.mode=relaxed`
    #[error("--set {arg}: {message}")]
    BadOverride {
        /// The argument as given.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
    /// A key the configuration does not have, or a value of the wrong type or form.
    ///
    /// ``imtegrity.toml:7:1: unknown field `lissten`, expected one of `listen`, ... (key `relay.lissten`)``
    #[error("{origin}: {message}{}", key_suffix(.key.as_deref()))]
    Field {
        /// The file position or the `--set` argument.
        origin: Origin,
        /// The dotted key path (`relay.listen[1]`), when it could be found.
        key: Option<String>,
        /// serde's or toml's description.
        message: String,
    },
    /// Well-formed but unacceptable: a timeout too short, no listener, port 0.
    ///
    /// `imtegrity.toml:4:21: invalid relay.idle_timeout_secs: 60 s is below the minimum of 180 s ...`
    #[error("{}invalid {key}: {message}", origin_prefix(.origin.as_ref()))]
    Invalid {
        /// Where the value was set; `None` from [`Config::validate`](super::Config::validate)
        /// alone, or when the value is a built-in default.
        origin: Option<Origin>,
        /// The dotted key path.
        key: String,
        /// Why the value is rejected.
        message: String,
    },
}

fn key_suffix(key: Option<&str>) -> String {
    key.map_or_else(String::new, |k| format!(" (key `{k}`)"))
}

fn origin_prefix(origin: Option<&Origin>) -> String {
    origin.map_or_else(String::new, |o| format!("{o}: "))
}

/// Where a configuration value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The configuration file (named as the caller named it), at a position when known.
    File {
        /// The source name given to [`Config::parse`](super::Config::parse).
        name: String,
        /// 1-based line and column.
        at: Option<LineCol>,
    },
    /// A `--set key=value` override; `key` as the user wrote it.
    Override {
        /// The key part of the argument.
        key: String,
    },
}

/// A 1-based line and column (in characters) in the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    /// From 1.
    pub line: usize,
    /// From 1, counting characters, not bytes.
    pub column: usize,
}

impl LineCol {
    /// The position of byte `offset` in `text` (clamped to the end of the text).
    pub(crate) fn of(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
        Self {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File {
                name,
                at: Some(LineCol { line, column }),
            } => write!(f, "{name}:{line}:{column}"),
            Self::File { name, at: None } => f.write_str(name),
            Self::Override { key } => write!(f, "--set {key}"),
        }
    }
}

impl ConfigError {
    /// A TOML syntax error in the file.
    pub(crate) fn syntax(source_name: &str, text: &str, error: &toml::de::Error) -> Self {
        Self::Syntax {
            origin: Origin::File {
                name: source_name.to_owned(),
                at: error.span().map(|span| LineCol::of(text, span.start)),
            },
            message: error.message().trim_end().to_owned(),
        }
    }

    /// A validation failure at `key`, origin to be filled in by the caller that knows it
    /// ([`Config::load_with`](super::Config::load_with) does, for a check made above this
    /// crate such as the policy engine's).
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            origin: None,
            key: key.into(),
            message: message.into(),
        }
    }

    /// Where the fault was written, when known.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            Self::Syntax { origin, .. } | Self::Field { origin, .. } => Some(origin),
            Self::Invalid { origin, .. } => origin.as_ref(),
            Self::BadOverride { .. } => None,
        }
    }

    /// The dotted key path at fault, when known.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Field { key, .. } => key.as_deref(),
            Self::Invalid { key, .. } => Some(key),
            Self::Syntax { .. } | Self::BadOverride { .. } => None,
        }
    }
}
