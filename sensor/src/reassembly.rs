//! One direction of a TCP stream put back in order, in bounded memory.
//!
//! Segments arrive as the mirror port saw them: in order mostly, sometimes out of order,
//! retransmitted, overlapping, or missing (the sensor dropped them, or the mirror did).
//! In-order bytes are handed on at once; early segments wait, up to `cap` bytes, for the
//! hole before them. When the hole does not fill in time the stream skips to the earliest
//! waiting byte and says so ([`Reassembled::gap`]), so the reader above can resynchronise.

/// What one segment produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// Bytes now in order, to append to the stream.
    pub bytes: Vec<u8>,
    /// The stream skipped bytes before `bytes` (they never arrived): what was read so far
    /// does not continue into `bytes`.
    pub gap: bool,
}

/// Reassembly state for one direction.
#[derive(Debug, Clone)]
pub struct Reassembler {
    /// The next sequence number expected; `None` until the first segment or SYN.
    next: Option<u32>,
    /// Segments ahead of `next`, by sequence number (few: a reordering window).
    early: Vec<(u32, Vec<u8>)>,
    /// Bytes held in `early`.
    early_bytes: usize,
    /// The most `early` may hold.
    cap: usize,
}

/// Signed distance from `from` to `to` in sequence space (RFC 793 modular arithmetic).
fn distance(from: u32, to: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

impl Reassembler {
    /// A stream that holds at most `cap` bytes of out-of-order data.
    pub fn new(cap: usize) -> Self {
        Self {
            next: None,
            early: Vec::new(),
            early_bytes: 0,
            cap,
        }
    }

    /// The SYN's sequence number: data starts one after it.
    pub fn syn(&mut self, seq: u32) {
        if self.next.is_none() {
            self.next = Some(seq.wrapping_add(1));
        }
    }

    /// Bytes waiting for a hole to fill.
    pub fn buffered(&self) -> usize {
        self.early_bytes
    }

    /// Whether the stream has seen its start (a SYN) or any data.
    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// Takes one segment's payload starting at `seq`.
    pub fn push(&mut self, seq: u32, data: &[u8]) -> Reassembled {
        let mut out = Reassembled::default();
        if data.is_empty() {
            return out;
        }
        let Some(next) = self.next else {
            // Joined mid-stream: take this as the start.
            self.next = Some(seq);
            out.bytes.extend_from_slice(data);
            self.advance(data.len());
            self.drain(&mut out);
            return out;
        };
        let d = distance(next, seq);
        if d <= 0 {
            // A retransmission, or an overlap: keep only what is new.
            let skip = usize::try_from(-d).unwrap_or(usize::MAX);
            if let Some(new) = data.get(skip..).filter(|n| !n.is_empty()) {
                out.bytes.extend_from_slice(new);
                self.advance(new.len());
                self.drain(&mut out);
            }
            return out;
        }
        // Early. Keep it if it fits; otherwise give up on the hole.
        if self.early.iter().any(|(s, _)| *s == seq) {
            return out; // the same early segment again
        }
        if self.early_bytes.saturating_add(data.len()) > self.cap {
            self.early.push((seq, data.to_vec()));
            self.early_bytes = self.early_bytes.saturating_add(data.len());
            self.skip_hole(&mut out);
            // Still over the cap after delivering what followed the hole: keep the newest.
            while self.early_bytes > self.cap {
                self.skip_hole(&mut out);
            }
            return out;
        }
        self.early.push((seq, data.to_vec()));
        self.early_bytes += data.len();
        out
    }

    fn advance(&mut self, n: usize) {
        if let Some(next) = self.next.as_mut() {
            // Sequence space wraps at 2^32; truncating the length is that wrap.
            *next = next.wrapping_add(n as u32);
        }
    }

    /// Moves every early segment that is now in order into `out`.
    fn drain(&mut self, out: &mut Reassembled) {
        loop {
            let Some(next) = self.next else { return };
            let Some(i) = self.early.iter().position(|(s, d)| {
                distance(next, *s) <= 0 && distance(next, s.wrapping_add(d.len() as u32)) > 0
            }) else {
                // Drop what is entirely behind us.
                let before = self.early.len();
                self.early
                    .retain(|(s, d)| distance(next, s.wrapping_add(d.len() as u32)) > 0);
                if self.early.len() != before {
                    self.early_bytes = self.early.iter().map(|(_, d)| d.len()).sum();
                }
                return;
            };
            let (s, d) = self.early.swap_remove(i);
            self.early_bytes -= d.len();
            let skip = usize::try_from(distance(s, next)).unwrap_or(0);
            if let Some(new) = d.get(skip..) {
                out.bytes.extend_from_slice(new);
                self.advance(new.len());
            }
        }
    }

    /// Declares the hole before the earliest early segment lost and continues from there.
    fn skip_hole(&mut self, out: &mut Reassembled) {
        let Some(next) = self.next else { return };
        let Some(first) = self
            .early
            .iter()
            .map(|(s, _)| *s)
            .min_by_key(|s| distance(next, *s))
        else {
            return;
        };
        // Bytes delivered earlier in this call end at a hole: a delivery says only "gap
        // before these bytes", so they go (a partial read before a gap is useless anyway).
        out.bytes.clear();
        out.gap = true;
        self.next = Some(first);
        self.drain(out);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn in_order_segments_pass_straight_through() {
        let mut r = Reassembler::new(100);
        r.syn(999);
        assert_eq!(r.push(1000, b"abc").bytes, b"abc");
        assert_eq!(r.push(1003, b"def").bytes, b"def");
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn out_of_order_segments_wait_for_the_hole() {
        let mut r = Reassembler::new(100);
        r.syn(0);
        assert_eq!(r.push(4, b"def").bytes, b"");
        assert_eq!(r.push(7, b"ghi").bytes, b"");
        assert_eq!(r.buffered(), 6);
        let d = r.push(1, b"abc");
        assert_eq!(d.bytes, b"abcdefghi");
        assert!(!d.gap);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn retransmissions_and_overlaps_give_each_byte_once() {
        let mut r = Reassembler::new(100);
        r.syn(0);
        assert_eq!(r.push(1, b"abcd").bytes, b"abcd");
        assert_eq!(r.push(1, b"abcd").bytes, b""); // retransmitted
        assert_eq!(r.push(3, b"cdef").bytes, b"ef"); // overlaps
        assert_eq!(r.push(8, b"h").bytes, b"");
        assert_eq!(r.push(8, b"h").bytes, b""); // the same early segment twice
        assert_eq!(r.push(6, b"fgh").bytes, b"gh");
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn a_hole_that_never_fills_becomes_a_gap_within_the_cap() {
        let mut r = Reassembler::new(8);
        r.syn(0);
        assert_eq!(r.push(1, b"ab").bytes, b"ab");
        // Bytes 3..5 are lost; what follows waits until it passes the cap.
        assert_eq!(r.push(5, b"efgh").bytes, b"");
        let d = r.push(9, b"ijklm");
        assert!(d.gap);
        assert_eq!(d.bytes, b"efghijklm");
        assert!(r.buffered() <= 8);
        // The stream goes on from there.
        assert_eq!(r.push(14, b"n").bytes, b"n");
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut r = Reassembler::new(100);
        r.syn(u32::MAX - 1);
        assert_eq!(r.push(u32::MAX, b"ab").bytes, b"ab");
        assert_eq!(r.push(1, b"cd").bytes, b"cd");
    }

    #[test]
    fn joining_mid_stream_starts_at_the_first_segment() {
        let mut r = Reassembler::new(100);
        assert!(!r.started());
        assert_eq!(r.push(5000, b"xy").bytes, b"xy");
        assert_eq!(r.push(5002, b"z").bytes, b"z");
    }

    proptest! {
        /// Any order, any duplication, within the cap: the stream comes out whole and in
        /// order, and memory never exceeds the cap.
        #[test]
        fn any_permutation_reassembles(
            data in proptest::collection::vec(any::<u8>(), 1..300),
            cuts in proptest::collection::vec(1usize..40, 1..20),
            order in proptest::collection::vec(any::<u16>(), 0..40),
            isn in any::<u32>(),
        ) {
            let mut segments = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= data.len() { break; }
                let end = (at + c).min(data.len());
                segments.push((at, end));
                at = end;
            }
            let mut shuffled = segments.clone();
            for (i, k) in order.iter().enumerate() {
                let n = shuffled.len();
                shuffled.swap(i % n, usize::from(*k) % n);
            }
            // Every segment once more at the end: retransmissions.
            shuffled.extend(segments.iter().copied());
            let mut r = Reassembler::new(data.len());
            r.syn(isn);
            let mut out = Vec::new();
            for (s, e) in shuffled {
                let d = r.push(isn.wrapping_add(1).wrapping_add(s as u32), &data[s..e]);
                prop_assert!(!d.gap);
                out.extend(d.bytes);
                prop_assert!(r.buffered() <= data.len());
            }
            prop_assert_eq!(out, data);
        }

        /// With a small cap and segments lost, memory stays within the cap and what is
        /// handed on since the last gap is one contiguous run of the stream.
        #[test]
        fn losses_stay_bounded_and_correct(
            data in proptest::collection::vec(any::<u8>(), 1..400),
            lost in proptest::collection::vec(any::<bool>(), 40),
            cap in 1usize..64,
        ) {
            let mut r = Reassembler::new(cap);
            r.syn(0);
            let mut tail: Vec<u8> = Vec::new();
            for (i, chunk) in data.chunks(10).enumerate() {
                if lost[i % lost.len()] && i != 0 { continue; }
                let d = r.push(1 + (i * 10) as u32, chunk);
                prop_assert!(r.buffered() <= cap);
                if d.gap {
                    tail.clear();
                }
                tail.extend(&d.bytes);
            }
            if !tail.is_empty() {
                let found = data.windows(tail.len()).any(|w| w == tail.as_slice());
                prop_assert!(found);
            }
        }
    }
}
