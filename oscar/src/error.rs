//! The codec's errors. Small and `Copy`: rich context (peer, screen name) belongs in the
//! caller's tracing span, not in the hot-path error.

/// Why bytes could not be decoded into an OSCAR value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the named field was complete.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A declared length or count does not fit the bytes that enclose it.
    #[error("{what} declares {declared} but only {available} bytes remain")]
    LengthMismatch {
        /// The field whose length was wrong.
        what: &'static str,
        /// What the length prefix (or count) claimed.
        declared: usize,
        /// What was actually left in the enclosing value.
        available: usize,
    },
    /// Bytes were left over after a value that must fill its container exactly.
    #[error("{0} has trailing bytes")]
    Trailing(&'static str),
    /// More TLVs than the configured per-container cap.
    #[error("more than {max} TLVs in one {what}")]
    TooManyTlvs {
        /// The container being parsed.
        what: &'static str,
        /// The cap that was hit.
        max: usize,
    },
    /// A field has a value the protocol does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The frame is not the message that was asked for (wrong channel, family or subtype).
    #[error("not a {0}")]
    WrongMessage(&'static str),
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A field longer than its length prefix can express (u8 or u16).
    #[error("{what} is {len} bytes; the wire allows at most {max}")]
    TooLong {
        /// The field being written.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The most its length prefix can carry.
        max: usize,
    },
}

/// Why the FLAP stream could not be cut into frames. Any of these ends the connection:
/// OSCAR has no way to resynchronise a stream (oscar.md §7.1).
#[derive(Debug, thiserror::Error)]
pub enum FlapError {
    /// The frame did not start with the 0x2A marker.
    #[error("bad FLAP start marker {0:#04x} (expected 0x2a)")]
    BadMarker(u8),
    /// The declared payload length exceeds the configured cap.
    #[error("FLAP payload of {len} bytes exceeds the cap of {max}")]
    TooLong {
        /// Declared payload length.
        len: usize,
        /// Configured cap.
        max: usize,
    },
    /// A frame to encode does not fit a FLAP.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The underlying stream failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
