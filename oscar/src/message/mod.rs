//! Typed OSCAR messages: the ones the relay rewrites and the archive records. Everything
//! else stays a raw [`Snac`] or [`Flap`], so unknown traffic is relayed byte for byte.
//!
//! For every frame [`Message::decode`] accepts, [`Message::to_flap`] gives back the
//! identical bytes (checked by property tests and the `message` fuzz target).

mod body;
pub mod bucp;
pub mod buddy;
pub mod chat;
pub mod icbm;
pub mod icbm_reading;
pub mod oservice;
pub mod signon;
mod user_info;

use bytes::Bytes;

pub use body::SnacBody;
pub use bucp::{KeyReply, KeyRequest, LoginReply, LoginRequest};
pub use buddy::{BuddyArrived, BuddyDeparted};
pub use chat::{ChatMessage, ChatReceive, ChatSend, ChatUsersJoined, ChatUsersLeft};
pub use icbm::{IcbmContent, IcbmReceive, IcbmSend, Typing};
pub use oservice::{Migration, RoomInfo, SelfInfo, ServiceRequest, ServiceResponse};
pub use signon::{Redirect, SignOff, SignonHello, SignonKind};
pub use user_info::{UserInfo, UserList};

use crate::error::{DecodeError, EncodeError};
use crate::flap::{Channel, Flap};
use crate::snac::{Family, Snac, SnacHeader};

/// A FLAP frame, decoded as far as this codec understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Channel 1.
    Signon(SignonHello),
    /// Channel 4.
    SignOff(SignOff),
    /// Channel 5 (payload kept; it is empty in practice).
    KeepAlive(Bytes),
    /// Channel 2: a SNAC, its header kept so it re-encodes exactly.
    Snac {
        /// The SNAC header as received.
        header: SnacHeader,
        /// The 0x8000 prefix block, if any.
        prefix: Option<Bytes>,
        /// The typed body.
        body: SnacMessage,
    },
    /// Any other channel, kept raw.
    Other(Flap),
}

/// The typed bodies of the SNACs this codec interprets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnacMessage {
    /// 0x0017/0x0006
    KeyRequest(KeyRequest),
    /// 0x0017/0x0007
    KeyReply(KeyReply),
    /// 0x0017/0x0002
    LoginRequest(LoginRequest),
    /// 0x0017/0x0003
    LoginReply(LoginReply),
    /// 0x0001/0x0004
    ServiceRequest(ServiceRequest),
    /// 0x0001/0x0005
    ServiceResponse(ServiceResponse),
    /// 0x0001/0x0012
    Migration(Migration),
    /// 0x0001/0x000F
    SelfInfo(SelfInfo),
    /// 0x0004/0x0006
    IcbmSend(IcbmSend),
    /// 0x0004/0x0007
    IcbmReceive(IcbmReceive),
    /// 0x0004/0x0014
    Typing(Typing),
    /// 0x000E/0x0003
    ChatUsersJoined(ChatUsersJoined),
    /// 0x000E/0x0004
    ChatUsersLeft(ChatUsersLeft),
    /// 0x000E/0x0005
    ChatSend(ChatSend),
    /// 0x000E/0x0006
    ChatReceive(ChatReceive),
    /// 0x0003/0x000B
    BuddyArrived(BuddyArrived),
    /// 0x0003/0x000C
    BuddyDeparted(BuddyDeparted),
    /// Any other SNAC: body kept raw.
    Unknown(Bytes),
}

/// Calls `$m!(Variant, Type)` for every typed SNAC body, so dispatch and encoding are
/// written once.
macro_rules! for_each_snac_body {
    ($m:ident) => {
        $m!(KeyRequest, KeyRequest);
        $m!(KeyReply, KeyReply);
        $m!(LoginRequest, LoginRequest);
        $m!(LoginReply, LoginReply);
        $m!(ServiceRequest, ServiceRequest);
        $m!(ServiceResponse, ServiceResponse);
        $m!(Migration, Migration);
        $m!(SelfInfo, SelfInfo);
        $m!(IcbmSend, IcbmSend);
        $m!(IcbmReceive, IcbmReceive);
        $m!(Typing, Typing);
        $m!(ChatUsersJoined, ChatUsersJoined);
        $m!(ChatUsersLeft, ChatUsersLeft);
        $m!(ChatSend, ChatSend);
        $m!(ChatReceive, ChatReceive);
        $m!(BuddyArrived, BuddyArrived);
        $m!(BuddyDeparted, BuddyDeparted);
    };
}

impl SnacMessage {
    /// Interprets a SNAC body by its family and subtype.
    pub fn decode(family: Family, subtype: u16, body: Bytes) -> Result<Self, DecodeError> {
        macro_rules! try_decode {
            ($variant:ident, $ty:ty) => {
                if family == <$ty>::FAMILY && subtype == <$ty>::SUBTYPE {
                    return <$ty>::decode_body(body).map(Self::$variant);
                }
            };
        }
        for_each_snac_body!(try_decode);
        Ok(Self::Unknown(body))
    }

    /// The body in wire form.
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        macro_rules! try_encode {
            ($variant:ident, $ty:ty) => {
                if let Self::$variant(body) = self {
                    return body.body_bytes();
                }
            };
        }
        for_each_snac_body!(try_encode);
        match self {
            Self::Unknown(raw) => Ok(raw.clone()),
            // Every typed variant returned above.
            _ => Ok(Bytes::new()),
        }
    }
}

impl Message {
    /// Decodes `flap`. Unknown channels and SNACs come back raw; a known message whose
    /// body is malformed is an error (the caller may still relay the raw frame).
    pub fn decode(flap: &Flap) -> Result<Self, DecodeError> {
        match flap.channel {
            Channel::SIGNON => SignonHello::decode(flap.payload.clone()).map(Self::Signon),
            Channel::SIGNOFF => SignOff::decode(flap.payload.clone()).map(Self::SignOff),
            Channel::KEEPALIVE => Ok(Self::KeepAlive(flap.payload.clone())),
            Channel::DATA => {
                let snac = Snac::decode(flap.payload.clone())?;
                let body = SnacMessage::decode(snac.header.family, snac.header.subtype, snac.body)?;
                Ok(Self::Snac {
                    header: snac.header,
                    prefix: snac.prefix,
                    body,
                })
            }
            _ => Ok(Self::Other(flap.clone())),
        }
    }

    /// The frame to send (sequence 0; the sending leg stamps it).
    pub fn to_flap(&self) -> Result<Flap, EncodeError> {
        match self {
            Self::Signon(hello) => hello.to_flap(),
            Self::SignOff(off) => off.to_flap(),
            Self::KeepAlive(payload) => Ok(Flap::new(Channel::KEEPALIVE, payload.clone())),
            Self::Snac {
                header,
                prefix,
                body,
            } => Snac {
                header: *header,
                prefix: prefix.clone(),
                body: body.to_bytes()?,
            }
            .to_flap(),
            Self::Other(flap) => Ok(flap.clone()),
        }
    }
}
