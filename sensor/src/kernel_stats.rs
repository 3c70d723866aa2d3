//! The kernel's own count of packets it handed to, and dropped before, one capture socket
//! (`getsockopt(SOL_PACKET, PACKET_STATISTICS)`, packet(7)). On a `TPACKET_V3` ring the
//! kernel answers with `tpacket_stats_v3`: the two counts and how often the ring was full
//! (every block still being read), which is when it drops.
//!
//! `unsafe`, like `ring.rs`: neither pnet, rustix nor nix exposes `PACKET_STATISTICS`, and
//! `getsockopt` with a caller-provided buffer is a raw libc call. It is one call with a
//! stack buffer of the exact type the kernel writes.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Counts since the previous read (the kernel resets them on read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KernelCounts {
    /// Packets the socket received (including those dropped).
    pub(crate) packets: u64,
    /// Packets dropped because the ring was full.
    pub(crate) drops: u64,
    /// Times the ring filled up (`tp_freeze_q_cnt`).
    pub(crate) ring_full: u64,
}

/// Reads and resets the kernel's counters for the `AF_PACKET` socket `fd`, which has a
/// `TPACKET_V3` ring.
pub(crate) fn read(fd: BorrowedFd<'_>) -> io::Result<KernelCounts> {
    let mut stats = libc::tpacket_stats_v3 {
        tp_packets: 0,
        tp_drops: 0,
        tp_freeze_q_cnt: 0,
    };
    let mut len =
        libc::socklen_t::try_from(size_of::<libc::tpacket_stats_v3>()).map_err(io::Error::other)?;
    // SAFETY: `fd` is a valid open descriptor for the duration of the borrow; `stats` is a
    // properly aligned, writable `tpacket_stats_v3` (three integers, any bit pattern valid)
    // on our stack and `len` says exactly its size, so the kernel writes at most that many
    // bytes into it; both outlive the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            std::ptr::from_mut(&mut stats).cast::<libc::c_void>(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(KernelCounts {
        packets: u64::from(stats.tp_packets),
        drops: u64::from(stats.tp_drops),
        ring_full: u64::from(stats.tp_freeze_q_cnt),
    })
}
