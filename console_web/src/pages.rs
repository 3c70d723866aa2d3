//! The pages, as askama templates (HTML-escaped: IM text is attacker-controlled markup and is
//! only ever shown as text), and what the API returns for the same data.

use askama::Template;
use serde::Serialize;

use crate::viewer::Viewer;

/// Who is logged in, as every page's header shows it.
pub(crate) struct Me {
    /// The account name.
    pub(crate) name: String,
    /// Its role.
    pub(crate) role: String,
    /// The session's CSRF token, for the logout form.
    pub(crate) csrf: String,
}

impl Me {
    /// The header of `viewer`'s pages.
    pub(crate) fn of(viewer: &Viewer) -> Option<Self> {
        Some(Self {
            name: viewer.account.name.clone(),
            role: viewer.account.role.to_string(),
            csrf: viewer.session.csrf.clone(),
        })
    }
}

/// `GET /login`.
#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    pub(crate) problem: Option<String>,
}

/// One account on the admin's home page.
#[derive(Serialize)]
pub(crate) struct AccountRow {
    pub(crate) name: String,
    pub(crate) role: String,
    pub(crate) scope: String,
    pub(crate) state: String,
}

/// `GET /`.
#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage {
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    pub(crate) reads_content: bool,
    pub(crate) auditor: bool,
    /// Supervisors and auditors read the supervisory report.
    pub(crate) supervises: bool,
    /// The account may place legal holds.
    pub(crate) holds: bool,
    pub(crate) scope: String,
    pub(crate) accounts: Vec<AccountRow>,
}

/// One day of a user's messages.
#[derive(Debug, Serialize)]
pub(crate) struct DayRow {
    /// `YYYY-MM-DD` in the console's zone.
    pub(crate) day: String,
    /// Records that day the viewer may read.
    pub(crate) records: u64,
    /// The peers and rooms of those records.
    pub(crate) peers: Vec<String>,
}

/// `GET /u/{user}`.
#[derive(Template, Serialize)]
#[template(path = "user.html")]
pub(crate) struct UserPage {
    #[serde(skip)]
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    pub(crate) user: String,
    pub(crate) days: Vec<DayRow>,
}

/// One record in a day's thread.
#[derive(Debug, Serialize)]
pub(crate) struct ThreadRow {
    pub(crate) id: u64,
    /// With its UTC offset.
    pub(crate) time: String,
    pub(crate) kind: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// The plain text, escaped when shown.
    pub(crate) text: String,
}

/// `GET /u/{user}/{day}`.
#[derive(Template, Serialize)]
#[template(path = "day.html")]
pub(crate) struct DayPage {
    #[serde(skip)]
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    pub(crate) user: String,
    pub(crate) day: String,
    pub(crate) records: Vec<ThreadRow>,
}

/// `GET /r/{id}`.
#[derive(Template, Serialize)]
#[template(path = "record.html")]
pub(crate) struct RecordPage {
    #[serde(skip)]
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    pub(crate) id: u64,
    pub(crate) time: String,
    pub(crate) kind: String,
    pub(crate) protocol: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) conversation: String,
    pub(crate) verdict: String,
    pub(crate) text: String,
    pub(crate) raw: String,
    /// The integrity badge's words.
    pub(crate) badge: String,
    /// `verified`, `broken` or `unproven`.
    pub(crate) badge_class: String,
    /// The proof as the archive gave it.
    pub(crate) integrity: archive::Integrity,
    /// The reviews of this record, oldest first: "<time> rita: escalate: ask legal".
    pub(crate) reviews: Vec<String>,
}

/// One access in the trail.
#[derive(Debug, Serialize)]
pub(crate) struct AccessRow {
    pub(crate) id: u64,
    pub(crate) time: String,
    pub(crate) who: String,
    pub(crate) command: String,
    pub(crate) args: String,
    pub(crate) count: u64,
}

/// `GET /audit`.
#[derive(Template, Serialize)]
#[template(path = "audit.html")]
pub(crate) struct AuditPage {
    #[serde(skip)]
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    pub(crate) entries: Vec<AccessRow>,
}

/// A refusal or failure, as a page.
#[derive(Template)]
#[template(path = "problem.html")]
pub(crate) struct ProblemPage {
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    pub(crate) title: String,
    pub(crate) detail: String,
}

/// One hit: the record, its text cut into marked and unmarked pieces.
#[derive(Debug, Serialize)]
pub(crate) struct HitRow {
    pub(crate) id: u64,
    pub(crate) time: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// The text in pieces; `true` marks the query's words.
    pub(crate) pieces: Vec<(String, bool)>,
}

/// `GET /search`.
#[derive(Template, Serialize)]
#[template(path = "search.html")]
pub(crate) struct SearchPage {
    #[serde(skip)]
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    pub(crate) q: String,
    pub(crate) user: String,
    pub(crate) hits: Vec<HitRow>,
    /// Hits the index gave that the store did not confirm (purged since, or a stale entry).
    pub(crate) unconfirmed: u64,
    /// "The index holds records up to #N of #M."
    pub(crate) index_state: String,
}

/// One flagged record waiting for a decision.
#[derive(Debug, Serialize)]
pub(crate) struct QueueRow {
    pub(crate) id: u64,
    pub(crate) time: String,
    /// Why it is in the queue: `policy: alerted (rule)` or `sample: GROUP, N per mille, seed S`.
    pub(crate) verdict: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) text: String,
    /// `open`, or `escalated by NAME`.
    pub(crate) state: String,
}

/// `GET /queue`.
#[derive(Template, Serialize)]
#[template(path = "queue.html")]
pub(crate) struct QueuePage {
    #[serde(skip)]
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    #[serde(skip)]
    pub(crate) csrf: String,
    /// How far back the queue looks.
    pub(crate) days: u32,
    pub(crate) items: Vec<QueueRow>,
}

/// One reviewer's line in the supervisory report.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ReportRow {
    pub(crate) reviewer: String,
    /// Content pages and searches the reviewer opened in the period.
    pub(crate) viewed: u64,
    /// Decisions recorded.
    pub(crate) decisions: u64,
    pub(crate) no_issue: u64,
    pub(crate) false_positive: u64,
    pub(crate) escalated: u64,
    pub(crate) comments: u64,
    /// From the record's time to the decision, median, in minutes.
    pub(crate) median_minutes: Option<f64>,
    #[serde(skip)]
    pub(crate) median_minutes_text: String,
}

/// `GET /report`.
#[derive(Template, Serialize)]
#[template(path = "report.html")]
pub(crate) struct ReportPage {
    #[serde(skip)]
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    /// `YYYY-MM-DD`, UTC.
    pub(crate) from: String,
    /// `YYYY-MM-DD`, UTC, inclusive.
    pub(crate) to: String,
    /// Records flagged or sampled in the period.
    pub(crate) flagged: u64,
    pub(crate) rows: Vec<ReportRow>,
}

/// One active hold.
#[derive(Debug, Serialize)]
pub(crate) struct HoldRow {
    pub(crate) id: u64,
    /// "user NAME".
    pub(crate) target: String,
    pub(crate) reason: String,
    /// When and by whom.
    pub(crate) placed: String,
}

/// `GET /holds`.
#[derive(Template, Serialize)]
#[template(path = "holds.html")]
pub(crate) struct HoldsPage {
    #[serde(skip)]
    pub(crate) me: Option<Me>,
    pub(crate) zone_statement: String,
    #[serde(skip)]
    pub(crate) csrf: String,
    pub(crate) holds: Vec<HoldRow>,
    /// Active holds on users outside the account's scope, or on conversations.
    pub(crate) hidden: u64,
}
