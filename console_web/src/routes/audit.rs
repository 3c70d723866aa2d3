//! `GET /audit`: the access trail, for auditors only (its own reading recorded too).

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use console::Role;

use super::respond;
use crate::authz::Denied;
use crate::pages::{AccessRow, AuditPage, Me};
use crate::state::ConsoleState;
use crate::viewer::Viewer;

/// Accesses shown, newest first.
const SHOWN: usize = 500;

/// `GET /audit`.
pub(crate) async fn page(state: State<Arc<ConsoleState>>, viewer: Viewer) -> Response {
    trail(state, viewer, false).await
}

/// `GET /api/audit`.
pub(crate) async fn api(state: State<Arc<ConsoleState>>, viewer: Viewer) -> Response {
    trail(state, viewer, true).await
}

async fn trail(State(state): State<Arc<ConsoleState>>, viewer: Viewer, api: bool) -> Response {
    let me = Me::of(&viewer);
    let zone = state.zone.statement();
    if viewer.account.role != Role::Auditor {
        return respond::denied(me, zone, &Denied::AccessTrail, api);
    }
    let account = viewer.account.name.clone();
    let read = state
        .blocking(move |s| {
            let trail = s.archive.access_trail(SHOWN)?;
            s.record_access(
                &account,
                "console access trail",
                None,
                serde_json::Value::Null,
                trail.len() as u64,
            )?;
            Ok(trail
                .into_iter()
                .map(|(record, access)| AccessRow {
                    id: record.id,
                    time: s.zone.rfc3339(record.event.time_ns),
                    who: access.accessor.describe(),
                    command: access.command,
                    args: if access.args.is_null() {
                        String::new()
                    } else {
                        access.args.to_string()
                    },
                    count: access.count,
                })
                .collect::<Vec<_>>())
        })
        .await;
    match read {
        Ok(entries) => {
            let page = AuditPage {
                me,
                zone_statement: zone,
                entries,
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
