//! One capture socket with a memory-mapped `TPACKET_V3` receive ring (packet(7);
//! Documentation/networking/packet_mmap.rst): the kernel writes packets into blocks of a
//! ring this process maps, and hands a block over by setting its status; the reader walks
//! the block in place (`ring_block.rs`) and gives it back. No system call per packet, and
//! none per block while blocks are waiting.
//!
//! This is where the sensor's `unsafe` lives (with `kernel_stats.rs`): neither pnet, rustix
//! nor nix sets up a packet ring (`PACKET_VERSION`, `PACKET_RX_RING`, `PACKET_FANOUT`, a
//! socket filter, promiscuous membership, a `sockaddr_ll` bind), the ring is a shared
//! mapping whose status words the kernel and this process hand back and forth, and the
//! packets are read from it in place. Each `unsafe` block says why it holds.
#![allow(unsafe_code)]

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::ring_block::BLOCK_STATUS;
use crate::ring_size::{BLOCK_BYTES, BLOCK_TIMEOUT_MS, FRAME_BYTES, RingSize};

/// The fanout mode: a flow's packets to one socket by a hash of its addresses and ports
/// (symmetric since Linux 4.3, commit eb70db875671, so both directions of a connection land
/// on the same socket), IPv4 fragments reassembled first so they hash as their flow does.
const FANOUT_MODE: u32 = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;

/// What failed while setting a ring up: the step, for the error message, and the system's
/// answer.
#[derive(Debug)]
pub(crate) struct SetupFailed {
    /// The step ("mapping the ring", "binding to the interface", ...).
    pub(crate) step: &'static str,
    /// The operating system's answer.
    pub(crate) source: io::Error,
}

fn failed(step: &'static str) -> impl FnOnce(io::Error) -> SetupFailed {
    move |source| SetupFailed { step, source }
}

/// Sets the socket option `name` at `level` to `value`.
///
/// Private, and only ever called with the plain C types the kernel expects for each option
/// (`c_int`, `c_uint`, `tpacket_req3`, `packet_mreq`, `sock_fprog`), which have no padding
/// the kernel could misread and no invalid bit patterns.
fn set_option<T>(fd: BorrowedFd<'_>, level: i32, name: i32, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>()).map_err(io::Error::other)?;
    // SAFETY: `fd` is an open descriptor for the duration of the borrow; `value` points to
    // `len` readable bytes of an initialised `T` that outlive the call, and the kernel only
    // reads them.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(value).cast::<libc::c_void>(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A classic BPF program of one instruction, "return 0": every packet dropped before it
/// reaches the ring. A socket carries it from before its bind until its fanout group is
/// complete, so no packet arrives twice (once on a socket not yet in the group, once
/// through the group) and no flow is read by two threads.
const DROP_ALL: [libc::sock_filter; 1] = [libc::sock_filter {
    code: (libc::BPF_RET | libc::BPF_K) as u16,
    jt: 0,
    jf: 0,
    k: 0,
}];

/// One `AF_PACKET` socket bound to an interface, with its receive ring mapped.
#[derive(Debug)]
pub(crate) struct Ring {
    /// The start of the mapping: `size.bytes()` bytes, block after block.
    map: NonNull<u8>,
    size: RingSize,
    /// The block the kernel fills next and the reader reads next.
    next: u32,
    /// Declared after `map` is unmapped in `drop`: the socket outlives its mapping.
    fd: OwnedFd,
}

// SAFETY: the mapping belongs to this `Ring` alone (nothing else holds `map`), so moving it
// to another thread moves sole access to it, like a `Box`.
unsafe impl Send for Ring {}

impl Ring {
    /// Opens a socket on interface `ifindex` with a ring of `size`, promiscuous. It drops
    /// every packet until [`Ring::start`] (see [`DROP_ALL`]). Needs root or `CAP_NET_RAW`.
    pub(crate) fn open(ifindex: u32, size: RingSize) -> Result<Self, SetupFailed> {
        // Protocol 0: the socket receives nothing until it is bound to the interface below
        // (a socket made with ETH_P_ALL would see every interface's packets until then).
        let fd = rustix::net::socket_with(
            AddressFamily::PACKET,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| SetupFailed {
            step: "opening a packet socket",
            source: e.into(),
        })?;
        let program = libc::sock_fprog {
            len: 1,
            filter: DROP_ALL.as_ptr().cast_mut(),
        };
        // The kernel copies the program during the call; DROP_ALL is a constant.
        set_option(
            fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            &program,
        )
        .map_err(failed("attaching the start-up filter"))?;
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        set_option(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_VERSION, &version)
            .map_err(failed("asking for TPACKET_V3"))?;
        let request = libc::tpacket_req3 {
            tp_block_size: BLOCK_BYTES,
            tp_block_nr: size.blocks,
            tp_frame_size: FRAME_BYTES,
            tp_frame_nr: size.frames(),
            tp_retire_blk_tov: BLOCK_TIMEOUT_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(fd.as_fd(), libc::SOL_PACKET, libc::PACKET_RX_RING, &request)
            .map_err(failed("allocating the ring"))?;
        // SAFETY: a new shared mapping of the ring the kernel just allocated for this socket,
        // at an address the kernel picks (no existing memory is replaced); its length is the
        // ring's, as PACKET_RX_RING requires. It is unmapped once, in `drop`.
        let map = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                size.bytes(),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(|e| SetupFailed {
            step: "mapping the ring",
            source: e.into(),
        })?;
        let Some(map) = NonNull::new(map.cast::<u8>()) else {
            return Err(SetupFailed {
                step: "mapping the ring",
                source: io::Error::other("mmap returned a null mapping"),
            });
        };
        let ring = Self {
            map,
            size,
            next: 0,
            fd,
        };
        ring.bind(ifindex)
            .map_err(failed("binding to the interface"))?;
        let membership = libc::packet_mreq {
            mr_ifindex: i32::try_from(ifindex).map_err(|e| SetupFailed {
                step: "binding to the interface",
                source: io::Error::other(e),
            })?,
            mr_type: libc::PACKET_MR_PROMISC as u16,
            mr_alen: 0,
            mr_address: [0; 8],
        };
        // Promiscuous for as long as the socket is open (the kernel counts memberships and
        // takes this one back when the socket closes).
        set_option(
            ring.fd.as_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            &membership,
        )
        .map_err(failed("turning promiscuous mode on"))?;
        Ok(ring)
    }

    fn bind(&self, ifindex: u32) -> io::Result<()> {
        let mut addr = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
            sll_ifindex: i32::try_from(ifindex).map_err(io::Error::other)?,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        let len =
            libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).map_err(io::Error::other)?;
        // SAFETY: the descriptor is open (owned by `self`); `addr` is an initialised
        // `sockaddr_ll` on our stack, `len` its exact size, and the kernel only reads it.
        let rc = unsafe {
            libc::bind(
                self.fd.as_raw_fd(),
                std::ptr::from_mut(&mut addr).cast::<libc::sockaddr>(),
                len,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Joins fanout group `group`, or a new group with an id the kernel picks (`None`);
    /// returns the group's id, for the other sockets to join.
    pub(crate) fn join_fanout(&self, group: Option<u16>) -> Result<u16, SetupFailed> {
        let arg = match group {
            Some(id) => u32::from(id) | (FANOUT_MODE << 16),
            // A new group: the kernel picks an id no other group in this network namespace
            // has (so two sensors, or a sensor and another tool, never share one).
            None => (FANOUT_MODE | libc::PACKET_FANOUT_FLAG_UNIQUEID) << 16,
        };
        set_option(self.fd.as_fd(), libc::SOL_PACKET, libc::PACKET_FANOUT, &arg)
            .map_err(failed("joining the fanout group"))?;
        if let Some(id) = group {
            return Ok(id);
        }
        let mut value: u32 = 0;
        let mut len = libc::socklen_t::try_from(size_of::<u32>()).map_err(|e| SetupFailed {
            step: "reading the fanout group's id",
            source: io::Error::other(e),
        })?;
        // SAFETY: the descriptor is open; `value` is a writable `u32` on our stack (any bit
        // pattern is valid) and `len` says its size, so the kernel writes at most that much.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_FANOUT,
                std::ptr::from_mut(&mut value).cast::<libc::c_void>(),
                &raw mut len,
            )
        };
        if rc != 0 {
            return Err(SetupFailed {
                step: "reading the fanout group's id",
                source: io::Error::last_os_error(),
            });
        }
        // The low 16 bits are the id; the high ones the mode and flags.
        Ok((value & 0xffff) as u16)
    }

    /// Lets packets in: removes the start-up filter.
    pub(crate) fn start(&self) -> Result<(), SetupFailed> {
        let unused: libc::c_int = 0;
        set_option(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_DETACH_FILTER,
            &unused,
        )
        .map_err(failed("removing the start-up filter"))
    }

    /// The socket, for its kernel counters.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Waits at most `timeout` for the kernel to hand a block over (or for an error on the
    /// socket). Returns whether the socket reported an error.
    pub(crate) fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let timeout = Timespec::try_from(timeout).map_err(io::Error::other)?;
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN | PollFlags::ERR)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) => Ok(fds[0].revents().contains(PollFlags::ERR)),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn block_start(&self, index: u32) -> *mut u8 {
        // In bounds: index < blocks, and the mapping is blocks * BLOCK_BYTES long.
        self.map
            .as_ptr()
            .wrapping_add(index as usize * BLOCK_BYTES as usize)
    }

    /// The block the kernel handed over next, if it has: read it, then drop it to give it
    /// back. Blocks come in ring order, so only the next one is ever looked at.
    pub(crate) fn next_block(&mut self) -> Option<Block<'_>> {
        let start = self.block_start(self.next);
        let status = start.wrapping_add(BLOCK_STATUS).cast::<u32>();
        // SAFETY: `status` is inside the mapping (the block header is at the block's start),
        // 4-aligned (blocks are page-aligned and BLOCK_STATUS is 8), and valid for as long
        // as `self`. The kernel and this process hand the word back and forth; it is only
        // ever accessed atomically here. Acquire: the packets the kernel wrote before it set
        // TP_STATUS_USER are visible once we see that status.
        let owned = unsafe { AtomicU32::from_ptr(status) }.load(Ordering::Acquire);
        if owned & libc::TP_STATUS_USER == 0 {
            return None;
        }
        self.next = (self.next + 1) % self.size.blocks;
        Some(Block {
            start,
            ring: PhantomData,
        })
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: `map` is the mapping made in `open`, of exactly this length, unmapped only
        // here; no `Block` borrows it any more (a `Block` borrows the `Ring` mutably).
        let result = unsafe { rustix::mm::munmap(self.map.as_ptr().cast(), self.size.bytes()) };
        if let Err(error) = result {
            tracing::warn!(%error, "could not unmap a capture ring");
        }
    }
}

/// A block the kernel handed over: ours until dropped, which gives it back.
#[derive(Debug)]
pub(crate) struct Block<'a> {
    start: *mut u8,
    /// Borrows the ring mutably: one block at a time, and the mapping outlives the block.
    ring: PhantomData<&'a mut Ring>,
}

impl Block<'_> {
    /// The block's bytes: its header, then its frames (`ring_block::frames`).
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `start` is the start of a block inside the mapping, which outlives `self`
        // (the borrow of the ring), and a block is BLOCK_BYTES long. The kernel does not
        // write a block while its status is TP_STATUS_USER, and this process writes to it
        // only in `drop`, after every slice given out here has ended (they borrow `self`).
        unsafe { std::slice::from_raw_parts(self.start, BLOCK_BYTES as usize) }
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        let status = self.start.wrapping_add(BLOCK_STATUS).cast::<u32>();
        // SAFETY: as in `Ring::next_block`: inside the mapping, aligned, accessed atomically.
        // Release: our reads of the block are done before the kernel may write it again.
        unsafe { AtomicU32::from_ptr(status) }.store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}
