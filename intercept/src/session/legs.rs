//! The two legs' halves: reading frames (`legs/read.rs`; a peer that hung up is an end, not
//! an error) and writing them with each leg's own sequence numbers (`legs/write.rs`,
//! oscar.md §3.4 step 4).
//!
//! Both hold a buffer only while bytes pass through them: an idle relayed session keeps
//! its sockets, its state and nothing else, and a frame that needs no rewrite leaves as the
//! bytes it arrived in.

mod read;
mod write;

pub(super) use read::Reader;
pub(super) use write::Leg;

/// Whether `e` says the peer went away (a normal end of a session, not a failure).
fn is_disconnect(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::UnexpectedEof
    )
}

/// A connected pair of loopback sockets: the far end, and the near end's halves.
#[cfg(test)]
async fn socket_pair() -> (
    tokio::net::TcpStream,
    (
        crate::stream_halves::StreamRead,
        crate::stream_halves::StreamWrite,
    ),
) {
    #![allow(clippy::unwrap_used)]
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let far = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (near, _) = listener.accept().await.unwrap();
    (far, crate::stream_halves::split_plain(near))
}
