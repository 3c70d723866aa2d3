//! `GET /r/{id}`: one record's permalink, with its integrity badge (its hash chain followed
//! to the signature that covers it, or why it cannot be).

use std::sync::Arc;

use archive::Integrity;
use axum::extract::{Path, State};
use axum::response::Response;

use super::respond;
use crate::authz::Reader;
use crate::pages::{Me, RecordPage};
use crate::state::ConsoleState;
use crate::viewer::Viewer;

/// `GET /r/{id}`.
pub(crate) async fn page(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    id: Path<u64>,
) -> Response {
    record(state, viewer, id, false).await
}

/// `GET /api/r/{id}`.
pub(crate) async fn api(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    id: Path<u64>,
) -> Response {
    record(state, viewer, id, true).await
}

enum Outcome {
    Shown(Box<RecordPage>),
    Denied(crate::authz::Denied),
    Missing,
}

async fn record(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(id): Path<u64>,
    api: bool,
) -> Response {
    let account = viewer.account.clone();
    let read = state
        .blocking(move |s| {
            let Some(proof) = s.archive.prove(id)? else {
                return Ok(Outcome::Missing);
            };
            let reader = Reader {
                account: &account,
                engine: &s.engine,
            };
            if let Err(why) = reader.may_read(&proof.record) {
                s.record_access(
                    &account.name,
                    "console denied",
                    None,
                    serde_json::json!({"record": id, "reason": why.to_string()}),
                    0,
                )?;
                return Ok(Outcome::Denied(why));
            }
            s.record_access(
                &account.name,
                "console record",
                None,
                serde_json::json!({"record": id}),
                1,
            )?;
            let reviews = s
                .archive
                .reviews_of(id)?
                .into_iter()
                .map(|(record, review)| {
                    let comment = review.comment.map_or(String::new(), |c| format!(": {c}"));
                    format!(
                        "{} {}: {}{comment}",
                        s.zone.rfc3339(record.event.time_ns),
                        review.reviewer,
                        review.action.as_str()
                    )
                })
                .collect();
            let e = &proof.record.event;
            let (badge, badge_class) = badge(s, &proof.integrity);
            Ok(Outcome::Shown(Box::new(RecordPage {
                me: None,
                zone_statement: s.zone.statement(),
                id,
                time: s.zone.rfc3339(e.time_ns),
                kind: e.kind.to_string(),
                protocol: e.protocol.to_string(),
                from: e.sender.clone(),
                to: super::browse::to_words(&proof.record),
                conversation: e.conversation.clone(),
                verdict: archive::export::verdict_label(&e.verdict),
                text: e.text.clone(),
                raw: e.raw.clone(),
                badge,
                badge_class: badge_class.to_owned(),
                integrity: proof.integrity,
                reviews,
            })))
        })
        .await;
    let me = Me::of(&viewer);
    let zone = state.zone.statement();
    match read {
        Ok(Outcome::Shown(mut page)) => {
            page.me = me;
            if api {
                respond::json(&page)
            } else {
                respond::page(page.as_ref())
            }
        }
        Ok(Outcome::Denied(why)) => respond::denied(me, zone, &why, api),
        Ok(Outcome::Missing) => respond::not_found(me, zone, &format!("no record {id}"), api),
        Err(e) => respond::failure(me, zone, &e, api),
    }
}

/// The badge's words and class.
fn badge(s: &ConsoleState, integrity: &Integrity) -> (String, &'static str) {
    match integrity {
        Integrity::Verified {
            checkpoint,
            upto_id,
            signed_ns,
            links,
        } => {
            let by = match checkpoint {
                Some(seq) => format!("signed checkpoint {seq}"),
                None => "the signed head".to_owned(),
            };
            (
                format!(
                    "Verified: this record's hash chain holds through {links} later records to {by} (over record {upto_id}, signed {}), and the signature is the archive key's.",
                    s.zone.rfc3339(*signed_ns)
                ),
                "verified",
            )
        }
        Integrity::Broken { reason } => (
            format!("NOT VERIFIED: {reason}. Run `imtegrity verify`."),
            "broken",
        ),
        Integrity::Unproven { reason } => (format!("Not proven: {reason}."), "unproven"),
    }
}
