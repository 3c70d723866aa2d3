//! The review queue: flagged records (a policy alert, block or mask) and sampled ones
//! (`[[console.sampling]]`) in the account's scope, newest first, that no review has closed; and the dispositions, single or in bulk, each a
//! `review` record in the archive's chain. Reviewers and supervisors review; a reviewer
//! never sees their own messages here either (the same check as every read).

use std::sync::Arc;

use archive::{ItemState, Kind, Query, Record, Review, ReviewAction, Verdict};
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::respond;
use crate::authz::Reader;
use crate::error::ConsoleWebError;
use crate::pages::{Me, QueuePage, QueueRow};
use crate::state::ConsoleState;
use crate::viewer::Viewer;

/// How far back the queue looks for flagged records.
const QUEUE_DAYS: u32 = 30;
/// Items shown at once.
const QUEUE_SHOWN: usize = 200;
/// The longest comment kept.
const MAX_COMMENT: usize = 2000;

/// `POST /review`'s form.
#[derive(Deserialize)]
pub(crate) struct ReviewForm {
    csrf: String,
    item: u64,
    action: String,
    #[serde(default)]
    comment: String,
}

/// Why `record` belongs in the queue, if it does: the policy flagged it (an alert, a block,
/// a mask), or a sampling rule took it.
pub(crate) fn queue_reason(s: &ConsoleState, record: &Record) -> Option<String> {
    let message = matches!(
        record.event.kind,
        Kind::Im | Kind::ChatMessage | Kind::FileOffer | Kind::DirectImOffer
    );
    if message
        && matches!(
            record.event.verdict,
            Verdict::Alerted(_) | Verdict::Blocked(_) | Verdict::Masked(_)
        )
    {
        return Some(format!(
            "policy: {}",
            archive::export::verdict_label(&record.event.verdict)
        ));
    }
    crate::sampling::sampled_by(&s.sampling, &s.engine, record)
        .map(crate::sampling::SampleRule::describe)
}

/// `GET /queue`.
pub(crate) async fn page(state: State<Arc<ConsoleState>>, viewer: Viewer) -> Response {
    queue(state, viewer, false).await
}

/// `GET /api/queue`.
pub(crate) async fn api(state: State<Arc<ConsoleState>>, viewer: Viewer) -> Response {
    queue(state, viewer, true).await
}

async fn queue(State(state): State<Arc<ConsoleState>>, viewer: Viewer, api: bool) -> Response {
    let me = Me::of(&viewer);
    let zone = state.zone.statement();
    if let Err(why) = (Reader {
        account: &viewer.account,
        engine: &state.engine,
    })
    .may_search()
    {
        return respond::denied(me, zone, &why, api);
    }
    let account = viewer.account.clone();
    let read = state
        .blocking(move |s| {
            let reader = Reader {
                account: &account,
                engine: &s.engine,
            };
            let since = record::now_ns() - i64::from(QUEUE_DAYS) * 86_400_000_000_000;
            let query = Query {
                since_ns: Some(since),
                ..Query::default()
            };
            let mut rows = Vec::new();
            for record in s.archive.search(&query) {
                let record = record?;
                let Some(reason) = queue_reason(s, &record) else {
                    continue;
                };
                if reader.may_read(&record).is_err() {
                    continue;
                }
                let reviews = s.archive.reviews_of(record.id)?;
                let state = ItemState::of(reviews.iter().map(|(_, r)| r));
                if state.closed.is_some() {
                    continue;
                }
                let e = &record.event;
                rows.push(QueueRow {
                    id: record.id,
                    time: s.zone.rfc3339(e.time_ns),
                    verdict: reason,
                    from: e.sender.clone(),
                    to: super::browse::to_words(&record),
                    text: e.text.clone(),
                    state: state.describe(),
                });
            }
            rows.reverse();
            rows.truncate(QUEUE_SHOWN);
            s.record_access(
                &account.name,
                "console queue",
                Some(query),
                serde_json::json!({"days": QUEUE_DAYS}),
                rows.len() as u64,
            )?;
            Ok(rows)
        })
        .await;
    match read {
        Ok(items) => {
            let page = QueuePage {
                me,
                zone_statement: zone,
                csrf: viewer.session.csrf.clone(),
                days: QUEUE_DAYS,
                items,
            };
            if api {
                respond::json(&page)
            } else {
                respond::page(&page)
            }
        }
        Err(e) => respond::failure(me, zone, &e, api),
    }
}

/// `POST /review`: one disposition.
pub(crate) async fn one(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Form(form): Form<ReviewForm>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(&form.csrf) {
        return refused;
    }
    let comment = Some(
        form.comment
            .trim()
            .chars()
            .take(MAX_COMMENT)
            .collect::<String>(),
    )
    .filter(|c| !c.is_empty());
    decide(&state, &viewer, vec![form.item], &form.action, comment).await
}

/// `POST /review/bulk`: the same disposition for every selected item (form fields `csrf`,
/// `action`, and `items` once per item).
pub(crate) async fn bulk(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (mut csrf, mut action, mut items) = (String::new(), String::new(), Vec::new());
    for (name, value) in fields {
        match name.as_str() {
            "csrf" => csrf = value,
            "action" => action = value,
            "items" => match value.parse::<u64>() {
                Ok(id) => items.push(id),
                Err(_) => {
                    return (StatusCode::BAD_REQUEST, "an item is not a record id").into_response();
                }
            },
            _ => {}
        }
    }
    if let Some(refused) = viewer.csrf_refusal(&csrf) {
        return refused;
    }
    if items.is_empty() {
        return Redirect::to("/queue").into_response();
    }
    decide(&state, &viewer, items, &action, None).await
}

/// Why `account` may not take `action` on an item in `state`, if it may not: an item
/// another reviewer claimed is theirs until they release or decide it (a supervisor may
/// release it); a closed item takes comments only.
fn claim_conflict(
    state: &ItemState,
    account: &console::Account,
    action: ReviewAction,
) -> Option<String> {
    if action == ReviewAction::Comment {
        return None;
    }
    if state.closed.is_some() {
        return Some("it is closed already; only comments are taken".to_owned());
    }
    let mine = state.claimed_by.as_deref() == Some(account.name.as_str());
    match (&state.claimed_by, action) {
        (None, ReviewAction::Release) => Some("it is not claimed".to_owned()),
        (Some(holder), ReviewAction::Release)
            if !mine && account.role != console::Role::Supervisor =>
        {
            Some(format!(
                "it is claimed by {holder}; only they or a supervisor release it"
            ))
        }
        (
            Some(holder),
            ReviewAction::Claim
            | ReviewAction::NoIssue
            | ReviewAction::FalsePositive
            | ReviewAction::Escalate,
        ) if !mine => Some(format!("it is claimed by {holder}")),
        _ => None,
    }
}

/// Records `action` on every item the account may read, or none at all.
async fn decide(
    state: &Arc<ConsoleState>,
    viewer: &Viewer,
    items: Vec<u64>,
    action: &str,
    comment: Option<String>,
) -> Response {
    let me = Me::of(viewer);
    let zone = state.zone.statement();
    let action: ReviewAction = match action.parse() {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let account = viewer.account.clone();
    let done = state
        .blocking(move |s| {
            let reader = Reader {
                account: &account,
                engine: &s.engine,
            };
            for item in &items {
                let Some(record) = s.archive.record_by_id(*item)? else {
                    return Ok(Err(format!("no record {item}")));
                };
                let reviews = s.archive.reviews_of(*item)?;
                let state = ItemState::of(reviews.iter().map(|(_, r)| r));
                if let Some(why) = claim_conflict(&state, &account, action) {
                    return Ok(Err(format!("record {item}: {why}")));
                }
                if let Err(why) = reader.may_read(&record) {
                    s.record_access(
                        &account.name,
                        "console denied",
                        None,
                        serde_json::json!({"review": item, "reason": why.to_string()}),
                        0,
                    )?;
                    return Ok(Err(why.to_string()));
                }
            }
            for item in items {
                // Why it was in the queue, worked out again here rather than taken from the
                // form: a sample's parameters go into the record as the rule says them.
                let reason = s
                    .archive
                    .record_by_id(item)?
                    .and_then(|record| queue_reason(s, &record));
                s.archive.record_review(&Review {
                    reviewer: account.name.clone(),
                    item,
                    action,
                    comment: comment.clone(),
                    reason,
                })?;
            }
            Ok::<_, ConsoleWebError>(Ok(()))
        })
        .await;
    match done {
        Ok(Ok(())) => Redirect::to("/queue").into_response(),
        Ok(Err(why)) => respond::forbidden_text(me, zone, &why),
        Err(e) => respond::failure(me, zone, &e, false),
    }
}
