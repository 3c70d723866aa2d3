//! `GET /report`: the supervisory report per reviewer over a period (UTC days): what they
//! opened, what they decided, how fast; as a page, JSON, or CSV to keep. For supervisors and
//! auditors; it shows counts, no message content, and reading it is recorded.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use archive::export::neutralise;
use archive::{AccessVia, Kind, Query, Review, ReviewAction};
use axum::extract::{Query as UrlQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use console::Role;
use serde::Deserialize;

use super::respond;
use crate::authz::Denied;
use crate::error::ConsoleWebError;
use crate::pages::{Me, ReportPage, ReportRow};
use crate::state::ConsoleState;
use crate::viewer::Viewer;

const DAY_NS: i64 = 86_400_000_000_000;
/// The period when none is asked for: the last 30 days.
const DEFAULT_DAYS: i64 = 30;
/// Commands that opened content.
const VIEWS: [&str; 5] = [
    "console user",
    "console day",
    "console record",
    "console search",
    "console queue",
];

/// The period asked for.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Period {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// `GET /report`.
pub(crate) async fn page(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    period: UrlQuery<Period>,
) -> Response {
    report(state, viewer, period, Format::Page).await
}

/// `GET /api/report`.
pub(crate) async fn api(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    period: UrlQuery<Period>,
) -> Response {
    report(state, viewer, period, Format::Json).await
}

/// `GET /report.csv`.
pub(crate) async fn csv(
    state: State<Arc<ConsoleState>>,
    viewer: Viewer,
    period: UrlQuery<Period>,
) -> Response {
    report(state, viewer, period, Format::Csv).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Page,
    Json,
    Csv,
}

async fn report(
    State(state): State<Arc<ConsoleState>>,
    viewer: Viewer,
    UrlQuery(period): UrlQuery<Period>,
    format: Format,
) -> Response {
    let me = Me::of(&viewer);
    let zone = state.zone.statement();
    let api = format != Format::Page;
    if !matches!(viewer.account.role, Role::Supervisor | Role::Auditor) {
        return respond::denied(me, zone, &Denied::Report, api);
    }
    let now = record::now_ns();
    let until_day =
        super::browse::utc_midnight_ns(&period.to).unwrap_or(now - now.rem_euclid(DAY_NS));
    let since = super::browse::utc_midnight_ns(&period.from)
        .unwrap_or(until_day - (DEFAULT_DAYS - 1) * DAY_NS);
    let until = until_day + DAY_NS;
    let (from, to) = (day_string(since), day_string(until_day));
    let account = viewer.account.name.clone();
    let read = state
        .blocking(move |s| {
            let mut rows: BTreeMap<String, (ReportRow, Vec<f64>)> = BTreeMap::new();
            let reviews = Query {
                kinds: vec![Kind::Review],
                since_ns: Some(since),
                until_ns: Some(until),
                ..Query::default()
            };
            for record in s.archive.search(&reviews) {
                let record = record?;
                let Some(review) = record
                    .event
                    .detail
                    .as_deref()
                    .and_then(|d| serde_json::from_str::<Review>(d).ok())
                else {
                    continue;
                };
                let (row, waits) = rows.entry(review.reviewer.clone()).or_default();
                match review.action {
                    ReviewAction::NoIssue => row.no_issue += 1,
                    ReviewAction::FalsePositive => row.false_positive += 1,
                    ReviewAction::Escalate => row.escalated += 1,
                    ReviewAction::Comment => row.comments += 1,
                    // Taking and giving back work is not a decision.
                    ReviewAction::Claim | ReviewAction::Release => continue,
                }
                row.decisions += 1;
                if let Some(item) = s.archive.record_by_id(review.item)? {
                    waits.push((record.event.time_ns - item.event.time_ns) as f64 / 60e9);
                }
            }
            for (record, access) in s.archive.access_trail(usize::MAX)? {
                let t = record.event.time_ns;
                if t < since
                    || t >= until
                    || access.accessor.via != AccessVia::Console
                    || !VIEWS.contains(&access.command.as_str())
                {
                    continue;
                }
                rows.entry(access.accessor.user.clone())
                    .or_default()
                    .0
                    .viewed += 1;
            }
            let mut flagged = 0;
            let period_query = Query {
                since_ns: Some(since),
                until_ns: Some(until),
                ..Query::default()
            };
            for record in s.archive.search(&period_query) {
                if super::review::queue_reason(s, &record?).is_some() {
                    flagged += 1;
                }
            }
            let rows: Vec<ReportRow> = rows
                .into_iter()
                .map(|(reviewer, (mut row, mut waits))| {
                    waits.sort_by(f64::total_cmp);
                    row.median_minutes = waits.get(waits.len() / 2).copied();
                    row.median_minutes_text = row
                        .median_minutes
                        .map_or("-".to_owned(), |m| format!("{m:.0} min"));
                    row.reviewer = reviewer;
                    row
                })
                .collect();
            s.record_access(
                &account,
                "console report",
                None,
                serde_json::json!({"since_ns": since, "until_ns": until}),
                rows.len() as u64,
            )?;
            Ok((flagged, rows))
        })
        .await;
    let (flagged, rows) = match read {
        Ok(read) => read,
        Err(e) => return respond::failure(me, zone, &e, api),
    };
    let page = ReportPage {
        me,
        zone_statement: zone,
        from,
        to,
        flagged,
        rows,
    };
    match format {
        Format::Page => respond::page(&page),
        Format::Json => respond::json(&page),
        Format::Csv => match csv_text(&page) {
            Err(e) => respond::failure(page.me, page.zone_statement, &e, true),
            Ok(text) => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"supervisory-report.csv\"",
                    ),
                ],
                text,
            )
                .into_response(),
        },
    }
}

/// The report as CSV: one header line, one line per reviewer; the period and the flagged
/// count in every line, so a line read alone still says what it covers. Cells are quoted by
/// the `csv` crate and neutralised against spreadsheet formulas as the archive's CSV export
/// is.
fn csv_text(page: &ReportPage) -> Result<String, ConsoleWebError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "from",
        "to",
        "flagged",
        "reviewer",
        "viewed",
        "decisions",
        "no_issue",
        "false_positive",
        "escalated",
        "comments",
        "median_minutes",
    ];
    let failed = |e: csv::Error| ConsoleWebError::Io(std::io::Error::other(e));
    out.write_record(header).map_err(failed)?;
    for r in &page.rows {
        let cells = [
            page.from.clone(),
            page.to.clone(),
            page.flagged.to_string(),
            neutralise(Cow::Borrowed(&r.reviewer)).into_owned(),
            r.viewed.to_string(),
            r.decisions.to_string(),
            r.no_issue.to_string(),
            r.false_positive.to_string(),
            r.escalated.to_string(),
            r.comments.to_string(),
            r.median_minutes
                .map_or(String::new(), |m| format!("{m:.1}")),
        ];
        out.write_record(&cells).map_err(failed)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ConsoleWebError::Io(std::io::Error::other(e.to_string())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn day_string(ns: i64) -> String {
    archive::export::Zone::day_string(archive::export::Zone::utc().day(ns))
}
