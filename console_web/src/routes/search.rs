//! `GET /search?q=...&user=...`: full-text search through the text index, every hit read
//! back from the store and checked against the query before it is shown (an index entry for
//! a purged or altered record shows nothing), then limited to what the account may read.

use std::sync::Arc;

use axum::extract::{Query as UrlQuery, State};
use axum::response::Response;
use serde::Deserialize;
use text_index::words;

use super::respond;
use crate::authz::Reader;
use crate::error::ConsoleWebError;
use crate::pages::{HitRow, Me, SearchPage};
use crate::state::ConsoleState;
use crate::viewer::Viewer;

/// Hits asked of the index per search; the page shows those the reader may read.
const ASKED: usize = 500;

/// The search form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SearchForm {
    #[serde(default)]
    q: String,
    #[serde(default)]
    user: String,
}

/// `GET /search`.
pub(crate) async fn page(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    form: UrlQuery<SearchForm>,
) -> Response {
    search(state, viewer, form, false).await
}

/// `GET /api/search`.
pub(crate) async fn api(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    form: UrlQuery<SearchForm>,
) -> Response {
    search(state, viewer, form, true).await
}

async fn search(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    UrlQuery(form): UrlQuery<SearchForm>,
    api: bool,
) -> Response {
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
    let (q, user) = (
        form.q.trim().to_owned(),
        record::normalize_screen_name(&form.user),
    );
    let (asked_q, asked_user) = (q.clone(), user.clone());
    let read = state
        .blocking(move |s| {
            let Some(index) = &s.text_index else {
                return Ok((
                    Vec::new(),
                    0,
                    "The text index is not available (see the console's log).".to_owned(),
                ));
            };
            let progress = index.progress().map_err(index_error)?;
            let index_state = format!(
                "The index holds the archive's records up to #{} (the archive's newest is #{}).",
                progress.upto,
                s.archive.head_id()
            );
            let parts = words::parse(&asked_q);
            if parts.is_empty() {
                return Ok((Vec::new(), 0, index_state));
            }
            let user_filter = (!asked_user.is_empty()).then_some(asked_user.as_str());
            let ids = index
                .search(&parts, user_filter, ASKED)
                .map_err(index_error)?;
            let reader = Reader {
                account: &account,
                engine: &s.engine,
            };
            let (mut hits, mut unconfirmed) = (Vec::new(), 0);
            for id in ids {
                let Some(record) = s.archive.record_by_id(id)? else {
                    unconfirmed += 1;
                    continue;
                };
                let Some(marks) = words::matches(&record.event.text, &parts) else {
                    unconfirmed += 1;
                    continue;
                };
                if reader.may_read(&record).is_err() {
                    continue;
                }
                let e = &record.event;
                hits.push(HitRow {
                    id,
                    time: s.zone.rfc3339(e.time_ns),
                    from: e.sender.clone(),
                    to: super::browse::to_words(&record),
                    pieces: words::highlighted(&e.text, &marks),
                });
            }
            let query = archive::Query {
                text: Some(asked_q.clone()),
                user: user_filter.map(str::to_owned),
                ..archive::Query::default()
            };
            s.record_access(
                &account.name,
                "console search",
                Some(query),
                serde_json::json!({"q": asked_q, "user": user_filter}),
                hits.len() as u64,
            )?;
            Ok((hits, unconfirmed, index_state))
        })
        .await;
    match read {
        Ok((hits, unconfirmed, index_state)) => {
            let page = SearchPage {
                me,
                zone_statement: zone,
                q,
                user,
                hits,
                unconfirmed,
                index_state,
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

fn index_error(e: text_index::TextIndexError) -> ConsoleWebError {
    ConsoleWebError::TextIndex(e)
}
