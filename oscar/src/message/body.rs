//! The trait every typed SNAC body implements, and a macro for the many bodies that are
//! nothing but a TLV rest block.

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::snac::{Family, Snac, SnacHeader};

/// A typed SNAC body with a fixed family and subtype.
pub trait SnacBody: Sized {
    /// The family this body belongs to.
    const FAMILY: Family;
    /// The subtype within the family.
    const SUBTYPE: u16;
    /// Human-readable name, used in errors.
    const NAME: &'static str;

    /// Parses the body bytes (after the SNAC header and any prefix block).
    fn decode_body(body: Bytes) -> Result<Self, DecodeError>;

    /// Appends the body in wire form.
    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError>;

    /// The body in wire form.
    fn body_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode_body(&mut buf)?;
        Ok(buf.freeze())
    }

    /// Parses `snac` as this body, checking family and subtype.
    fn from_snac(snac: &Snac) -> Result<Self, DecodeError> {
        if !snac.header.is(Self::FAMILY, Self::SUBTYPE) {
            return Err(DecodeError::WrongMessage(Self::NAME));
        }
        Self::decode_body(snac.body.clone())
    }

    /// A SNAC carrying this body, with no flags.
    fn to_snac(&self, request_id: u32) -> Result<Snac, EncodeError> {
        Ok(Snac::new(
            SnacHeader::new(Self::FAMILY, Self::SUBTYPE, request_id),
            self.body_bytes()?,
        ))
    }
}

/// Defines a SNAC body that is a TLV rest block, kept whole so unknown TLVs survive.
macro_rules! tlv_body {
    ($(#[$meta:meta])* $name:ident, $family:expr, $subtype:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            /// Every TLV of the body, in wire order.
            pub tlvs: $crate::tlv::TlvList,
        }

        impl $crate::message::SnacBody for $name {
            const FAMILY: $crate::snac::Family = $family;
            const SUBTYPE: u16 = $subtype;
            const NAME: &'static str = stringify!($name);

            fn decode_body(body: bytes::Bytes) -> Result<Self, $crate::error::DecodeError> {
                Ok(Self { tlvs: $crate::tlv::TlvList::decode_rest(body)? })
            }

            fn encode_body(
                &self,
                buf: &mut bytes::BytesMut,
            ) -> Result<(), $crate::error::EncodeError> {
                self.tlvs.encode_rest(buf)
            }
        }
    };
}
pub(crate) use tlv_body;
