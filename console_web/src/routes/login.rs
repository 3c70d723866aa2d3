//! Logging in and out. A login is throttled per client address and per name, checked with
//! argon2 off the async workers, starts a new session (a new cookie, whatever the browser
//! had), and is recorded in the access trail.

use std::sync::Arc;
use std::time::Instant;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use console::Accounts;
use serde::Deserialize;

use super::respond;
use crate::listener::ClientAddr;
use crate::pages::LoginPage;
use crate::sessions::COOKIE;
use crate::state::ConsoleState;
use crate::viewer::{Viewer, session_cookie};

/// `POST /login`'s form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    name: String,
    password: String,
}

/// `POST /logout`'s form.
#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// `GET /login`.
pub(crate) async fn form(State(state): State<Arc<ConsoleState>>) -> Response {
    respond::page(&LoginPage {
        me: None,
        zone_statement: state.zone.statement(),
        problem: None,
    })
}

/// `POST /login`.
pub(crate) async fn submit(
    State(state): State<Arc<ConsoleState>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Form(login): Form<LoginForm>,
) -> Response {
    let name = login.name.trim().to_lowercase();
    let keys = [format!("ip:{}", peer.ip()), format!("name:{name}")];
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let allowed = state
        .throttle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .allows(&keys, Instant::now());
    if !allowed {
        tracing::warn!(name = %name, client = %peer.ip(), "console login refused: too many failures");
        return refused(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed logins: wait a quarter of an hour and try again.",
        );
    }
    let checked_name = name.clone();
    let found = state
        .blocking(move |s| {
            let accounts = Accounts::read(&s.accounts)?;
            Ok(accounts
                .authenticate(&checked_name, &login.password)
                .map(|a| a.name.clone()))
        })
        .await;
    let account = match found {
        Ok(Some(account)) => account,
        Ok(None) => {
            state
                .throttle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .failed(&keys, Instant::now());
            tracing::warn!(name = %name, client = %peer.ip(), "console login failed");
            return refused(&state, StatusCode::UNAUTHORIZED, "Wrong name or password.");
        }
        Err(e) => return respond::failure(None, state.zone.statement(), &e, false),
    };
    state
        .throttle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .succeeded(&format!("name:{name}"));
    // Whatever session the browser had ends: a login always gets a token nobody saw before.
    if let Some(old) = session_cookie(&headers) {
        state.sessions.end(&old);
    }
    let login_record = {
        let account = account.clone();
        let client = peer.ip().to_string();
        state
            .blocking(move |s| {
                s.record_access(
                    &account,
                    "console login",
                    None,
                    serde_json::json!({"client": client}),
                    0,
                )
            })
            .await
    };
    if let Err(e) = login_record {
        return respond::failure(None, state.zone.statement(), &e, false);
    }
    let token = match state.sessions.start(&account, Instant::now()) {
        Ok((token, _)) => token,
        Err(e) => return respond::failure(None, state.zone.statement(), &e, false),
    };
    tracing::info!(account = %account, client = %peer.ip(), "console login");
    let secure = if state.secure_cookie { "; Secure" } else { "" };
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}"),
        )],
        Redirect::to("/"),
    )
        .into_response()
}

/// `POST /logout`: only with the session's CSRF token.
pub(crate) async fn logout(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(&form.csrf) {
        return refused;
    }
    state.sessions.end(&viewer.token);
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
        )],
        Redirect::to("/login"),
    )
        .into_response()
}

fn refused(state: &ConsoleState, status: StatusCode, problem: &str) -> Response {
    let page = LoginPage {
        me: None,
        zone_statement: state.zone.statement(),
        problem: Some(problem.to_owned()),
    };
    match askama::Template::render(&page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, problem.to_owned()).into_response(),
    }
}
