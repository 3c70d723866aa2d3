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
    Admission, CanCarry, Delivery, DisclaimerClock, Identity, Keep, MessageContext, NoticeLimiter,
    PolicyEngine, ToEnforce,
};
use settings::MessageKind;

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
    pub(crate) direction: record::Direction,
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

/// Decides `seen` (with the words of `event`) by the one enforcement plan
/// (`policy::enforce`) and renders it: the disclaimer to both parties before the frame, the
/// frame forwarded, rebuilt with the masked text or dropped, the notice to the sender after
/// it, and the records (a disclaimer's before the message's).
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
    let message = MessageContext {
        kind: seen.kind,
        direction: seen.direction,
        local: seen.local,
        remote: seen.remote,
        text,
    };
    let sender = match seen.from {
        Side::Client => seen.local.screen_name.as_str(),
        Side::Upstream => seen.remote,
    };
    let input = ToEnforce {
        message,
        sender,
        variants: seen.variants,
        html: None,
        carry: CanCarry {
            can_replace: !matches!(rebuild, Rebuild::Unsupported),
            can_notify: true,
            can_disclaim: true,
        },
    };
    let plan = policy::enforce(
        &engine,
        &input,
        |conversation, every| {
            runtime
                .disclaimers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .due(conversation, every, now)
        },
        |key, interval| {
            runtime
                .notices
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .permit(key, interval, now)
        },
    );
    let mut applied = Applied {
        plan: Plan::forward(),
        events: Vec::new(),
    };
    if let Some(text) = &plan.disclaimer {
        // Gateway-originated, so marked in the archive.
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
    applied.plan.fate = match &plan.delivery {
        Delivery::AsIs => Fate::Forward,
        Delivery::Dropped => Fate::Drop,
        Delivery::Replaced(masked) => match rebuild {
            Rebuild::Send(im, rid) => {
                Fate::Replace(with_text(im, masked)?.to_snac(rid)?.to_flap()?)
            }
            Rebuild::Receive(im, rid) => {
                Fate::Replace(received_with_text(im, masked)?.to_snac(rid)?.to_flap()?)
            }
            // Not offered as replaceable (`can_replace` above), so not reached.
            Rebuild::Unsupported => Fate::Drop,
        },
    };
    let decision = &plan.decision;
    if let Some(alert) = &decision.alert {
        let rule = decision.rule.as_deref().unwrap_or("");
        tracing::warn!(target: "imtegrity::policy::alert", rule, local = %seen.local.screen_name,
            remote = %seen.remote, %alert, "policy alert");
        if let Some(url) = &engine.profile(seen.local).alert_webhook {
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
    match (event, &plan.keep) {
        (
            Some(mut event),
            Keep::Record {
                verdict,
                shown_text,
            },
        ) => {
            if let Some(shown) = shown_text {
                // What the recipient got; `raw` keeps what was sent.
                event.text.clone_from(shown);
            }
            if let Verdict::Alerted(_) = verdict {
                // The alert first; what capture said (an uncertain reading and its bytes)
                // kept.
                event.detail = match (decision.alert.clone(), event.detail.take()) {
                    (Some(alert), Some(before)) => Some(format!("{alert}; {before}")),
                    (alert, before) => alert.or(before),
                };
            }
            event.verdict = verdict.clone();
            applied.events.push(event);
        }
        (Some(event), Keep::NotLogged { rule }) => {
            // Only that a rule said so, with no text and no other party.
            let mut record = policy_record(&event, &format!("not logged: rule {rule}"), "");
            record.recipients.clear();
            record.conversation = format!("policy:{}", event.local_user.to_lowercase());
            applied.events.push(record);
        }
        (None, _) => {}
    }
    if let Some(notice) = &plan.notice {
        let back = match (seen.from, seen.kind) {
            (_, MessageKind::Chat) => (Side::Client, chat_notice(notice)?),
            (Side::Client, _) => (Side::Client, to_local(seen.remote, notice)?),
            (Side::Upstream, _) => (Side::Upstream, to_remote(seen.remote, notice)?),
        };
        applied.plan.after.push(back);
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
    ScreenName::parse(name.as_bytes()).map_err(|source| SessionError::Unaddressable {
        name: name.to_owned(),
        source,
    })
}

fn cookie() -> [u8; 8] {
    let nanos = archive::now_ns().to_be_bytes();
    let mut c = [0u8; 8];
    c.copy_from_slice(&nanos);
    c[0] = b'I';
    c
}

/// A gateway-originated IM shown to the local user in the conversation with `remote`, as an
/// AIM server delivers an IM: an HTML body, and the sender's user info with the class and
/// sign-on time a server sends (clients stricter than libpurple show nothing without them).
fn to_local(remote: &str, text: &str) -> Result<Flap, SessionError> {
    let mut tlvs = oscar::TlvList::new();
    tlvs.set(
        TLV_MESSAGE_DATA,
        text_message_data(&oscar::html_body(text))?,
    );
    let im = IcbmReceive {
        cookie: cookie(),
        channel: 1,
        sender: UserInfo::online(&screen_name(remote)?, now_secs()),
        tlvs,
    };
    Ok(im.to_snac(0)?.to_flap()?)
}

/// A gateway-originated IM to `remote`, sent on the local user's upstream leg, with an HTML
/// body as AIM clients write one.
fn to_remote(remote: &str, text: &str) -> Result<Flap, SessionError> {
    Ok(
        IcbmSend::text(cookie(), &screen_name(remote)?, &oscar::html_body(text))?
            .to_snac(0)?
            .to_flap()?,
    )
}

/// A gateway-originated line in the chat room the local user is in, as a chat server
/// delivers one: an HTML body from a sender with user info.
fn chat_notice(text: &str) -> Result<Flap, SessionError> {
    let message = ChatMessage::public(cookie(), &oscar::html_body(text))?
        .delivery(&UserInfo::online(&screen_name("IMtegrity")?, now_secs()))?;
    Ok(ChatReceive(message).to_snac(0)?.to_flap()?)
}

/// Now, in the u32 seconds a sign-on time is given in (0 before 1970, the maximum after
/// 2106).
fn now_secs() -> u32 {
    let secs = archive::now_ns() / 1_000_000_000;
    u32::try_from(secs.max(0)).unwrap_or(u32::MAX)
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
    use oscar::Snac;
    use oscar::message::icbm::IcbmContent;

    use super::*;

    /// What a client that shows only HTML bodies from senders with user info would show of
    /// an incoming IM frame, or `None`.
    fn shown_by_a_strict_client(flap: &Flap) -> Option<(String, String)> {
        let snac = Snac::from_flap(flap).ok()?;
        let im = IcbmReceive::decode_body(snac.body).ok()?;
        let class = im.sender.tlvs.get(UserInfo::TLV_USER_CLASS)?;
        let signed_on = im.sender.tlvs.get(UserInfo::TLV_SIGNON_TIME)?;
        if class.value.len() != 2 || signed_on.value.len() != 4 {
            return None;
        }
        let IcbmContent::Text(text) = im.content().ok()? else {
            return None;
        };
        let part = text.parts.first()?;
        let html = part.html.trim_start();
        if !html.get(..6)?.eq_ignore_ascii_case("<html>") {
            return None;
        }
        Some((
            im.sender.name().ok()?.display().to_owned(),
            part.plain.clone(),
        ))
    }

    #[test]
    fn injected_ims_carry_an_html_body_and_the_senders_user_info() {
        let notice = "[IMtegrity] Not delivered: <script> & \"quotes\"";
        let flap = to_local("Bob Smith", notice).unwrap();
        assert_eq!(
            shown_by_a_strict_client(&flap),
            Some(("Bob Smith".to_owned(), notice.to_owned()))
        );
        // The copy for the other party, as a client sends it: an HTML body too.
        let snac = Snac::from_flap(&to_remote("bob", notice).unwrap()).unwrap();
        let sent = IcbmSend::decode_body(snac.body).unwrap();
        let IcbmContent::Text(text) = sent.content().unwrap() else {
            panic!("not text")
        };
        assert!(text.parts[0].html.starts_with("<HTML><BODY>"));
        assert!(!text.parts[0].html.contains("<script>"));
        assert_eq!(text.parts[0].plain, notice);
        // A numeric UIN is described as an ICQ user.
        let flap = to_local("123456", "x").unwrap();
        let im = IcbmReceive::decode_body(Snac::from_flap(&flap).unwrap().body).unwrap();
        let class = im.sender.tlvs.get(UserInfo::TLV_USER_CLASS).unwrap();
        assert_eq!(class.value.as_ref(), &[0x00, 0x50]);
    }
}
