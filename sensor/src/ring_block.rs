//! The frames of one `TPACKET_V3` block, read from the block's bytes (packet_mmap.rst,
//! "TPACKET_V3"): a block descriptor (`tpacket_block_desc`, whose `tpacket_hdr_v1` says how
//! many frames and where the first is), then frames, each a `tpacket3_hdr` that says where
//! its packet starts (`tp_mac`), how much of it was captured (`tp_snaplen`) and how far the
//! next frame is (`tp_next_offset`).
//!
//! The kernel writes these fields, so they are trusted no further than the block's bounds:
//! every offset and length is checked against the block before anything is sliced, and a
//! block that does not add up ends the walk (and says so) instead of a panic. The offsets
//! are taken from libc's definitions of the kernel's structures, not written out again.

use std::mem::offset_of;

/// Where the block header (`tpacket_hdr_v1`) starts in a block.
const BLOCK_HEADER: usize = offset_of!(libc::tpacket_block_desc, hdr);
/// The block's status word: `TP_STATUS_KERNEL` while the kernel fills it, `TP_STATUS_USER`
/// once it is ours to read.
pub(crate) const BLOCK_STATUS: usize =
    BLOCK_HEADER + offset_of!(libc::tpacket_hdr_v1, block_status);
const NUM_PACKETS: usize = BLOCK_HEADER + offset_of!(libc::tpacket_hdr_v1, num_pkts);
const FIRST_PACKET: usize = BLOCK_HEADER + offset_of!(libc::tpacket_hdr_v1, offset_to_first_pkt);

const NEXT_OFFSET: usize = offset_of!(libc::tpacket3_hdr, tp_next_offset);
const SNAPLEN: usize = offset_of!(libc::tpacket3_hdr, tp_snaplen);
const MAC: usize = offset_of!(libc::tpacket3_hdr, tp_mac);
/// A frame header's size: the next frame cannot start closer than this.
const FRAME_HEADER: usize = size_of::<libc::tpacket3_hdr>();

fn u32_at(block: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let bytes = block.get(at..end)?;
    // The kernel writes in the host's byte order.
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

fn u16_at(block: &[u8], at: usize) -> Option<u16> {
    let end = at.checked_add(2)?;
    let bytes = block.get(at..end)?;
    Some(u16::from_ne_bytes(bytes.try_into().ok()?))
}

/// The captured frames of one block, in the order the kernel wrote them.
#[derive(Debug)]
pub(crate) struct Frames<'a> {
    block: &'a [u8],
    /// Where the next frame header is.
    at: usize,
    /// Frames still to read.
    left: u32,
    /// A header pointed outside the block: the walk stopped early.
    broken: bool,
}

/// Walks the frames of `block`, a whole block as the kernel handed it over.
pub(crate) fn frames(block: &[u8]) -> Frames<'_> {
    match (u32_at(block, NUM_PACKETS), u32_at(block, FIRST_PACKET)) {
        (Some(left), Some(first)) => Frames {
            block,
            at: first as usize,
            left,
            broken: false,
        },
        _ => Frames {
            block,
            at: 0,
            left: 0,
            broken: true,
        },
    }
}

impl Frames<'_> {
    /// Whether the block did not add up (a header or packet past its end), so the walk
    /// stopped before the count the block header gave.
    pub(crate) fn broken(&self) -> bool {
        self.broken
    }

    fn stop(&mut self) {
        self.broken = true;
        self.left = 0;
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let header = self.at;
        let packet = (|| {
            let next = u32_at(self.block, header.checked_add(NEXT_OFFSET)?)?;
            let snaplen = u32_at(self.block, header.checked_add(SNAPLEN)?)?;
            let mac = u16_at(self.block, header.checked_add(MAC)?)?;
            let start = header.checked_add(usize::from(mac))?;
            let end = start.checked_add(snaplen as usize)?;
            Some((self.block.get(start..end)?, next as usize))
        })();
        let Some((packet, next)) = packet else {
            self.stop();
            return None;
        };
        self.left -= 1;
        if self.left > 0 {
            // Each frame moves forward by at least its own header, so the walk ends.
            match header.checked_add(next) {
                Some(at) if next >= FRAME_HEADER => self.at = at,
                _ => self.stop(),
            }
        }
        Some(packet)
    }
}

/// Test support: a block as the kernel lays one out, holding `packets`.
#[cfg(test)]
pub(crate) fn build(packets: &[&[u8]], block_size: usize) -> Vec<u8> {
    let mut block = vec![0u8; block_size];
    let first = size_of::<libc::tpacket_block_desc>().next_multiple_of(16);
    let put32 = |b: &mut Vec<u8>, at: usize, v: u32| {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    };
    put32(&mut block, NUM_PACKETS, packets.len() as u32);
    put32(&mut block, FIRST_PACKET, first as u32);
    let mut at = first;
    // tp_mac: the packet starts after the header and the sockaddr_ll, aligned, as the
    // kernel's TPACKET_ALIGN(TPACKET3_HDRLEN) puts it.
    let mac = libc::TPACKET3_HDRLEN.next_multiple_of(16);
    for (i, p) in packets.iter().enumerate() {
        let len = (mac + p.len()).next_multiple_of(16);
        let next = if i + 1 == packets.len() { 0 } else { len };
        put32(&mut block, at + NEXT_OFFSET, next as u32);
        put32(&mut block, at + SNAPLEN, p.len() as u32);
        block[at + MAC..at + MAC + 2].copy_from_slice(&(mac as u16).to_ne_bytes());
        block[at + mac..at + mac + p.len()].copy_from_slice(p);
        at += len;
    }
    block
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_frames_of_a_block_come_out_whole_and_in_order() {
        let a = vec![1u8; 60];
        let b = vec![2u8; 1514];
        let c = vec![3u8; 7];
        let block = build(&[&a, &b, &c], 8192);
        let mut walk = frames(&block);
        let got: Vec<&[u8]> = walk.by_ref().collect();
        assert_eq!(got, [&a[..], &b[..], &c[..]]);
        assert!(!walk.broken());
    }

    #[test]
    fn an_empty_block_has_no_frames() {
        let block = build(&[], 4096);
        let mut walk = frames(&block);
        assert_eq!(walk.next(), None);
        assert!(!walk.broken());
    }

    #[test]
    fn a_packet_past_the_end_of_the_block_stops_the_walk() {
        let a = vec![1u8; 100];
        let mut block = build(&[&a, &a], 4096);
        let second = size_of::<libc::tpacket_block_desc>().next_multiple_of(16)
            + (libc::TPACKET3_HDRLEN.next_multiple_of(16) + 100).next_multiple_of(16);
        block[second + SNAPLEN..second + SNAPLEN + 4].copy_from_slice(&10_000u32.to_ne_bytes());
        let mut walk = frames(&block);
        assert_eq!(walk.next(), Some(&a[..]));
        assert_eq!(walk.next(), None);
        assert!(walk.broken());
    }

    #[test]
    fn a_next_offset_that_does_not_move_forward_stops_the_walk() {
        let a = vec![1u8; 10];
        let mut block = build(&[&a, &a, &a], 4096);
        let first = size_of::<libc::tpacket_block_desc>().next_multiple_of(16);
        block[first + NEXT_OFFSET..first + NEXT_OFFSET + 4].copy_from_slice(&0u32.to_ne_bytes());
        let mut walk = frames(&block);
        assert_eq!(walk.by_ref().count(), 1);
        assert!(walk.broken());
    }

    #[test]
    fn a_block_too_short_for_its_header_is_broken() {
        let mut walk = frames(&[0u8; 12]);
        assert_eq!(walk.next(), None);
        assert!(walk.broken());
    }

    proptest! {
        #[test]
        fn any_bytes_give_frames_inside_the_block_and_end(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            crate::fuzzing::ring_block(&bytes);
        }

        #[test]
        fn any_packets_laid_out_as_the_kernel_does_come_back(
            packets in proptest::collection::vec(
                proptest::collection::vec(any::<u8>(), 0..300), 0..20),
        ) {
            let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
            let block = build(&refs, 16 * 1024);
            let mut walk = frames(&block);
            let got: Vec<&[u8]> = walk.by_ref().collect();
            prop_assert_eq!(got, refs);
            prop_assert!(!walk.broken());
        }
    }
}
