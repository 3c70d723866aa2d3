//! One frame of an append-only log, as bytes: `len: u32 LE | crc32: u32 LE | seq: u64 LE |
//! payload` (`len` the payload's length, the CRC-32 over `seq` and the payload). The
//! Sametime module's spool writes one record per frame (`seq` its sequence number); the
//! archive's commit journal one commit per frame (`seq` its last record id).
//!
//! The CRC is what tells a torn write (the process or the machine died in the middle of an
//! append) from a frame: a frame whose bytes are not all there, or do not check, ends the
//! log's readable part. Nothing here does I/O: [`encode`] builds a frame and [`decode`]
//! reads one from the front of a buffer, so every writer and reader shares one codec.

/// Bytes before the payload.
pub const HEADER_LEN: usize = 16;

/// The longest payload accepted when reading: a Sametime data message may be 16 MiB and a
/// record keeps its text twice (`text` and `raw`), so 64 MiB leaves room; a larger length is
/// damage, not a frame, and must not make us allocate it.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// One frame read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame's sequence number.
    pub seq: u64,
    /// What the frame carries.
    pub payload: &'a [u8],
}

/// Why the bytes at an offset are not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Torn {
    /// Fewer bytes than the header or its length promise: an append that did not finish.
    Short,
    /// A length beyond [`MAX_PAYLOAD`] or a CRC that does not match: damaged bytes.
    Damaged,
}

/// The CRC-32 of a frame's sequence number and payload.
fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// The frame `seq` carrying `payload`; `None` if the payload is longer than a frame can say
/// ([`MAX_PAYLOAD`]).
pub fn encode(seq: u64, payload: &[u8]) -> Option<Vec<u8>> {
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    let len = u32::try_from(payload.len()).ok()?;
    let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&checksum(seq, payload).to_le_bytes());
    frame.extend_from_slice(&seq.to_le_bytes());
    frame.extend_from_slice(payload);
    Some(frame)
}

/// Reads the frame at the front of `bytes`: the frame and its length in bytes.
pub fn decode(bytes: &[u8]) -> Result<(Frame<'_>, usize), Torn> {
    let Some((header, rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(Torn::Short);
    };
    let word = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let len = word(0) as usize;
    let crc = word(4);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&header[8..16]);
    let seq = u64::from_le_bytes(seq);
    if len > MAX_PAYLOAD {
        return Err(Torn::Damaged);
    }
    let Some(payload) = rest.get(..len) else {
        return Err(Torn::Short);
    };
    if checksum(seq, payload) != crc {
        return Err(Torn::Damaged);
    }
    Ok((Frame { seq, payload }, HEADER_LEN + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_and_every_cut_or_flipped_bit_is_caught() {
        let frame = encode(42, b"hello spool").unwrap_or_default();
        let (read, used) = decode(&frame).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (read.seq, read.payload, used),
            (42, &b"hello spool"[..], frame.len())
        );
        for cut in 0..frame.len() {
            assert_eq!(decode(&frame[..cut]), Err(Torn::Short), "cut at {cut}");
        }
        for bit in 0..frame.len() * 8 {
            let mut flipped = frame.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode(&flipped).is_err(),
                "bit {bit} flipped went unnoticed"
            );
        }
    }

    #[test]
    fn a_huge_length_is_damage_not_an_allocation() {
        let mut frame = encode(1, b"x").unwrap_or_default();
        frame[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&frame), Err(Torn::Damaged));
    }
}
