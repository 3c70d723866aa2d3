//! The shipper's socket, written without SIGPIPE.
//!
//! The library lives inside the Sametime server, which, being C, does not ignore SIGPIPE:
//! a write to a connection the gateway already closed (it refused our certificate, say)
//! would kill the whole server. std's `write_vectored` on a `TcpStream` is `writev`, which
//! raises it, and rustls writes through `write_vectored`; so every write here is one
//! `send(MSG_NOSIGNAL)`, and the error comes back as EPIPE instead.

use std::io::{self, Read, Write};
use std::net::TcpStream;

/// A `TcpStream` whose writes never raise SIGPIPE.
#[derive(Debug)]
pub(crate) struct NoSigPipe(pub(crate) TcpStream);

impl Read for NoSigPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for NoSigPipe {
    // `write_vectored` is left to its default, which calls this with the first buffer.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd as _;
        // SAFETY: the descriptor is this open socket's, and `buf` is valid for `buf.len()`
        // bytes for the duration of the call; send does not keep the pointer.
        let sent = unsafe {
            libc::send(
                self.0.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        usize::try_from(sent).map_err(|_| io::Error::last_os_error())
    }

    // Elsewhere (Windows has no SIGPIPE), std's write.
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn writing_to_a_closed_connection_is_an_error_not_a_signal() {
        // Rust's test harness ignores SIGPIPE itself, so this shows the error path only;
        // spi/tests/ingest_tls.rs shows the C host survives.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let mut stream = NoSigPipe(TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}")));
        drop(listener.accept().unwrap_or_else(|e| panic!("{e}")));
        let chunk = [0u8; 64 * 1024];
        let failed = (0..100).any(|_| stream.write_vectored(&[io::IoSlice::new(&chunk)]).is_err());
        assert!(failed, "writes to a closed connection kept succeeding");
    }
}
