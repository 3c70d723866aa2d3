//! The bytes the bench's own clients and fake upstreams put on the wire.

use oscar::message::SignonHello;

use crate::{BULK_FAMILY, BULK_PAYLOAD};

/// A plain channel-1 hello (version 1, no TLVs) on the wire: what an authorizer connection
/// opens with, and what the relay sends `upstream_login`.
pub(crate) fn plain_hello() -> Vec<u8> {
    let mut flap = SignonHello::default().to_flap().unwrap();
    flap.seq = 1;
    flap.to_bytes().unwrap().to_vec()
}

/// `frames` back-to-back FLAP channel-2 frames of `BULK_PAYLOAD` bytes each: a SNAC of an
/// unassigned family with a patterned body.
pub(crate) fn bulk_chunk(frames: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(frames * (BULK_PAYLOAD + 6));
    for i in 0..frames {
        out.extend_from_slice(&[0x2a, 0x02]);
        out.extend_from_slice(&((i as u16).wrapping_add(2)).to_be_bytes());
        out.extend_from_slice(&(BULK_PAYLOAD as u16).to_be_bytes());
        out.extend_from_slice(&BULK_FAMILY.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes()); // subtype
        out.extend_from_slice(&0u16.to_be_bytes()); // flags
        out.extend_from_slice(&(i as u32).to_be_bytes()); // request id
        out.extend((0..BULK_PAYLOAD - 10).map(|j| (j % 251) as u8));
    }
    out
}

/// The wire length of a plain hello.
pub(crate) const HELLO_LEN: usize = 10;
