//! How big each capture thread's ring is: `sensor.socket_buffer` shared equally among the
//! threads, in blocks the kernel fills one after the other.

/// One block. A block holds whole packets only, and a GRO/TSO super-frame (veth and many NICs
/// hand 64 KiB segments to packet sockets) must fit in one or it is cut short; a power of two,
/// as the kernel allocates blocks in page orders.
pub(crate) const BLOCK_BYTES: u32 = 128 * 1024;
/// The fewest blocks a ring has: the kernel fills one while the thread reads another, and a
/// burst needs room behind them.
const MIN_BLOCKS: u32 = 8;
/// The most blocks a ring has (2 GiB), so the request always fits the kernel's 32-bit counts.
const MAX_BLOCKS: u32 = 16 * 1024;
/// `tp_frame_size`: `TPACKET_V3` packs packets of any size into a block, so this only has to
/// divide the block and hold a frame header; the kernel checks it all the same.
pub(crate) const FRAME_BYTES: u32 = 2048;
/// How long the kernel waits before handing over a block that is not full (`tp_retire_blk_tov`,
/// ms): at a low packet rate, how late the sensor sees a packet.
pub(crate) const BLOCK_TIMEOUT_MS: u32 = 10;

/// One ring's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RingSize {
    /// Blocks in the ring, each [`BLOCK_BYTES`].
    pub(crate) blocks: u32,
}

impl RingSize {
    /// Each of `threads` rings' share of `total_bytes`, at least [`MIN_BLOCKS`] blocks and at
    /// most [`MAX_BLOCKS`].
    pub(crate) fn share(total_bytes: usize, threads: usize) -> Self {
        let per_thread = total_bytes / threads.max(1);
        let blocks = u32::try_from(per_thread / BLOCK_BYTES as usize).unwrap_or(MAX_BLOCKS);
        Self {
            blocks: blocks.clamp(MIN_BLOCKS, MAX_BLOCKS),
        }
    }

    /// The ring's bytes (what is mapped).
    pub(crate) fn bytes(self) -> usize {
        self.blocks as usize * BLOCK_BYTES as usize
    }

    /// Frames in the ring, as the kernel counts them (`tp_frame_nr`).
    pub(crate) fn frames(self) -> u32 {
        self.blocks * (BLOCK_BYTES / FRAME_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_is_shared_among_the_threads() {
        let eight_mib = 8 * 1024 * 1024;
        assert_eq!(RingSize::share(eight_mib, 1).bytes(), eight_mib);
        assert_eq!(RingSize::share(eight_mib, 2).bytes(), eight_mib / 2);
        assert_eq!(RingSize::share(eight_mib, 2).blocks, 32);
        // A share that is not a whole number of blocks is rounded down.
        assert_eq!(RingSize::share(eight_mib + 1000, 1).blocks, 64);
    }

    #[test]
    fn a_ring_has_at_least_a_few_blocks_and_at_most_two_gib() {
        assert_eq!(RingSize::share(0, 4).blocks, MIN_BLOCKS);
        assert_eq!(RingSize::share(64 * 1024, 1).bytes(), 1024 * 1024);
        assert_eq!(
            RingSize::share(usize::MAX, 1).bytes(),
            2 * 1024 * 1024 * 1024
        );
        // Zero threads is read as one, not a division by zero.
        assert_eq!(RingSize::share(2 * 1024 * 1024, 0).blocks, 16);
    }

    #[test]
    fn the_frame_count_is_what_the_kernel_checks() {
        // packet_set_ring: frames per block times blocks must equal tp_frame_nr.
        let size = RingSize::share(4 * 1024 * 1024, 1);
        assert_eq!(size.frames(), size.blocks * (BLOCK_BYTES / FRAME_BYTES));
        assert_eq!(BLOCK_BYTES % FRAME_BYTES, 0);
        assert!(FRAME_BYTES as usize >= libc::TPACKET3_HDRLEN);
    }
}
