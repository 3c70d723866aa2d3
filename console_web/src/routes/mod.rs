//! The console's routes: pages for people, the same data as JSON under `/api/` for scripts,
//! each behind the same login and the same authorisation, every content read recorded.

mod audit;
mod browse;
mod holds;
mod login;
mod record_page;
mod report;
mod respond;
mod review;
mod search;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::state::ConsoleState;

/// What a page may load and run: only this origin's own files, no inline script or style,
/// no frames, no plugins, forms only to itself. IM text is attacker-controlled HTML; even if
/// some ever reached a page unescaped, nothing in it could run or call out.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The largest request body taken (a login form is a few hundred bytes).
const BODY_LIMIT: usize = 16 * 1024;

/// The console's router over `state`.
pub fn router(state: Arc<ConsoleState>) -> Router {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/", get(browse::home))
        .route("/browse", get(browse::lookup))
        .route("/u/{user}", get(browse::user_page))
        .route("/u/{user}/{day}", get(browse::day_page))
        .route("/r/{id}", get(record_page::page))
        .route("/audit", get(audit::page))
        .route("/search", get(search::page))
        .route("/queue", get(review::page))
        .route("/holds", get(holds::page).post(holds::place))
        .route("/holds/release", post(holds::release))
        .route("/report", get(report::page))
        .route("/report.csv", get(report::csv))
        .route("/api/report", get(report::api))
        .route("/api/queue", get(review::api))
        .route("/review", post(review::one))
        .route("/review/bulk", post(review::bulk))
        .route("/api/search", get(search::api))
        .route("/api/me", get(browse::me_api))
        .route("/api/u/{user}", get(browse::user_api))
        .route("/api/u/{user}/{day}", get(browse::day_api))
        .route("/api/r/{id}", get(record_page::api))
        .route("/api/audit", get(audit::api))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .layer(middleware::from_fn(same_origin_posts))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // `same-origin`, not `no-referrer`: with no-referrer a browser sends `Origin: null`
        // on its own form posts, which the origin check below must refuse.
        .layer(header_layer(header::REFERRER_POLICY, "same-origin"))
        .layer(header_layer(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header_layer(header::CACHE_CONTROL, "no-store"))
        .with_state(state)
}

fn header_layer(
    name: header::HeaderName,
    value: &'static str,
) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

/// A POST whose `Origin` is another site's is refused before any handler runs: with the
/// SameSite=Strict cookie and each form's CSRF token, the third lock on cross-site requests
/// (and the one that covers the login form, which has no session yet).
async fn same_origin_posts(request: Request, next: Next) -> Response {
    if request.method() == Method::POST
        && let Some(origin) = request.headers().get(header::ORIGIN)
    {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let origin = origin.to_str().unwrap_or_default();
        let same = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o == host);
        if !same {
            return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
        }
    }
    next.run(request).await
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../static/console.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/console.css"),
    )
}
