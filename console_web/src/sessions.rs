//! Console sessions: a random token in an HttpOnly, SameSite=Strict cookie names a session
//! held only in this process's memory (a restart logs everyone out). Each login makes a new
//! token (no fixation), each session has its own CSRF token, and a session idle longer than
//! the configured timeout is gone.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::ConsoleWebError;

/// The cookie's name.
pub(crate) const COOKIE: &str = "imt_console";

/// One logged-in account.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account's name.
    pub account: String,
    /// What every form of this session must send back.
    pub csrf: String,
    last_seen: Instant,
}

/// Every live session, by token.
#[derive(Debug)]
pub struct Sessions {
    live: Mutex<HashMap<String, Session>>,
    idle: Duration,
}

impl Sessions {
    /// No sessions yet; each ends after `idle` without a request.
    pub fn new(idle: Duration) -> Self {
        Self {
            live: Mutex::new(HashMap::new()),
            idle,
        }
    }

    /// A new session for `account`: its token (for the cookie) and the session.
    pub fn start(&self, account: &str, now: Instant) -> Result<(String, Session), ConsoleWebError> {
        let token = random_token()?;
        let session = Session {
            account: account.to_owned(),
            csrf: random_token()?,
            last_seen: now,
        };
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        live.insert(token.clone(), session.clone());
        Ok((token, session))
    }

    /// The session `token` names, if it has not been idle too long; marks it used.
    pub fn touch(&self, token: &str, now: Instant) -> Option<Session> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.get_mut(token) {
            Some(s) if now.duration_since(s.last_seen) < self.idle => {
                s.last_seen = now;
                Some(s.clone())
            }
            Some(_) => {
                live.remove(token);
                None
            }
            None => None,
        }
    }

    /// Ends the session `token` names.
    pub fn end(&self, token: &str) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }
}

/// 256 random bits, hex.
fn random_token() -> Result<String, ConsoleWebError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ConsoleWebError::Random(e.to_string()))?;
    Ok(record::hex(&bytes))
}

/// Compares two tokens in time that does not depend on where they differ.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_new_each_login_and_end_when_idle_or_ended() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let now = Instant::now();
        let (a, first) = sessions.start("rita", now).unwrap();
        let (b, second) = sessions.start("rita", now).unwrap();
        assert_ne!(a, b);
        assert_ne!(first.csrf, second.csrf);
        assert_eq!(a.len(), 64);
        assert!(sessions.touch(&a, now + Duration::from_secs(59)).is_some());
        assert!(
            sessions.touch(&a, now + Duration::from_secs(118)).is_some(),
            "use renews it"
        );
        assert!(sessions.touch(&a, now + Duration::from_secs(180)).is_none());
        sessions.end(&b);
        assert!(sessions.touch(&b, now).is_none());
        assert!(sessions.touch("made-up", now).is_none());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abcd", "abcd"));
        assert!(!same_token("abcd", "abce"));
        assert!(!same_token("abcd", "abc"));
    }
}
