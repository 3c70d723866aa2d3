//! Entry points for the cargo-fuzz targets in `fuzz/`: the gateway's answer as the shipper
//! reads it (hand-written HTTP/1.1, from the network, inside the Sametime server), and a
//! spool segment as the writer and the readers take it apart (bytes a crash or a bad disk
//! may have damaged).

/// An answer from the gateway, delivered in reads of the sizes the first bytes pick:
/// reading never panics, never returns a body larger than the reader's bound, and the same
/// bytes read in one piece give the same result.
pub fn gateway_answer(data: &[u8]) {
    let Some((&split, answer)) = data.split_first() else {
        return;
    };
    let whole = crate::shipper::read_answer(&mut &answer[..]);
    let mut pieces = Pieces {
        data: answer,
        step: usize::from(split % 17) + 1,
    };
    let pieced = crate::shipper::read_answer(&mut pieces);
    match (&whole, &pieced) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the answer depends on how it was cut"),
        (Err(_), Err(_)) => {}
        _ => panic!("one reading failed and the other did not: {whole:?} / {pieced:?}"),
    }
    if let Ok((_, body)) = &whole {
        assert!(
            body.len() <= crate::shipper::MAX_ANSWER + 4096,
            "unbounded body"
        );
    }
}

/// A spool segment of any bytes: splitting it into frames never panics, never reads past
/// its end, and the whole prefix is exactly the frames read one by one, each re-encoding
/// to the bytes it came from.
pub fn spool_segment(data: &[u8]) {
    use crate::spool_frame::{decode, encode};
    let (whole, last, tail) = crate::spool_scan::whole_prefix(data);
    assert!(whole <= data.len());
    assert_eq!(tail.is_none(), whole == data.len());
    let mut at = 0;
    let mut seen = None;
    while at < whole {
        let Ok((frame, used)) = decode(&data[at..]) else {
            panic!("the whole prefix holds a frame that does not decode at {at}");
        };
        assert_eq!(
            encode(frame.seq, frame.payload).as_deref(),
            Some(&data[at..at + used]),
            "a frame that does not re-encode to its bytes"
        );
        seen = Some(frame.seq);
        at += used;
    }
    assert_eq!(at, whole);
    assert_eq!(seen, last);
}

/// A reader that hands over `step` bytes at a time, as a socket may.
struct Pieces<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn spool_segment_seeds_hold() {
        let mut frames = crate::spool_frame::encode(1, b"one").unwrap_or_default();
        frames.extend(crate::spool_frame::encode(2, b"two").unwrap_or_default());
        for cut in 0..=frames.len() {
            super::spool_segment(&frames[..cut]);
        }
        for byte in 0..frames.len() {
            let mut flipped = frames.clone();
            flipped[byte] ^= 0x80;
            super::spool_segment(&flipped);
        }
        super::spool_segment(&[0xFF; 64]);
    }
}
