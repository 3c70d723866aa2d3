//! Who is behind the gateway: the screen names whose BOS session signed on through it.
//!
//! A name gets here only by proof. The BOS session must have presented a cookie the real
//! server issued to a login relayed by this gateway (a rewritten login reply or
//! startOSCARSession answer, see `cookies.rs`), and the server must have taken it. A key
//! request, a login still in progress or a failed login names a user the gateway has no
//! reason to believe, so none of them counts: otherwise anyone could claim an outsider's
//! name and have that outsider's IMs taken for a colleague's (and left unrecorded).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use oscar::Family;

use crate::cookies::Route;

/// Normalised screen names with a proven BOS session through this gateway, and how many.
#[derive(Debug, Default)]
pub(crate) struct LocalUsers {
    sessions: Mutex<HashMap<String, usize>>,
}

impl LocalUsers {
    /// Counts one more proven session for `normalized`.
    pub(crate) fn sign_in(&self, normalized: &str) {
        *self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(normalized.to_owned())
            .or_default() += 1;
    }

    /// Counts one proven session of `normalized` gone.
    pub(crate) fn sign_out(&self, normalized: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = sessions.get_mut(normalized) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sessions.remove(normalized);
            }
        }
    }

    /// Whether any proven session is open now.
    pub(crate) fn any(&self) -> bool {
        !self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Whether `normalized` has a proven session open now.
    pub(crate) fn contains(&self, normalized: &str) -> bool {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(normalized)
    }
}

/// Whether a connection routed by `route` is a BOS session, whose sign-on proves its user:
/// the route of a login reply or startOSCARSession answer, not a chat or other service
/// connection (those belong to a session that proved itself already, and end separately).
pub(crate) fn proves_identity(route: &Route) -> bool {
    route.family == Some(Family::OSERVICE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(family: Option<Family>) -> Route {
        Route {
            upstream: "10.0.0.1:5190".parse().unwrap(),
            local_user: Some("alice".into()),
            family,
            room: None,
            tls_name: None,
        }
    }

    #[test]
    fn a_name_counts_while_any_of_its_sessions_lives() {
        let users = LocalUsers::default();
        assert!(!users.contains("alice"));
        users.sign_in("alice");
        users.sign_in("alice");
        users.sign_out("alice");
        assert!(users.contains("alice"), "one session still open");
        users.sign_out("alice");
        assert!(!users.contains("alice"));
        users.sign_out("alice");
        assert!(
            !users.contains("alice"),
            "an extra sign-out does not underflow"
        );
    }

    #[test]
    fn only_a_bos_route_proves_who_its_user_is() {
        assert!(proves_identity(&route(Some(Family::OSERVICE))));
        assert!(!proves_identity(&route(Some(Family::CHAT))));
        assert!(!proves_identity(&route(None)));
    }
}
