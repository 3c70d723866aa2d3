//! The session table with a policy: the policy check before a chat, joins that may be
//! declined or disclaimed, messages that may be blocked, masked or disclaimed. The decisions
//! come from [`crate::policy_verdicts`]; this applies them to the session and writes the
//! records, in the order things happen (a disclaimer's record before its message's).

use std::time::Instant;

use policy::Keep;
use record::Event;
use serde_json::json;
use settings::MessageKind;

use super::{Session, SessionKind, SessionTable};
use crate::error::SpiError;
use crate::ffi_strings::OwnedEntity;
use crate::policy_verdicts::{
    JoinPlan, MessageInput, parties, plan_message, plan_place_join, refusal,
};
use crate::records;
use crate::spi_policy::SpiPolicy;
use crate::srv_msgs::{Destination, EntryResult, Reply, SrvMsg};

/// What the policy says about a join, before it is made.
pub(super) enum JoinCheck {
    /// Refused (and recorded): the joiner is not added.
    Declined(EntryResult),
    /// Added; then these records (a disclaimer sent) and this answer.
    Admitted {
        /// For the server.
        outcome: EntryResult,
        /// Written after the join's own record.
        after: Vec<Event>,
    },
}

impl JoinCheck {
    fn admitted() -> Self {
        Self::Admitted {
            outcome: EntryResult::allowed(),
            after: Vec::new(),
        }
    }
}

/// A declined chat's or join's answer: the notice, when the server takes messages.
fn declined(destination: Destination, notice: &str, replies: bool) -> EntryResult {
    EntryResult {
        reply: Reply::Declined,
        messages: SrvMsg::new(destination, notice)
            .filter(|_| replies)
            .into_iter()
            .collect(),
    }
}

impl SessionTable {
    /// `stDdaClSessionPolicycheckFunc`: whether `initiator` may start a one-to-one chat with
    /// `target`. Refused: a `policy_action` record, and the notice to the initiator
    /// (`ST_DDA_CL_SENDER`, as IBM's sample sends its ban warning).
    pub fn policy_check(
        &self,
        initiator: &OwnedEntity,
        target: &OwnedEntity,
        policy: Option<&SpiPolicy>,
        replies: bool,
    ) -> Result<EntryResult, SpiError> {
        let Some(policy) = policy else {
            return Ok(EntryResult::allowed());
        };
        let engine = policy.engine();
        let (initiator, target) = (&policy.classified(initiator), &policy.classified(target));
        let Some(refused) = refusal(&engine, MessageKind::Im, initiator, &[target], None) else {
            return Ok(EntryResult::allowed());
        };
        let local = parties(initiator, &[target], None).local.id.clone();
        let detail = json!({
            "policy": "chat declined",
            "rule": refused.rule,
            "reason": refused.why,
        });
        self.sink.append(&records::chat_declined(
            &self.node,
            initiator,
            target,
            &local,
            detail,
            &refused.notice,
        ))?;
        Ok(declined(Destination::Sender, &refused.notice, replies))
    }

    /// Whether `who` may join `session`: a place join as [`plan_place_join`] says; the
    /// second party of a two-way chat as the policy check would say (for servers that do
    /// not call it). A declined join is recorded here, and its notice goes to the chat's
    /// initiator, `ST_DDA_CL_RECEIVER` in a join (IBM's sample).
    pub(super) fn check_join(
        &self,
        session: &Session,
        who: &OwnedEntity,
        policy: &SpiPolicy,
        replies: bool,
    ) -> Result<JoinCheck, SpiError> {
        let engine = policy.engine();
        let present: Vec<&OwnedEntity> = session.present.iter().collect();
        let refused = match session.kind {
            SessionKind::Place => {
                let now = Instant::now();
                match plan_place_join(
                    &engine,
                    who,
                    &present,
                    &session.id,
                    replies,
                    |key, every| policy.with_disclaimers(|clock| clock.due(key, every, now)),
                ) {
                    JoinPlan::Declined(refused) => refused,
                    JoinPlan::Admitted { disclaimer: None } => return Ok(JoinCheck::admitted()),
                    JoinPlan::Admitted {
                        disclaimer: Some(text),
                    } => {
                        let record = records::session_policy_action(
                            &self.node,
                            session,
                            who,
                            &present,
                            json!({ "policy": "disclaimer sent to the joiner" }),
                            &text,
                        );
                        return Ok(JoinCheck::Admitted {
                            outcome: EntryResult {
                                reply: Reply::MsgChanged,
                                messages: SrvMsg::new(Destination::Sender, text)
                                    .into_iter()
                                    .collect(),
                            },
                            after: vec![record],
                        });
                    }
                }
            }
            SessionKind::TwoWay => {
                let initiator = session.joined.iter().find(|m| m.id != who.id);
                match initiator.and_then(|i| refusal(&engine, MessageKind::Im, i, &[who], None)) {
                    Some(refused) => refused,
                    None => return Ok(JoinCheck::admitted()),
                }
            }
            SessionKind::Announcement | SessionKind::Undecided => {
                return Ok(JoinCheck::admitted());
            }
        };
        let record = records::session_policy_action(
            &self.node,
            session,
            who,
            &present,
            json!({ "policy": "join declined", "rule": refused.rule, "reason": refused.why }),
            &refused.notice,
        );
        self.sink.append(&record)?;
        Ok(JoinCheck::Declined(declined(
            Destination::Receiver,
            &refused.notice,
            replies,
        )))
    }

    /// A text message under `policy`: decided, recorded with its verdict (after the record of
    /// a disclaimer sent before it), and answered.
    #[allow(
        clippy::too_many_arguments,
        reason = "one SPI call's arguments, as they come"
    )]
    pub(super) fn text_under_policy(
        &self,
        session: &Session,
        mut event: Event,
        sender: &OwnedEntity,
        receiver: Option<&OwnedEntity>,
        bytes: &[u8],
        policy: &SpiPolicy,
        replies: bool,
    ) -> Result<EntryResult, SpiError> {
        let recipients = records::recipients(session, sender, receiver);
        let place = session.kind == SessionKind::Place;
        let input = MessageInput {
            kind: if place {
                MessageKind::Chat
            } else {
                MessageKind::Im
            },
            sender,
            recipients: &recipients,
            room: place.then_some(session.id.as_str()),
            text: &event.text,
            raw: bytes,
            rich: session.rich_text_senders.contains(&sender.id),
            two_way: session.kind == SessionKind::TwoWay,
            replies,
        };
        let now = Instant::now();
        let plan = plan_message(
            &policy.engine(),
            &input,
            |key, every| policy.with_disclaimers(|clock| clock.due(key, every, now)),
            |key, interval| policy.with_notices(|limiter| limiter.permit(key, interval, now)),
        );
        if let Some(text) = &plan.disclaimer {
            self.sink
                .append(&records::disclaimer_sent(&event, session, text))?;
        }
        if let Some(alert) = &plan.decision.alert {
            // The record is the alert's trace in the archive; this line is the server log's.
            eprintln!(
                "imtegrity_stchatlog: policy alert in session {}: {} to {:?}: {alert}",
                session.id, sender.id, event.recipients
            );
        }
        match &plan.keep {
            Keep::Record {
                verdict,
                shown_text,
            } => {
                records::mark(&mut event, verdict, shown_text.as_deref(), &plan.decision);
                self.sink.append(&event)?;
            }
            Keep::NotLogged { rule } => {
                self.sink
                    .append(&records::not_logged(&event, session, rule, &plan.local))?;
            }
        }
        Ok(plan.outcome)
    }
}
