//! The logged-in account behind a request: its session cookie, the session, and the account
//! as the accounts file says now (a disabled account's sessions end at their next request).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use console::{Account, Accounts};

use crate::sessions::{COOKIE, Session, same_token};
use crate::state::ConsoleState;

/// The account and session of a logged-in request.
pub(crate) struct Viewer {
    /// The account, as the accounts file says now.
    pub(crate) account: Account,
    /// Its session.
    pub(crate) session: Session,
    /// The session's token (for logout).
    pub(crate) token: String,
}

impl Viewer {
    /// The 403 to answer when a form's CSRF token is not this session's; `None` when it is.
    pub(crate) fn csrf_refusal(&self, token: &str) -> Option<Response> {
        (!same_token(token, &self.session.csrf)).then(|| {
            (
                StatusCode::FORBIDDEN,
                "the form's CSRF token is not this session's",
            )
                .into_response()
        })
    }
}

/// No valid session: pages go to the login form, the API answers 401.
pub(crate) struct NotLoggedIn {
    api: bool,
}

impl IntoResponse for NotLoggedIn {
    fn into_response(self) -> Response {
        if self.api {
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({"error": "not logged in"})),
            )
                .into_response()
        } else {
            Redirect::to("/login").into_response()
        }
    }
}

impl FromRequestParts<Arc<ConsoleState>> for Viewer {
    type Rejection = NotLoggedIn;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ConsoleState>,
    ) -> Result<Self, Self::Rejection> {
        let rejection = NotLoggedIn {
            api: parts.uri.path().starts_with("/api/"),
        };
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(rejection);
        };
        let Some(session) = state.sessions.touch(&token, Instant::now()) else {
            return Err(rejection);
        };
        let account = match Accounts::read(&state.accounts) {
            Ok(accounts) => accounts
                .get(&session.account)
                .filter(|a| a.enabled())
                .cloned(),
            Err(e) => {
                tracing::error!(error = %e, "console: cannot read the accounts file");
                None
            }
        };
        let Some(account) = account else {
            state.sessions.end(&token);
            return Err(rejection);
        };
        Ok(Self {
            account,
            session,
            token,
        })
    }
}

/// The session token in the request's cookies, if any.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}
