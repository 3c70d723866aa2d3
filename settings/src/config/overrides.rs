//! `--set key=value`: merged into the parsed document before it is deserialized, so an
//! override is checked exactly like the same key in the file (`deny_unknown_fields`, types).
//!
//! To tell a file error from an override error, each override is given its own range of
//! byte offsets past the end of the file, as if the arguments were appended to it one per
//! line. Every span in an override's key and value falls inside that range, so an error's
//! span says which argument caused it.

use std::borrow::Cow;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ConfigError;

/// One override's place in the offsets past the file, for [`super::spans::SpanIndex`].
#[derive(Debug, Clone)]
pub(super) struct Region {
    /// The key as the user wrote it (trimmed).
    pub(super) key: String,
    pub(super) range: Range<usize>,
}

/// A parsed `key=value` argument, its spans already moved into its region.
struct Override<'a> {
    arg: &'a str,
    key: &'a str,
    /// Each dotted segment with its span.
    path: Vec<(&'a str, Range<usize>)>,
    value: Spanned<DeValue<'a>>,
    range: Range<usize>,
}

/// All `--set` arguments, in the order given (later ones win).
pub(super) struct Overrides<'a> {
    items: Vec<Override<'a>>,
}

impl<'a> Overrides<'a> {
    /// Parses every argument; `file_len` is the length of the file's text, after which the
    /// overrides' regions start.
    pub(super) fn parse(file_len: usize, args: &'a [String]) -> Result<Self, ConfigError> {
        let mut base = file_len + 1;
        let mut items = Vec::with_capacity(args.len());
        for arg in args {
            items.push(Override::parse(arg, base)?);
            base += arg.len() + 1;
        }
        Ok(Self { items })
    }

    /// Sets every override in `root`, creating tables on the way, and returns the regions.
    pub(super) fn apply(
        self,
        root: &mut DeTable<'a>,
        source_name: &str,
    ) -> Result<Vec<Region>, ConfigError> {
        let mut regions = Vec::with_capacity(self.items.len());
        for item in self.items {
            regions.push(Region {
                key: item.key.to_owned(),
                range: item.range.clone(),
            });
            item.apply(root, source_name)?;
        }
        Ok(regions)
    }
}

impl<'a> Override<'a> {
    fn parse(arg: &'a str, base: usize) -> Result<Self, ConfigError> {
        let bad = |message: &str| ConfigError::BadOverride {
            arg: shown(arg),
            message: message.to_owned(),
        };
        let Some((raw_key, raw_value)) = arg.split_once('=') else {
            return Err(bad("expected key=value, e.g. --set archive.mode=relaxed"));
        };
        let key = raw_key.trim();
        let key_start = base + leading_space(raw_key);
        let mut path = Vec::new();
        let mut at = key_start;
        for segment in key.split('.') {
            let valid = !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                return Err(bad(
                    "the key must be dotted words of letters, digits, `-` and `_`, e.g. relay.listen",
                ));
            }
            path.push((segment, at..at + segment.len()));
            at += segment.len() + 1;
        }
        let value_text = raw_value.trim();
        let value_start = base + raw_key.len() + 1 + leading_space(raw_value);
        // A TOML value if it is one; otherwise the text itself, so that addresses and names
        // need no quotes on the command line.
        let value = DeValue::parse(value_text).unwrap_or_else(|_| {
            Spanned::new(
                0..value_text.len(),
                DeValue::String(Cow::Borrowed(value_text)),
            )
        });
        Ok(Self {
            arg,
            key,
            path,
            value: shift(value, value_start),
            // Up to and including the line end, so that an empty value's empty span at the
            // end of the argument still falls inside.
            range: base..base + arg.len() + 1,
        })
    }

    fn apply(self, root: &mut DeTable<'a>, source_name: &str) -> Result<(), ConfigError> {
        let Some(((last, last_span), parents)) = self.path.split_last() else {
            // `split('.')` yields at least one segment, and the empty one was rejected.
            return Ok(());
        };
        let mut table = root;
        for (segment, span) in parents {
            if !table.contains_key(*segment) {
                table.insert(
                    Spanned::new(span.clone(), Cow::Borrowed(*segment)),
                    Spanned::new(self.range.clone(), DeValue::Table(DeTable::new())),
                );
            }
            table = match table.get_mut(*segment).map(Spanned::get_mut) {
                Some(DeValue::Table(inner)) => inner,
                Some(other) => {
                    return Err(ConfigError::BadOverride {
                        arg: shown(self.arg),
                        message: format!(
                            "`{segment}` is {} in {source_name}, not a table",
                            article(other.type_str())
                        ),
                    });
                }
                None => return Ok(()), // inserted just above
            };
        }
        // Remove first: inserting over an existing key would keep the file's key span.
        table.remove(*last);
        table.insert(
            Spanned::new(last_span.clone(), Cow::Borrowed(*last)),
            self.value,
        );
        Ok(())
    }
}

/// Bytes of white space `trim` removes from the start of `text`.
fn leading_space(text: &str) -> usize {
    text.len() - text.trim_start().len()
}

/// Moves every span in `value` (relative to the value's own text) by `by`.
fn shift(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = value.span();
    let moved = span.start + by..span.end + by;
    let inner = match value.into_inner() {
        DeValue::Array(items) => {
            DeValue::Array(items.into_iter().map(|item| shift(item, by)).collect())
        }
        DeValue::Table(entries) => DeValue::Table(
            entries
                .into_iter()
                .map(|(key, item)| {
                    let key_span = key.span();
                    (
                        Spanned::new(key_span.start + by..key_span.end + by, key.into_inner()),
                        shift(item, by),
                    )
                })
                .collect(),
        ),
        scalar => scalar,
    };
    Spanned::new(moved, inner)
}

/// "a string", "an integer", "an array".
fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

/// An argument as an error may quote it: its key, never its value (which may be a secret,
/// e.g. `upstream.proxy` with a password); without `=`, the argument only if it is a bare
/// dotted key.
fn shown(arg: &str) -> String {
    match arg.split_once('=') {
        Some((key, _)) => format!("{}=…", key.trim()),
        None if arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
        {
            arg.to_owned()
        }
        None => "…".to_owned(),
    }
}
