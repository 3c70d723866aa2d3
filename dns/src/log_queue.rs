//! The query log's writer: the answer path hands each line it may log over a bounded
//! channel, and a task of its own formats and writes it. Formatting a line and the
//! `write(2)` behind it cost more than answering the query; done in place they would set
//! the pace of the UDP readers, and a slow stderr (a pipe to a busy journal) would stall
//! them. A line that finds the channel full is not waited for: it is counted with the
//! lines `dns.query_log_rate` left out, and reported the same way.

use std::net::IpAddr;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Lines waiting to be written at most: well above a second's worth at the default
/// `dns.query_log_rate`, small enough that a stalled stderr cannot hold much memory.
const CAPACITY: usize = 4096;

/// Lines written per wake-up of the writer, at most.
const BATCH: usize = 64;

/// One redirected answer, as the query log writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) client: IpAddr,
    /// The asked name, lower case.
    pub(crate) name: Box<str>,
    pub(crate) qtype: u16,
    /// The client's view.
    pub(crate) view: Box<str>,
    /// The addresses answered.
    pub(crate) answer: Vec<IpAddr>,
}

/// The answer path's end of the channel.
#[derive(Debug)]
pub(crate) struct LogQueue {
    tx: mpsc::Sender<Line>,
}

impl LogQueue {
    /// A queue and the receiver [`write_lines`] drains.
    pub(crate) fn new() -> (Self, mpsc::Receiver<Line>) {
        let (tx, rx) = mpsc::channel(CAPACITY);
        (Self { tx }, rx)
    }

    /// Whether the log filter lets the query log's lines through at all (not under
    /// `IMTEGRITY_LOG=warn`): if not, no line is built. A cached check, as cheap as the
    /// disabled `info!` it stands for.
    pub(crate) fn enabled(&self) -> bool {
        tracing::enabled!(target: "imtegrity::dns::query", tracing::Level::INFO)
    }

    /// Hands `line` to the writer without waiting; `false` if the writer is behind (or
    /// gone), and the line is lost.
    pub(crate) fn push(&self, line: Line) -> bool {
        self.tx.try_send(line).is_ok()
    }
}

/// Writes every line received until `cancel` fires, then the ones still queued.
pub(crate) async fn write_lines(mut rx: mpsc::Receiver<Line>, cancel: CancellationToken) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => n,
            () = cancel.cancelled() => break,
        };
        if received == 0 {
            return;
        }
        batch.drain(..).for_each(|line| emit(&line));
    }
    // Stopping: what was accepted before is written, so a query answered is a query logged.
    rx.close();
    while let Ok(line) = rx.try_recv() {
        emit(&line);
    }
}

/// The line itself, field for field what operators and `tests/dns_query_log.rs` read.
fn emit(line: &Line) {
    tracing::info!(
        target: "imtegrity::dns::query",
        client = %line.client, name = &*line.name, qtype = line.qtype, view = %line.view,
        answer = ?line.answer,
        "redirected"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: u8) -> Line {
        Line {
            client: IpAddr::from([10, 0, 0, i]),
            name: "login.oscar.aol.com".into(),
            qtype: 1,
            view: "default".into(),
            answer: vec![IpAddr::from([10, 9, 9, 9])],
        }
    }

    /// A full queue refuses at once rather than waiting; what it took is still delivered.
    #[tokio::test]
    async fn a_full_queue_refuses_without_waiting() {
        let (queue, mut rx) = LogQueue::new();
        let accepted = (0..=CAPACITY)
            .filter(|i| queue.push(line(*i as u8)))
            .count();
        assert_eq!(accepted, CAPACITY);
        assert_eq!(rx.recv().await, Some(line(0)));
        drop(rx);
        assert!(!queue.push(line(1)), "a closed queue takes nothing");
    }

    /// On cancel the writer writes what is queued and returns.
    #[tokio::test]
    async fn the_writer_drains_on_cancel() {
        let (queue, rx) = LogQueue::new();
        let cancel = CancellationToken::new();
        for i in 0..10 {
            assert!(queue.push(line(i)));
        }
        cancel.cancel();
        write_lines(rx, cancel).await;
        assert!(!queue.push(line(0)), "the writer has closed the queue");
    }
}
