//! A message put to the compliance policy: what the session knows about it goes in as a
//! [`PolicyInput`], and the frame plan and the records come back as [`Handled`]. The
//! decision itself is `enforce.rs`'s; this is the translation between the session's terms
//! (records, legs) and the policy's.

use archive::{Event, Kind};

use super::state::{State, with_employee};
use crate::enforce::{Rebuild, Seen};
use crate::error::{SessionError, Side};
use crate::plan::Plan;
use crate::relay::Relay;

/// What handling one frame came to: the plan for it and the records that must be settled
/// before it leaves, in order.
#[derive(Debug)]
pub(super) struct Handled {
    /// What happens to the frame and around it.
    pub(super) plan: Plan,
    /// The records it produced.
    pub(super) events: Vec<Event>,
}

impl Handled {
    /// Relay the frame unchanged, nothing recorded.
    pub(super) fn forward() -> Self {
        Self {
            plan: Plan::forward(),
            events: Vec::new(),
        }
    }

    /// Whether the frame goes on unchanged with nothing recorded and nothing added: it
    /// waits for no record, so it may leave at once.
    pub(super) fn is_plain_forward(&self) -> bool {
        self.events.is_empty() && self.plan == Plan::forward()
    }
}

/// One message, as the policy is asked about it.
pub(super) struct PolicyInput<'a> {
    /// The record the message gets if it is kept (`None`: nothing to record or decide).
    pub(super) event: Option<Event>,
    /// Every other text the recipient may be shown (an uncertain reading's variants).
    pub(super) variants: &'a [String],
    /// The other party, or the room for chat.
    pub(super) remote: &'a str,
    /// The leg the message arrived on.
    pub(super) from: Side,
    /// How the frame can be rebuilt with other text (masking).
    pub(super) rebuild: Rebuild<'a>,
    /// Whether this session records what the decision says: a copy another session
    /// records is decided, not recorded.
    pub(super) keep: bool,
}

/// Applies the policy to a message and, with `keep`, returns the records the decision
/// says; without a policy (or before the user is known) the message is recorded as it is
/// and forwarded.
pub(super) fn decide(
    relay: &Relay,
    state: &State,
    input: PolicyInput<'_>,
) -> Result<Handled, SessionError> {
    let PolicyInput {
        event,
        variants,
        remote,
        from,
        rebuild,
        keep,
    } = input;
    let (Some(runtime), Some(who), Some(seen)) =
        (relay.policy(), state.login.identity(), event.as_ref())
    else {
        let events = event
            .filter(|_| keep)
            .map(|event| with_employee(state, event))
            .into_iter()
            .collect();
        return Ok(Handled {
            plan: Plan::forward(),
            events,
        });
    };
    let kind = policy_kind(seen.kind);
    let direction = seen.direction;
    let applied = crate::enforce::apply(
        runtime,
        &relay.config.node,
        &Seen {
            kind,
            direction,
            local: who,
            remote,
            from,
            variants,
        },
        event,
        rebuild,
        std::time::Instant::now(),
    )?;
    let events = if keep {
        applied
            .events
            .into_iter()
            .map(|event| with_employee(state, event))
            .collect()
    } else {
        Vec::new()
    };
    Ok(Handled {
        plan: applied.plan,
        events,
    })
}

/// What kind of message a record is, as the policy names it.
pub(super) fn policy_kind(kind: Kind) -> settings::MessageKind {
    match kind {
        Kind::FileOffer => settings::MessageKind::File,
        Kind::DirectImOffer => settings::MessageKind::DirectIm,
        Kind::ChatMessage => settings::MessageKind::Chat,
        _ => settings::MessageKind::Im,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_as_the_policy_names_them() {
        assert_eq!(policy_kind(Kind::FileOffer), settings::MessageKind::File);
        assert_eq!(
            policy_kind(Kind::DirectImOffer),
            settings::MessageKind::DirectIm
        );
        assert_eq!(policy_kind(Kind::ChatMessage), settings::MessageKind::Chat);
        assert_eq!(policy_kind(Kind::Im), settings::MessageKind::Im);
    }
}
