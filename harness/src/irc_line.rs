//! One IRC protocol line, parsed (RFC 1459 §2.3.1), plus the bits bitlbee puts in prefixes.

use std::fmt;

/// A line received from the IRC server, e.g.
/// `:ProbeBuddy!Probe_Buddy@aim PRIVMSG &bitlbee :tester: hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrcLine {
    /// The line as received, without the line ending.
    pub raw: String,
    /// The prefix without its leading `:`, e.g. `ProbeBuddy!Probe_Buddy@aim`.
    pub prefix: Option<String>,
    /// The command or three-digit numeric, e.g. `PRIVMSG` or `001`.
    pub command: String,
    /// The parameters; the trailing one (after ` :`) is the last element.
    pub params: Vec<String>,
}

impl IrcLine {
    /// Parses one line (without `\r\n`). Never fails: a line with no command gets an empty one.
    pub fn parse(raw: &str) -> Self {
        let mut rest = raw;
        let mut prefix = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (head, tail) = after.split_once(' ').unwrap_or((after, ""));
            prefix = Some(head.to_owned());
            rest = tail;
        }
        let mut params = Vec::new();
        let mut command = String::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':').filter(|_| !command.is_empty()) {
                params.push(trailing.to_owned());
                break;
            }
            let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if command.is_empty() {
                command = word.to_owned();
            } else {
                params.push(word.to_owned());
            }
            rest = tail;
        }
        Self {
            raw: raw.to_owned(),
            prefix,
            command,
            params,
        }
    }

    /// The sender's nick: the prefix up to `!`.
    pub fn nick(&self) -> Option<&str> {
        let prefix = self.prefix.as_deref()?;
        Some(prefix.split_once('!').map_or(prefix, |(nick, _)| nick))
    }

    /// The sender's user (ident), between `!` and `@`. bitlbee puts the contact's handle here,
    /// with spaces turned into `_` (`Probe Buddy` → `Probe_Buddy`).
    pub fn user(&self) -> Option<&str> {
        let (_, user_host) = self.prefix.as_deref()?.split_once('!')?;
        Some(
            user_host
                .split_once('@')
                .map_or(user_host, |(user, _)| user),
        )
    }

    /// The sender's host, after `@`. bitlbee puts the account tag here (`aim`), or
    /// `localhost` for itself and `root`.
    pub fn host(&self) -> Option<&str> {
        let (_, host) = self.prefix.as_deref()?.split_once('@')?;
        Some(host)
    }

    /// The last parameter (the text of a PRIVMSG or NOTICE).
    pub fn trailing(&self) -> Option<&str> {
        self.params.last().map(String::as_str)
    }

    /// The first parameter (the target of a PRIVMSG).
    pub fn target(&self) -> Option<&str> {
        self.params.first().map(String::as_str)
    }

    /// The text of a PRIVMSG from bitlbee's `root` user (command replies and status notices
    /// like `aim - Logging in: Logged in`).
    pub fn root_text(&self) -> Option<&str> {
        (self.command == "PRIVMSG" && self.nick() == Some("root"))
            .then(|| self.trailing())
            .flatten()
    }
}

impl fmt::Display for IrcLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_incoming_im_as_bitlbee_relays_it() {
        let line = IrcLine::parse(
            ":ProbeBuddy!Probe_Buddy@aim PRIVMSG &bitlbee :tester: hello from probe",
        );
        assert_eq!(line.nick(), Some("ProbeBuddy"));
        assert_eq!(line.user(), Some("Probe_Buddy"));
        assert_eq!(line.host(), Some("aim"));
        assert_eq!(line.command, "PRIVMSG");
        assert_eq!(line.target(), Some("&bitlbee"));
        assert_eq!(line.trailing(), Some("tester: hello from probe"));
        assert_eq!(line.root_text(), None);
    }

    #[test]
    fn parses_root_replies_numerics_and_pings() {
        let line =
            IrcLine::parse(":root!root@localhost PRIVMSG &bitlbee :aim - Logging in: Logged in");
        assert_eq!(line.root_text(), Some("aim - Logging in: Logged in"));

        let line = IrcLine::parse(
            ":localhost 001 tester :Welcome to the BitlBee-LIBPURPLE gateway, tester",
        );
        assert_eq!(line.command, "001");
        assert_eq!(
            line.params,
            ["tester", "Welcome to the BitlBee-LIBPURPLE gateway, tester"]
        );
        assert_eq!(line.nick(), Some("localhost"));
        assert_eq!(line.user(), None);

        let line = IrcLine::parse("PING :localhost");
        assert_eq!(line.prefix, None);
        assert_eq!(line.command, "PING");
        assert_eq!(line.params, ["localhost"]);

        let line = IrcLine::parse(":tester!tester@localhost JOIN :&bitlbee");
        assert_eq!(
            (line.command.as_str(), line.trailing()),
            ("JOIN", Some("&bitlbee"))
        );
    }

    #[test]
    fn odd_lines_do_not_panic() {
        for raw in ["", ":", ": ", ":x", "   ", "CMD   a  :", ":p  CMD"] {
            let _ = IrcLine::parse(raw);
        }
        assert_eq!(IrcLine::parse(":p  CMD").command, "CMD");
        assert_eq!(IrcLine::parse("CMD a :").params, ["a", ""]);
    }
}
