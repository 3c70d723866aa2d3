//! The compliance policy applied to a message on its way through the relay. The decision
//! comes from `policy::PolicyEngine`; this module turns it into a frame plan (deliver as
//! is, deliver masked, drop), gateway-originated IMs (a notice to a blocked sender,
//! disclaimers to both parties at the start of a conversation) and what the records say.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use archive::{Event, Kind, Verdict};
use bytes::Bytes;
use oscar::message::icbm::{IcbmReceive, IcbmSend, TLV_MESSAGE_DATA, text_message_data};
use oscar::message::{ChatMessage, ChatReceive, SnacBody, UserInfo};
use oscar::{Flap, ScreenName};
use policy::{
    Action, Admission, Decision, DisclaimerClock, Identity, MessageContext, MessageKind,
    NoticeLimiter, PolicyEngine,
};

use crate::alert_webhook::Webhooks;
use crate::error::{SessionError, Side};
use crate::plan::{Fate, Plan};

/// Conversations remembered gateway-wide for disclaimers and notices; past this, the
/// longest-silent one is forgotten (and would get its disclaimer again early).
const CONVERSATIONS: usize = 65_536;

/// The policy a relay applies, swapped whole on reload, and the gateway-wide memory of
/// which conversations were told what and when.
#[derive(Debug)]
pub struct PolicyRuntime {
    engine: RwLock<Arc<PolicyEngine>>,
    notices: Mutex<NoticeLimiter>,
    disclaimers: Mutex<DisclaimerClock>,
    webhooks: Webhooks,
}

impl PolicyRuntime {
    /// A runtime applying `engine`, posting alerts over TLS verified with `tls`.
    pub(crate) fn new(engine: Arc<PolicyEngine>, tls: Arc<rustls::ClientConfig>) -> Self {
        Self {
            engine: RwLock::new(engine),
            notices: Mutex::new(NoticeLimiter::with_capacity(CONVERSATIONS)),
            disclaimers: Mutex::new(DisclaimerClock::with_capacity(CONVERSATIONS)),
            webhooks: Webhooks::new(tls),
        }
    }

    /// The policy in force now.
    pub fn engine(&self) -> Arc<PolicyEngine> {
        self.engine
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the policy: messages from now on are decided by `engine`; sessions stay.
    pub fn replace(&self, engine: Arc<PolicyEngine>) {
        *self.engine.write().unwrap_or_else(PoisonError::into_inner) = engine;
    }
}

/// A message seen on a session, as policy needs it.
pub(crate) struct Seen<'a> {
    /// What it is.
    pub(crate) kind: MessageKind,
    /// Which way it goes, relative to the organisation.
    pub(crate) direction: policy::Direction,
    /// The local user's identity.
    pub(crate) local: &'a Identity,
    /// The other party (a screen name, or the room for chat).
    pub(crate) remote: &'a str,
    /// Which leg the message arrived on: the client (outgoing) or the upstream (incoming).
    pub(crate) from: Side,
    /// Every text the recipient's client might show besides the record's (an uncertain
    /// reading's variants): rules are applied to each, so a hidden variant cannot carry a
    /// blocked word past them.
    pub(crate) variants: &'a [String],
}

/// What applying policy to one message produced: the frame plan and the records to keep,
/// in order (a disclaimer's record before the message's).
pub(crate) struct Applied {
    /// What happens to the frame and around it.
    pub(crate) plan: Plan,
    /// Records to append, in order.
    pub(crate) events: Vec<Event>,
}

/// How the frame itself is rebuilt with other text (masking).
pub(crate) enum Rebuild<'a> {
    /// A client's channel-1 IM, with its SNAC request id.
    Send(&'a IcbmSend, u32),
    /// A server's channel-1 IM delivery, with its SNAC request id.
    Receive(&'a IcbmReceive, u32),
    /// Nothing that can carry other text (ICQ channel 4, rendezvous, chat): masking falls
    /// back to blocking, so unmasked text is never delivered.
    Unsupported,
}

/// Decides `seen` (with the words of `event`) and applies the decision to `event` (the
/// record the message would get) and to the frame; adds disclaimers when one is due.
pub(crate) fn apply(
    runtime: &PolicyRuntime,
    node: &str,
    seen: &Seen<'_>,
    event: Option<Event>,
    rebuild: Rebuild<'_>,
    now: Instant,
) -> Result<Applied, SessionError> {
    let engine = runtime.engine();
    // The words rules look at: the plain text, or for a file offer its file name, which
    // capture keeps in the detail. Borrowed from the record, which is moved only later.
    let text = event.as_ref().map_or("", |e| match seen.kind {
        MessageKind::File => e.detail.as_deref().unwrap_or(""),
        _ => e.text.as_str(),
    });
    let ctx = MessageContext {
        kind: seen.kind,
        direction: seen.direction,
        local: seen.local,
        remote: seen.remote,
        text,
    };
    let decision = seen
        .variants
        .iter()
        .filter(|v| v.as_str() != text)
        .map(|v| engine.decide(&MessageContext { text: v, ..ctx }))
        .fold(engine.decide(&ctx), strictest);
    let profile = engine.profile(seen.local);
    let mut applied = Applied {
        plan: Plan::forward(),
        events: Vec::new(),
    };
    // Disclaimers go to conversations with outsiders, before the first message and after
    // a silence; gateway-originated, so they are marked in the archive.
    // Not before a message that will not be recorded (a privacy exclusion: saying
    // "recorded" would be false) or not delivered (the next one that is gets it).
    // The one rule `policy explain` shows too (policy::PolicyEngine::disclaimer_applies).
    if let Ok(text) = engine.disclaimer_applies(&ctx, &decision)
        && runtime
            .disclaimers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .due(&conversation_key(seen), profile.disclaimer_every, now)
    {
        applied
            .plan
            .before
            .push((Side::Upstream, to_remote(seen.remote, text)?));
        applied
            .plan
            .before
            .push((Side::Client, to_local(seen.remote, text)?));
        if let Some(base) = &event {
            applied
                .events
                .push(policy_record(base, "disclaimer sent to both parties", text));
        }
    }
    let masked = decision.text.as_deref();
    let fate = match (decision.deliver, decision.action, masked) {
        (false, _, _) => Fate::Drop,
        (true, Action::Mask, Some(masked)) => match rebuild {
            Rebuild::Send(im, rid) => {
                Fate::Replace(with_text(im, masked)?.to_snac(rid)?.to_flap()?)
            }
            Rebuild::Receive(im, rid) => {
                Fate::Replace(received_with_text(im, masked)?.to_snac(rid)?.to_flap()?)
            }
            Rebuild::Unsupported => Fate::Drop,
        },
        (true, _, _) => Fate::Forward,
    };
    let dropped = fate == Fate::Drop;
    applied.plan.fate = fate;
    if let Some(alert) = &decision.alert {
        let rule = decision.rule.as_deref().unwrap_or("");
        tracing::warn!(target: "imtegrity::policy::alert", rule, local = %seen.local.screen_name,
            remote = %seen.remote, %alert, "policy alert");
        if let Some(url) = &profile.alert_webhook {
            // What matched and between whom; never the text (it is in the archive).
            let body = serde_json::json!({
                "event": "policy_alert",
                "rule": rule,
                "alert": alert,
                "profile": decision.profile,
                "local": seen.local.screen_name,
                "employee": seen.local.employee.as_ref().map(|e| e.id.as_str()),
                "remote": seen.remote,
                "kind": seen.kind.as_str(),
                "direction": seen.direction.as_str(),
                "time_ns": archive::now_ns(),
                "node": node,
            });
            runtime.webhooks.post(url, body.to_string());
        }
    }
    match event {
        Some(mut event) if decision.record => {
            mark(&mut event, &decision, dropped);
            applied.events.push(event);
        }
        Some(event) => {
            // Not logged by rule (a privacy exclusion): only that a rule said so, with no
            // text and no other party, so the exclusion itself is accountable.
            let rule = decision.rule.as_deref().unwrap_or("");
            let mut record = policy_record(&event, &format!("not logged: rule {rule}"), "");
            record.recipients.clear();
            record.conversation = format!("policy:{}", event.local_user.to_lowercase());
            applied.events.push(record);
        }
        None => {}
    }
    if dropped {
        let notice = decision.notice.clone().unwrap_or_else(|| {
            "[IMtegrity] This message could not be delivered as the policy requires.".into()
        });
        // Notices are limited per sender and kind: a retried blocked file does not silence
        // the notice about a blocked message, nor one party's notices the other's.
        let notice_key = format!(
            "{:?}|{}|{}",
            seen.from,
            seen.kind.as_str(),
            conversation_key(seen)
        );
        let allowed = runtime
            .notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .permit(&notice_key, profile.notice_interval, now);
        if allowed {
            let back = match (seen.from, seen.kind) {
                (Side::Client, MessageKind::Chat) => (Side::Client, chat_notice(&notice)?),
                (Side::Client, _) => (Side::Client, to_local(seen.remote, &notice)?),
                (Side::Upstream, MessageKind::Chat) => (Side::Client, chat_notice(&notice)?),
                (Side::Upstream, _) => (Side::Upstream, to_remote(seen.remote, &notice)?),
            };
            applied.plan.after.push(back);
        }
    }
    Ok(applied)
}

/// What the sender of a message the relay could not read is told when strict mode refuses
/// it (there is no record to stand behind a delivery).
pub(crate) const UNREADABLE_NOTICE: &str =
    "[IMtegrity] This message could not be delivered: the gateway could not read it to archive it.";

/// The plan for a message the relay cannot turn into a record, in strict mode: not
/// delivered, and the sender told, as for a policy block (notices limited per sender and
/// conversation and reason (`why`) when a policy is in force). `remote` is the other
/// party, or the room for chat. A notice that cannot be addressed (a hostile screen name) is left out rather
/// than ending the session.
pub(crate) fn refuse_unreadable(
    policy: Option<(&PolicyRuntime, &Identity)>,
    remote: &str,
    why: &str,
    from: Side,
    chat: bool,
    now: Instant,
) -> Plan {
    let mut plan = Plan {
        before: Vec::new(),
        fate: Fate::Drop,
        after: Vec::new(),
    };
    if let Some((runtime, who)) = policy {
        let key = format!(
            "{from:?}|unreadable {why}|{}|{}",
            record::normalize_screen_name(&who.screen_name),
            record::normalize_screen_name(remote)
        );
        let interval = runtime.engine().profile(who).notice_interval;
        if !runtime
            .notices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .permit(&key, interval, now)
        {
            return plan;
        }
    }
    let notice = match (from, chat) {
        (_, true) => chat_notice(UNREADABLE_NOTICE).map(|f| (Side::Client, f)),
        (Side::Client, false) => to_local(remote, UNREADABLE_NOTICE).map(|f| (Side::Client, f)),
        (Side::Upstream, false) => {
            to_remote(remote, UNREADABLE_NOTICE).map(|f| (Side::Upstream, f))
        }
    };
    match notice {
        Ok(notice) => plan.after.push(notice),
        Err(e) => tracing::debug!(error = %e, "no notice for a refused unreadable message"),
    }
    plan
}

/// Whether a user may sign on, by the policy in force.
pub(crate) fn admit(runtime: &PolicyRuntime, who: &Identity) -> Admission {
    runtime.engine().admit(who)
}

/// The conversation disclaimers are counted per: the local user and the other party.
fn conversation_key(seen: &Seen<'_>) -> String {
    format!(
        "{}|{}",
        record::normalize_screen_name(&seen.local.screen_name),
        record::normalize_screen_name(seen.remote)
    )
}

/// Of two decisions for one message (its shown text and another variant), the one that
/// does most: not delivering, then masking (which, on a message with variants, cannot
/// rebuild the frame and blocks), alerting, recording; a privacy exclusion (`no_log`) last,
/// so a variant cannot take a message out of the archive. On a tie, the first.
fn strictest(first: Decision, other: Decision) -> Decision {
    fn weight(d: &Decision) -> u8 {
        match d.action {
            _ if !d.deliver => 4,
            Action::Mask => 3,
            Action::Alert => 2,
            _ if d.record => 1,
            _ => 0,
        }
    }
    if weight(&other) > weight(&first) {
        other
    } else {
        first
    }
}

/// Sets the record's verdict from the decision.
fn mark(event: &mut Event, decision: &Decision, dropped: bool) {
    let rule = decision.rule.clone().unwrap_or_default();
    event.verdict = match decision.action {
        Action::Block => Verdict::Blocked(rule),
        // Masking that could not be done blocks instead: say so.
        Action::Mask if dropped => Verdict::Blocked(rule),
        Action::Mask => {
            if let Some(masked) = &decision.text {
                // What the recipient got; `raw` keeps what was sent.
                event.text.clone_from(masked);
            }
            Verdict::Masked(rule)
        }
        Action::Alert => {
            // The alert first; what capture said (an uncertain reading and its bytes) kept.
            event.detail = match (decision.alert.clone(), event.detail.take()) {
                (Some(alert), Some(before)) => Some(format!("{alert}; {before}")),
                (alert, before) => alert.or(before),
            };
            Verdict::Alerted(rule)
        }
        Action::Log | Action::NoLog | Action::Allow => Verdict::Allowed,
    };
}

/// A policy record about `base`'s conversation.
fn policy_record(base: &Event, what: &str, text: &str) -> Event {
    let mut e = base.clone();
    e.kind = Kind::PolicyAction;
    e.text = text.to_owned();
    e.raw = text.to_owned();
    e.charset = None;
    e.verdict = Verdict::Allowed;
    e.detail = Some(what.to_owned());
    e
}

fn screen_name(name: &str) -> Result<ScreenName, SessionError> {
    ScreenName::parse(name.as_bytes()).map_err(|e| SessionError::Protocol {
        side: Side::Client,
        detail: format!("cannot address a gateway message to {name:?}: {e}"),
    })
}

fn cookie() -> [u8; 8] {
    let nanos = archive::now_ns().to_be_bytes();
    let mut c = [0u8; 8];
    c.copy_from_slice(&nanos);
    c[0] = b'I';
    c
}

/// A gateway-originated IM shown to the local user in the conversation with `remote`.
fn to_local(remote: &str, text: &str) -> Result<Flap, SessionError> {
    let mut tlvs = oscar::TlvList::new();
    tlvs.set(TLV_MESSAGE_DATA, text_message_data(text)?);
    let im = IcbmReceive {
        cookie: cookie(),
        channel: 1,
        sender: UserInfo::new(&screen_name(remote)?),
        tlvs,
    };
    Ok(im.to_snac(0)?.to_flap()?)
}

/// A gateway-originated IM to `remote`, sent on the local user's upstream leg.
fn to_remote(remote: &str, text: &str) -> Result<Flap, SessionError> {
    Ok(IcbmSend::text(cookie(), &screen_name(remote)?, text)?
        .to_snac(0)?
        .to_flap()?)
}

/// A gateway-originated line in the chat room the local user is in.
fn chat_notice(text: &str) -> Result<Flap, SessionError> {
    let message = ChatMessage::public(cookie(), text)?
        .delivery(&UserInfo::new(&screen_name("IMtegrity")?))?;
    Ok(ChatReceive(message).to_snac(0)?.to_flap()?)
}

/// `im` with its text replaced.
fn with_text(im: &IcbmSend, text: &str) -> Result<IcbmSend, SessionError> {
    let mut out = im.clone();
    out.tlvs.set(TLV_MESSAGE_DATA, text_message_data(text)?);
    Ok(out)
}

/// `im` with its text replaced.
fn received_with_text(im: &IcbmReceive, text: &str) -> Result<IcbmReceive, SessionError> {
    let mut out = im.clone();
    out.tlvs.set(
        TLV_MESSAGE_DATA,
        Bytes::from(text_message_data(text)?.to_vec()),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(action: Action) -> Decision {
        Decision {
            profile: "p".into(),
            rule: Some(action.as_str().into()),
            action,
            record: action.records(),
            deliver: action.delivers(),
            text: None,
            notice: None,
            alert: None,
        }
    }

    #[test]
    fn the_strictest_decision_of_the_variants_wins_and_no_log_never_does() {
        let order = [Action::Block, Action::Mask, Action::Alert, Action::Log];
        for (i, stricter) in order.iter().enumerate() {
            for laxer in order[i + 1..].iter().chain([&Action::NoLog]) {
                for (a, b) in [(*stricter, *laxer), (*laxer, *stricter)] {
                    let got = strictest(decision(a), decision(b));
                    assert_eq!(got.action, *stricter, "{a} vs {b}");
                }
            }
        }
        // On a tie, the shown text's decision (the first) stands.
        let mut first = decision(Action::Log);
        first.rule = None;
        assert_eq!(strictest(first, decision(Action::Allow)).rule, None);
    }
}
