//! Screen names: stored as seen, compared normalised (AIM names are case- and
//! space-insensitive; oscar.md §4.1).

use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

use crate::error::DecodeError;

/// A screen name (or ICQ UIN) with its display form and its normalised comparison key.
#[derive(Clone)]
pub struct ScreenName {
    display: String,
    normalized: String,
}

impl ScreenName {
    /// Parses a screen name from wire bytes. Empty names and names that are only spaces
    /// are rejected; non-UTF-8 bytes are replaced (screen names are ASCII in practice).
    pub fn parse(raw: &[u8]) -> Result<Self, DecodeError> {
        let display = String::from_utf8_lossy(raw).into_owned();
        let normalized = record::normalize_screen_name(&display);
        if normalized.is_empty() {
            return Err(DecodeError::Invalid("screen name"));
        }
        Ok(Self {
            display,
            normalized,
        })
    }

    /// The name as the user or server wrote it.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Lower-case, space-free form used for comparison, routing and search.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// Whether this is a numeric ICQ UIN rather than an AIM screen name.
    pub fn is_icq_uin(&self) -> bool {
        self.normalized.bytes().all(|b| b.is_ascii_digit())
    }

    /// The display form as wire bytes.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.display.as_bytes())
    }
}

impl PartialEq for ScreenName {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for ScreenName {}

impl Hash for ScreenName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.normalized.hash(state);
    }
}

impl fmt::Display for ScreenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for ScreenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScreenName({:?})", self.display)
    }
}

impl std::str::FromStr for ScreenName {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_ignores_case_and_spaces_display_is_kept() {
        let a = ScreenName::parse(b"Alice Smith").unwrap();
        let b = ScreenName::parse(b"alicesmith").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.display(), "Alice Smith");
        assert_eq!(a.normalized(), "alicesmith");
    }

    #[test]
    fn empty_is_rejected_and_uins_are_recognised() {
        assert!(ScreenName::parse(b"  ").is_err());
        assert!(ScreenName::parse(b"123456789").unwrap().is_icq_uin());
    }
}
