//! Browsing: the home page by role, a user's days, one day's thread. Each read checks the
//! account's role and scope first and is recorded (a refusal too) before anything is shown.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, Query as UrlQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use console::{ALL_GROUPS, Accounts, Role};
use serde::Deserialize;

use super::respond;
use crate::authz::{Denied, Reader};
use crate::error::ConsoleWebError;
use crate::pages::{AccountRow, DayPage, DayRow, HomePage, Me, ThreadRow, UserPage};
use crate::state::ConsoleState;
use crate::viewer::Viewer;
use archive::{Query, Record};

/// `GET /browse?user=NAME`'s query.
#[derive(Deserialize)]
pub(crate) struct Lookup {
    user: String,
}

/// `GET /`: what the role does here.
pub(crate) async fn home(State(state): State<Arc<ConsoleState>>, viewer: Viewer) -> Response {
    let account = &viewer.account;
    let accounts = if account.role == Role::Admin {
        match Accounts::read(&state.accounts) {
            Ok(all) => all
                .all()
                .iter()
                .map(|a| AccountRow {
                    name: a.name.clone(),
                    role: a.role.to_string(),
                    scope: a.scopes.join(", "),
                    state: if a.enabled() { "enabled" } else { "disabled" }.to_owned(),
                })
                .collect(),
            Err(e) => {
                return respond::failure(Me::of(&viewer), state.zone.statement(), &e.into(), false);
            }
        }
    } else {
        Vec::new()
    };
    respond::page(&HomePage {
        me: Me::of(&viewer),
        zone_statement: state.zone.statement(),
        reads_content: account.role.reads_content(),
        auditor: account.role == Role::Auditor,
        supervises: matches!(account.role, Role::Supervisor | Role::Auditor),
        holds: account.permissions.contains(&console::Permission::Hold),
        scope: scope_words(&account.scopes),
        accounts,
    })
}

/// `GET /browse?user=NAME`: the form on the home page, to the user's page.
pub(crate) async fn lookup(_viewer: Viewer, UrlQuery(lookup): UrlQuery<Lookup>) -> Response {
    let user = record::normalize_screen_name(&lookup.user);
    Redirect::to(&format!("/u/{}", encode_segment(&user))).into_response()
}

/// `GET /api/me`.
pub(crate) async fn me_api(viewer: Viewer) -> Response {
    let a = &viewer.account;
    respond::json(&serde_json::json!({
        "name": a.name,
        "role": a.role,
        "scopes": a.scopes,
        "employee": a.employee,
    }))
}

/// `GET /u/{user}`.
pub(crate) async fn user_page(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    user: Path<String>,
) -> Response {
    user_days(state, viewer, user, false).await
}

/// `GET /api/u/{user}`.
pub(crate) async fn user_api(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    user: Path<String>,
) -> Response {
    user_days(state, viewer, user, true).await
}

/// `GET /u/{user}/{day}`.
pub(crate) async fn day_page(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    path: Path<(String, String)>,
) -> Response {
    day_thread(state, viewer, path, false).await
}

/// `GET /api/u/{user}/{day}`.
pub(crate) async fn day_api(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    path: Path<(String, String)>,
) -> Response {
    day_thread(state, viewer, path, true).await
}

async fn user_days(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path(user): Path<String>,
    api: bool,
) -> Response {
    let user = record::normalize_screen_name(&user);
    let account = viewer.account.clone();
    let wanted = user.clone();
    let read = state
        .blocking(move |s| {
            let reader = Reader {
                account: &account,
                engine: &s.engine,
            };
            if let Err(why) = reader.may_browse(&wanted) {
                s.record_access(
                    &account.name,
                    "console denied",
                    None,
                    serde_json::json!({"user": wanted, "reason": why.to_string()}),
                    0,
                )?;
                return Ok(Err(why));
            }
            let query = Query {
                user: Some(wanted.clone()),
                ..Query::default()
            };
            let mut days: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
            for record in s.archive.search(&query) {
                let record = record?;
                if reader.may_read(&record).is_err() {
                    continue;
                }
                let day = archive::export::Zone::day_string(s.zone.day(record.event.time_ns));
                let entry = days.entry(day).or_default();
                entry.0 += 1;
                entry.1.extend(peers(&record, &wanted));
            }
            let count = days.values().map(|(n, _)| n).sum();
            s.record_access(
                &account.name,
                "console user",
                Some(query),
                serde_json::json!({"user": wanted}),
                count,
            )?;
            Ok(Ok(days
                .into_iter()
                .rev()
                .map(|(day, (records, peers))| DayRow {
                    day,
                    records,
                    peers: peers.into_iter().collect(),
                })
                .collect::<Vec<_>>()))
        })
        .await;
    let page = |days| UserPage {
        me: Me::of(&viewer),
        zone_statement: state.zone.statement(),
        user: user.clone(),
        days,
    };
    finish(&state, &viewer, read, api, page)
}

async fn day_thread(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    Path((user, day)): Path<(String, String)>,
    api: bool,
) -> Response {
    let user = record::normalize_screen_name(&user);
    let Some(midnight) = utc_midnight_ns(&day) else {
        return respond::not_found(
            Me::of(&viewer),
            state.zone.statement(),
            "not a day (YYYY-MM-DD)",
            api,
        );
    };
    let account = viewer.account.clone();
    let (wanted, wanted_day) = (user.clone(), day.clone());
    let read = state
        .blocking(move |s| {
            let reader = Reader { account: &account, engine: &s.engine };
            if let Err(why) = reader.may_browse(&wanted) {
                s.record_access(&account.name, "console denied", None, serde_json::json!({"user": wanted, "day": wanted_day, "reason": why.to_string()}), 0)?;
                return Ok(Err(why));
            }
            // The day in the console's zone lies within a day and a bit either side of UTC
            // midnight; the zone decides each record.
            let query = Query {
                user: Some(wanted.clone()),
                since_ns: Some(midnight - 26 * HOUR_NS),
                until_ns: Some(midnight + 50 * HOUR_NS),
                ..Query::default()
            };
            let mut rows = Vec::new();
            for record in s.archive.search(&query) {
                let record = record?;
                let t = record.event.time_ns;
                if archive::export::Zone::day_string(s.zone.day(t)) != wanted_day
                    || reader.may_read(&record).is_err()
                {
                    continue;
                }
                rows.push(thread_row(s, &record, &wanted));
            }
            s.record_access(&account.name, "console day", Some(query), serde_json::json!({"user": wanted, "day": wanted_day}), rows.len() as u64)?;
            Ok(Ok(rows))
        })
        .await;
    let page = |records| DayPage {
        me: Me::of(&viewer),
        zone_statement: state.zone.statement(),
        user: user.clone(),
        day: day.clone(),
        records,
    };
    finish(&state, &viewer, read, api, page)
}

/// A read's outcome as a page, JSON, a refusal or a failure.
fn finish<T, P>(
    state: &ConsoleState,
    viewer: &Viewer,
    read: Result<Result<T, Denied>, ConsoleWebError>,
    api: bool,
    page: impl FnOnce(T) -> P,
) -> Response
where
    P: askama::Template + serde::Serialize,
{
    match read {
        Ok(Ok(data)) => {
            let page = page(data);
            if api {
                respond::json(&page)
            } else {
                respond::page(&page)
            }
        }
        Ok(Err(why)) => respond::denied(Me::of(viewer), state.zone.statement(), &why, api),
        Err(e) => respond::failure(Me::of(viewer), state.zone.statement(), &e, api),
    }
}

/// One record as a line of the thread: its time with the offset, who to whom, its text.
pub(super) fn thread_row(s: &ConsoleState, record: &Record, _user: &str) -> ThreadRow {
    let e = &record.event;
    ThreadRow {
        id: record.id,
        time: s.zone.rfc3339(e.time_ns),
        kind: e.kind.to_string(),
        from: e.sender.clone(),
        to: to_words(record),
        text: e.text.clone(),
    }
}

/// "room NAME", or the recipients.
pub(super) fn to_words(record: &Record) -> String {
    match &record.event.room {
        Some(room) => format!("room {room}"),
        None => record.event.recipients.join(", "),
    }
}

/// The others in `record`, from `user`'s side: the room, or the other participants.
fn peers(record: &Record, user: &str) -> Vec<String> {
    if let Some(room) = &record.event.room {
        return vec![format!("room {room}")];
    }
    record
        .event
        .participants()
        .into_iter()
        .filter(|p| p != user)
        .collect()
}

fn scope_words(scopes: &[String]) -> String {
    if scopes.iter().any(|s| s == ALL_GROUPS) {
        "every directory group".to_owned()
    } else {
        scopes.join(", ")
    }
}

const HOUR_NS: i64 = 3_600_000_000_000;

/// Midnight UTC at the start of `YYYY-MM-DD`, in ns; `None` if it is not a real day.
pub(super) fn utc_midnight_ns(day: &str) -> Option<i64> {
    let mut parts = day.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let month_days = [
        31,
        if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
            29
        } else {
            28
        },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > *month_days.get(usize::try_from(m - 1).ok()?)? {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days.checked_mul(24 * HOUR_NS)
}

/// A path segment with `/`, `%`, `?` and `#` escaped (screen names are normalised, but a
/// made-up one must not change the path).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'@' | b'+') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_to_utc_midnight_and_bad_ones_are_refused() {
        assert_eq!(utc_midnight_ns("1970-01-01"), Some(0));
        assert_eq!(
            utc_midnight_ns("2024-03-01"),
            Some(1_709_251_200 * 1_000_000_000)
        );
        assert_eq!(
            utc_midnight_ns("2024-02-29"),
            Some(1_709_164_800 * 1_000_000_000)
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "x",
            "2024-01-32",
            "2024-01-01-",
        ] {
            assert_eq!(utc_midnight_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(encode_segment("trader1"), "trader1");
        assert_eq!(encode_segment("a/b?c#d%"), "a%2Fb%3Fc%23d%25");
    }
}
