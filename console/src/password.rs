//! Passwords: checked for length, stored as argon2id hashes (PHC strings, the parameters
//! and salt inside), compared only through argon2.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash};

use crate::error::ConsoleError;

/// Shorter passwords are refused: length is what resists guessing (NIST SP 800-63B asks
/// for at least 8; a console over the whole archive asks for more).
pub const MIN_CHARS: usize = 12;
/// Longer input is refused rather than hashed: it bounds the work one login attempt costs.
pub const MAX_BYTES: usize = 1024;

/// Checks `password` against the length rules.
pub fn check(password: &str) -> Result<(), ConsoleError> {
    if password.chars().count() < MIN_CHARS {
        return Err(ConsoleError::Password(format!(
            "the password is shorter than {MIN_CHARS} characters"
        )));
    }
    if password.len() > MAX_BYTES {
        return Err(ConsoleError::Password(format!(
            "the password is longer than {MAX_BYTES} bytes"
        )));
    }
    Ok(())
}

/// The argon2id hash of `password` with a fresh random salt (argon2's default cost:
/// 19 MiB, two passes, one lane).
pub fn hash(password: &str) -> Result<String, ConsoleError> {
    check(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ConsoleError::Hash(e.to_string()))
}

/// Whether `password` matches `stored`. A stored value that is not a hash matches nothing.
pub fn matches(password: &str, stored: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the time a real comparison takes, for a name with no (enabled) account, so the
/// answer's timing does not tell which names exist.
pub fn waste_a_comparison(password: &str) {
    static DECOY: OnceLock<Option<String>> = OnceLock::new();
    let decoy = DECOY.get_or_init(|| hash("a decoy nobody can log in with").ok());
    if let Some(decoy) = decoy {
        let _ = matches(password, decoy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_its_password_only_and_is_argon2id_salted() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(matches("correct horse battery", &a));
        assert!(!matches("correct horse batterY", &a));
        assert!(!matches("correct horse battery", "not a hash"));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(matches!(
            hash("elevenchars"),
            Err(ConsoleError::Password(_))
        ));
        assert!(check("twelve chars").is_ok());
        let huge = "x".repeat(MAX_BYTES + 1);
        assert!(matches!(check(&huge), Err(ConsoleError::Password(_))));
        assert!(!matches(&huge, &hash("twelve chars").unwrap()));
    }
}
