//! Which screen name a clientLogin token belongs to, so the startOSCARSession made with it
//! (which names only the token) and the BOS session after it carry the local user.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Tokens are valid for a day (`expiresIn` 86400 at AOL); a client reconnecting later logs
/// in again.
const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most tokens remembered: a flood of logins cannot grow the map without bound.
const MAX_TOKENS: usize = 65_536;

/// Token → screen name, expiring.
#[derive(Debug, Default)]
pub(crate) struct TokenNames {
    map: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenNames {
    /// Remembers that `token` was issued to `screen_name`.
    pub(crate) fn insert(&self, token: String, screen_name: String) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_TOKENS {
            map.retain(|_, (_, at)| now.duration_since(*at) < TOKEN_TTL);
            if map.len() >= MAX_TOKENS {
                // Still full of live tokens: forget the oldest.
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(token, (screen_name, now));
    }

    /// The screen name `token` was issued to, if known and not expired.
    pub(crate) fn get(&self, token: &str) -> Option<String> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(token)
            .filter(|(_, at)| at.elapsed() < TOKEN_TTL)
            .map(|(sn, _)| sn.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_to_names_and_stay_bounded() {
        let names = TokenNames::default();
        names.insert("t1".into(), "alice".into());
        assert_eq!(names.get("t1").as_deref(), Some("alice"));
        assert_eq!(names.get("t2"), None);
        for i in 0..MAX_TOKENS + 10 {
            names.insert(format!("k{i}"), "x".into());
        }
        assert!(names.map.lock().unwrap().len() <= MAX_TOKENS);
    }
}
