//! Legal holds from the console: list, place and release holds on users in the account's
//! scope, for accounts with the `hold` permission. Each goes through the archive's audited
//! hold calls, so it is an `access` record like the same command on the CLI, by the console
//! account.

use std::sync::Arc;

use archive::{AccessVia, Accessor, HoldTarget};
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::respond;
use crate::authz::{Denied, Reader};
use crate::pages::{HoldRow, HoldsPage, Me};
use crate::state::ConsoleState;
use crate::viewer::Viewer;

/// The longest reason kept.
const MAX_REASON: usize = 500;

/// `POST /holds`.
#[derive(Deserialize)]
pub(crate) struct PlaceForm {
    csrf: String,
    user: String,
    reason: String,
}

/// `POST /holds/release`.
#[derive(Deserialize)]
pub(crate) struct ReleaseForm {
    csrf: String,
    id: u64,
    reason: String,
}

fn accessor(state: &ConsoleState, viewer: &Viewer) -> Accessor {
    Accessor {
        user: viewer.account.name.clone(),
        uid: state.uid,
        via: AccessVia::Console,
    }
}

fn may_hold_any(viewer: &Viewer) -> Result<(), Denied> {
    if viewer
        .account
        .permissions
        .contains(&console::Permission::Hold)
    {
        Ok(())
    } else {
        Err(Denied::NoHoldPermission)
    }
}

/// `GET /holds`.
pub(crate) async fn page(State(state): State<Arc<ConsoleState>>, viewer: Viewer) -> Response {
    let me = Me::of(&viewer);
    let zone = state.zone.statement();
    if let Err(why) = may_hold_any(&viewer) {
        return respond::denied(me, zone, &why, false);
    }
    let (account, who) = (viewer.account.clone(), accessor(&state, &viewer));
    let read = state
        .blocking(move |s| {
            let reader = Reader {
                account: &account,
                engine: &s.engine,
            };
            let (mut rows, mut hidden) = (Vec::new(), 0);
            for hold in s.archive.audited_holds(false, &who)? {
                match &hold.target {
                    HoldTarget::User(user) if reader.may_hold(user).is_ok() => rows.push(HoldRow {
                        id: hold.id,
                        target: format!("user {user}"),
                        reason: hold.reason.clone(),
                        placed: format!(
                            "{}{}",
                            s.zone.rfc3339(hold.created_ns),
                            hold.placed_by
                                .as_ref()
                                .map_or(String::new(), |by| format!(" by {}", by.user))
                        ),
                    }),
                    _ => hidden += 1,
                }
            }
            Ok((rows, hidden))
        })
        .await;
    match read {
        Ok((holds, hidden)) => respond::page(&HoldsPage {
            me,
            zone_statement: zone,
            csrf: viewer.session.csrf.clone(),
            holds,
            hidden,
        }),
        Err(e) => respond::failure(me, zone, &e, false),
    }
}

/// `POST /holds`: places a hold on a user in scope.
pub(crate) async fn place(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Form(form): Form<PlaceForm>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(&form.csrf) {
        return refused;
    }
    let me = Me::of(&viewer);
    let zone = state.zone.statement();
    let user = record::normalize_screen_name(&form.user);
    let reason: String = form.reason.trim().chars().take(MAX_REASON).collect();
    if user.is_empty() || reason.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "a hold needs a screen name and a reason",
        )
            .into_response();
    }
    if let Err(why) = (Reader {
        account: &viewer.account,
        engine: &state.engine,
    })
    .may_hold(&user)
    {
        return respond::denied(me, zone, &why, false);
    }
    let who = accessor(&state, &viewer);
    let placed = state
        .blocking(move |s| {
            Ok(s.archive
                .audited_hold_add(HoldTarget::User(user), &reason, &who)?)
        })
        .await;
    match placed {
        Ok(_) => Redirect::to("/holds").into_response(),
        Err(e) => respond::failure(me, zone, &e, false),
    }
}

/// `POST /holds/release`: releases a hold on a user in scope, saying why.
pub(crate) async fn release(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Form(form): Form<ReleaseForm>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(&form.csrf) {
        return refused;
    }
    let me = Me::of(&viewer);
    let zone = state.zone.statement();
    let reason: String = form.reason.trim().chars().take(MAX_REASON).collect();
    if reason.is_empty() {
        return (StatusCode::BAD_REQUEST, "a release needs a reason").into_response();
    }
    let (account, who, id) = (viewer.account.clone(), accessor(&state, &viewer), form.id);
    let released = state
        .blocking(move |s| {
            let hold = s.archive.holds(false)?.into_iter().find(|h| h.id == id);
            let Some(hold) = hold else {
                return Ok(Err(format!("no active hold {id}")));
            };
            let reader = Reader {
                account: &account,
                engine: &s.engine,
            };
            let in_scope =
                matches!(&hold.target, HoldTarget::User(user) if reader.may_hold(user).is_ok());
            if !in_scope {
                return Ok(Err(format!("hold {id} is outside this account's scope")));
            }
            s.archive.audited_hold_release(id, Some(&reason), &who)?;
            Ok(Ok(()))
        })
        .await;
    match released {
        Ok(Ok(())) => Redirect::to("/holds").into_response(),
        Ok(Err(why)) => respond::forbidden_text(me, zone, &why),
        Err(e) => respond::failure(me, zone, &e, false),
    }
}
