//! The one error type of the harness.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a harness step failed. Variants that come from a conversation with bitlbee carry the
/// IRC transcript so far, so a failing test shows what the real client said.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// One or more of the installed third-party peers is missing.
    #[error("real peers missing: {}", missing.join("; "))]
    MissingPeers {
        /// What is missing, each with the path that was looked at.
        missing: Vec<String>,
    },
    /// An I/O operation on a file, socket or process failed.
    #[error("{action}: {source}")]
    Io {
        /// What the harness was doing, e.g. "write bitlbee.conf".
        action: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A helper program could not be started.
    #[error("could not start {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// bitlbee never accepted connections on any of the ports tried.
    #[error("bitlbee did not come up after {attempts} attempts; last log:\n{log}")]
    BitlbeeNotReady {
        /// How many ports were tried.
        attempts: u32,
        /// bitlbee's stdout/stderr from the last attempt.
        log: String,
    },
    /// A helper program exited unsuccessfully.
    #[error("{} failed ({status}): {stderr}", program.display())]
    ToolFailed {
        /// The program.
        program: PathBuf,
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote on stderr.
        stderr: String,
    },
    /// A bounded wait ran out.
    #[error(
        "timed out after {timeout:?} waiting for {waiting_for}\n--- transcript ---\n{transcript}"
    )]
    Timeout {
        /// What was awaited.
        waiting_for: String,
        /// The bound that was exceeded.
        timeout: Duration,
        /// What the peer said meanwhile (IRC lines, or tool output).
        transcript: String,
    },
    /// The peer closed the connection while the harness was still waiting on it.
    #[error("{peer} closed the connection\n--- transcript ---\n{transcript}")]
    Closed {
        /// Which peer, e.g. "bitlbee IRC".
        peer: &'static str,
        /// What it said before.
        transcript: String,
    },
    /// The peer sent a line longer than the harness accepts.
    #[error("{peer} sent a line longer than {max} bytes without a newline")]
    LineTooLong {
        /// Which peer.
        peer: &'static str,
        /// The limit.
        max: usize,
    },
    /// bitlbee answered a command with something other than the expected reply.
    #[error("bitlbee answered `{command}` with `{reply}`\n--- transcript ---\n{transcript}")]
    UnexpectedReply {
        /// The command sent to `&bitlbee`.
        command: String,
        /// What root answered.
        reply: String,
        /// The whole IRC transcript.
        transcript: String,
    },
    /// The AIM client reported a login error.
    #[error("AIM login failed: {reason}\n--- transcript ---\n{transcript}")]
    LoginFailed {
        /// The text after `<tag> - Login error: `.
        reason: String,
        /// The whole IRC transcript.
        transcript: String,
    },
    /// bitlbee has no contact (and so no IRC nick) for a screen name, even after `add -tmp`.
    #[error(
        "bitlbee has no contact for screen name {screen_name:?}\n--- transcript ---\n{transcript}"
    )]
    NoSuchContact {
        /// The screen name asked for.
        screen_name: String,
        /// The whole IRC transcript.
        transcript: String,
    },
    /// An argument cannot be passed through IRC or bitlbee's command parser as is.
    #[error("invalid {what}: {value:?} ({why})")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A helper program printed something the harness cannot parse.
    #[error("cannot parse output of {program}: {line:?}")]
    Unparsable {
        /// The program.
        program: &'static str,
        /// The offending line.
        line: String,
    },
}

impl HarnessError {
    /// Wraps an I/O error with what the harness was doing.
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}
