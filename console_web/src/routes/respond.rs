//! Turning a handler's outcome into a page or a JSON answer, the same way everywhere.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::authz::Denied;
use crate::error::ConsoleWebError;
use crate::pages::{Me, ProblemPage};

/// A rendered page.
pub(crate) fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => failure(None, String::new(), &ConsoleWebError::Render(e), false),
    }
}

/// The same data for `/api/`.
pub(crate) fn json(value: &impl Serialize) -> Response {
    Json(value).into_response()
}

/// A refusal: 403, as a page or JSON.
pub(crate) fn denied(me: Option<Me>, zone_statement: String, why: &Denied, api: bool) -> Response {
    problem(
        StatusCode::FORBIDDEN,
        me,
        zone_statement,
        "Not allowed",
        &why.to_string(),
        api,
    )
}

/// A refusal with its own words: 403.
pub(crate) fn forbidden_text(me: Option<Me>, zone_statement: String, why: &str) -> Response {
    problem(
        StatusCode::FORBIDDEN,
        me,
        zone_statement,
        "Not allowed",
        why,
        false,
    )
}

/// Nothing there: 404.
pub(crate) fn not_found(me: Option<Me>, zone_statement: String, what: &str, api: bool) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        me,
        zone_statement,
        "Not found",
        what,
        api,
    )
}

/// A failure: 500 with the reason logged, a short one shown (nothing of the archive's
/// content, no paths).
pub(crate) fn failure(
    me: Option<Me>,
    zone_statement: String,
    e: &ConsoleWebError,
    api: bool,
) -> Response {
    tracing::error!(error = %e, "console request failed");
    let shown = match e {
        ConsoleWebError::Archive(archive::ArchiveError::Integrity(_)) => {
            "the archive refuses appends (run `imtegrity verify`), so this access cannot be recorded and nothing is shown"
        }
        ConsoleWebError::Archive(_) => {
            "the archive could not be read or this access could not be recorded; nothing is shown"
        }
        _ => "the console failed to answer; see its log",
    };
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        me,
        zone_statement,
        "Failed",
        shown,
        api,
    )
}

fn problem(
    status: StatusCode,
    me: Option<Me>,
    zone_statement: String,
    title: &str,
    detail: &str,
    api: bool,
) -> Response {
    if api {
        return (status, Json(serde_json::json!({ "error": detail }))).into_response();
    }
    let page = ProblemPage {
        me,
        zone_statement,
        title: title.to_owned(),
        detail: detail.to_owned(),
    };
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, detail.to_owned()).into_response(),
    }
}
