//! Entry points for the cargo-fuzz targets in `fuzz/`: a spool segment as the writer and
//! the readers take it apart (bytes a crash or a bad disk may have damaged). The gateway's
//! answer is read by ureq now, not by a reader of ours, so it has no target here.

/// A spool segment of any bytes: splitting it into frames never panics, never reads past
/// its end, and the whole prefix is exactly the frames read one by one, each re-encoding
/// to the bytes it came from.
pub fn spool_segment(data: &[u8]) {
    use log_frame::{decode, encode};
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

#[cfg(test)]
mod tests {
    #[test]
    fn spool_segment_seeds_hold() {
        let mut frames = log_frame::encode(1, b"one").unwrap_or_default();
        frames.extend(log_frame::encode(2, b"two").unwrap_or_default());
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
