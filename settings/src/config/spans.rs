//! From byte spans back to what a person wrote: the file's line and column or the `--set`
//! argument, and the dotted key path.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::overrides::Region;
use super::{ConfigError, LineCol, Origin};

/// Every key and value of the merged document with its span, flattened to dotted paths.
pub(super) struct SpanIndex {
    source_name: String,
    text: String,
    regions: Vec<Region>,
    entries: Vec<Entry>,
}

struct Entry {
    /// `relay.listen`, `relay.listen[1]`.
    path: String,
    key: Option<Range<usize>>,
    value: Range<usize>,
}

impl SpanIndex {
    pub(super) fn new(
        source_name: &str,
        text: &str,
        regions: Vec<Region>,
        root: &DeTable<'_>,
    ) -> Self {
        let mut entries = Vec::new();
        index_table(root, "", &mut entries);
        Self {
            source_name: source_name.to_owned(),
            text: text.to_owned(),
            regions,
            entries,
        }
    }

    /// Turns a deserialization error into a [`ConfigError::Field`] naming its origin and key.
    pub(super) fn field_error(&self, error: &toml::de::Error) -> ConfigError {
        let span = error.span();
        ConfigError::Field {
            origin: span.as_ref().map_or_else(
                || Origin::File {
                    name: self.source_name.clone(),
                    at: None,
                },
                |span| self.origin_at(span.start),
            ),
            key: span.and_then(|span| self.path_at(span.start)),
            message: error.message().trim_end().to_owned(),
        }
    }

    /// Where the value at `key` (a path as [`ConfigError::Invalid`] names it) was written;
    /// `None` for a built-in default. An array element not found falls back to its array.
    pub(super) fn origin_of_key(&self, key: &str) -> Option<Origin> {
        let array = key.rsplit_once('[').map(|(array, _)| array);
        [Some(key), array]
            .into_iter()
            .flatten()
            .find_map(|path| self.entries.iter().find(|e| e.path == path))
            .map(|entry| self.origin_at(entry.value.start))
    }

    /// The file position, or the `--set` argument, that byte `offset` belongs to.
    fn origin_at(&self, offset: usize) -> Origin {
        if offset <= self.text.len() {
            return Origin::File {
                name: self.source_name.clone(),
                at: Some(LineCol::of(&self.text, offset)),
            };
        }
        match self.regions.iter().find(|r| r.range.contains(&offset)) {
            Some(region) => Origin::Override {
                key: region.key.clone(),
            },
            None => Origin::File {
                name: self.source_name.clone(),
                at: None,
            },
        }
    }

    /// The most specific key path whose key or value covers `offset`.
    fn path_at(&self, offset: usize) -> Option<String> {
        let covers = |span: &Range<usize>| {
            span.contains(&offset) || (span.is_empty() && span.start == offset)
        };
        self.entries
            .iter()
            .filter(|e| e.key.as_ref().is_some_and(covers) || covers(&e.value))
            .max_by_key(|e| e.path.len())
            .map(|e| e.path.clone())
    }
}

fn index_table(table: &DeTable<'_>, prefix: &str, entries: &mut Vec<Entry>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        entries.push(Entry {
            path: path.clone(),
            key: Some(key.span()),
            value: value.span(),
        });
        index_value(value.get_ref(), &path, entries);
    }
}

fn index_value(value: &DeValue<'_>, path: &str, entries: &mut Vec<Entry>) {
    match value {
        DeValue::Table(table) => index_table(table, path, entries),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("{path}[{i}]");
                entries.push(Entry {
                    path: path.clone(),
                    key: None,
                    value: item.span(),
                });
                index_value(item.get_ref(), &path, entries);
            }
        }
        _ => {}
    }
}
