//! Reviews: a console reviewer's disposition of a flagged record, appended to the chain as
//! a `review` record like any other (never an edit: a later disposition is another record),
//! so what was reviewed, by whom, when and with what outcome is as tamper-evident as the
//! messages themselves. Each is filed under the conversation `review:<id>` of the record it
//! is about, so a record's reviews are one index range.

use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::error::ArchiveError;
use crate::query::Query;
use crate::writer::Receipt;
use record::{Direction, Event, Kind, Protocol, Record, Verdict};

/// What a reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// Looked at; nothing wrong. Closes the item.
    NoIssue,
    /// The policy flagged it wrongly. Closes the item.
    FalsePositive,
    /// Needs someone else (a supervisor, compliance counsel). Keeps it open, marked.
    Escalate,
    /// A note only; the item stays as it was.
    Comment,
    /// The reviewer takes the item: others cannot decide on it until it is released.
    Claim,
    /// The reviewer gives a claimed item back.
    Release,
}

impl ReviewAction {
    /// Every action, as the console offers them.
    pub const ALL: [Self; 6] = [
        Self::NoIssue,
        Self::FalsePositive,
        Self::Escalate,
        Self::Comment,
        Self::Claim,
        Self::Release,
    ];

    /// The name in forms, JSON and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoIssue => "no_issue",
            Self::FalsePositive => "false_positive",
            Self::Escalate => "escalate",
            Self::Comment => "comment",
            Self::Claim => "claim",
            Self::Release => "release",
        }
    }

    /// Whether the item is done with after it.
    pub fn closes(self) -> bool {
        matches!(self, Self::NoIssue | Self::FalsePositive)
    }
}

impl std::str::FromStr for ReviewAction {
    type Err = ArchiveError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ArchiveError::Invalid {
                what: "review action",
                detail: format!(
                    "{s:?}: one of no_issue, false_positive, escalate, comment, claim, release"
                ),
            })
    }
}

/// One disposition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The console account that decided.
    pub reviewer: String,
    /// The record it is about.
    pub item: u64,
    /// What was decided.
    pub action: ReviewAction,
    /// The reviewer's words, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Why the item was in the queue: the policy's verdict, or the sampling rule with its
    /// parameters (so the sample can be recomputed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where an item stands after its reviews, oldest first: closed (by which decision), claimed
/// (by whom), escalated (by whom). An escalation hands a claimed item back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemState {
    /// The decision that closed it, if one did.
    pub closed: Option<ReviewAction>,
    /// Who holds it.
    pub claimed_by: Option<String>,
    /// Who last escalated it.
    pub escalated_by: Option<String>,
}

impl ItemState {
    /// The state `reviews` (oldest first) leave an item in.
    pub fn of<'a>(reviews: impl IntoIterator<Item = &'a Review>) -> Self {
        let mut state = Self::default();
        for r in reviews {
            match r.action {
                ReviewAction::NoIssue | ReviewAction::FalsePositive => {
                    state.closed = Some(r.action);
                    state.claimed_by = None;
                }
                ReviewAction::Escalate => {
                    state.escalated_by = Some(r.reviewer.clone());
                    state.claimed_by = None;
                }
                ReviewAction::Claim => state.claimed_by = Some(r.reviewer.clone()),
                ReviewAction::Release => state.claimed_by = None,
                ReviewAction::Comment => {}
            }
        }
        state
    }

    /// "open", "claimed by rita", "escalated by sue", or both.
    pub fn describe(&self) -> String {
        match (&self.escalated_by, &self.claimed_by) {
            (None, None) => "open".to_owned(),
            (Some(e), None) => format!("escalated by {e}"),
            (None, Some(c)) => format!("claimed by {c}"),
            (Some(e), Some(c)) => format!("escalated by {e}, claimed by {c}"),
        }
    }
}

/// The conversation a record's reviews are filed under.
pub fn review_conversation(item: u64) -> String {
    format!("review:{item}")
}

impl Review {
    fn event(&self, node: &str) -> Result<Event, ArchiveError> {
        let detail =
            serde_json::to_string(self).map_err(|e| ArchiveError::corrupt("review record", e))?;
        let comment = self
            .comment
            .as_deref()
            .map_or(String::new(), |c| format!(": {c}"));
        Ok(Event {
            time_ns: record::now_ns(),
            protocol: Protocol::Aim,
            kind: Kind::Review,
            conversation: review_conversation(self.item),
            sender: self.reviewer.clone(),
            recipients: Vec::new(),
            direction: Direction::Internal,
            local_user: self.reviewer.clone(),
            room: None,
            client_addr: None,
            node: node.to_owned(),
            text: format!(
                "{} reviewed record {}: {}{comment}",
                self.reviewer,
                self.item,
                self.action.as_str()
            ),
            raw: String::new(),
            charset: None,
            verdict: Verdict::Allowed,
            detail: Some(detail),
            employee: None,
        })
    }
}

impl Archive {
    /// Appends `review` durably (a strict append).
    pub fn record_review(&self, review: &Review) -> Result<Receipt, ArchiveError> {
        let event = review.event(&self.store.node)?;
        self.append_blocking(event)
    }

    /// Every review of record `item`, oldest first.
    pub fn reviews_of(&self, item: u64) -> Result<Vec<(Record, Review)>, ArchiveError> {
        let query = Query {
            conversation: Some(review_conversation(item)),
            kinds: vec![Kind::Review],
            ..Query::default()
        };
        let mut out = Vec::new();
        for record in self.search(&query) {
            let record = record?;
            let Some(review) = record
                .event
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str::<Review>(d).ok())
                .filter(|r| r.item == item)
            else {
                continue;
            };
            out.push((record, review));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ArchiveOptions;

    #[test]
    fn reviews_are_records_found_by_their_item_and_hidden_from_plain_searches() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Archive::open(tmp.path(), ArchiveOptions::default()).unwrap();
        let mut synthetic = crate::synthetic::Synthetic::new(1, 3, 1, record::now_ns());
        let item = a.append_blocking(synthetic.event(0, 2)).unwrap().id;
        let other = a.append_blocking(synthetic.event(1, 2)).unwrap().id;
        for (action, comment) in [
            (ReviewAction::Escalate, Some("ask legal")),
            (ReviewAction::NoIssue, None),
        ] {
            a.record_review(&Review {
                reviewer: "rita".into(),
                item,
                action,
                comment: comment.map(str::to_owned),
                reason: None,
            })
            .unwrap();
        }
        let reviews = a.reviews_of(item).unwrap();
        let actions: Vec<ReviewAction> = reviews.iter().map(|(_, r)| r.action).collect();
        assert_eq!(actions, [ReviewAction::Escalate, ReviewAction::NoIssue]);
        assert_eq!(
            reviews[0].0.event.text,
            format!("rita reviewed record {item}: escalate: ask legal")
        );
        assert!(a.reviews_of(other).unwrap().is_empty());
        assert_eq!(
            a.search(&Query::default()).count(),
            2,
            "reviews only when asked for"
        );
        assert!(a.verify().unwrap().is_intact());
        assert!("bogus".parse::<ReviewAction>().is_err());
        for action in ReviewAction::ALL {
            assert_eq!(action.as_str().parse::<ReviewAction>().unwrap(), action);
        }
        assert!(ReviewAction::FalsePositive.closes() && !ReviewAction::Comment.closes());
        let review = |who: &str, action| Review {
            reviewer: who.into(),
            item,
            action,
            comment: None,
            reason: None,
        };
        let claimed = [review("rita", ReviewAction::Claim)];
        assert_eq!(ItemState::of(&claimed).describe(), "claimed by rita");
        let handed_up = [
            review("rita", ReviewAction::Claim),
            review("rita", ReviewAction::Escalate),
        ];
        assert_eq!(ItemState::of(&handed_up).describe(), "escalated by rita");
        let released = [
            review("rita", ReviewAction::Claim),
            review("rita", ReviewAction::Release),
        ];
        assert_eq!(ItemState::of(&released).describe(), "open");
        let closed = [
            review("rita", ReviewAction::Claim),
            review("rita", ReviewAction::NoIssue),
        ];
        assert_eq!(ItemState::of(&closed).closed, Some(ReviewAction::NoIssue));
    }
}
