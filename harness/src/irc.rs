//! A small IRC client for talking to bitlbee: registers, answers PINGs, sends commands to
//! `&bitlbee`, and waits (always with a timeout) for lines matching a predicate.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::{HarnessError, IrcLine};

/// The nick the harness registers by default.
pub const DEFAULT_NICK: &str = "tester";
/// bitlbee's control channel, where `root` takes commands.
pub const CONTROL_CHANNEL: &str = "&bitlbee";
/// Longest line accepted from the server (IRC allows 512 bytes; bitlbee sometimes sends more).
const MAX_LINE: usize = 16 * 1024;
const PEER: &str = "bitlbee IRC";

/// A registered IRC connection to bitlbee, with everything received kept in order.
///
/// Every received line can satisfy at most one wait: a line matched by
/// [`wait_for`](Self::wait_for) is marked consumed, so two waits for the same kind of line
/// need two such lines. Lines that arrived before the wait started count too.
#[derive(Debug)]
pub struct IrcClient {
    stream: TcpStream,
    nick: String,
    pending: Vec<u8>,
    received: Vec<IrcLine>,
    consumed: Vec<bool>,
    transcript: Vec<String>,
}

impl IrcClient {
    /// Connects to `addr`, registers as `nick` and waits until bitlbee has joined it to
    /// `&bitlbee`.
    pub async fn connect(
        addr: SocketAddr,
        nick: &str,
        timeout: Duration,
    ) -> Result<Self, HarnessError> {
        check_word("IRC nick", nick)?;
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(source)) => {
                return Err(HarnessError::io(
                    format!("connect to IRC at {addr}"),
                    source,
                ));
            }
            Err(_) => {
                return Err(HarnessError::Timeout {
                    waiting_for: format!("a TCP connection to IRC at {addr}"),
                    timeout,
                    transcript: String::new(),
                });
            }
        };
        let mut client = Self {
            stream,
            nick: nick.to_owned(),
            pending: Vec::new(),
            received: Vec::new(),
            consumed: Vec::new(),
            transcript: Vec::new(),
        };
        client.send_raw(&format!("NICK {nick}")).await?;
        client.send_raw(&format!("USER {nick} 0 * :{nick}")).await?;
        let nick = client.nick.clone();
        client
            .wait_for("our JOIN to &bitlbee after registration", timeout, |line| {
                line.command == "JOIN"
                    && line.nick() == Some(&nick)
                    && line.target() == Some(CONTROL_CHANNEL)
            })
            .await?;
        Ok(client)
    }

    /// The nick this client registered.
    pub fn nick(&self) -> &str {
        &self.nick
    }

    /// Our end of the IRC connection: an address bitlbee can connect back to, for a DCC
    /// listener (bitlbee fetches a file an IRC user sends from the user's own listener).
    pub fn local_addr(&self) -> Result<SocketAddr, HarnessError> {
        self.stream
            .local_addr()
            .map_err(|source| HarnessError::io("local address of the IRC connection", source))
    }

    /// Sends one raw IRC line (without line ending), e.g. `PRIVMSG somenick :hi`.
    pub async fn send_raw(&mut self, line: &str) -> Result<(), HarnessError> {
        if line.contains(['\r', '\n']) {
            return Err(HarnessError::InvalidArgument {
                what: "IRC line",
                value: line.to_owned(),
                why: "contains CR or LF",
            });
        }
        tracing::debug!(line, "irc >>");
        self.transcript.push(format!(">> {line}"));
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.stream
            .write_all(&bytes)
            .await
            .map_err(|source| HarnessError::io("write to bitlbee IRC", source))
    }

    /// Sends a command to bitlbee's `root` (`PRIVMSG &bitlbee :<command>`), e.g. `plugins`.
    pub async fn command(&mut self, command: &str) -> Result<(), HarnessError> {
        self.send_raw(&format!("PRIVMSG {CONTROL_CHANNEL} :{command}"))
            .await
    }

    /// How many lines have been received so far; pass it to [`wait_for_since`](Self::wait_for_since)
    /// or [`lines_since`](Self::lines_since) to look only at what comes after.
    pub fn mark(&self) -> usize {
        self.received.len()
    }

    /// All lines received at or after `mark`, consumed or not.
    pub fn lines_since(&self, mark: usize) -> &[IrcLine] {
        self.received.get(mark..).unwrap_or_default()
    }

    /// Waits up to `timeout` for the first unconsumed line matching `matches`, at any position
    /// in the transcript. `what` names the line in the timeout error.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl FnMut(&IrcLine) -> bool,
    ) -> Result<IrcLine, HarnessError> {
        self.wait_for_since(0, what, timeout, matches).await
    }

    /// Like [`wait_for`](Self::wait_for), but ignores lines received before `mark`.
    pub async fn wait_for_since(
        &mut self,
        mark: usize,
        what: &str,
        timeout: Duration,
        mut matches: impl FnMut(&IrcLine) -> bool,
    ) -> Result<IrcLine, HarnessError> {
        let deadline = Instant::now() + timeout;
        let mut next = mark;
        loop {
            while let Some(line) = self.received.get(next) {
                if !self.consumed.get(next).copied().unwrap_or(true) && matches(line) {
                    let line = line.clone();
                    if let Some(consumed) = self.consumed.get_mut(next) {
                        *consumed = true;
                    }
                    return Ok(line);
                }
                next += 1;
            }
            if !self.read_more(deadline).await? {
                return Err(HarnessError::Timeout {
                    waiting_for: what.to_owned(),
                    timeout,
                    transcript: self.transcript(),
                });
            }
        }
    }

    /// Reads (and answers PINGs) for `duration`, keeping what arrives. For settling only; tests
    /// should prefer waiting for a specific line.
    pub async fn read_for(&mut self, duration: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + duration;
        while self.read_more(deadline).await? {}
        Ok(())
    }

    /// Everything sent (`>> `) and received (`<< `), one line each, for failure messages.
    pub fn transcript(&self) -> String {
        self.transcript.join("\n")
    }

    /// Reads at least one chunk. `Ok(false)` when `deadline` passed first.
    async fn read_more(&mut self, deadline: Instant) -> Result<bool, HarnessError> {
        let mut buf = [0_u8; 4096];
        let read = match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
            Err(_) => return Ok(false),
            Ok(Err(source)) => return Err(HarnessError::io("read from bitlbee IRC", source)),
            Ok(Ok(0)) => {
                return Err(HarnessError::Closed {
                    peer: PEER,
                    transcript: self.transcript(),
                });
            }
            Ok(Ok(read)) => read,
        };
        self.pending
            .extend_from_slice(buf.get(..read).unwrap_or_default());
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&raw);
            let line = IrcLine::parse(text.trim_end_matches(['\r', '\n']));
            tracing::debug!(line = %line.raw, "irc <<");
            self.transcript.push(format!("<< {}", line.raw));
            if line.command == "PING" {
                let token = line.trailing().unwrap_or_default().to_owned();
                self.send_raw(&format!("PONG :{token}")).await?;
            }
            self.received.push(line);
            self.consumed.push(false);
        }
        if self.pending.len() > MAX_LINE {
            return Err(HarnessError::LineTooLong {
                peer: PEER,
                max: MAX_LINE,
            });
        }
        Ok(true)
    }
}

/// Refuses values that would break an IRC line or a bitlbee command word.
pub(crate) fn check_word(what: &'static str, value: &str) -> Result<(), HarnessError> {
    let why = if value.is_empty() {
        "is empty"
    } else if value.contains([' ', '\r', '\n', '\0']) {
        "contains a space, CR, LF or NUL"
    } else {
        return Ok(());
    };
    Err(HarnessError::InvalidArgument {
        what,
        value: value.to_owned(),
        why,
    })
}
