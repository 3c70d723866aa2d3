//! What a client is told when the gateway ends its session for it: a channel-4 sign-off
//! with an error code clients know, rather than a bare close they would retry at once.

use oscar::Flap;
use oscar::message::SignOff;
use oscar::message::signon::TLV_ERROR_CODE;

use super::state::{State, capturer};
use crate::error::SessionError;
use crate::relay::Relay;

/// Error 0x0004: the cookie is not one the gateway can route ("invalid screen name or
/// password" to clients, which send the user back to log in).
pub(super) const COOKIE_REFUSED: u16 = 0x0004;

/// Error 0x0011, "account suspended": the policy refused the user. Clients show it instead
/// of retrying at once.
pub(super) const POLICY_REFUSED: u16 = 0x0011;

/// Error 0x0014, "service temporarily unavailable": the upstream could not be reached.
pub(super) const UPSTREAM_UNREACHABLE: u16 = 0x0014;

/// A sign-off carrying `code`.
pub(super) fn sign_off(code: u16) -> Result<Flap, SessionError> {
    let mut off = SignOff::default();
    off.tlvs.push(oscar::Tlv::u16(TLV_ERROR_CODE, code));
    Ok(off.to_flap()?)
}

/// Archives a refused sign-on: the compliance team sees who tried, from where, and why.
pub(super) async fn record(relay: &Relay, state: &State, reason: &str) {
    let Some(archive) = &relay.archive else {
        return;
    };
    let event = capturer(relay, state).refusal(reason, archive::now_ns());
    if let Err(e) = archive.append(event).await {
        tracing::error!(error = %e, "a refused sign-on could not be archived");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_sign_off_carries_its_error_code_alone() {
        let flap = sign_off(POLICY_REFUSED).unwrap();
        assert_eq!(flap.channel, oscar::Channel::SIGNOFF);
        assert_eq!(&flap.payload[..], &[0x00, 0x08, 0x00, 0x02, 0x00, 0x11]);
    }
}
