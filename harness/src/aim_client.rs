//! The real libpurple AIM (or ICQ) client, driven through bitlbee's IRC interface.
//!
//! What bitlbee 3.6 + libpurple 2.14.1 say, verbatim (all from `root` on `&bitlbee`):
//! * `Account successfully added with tag aim`, then `server = `127.0.0.1'` for each `set`;
//! * `aim - Logging in: Connecting`, `... Username sent`, `... Password sent`, `... Received
//!   authorization`, `... Connection established, cookie sent`, `... Finalizing connection`,
//!   `aim - Logging in: Logged in`;
//! * on failure `aim - Login error: <reason>`, after which bitlbee retries by itself
//!   (`aim - Logging in: Reconnecting in 5 seconds..`);
//! * an IM from a screen name bitlbee has not seen creates a contact on the fly and arrives as
//!   `:ProbeBuddy!Probe_Buddy@aim PRIVMSG &bitlbee :tester: hello` (nick: the screen name
//!   without spaces or dots, `_` in front of a digit; user: the screen name with spaces as
//!   `_`; host: the account tag; text with HTML stripped, prefixed `<our nick>: `).
//!
//! To send to a screen name bitlbee has no contact for, [`AimClient::send_im`] first runs
//! `add -tmp aim "<screen name>"` (a contact inside bitlbee only, no feedbag change) and reads
//! the nick back from `blist all`. `add -tmp` answers nothing when the contact already exists,
//! hence the `blist`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::aim_login::AimLogin;
use crate::irc::check_word;
use crate::{Bitlbee, HarnessError, IrcClient, IrcLine};

/// An instant message as bitlbee relayed it to IRC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedIm {
    /// The IRC nick bitlbee gave the sender.
    pub nick: String,
    /// The IRC user part, i.e. the sender's screen name with spaces as `_`.
    pub handle: String,
    /// The message text, HTML stripped by bitlbee, without the `<our nick>: ` prefix.
    pub text: String,
    /// The IRC line itself.
    pub line: IrcLine,
}

/// One logged-in (or logging-in) libpurple OSCAR account, on its own IRC connection.
#[derive(Debug)]
pub struct AimClient {
    irc: IrcClient,
    tag: String,
    timeout: Duration,
    /// Normalised screen name → IRC nick, learnt from `blist` and from incoming IMs.
    nicks: HashMap<String, String>,
}

impl AimClient {
    /// Logs `screen_name` in against `server` as IRC nick `tester`, and waits for
    /// `aim - Logging in: Logged in`.
    pub async fn connect(
        bitlbee: &Bitlbee,
        server: SocketAddr,
        screen_name: &str,
        password: &str,
    ) -> Result<Self, HarnessError> {
        Self::connect_with(bitlbee, &AimLogin::new(server, screen_name, password)).await
    }

    /// Logs in as `login` says and waits until the client reports it is logged in.
    pub async fn connect_with(bitlbee: &Bitlbee, login: &AimLogin) -> Result<Self, HarnessError> {
        let mut client = Self::start(bitlbee, login).await?;
        client.wait_logged_in(login.timeout).await?;
        Ok(client)
    }

    /// Opens an IRC connection, configures the account and turns it on, without waiting for
    /// the outcome of the login (see [`wait_logged_in`](Self::wait_logged_in)).
    pub async fn start(bitlbee: &Bitlbee, login: &AimLogin) -> Result<Self, HarnessError> {
        let irc = IrcClient::connect(bitlbee.addr(), &login.irc_nick, login.timeout).await?;
        Self::start_on(irc, login).await
    }

    /// Like [`start`](Self::start), on an IRC connection the caller already has.
    pub async fn start_on(irc: IrcClient, login: &AimLogin) -> Result<Self, HarnessError> {
        if let Some(server) = login.server.filter(|server| !server.ip().is_loopback()) {
            return Err(HarnessError::InvalidArgument {
                what: "OSCAR server",
                value: server.to_string(),
                why: "the harness only talks to loopback addresses",
            });
        }
        check_quotable("screen name", &login.screen_name)?;
        check_quotable("password", &login.password)?;
        let mut client = Self {
            irc,
            tag: String::new(),
            timeout: login.timeout,
            nicks: HashMap::new(),
        };
        let add = format!(
            "account add {} \"{}\" \"{}\"",
            login.protocol.name(),
            login.screen_name,
            login.password
        );
        let reply = client.root_reply(&add).await?;
        client.tag = match reply.strip_prefix("Account successfully added with tag ") {
            Some(tag) if check_word("account tag", tag).is_ok() => tag.to_owned(),
            _ => return Err(client.unexpected(&add, &reply)),
        };
        let server = login.server.map(|server| {
            [
                ("server", server.ip().to_string()),
                ("port", server.port().to_string()),
            ]
        });
        // Both always set: libpurple's own defaults are opportunistic TLS and client_login.
        let settings = server.into_iter().flatten().chain([
            ("encryption", login.encryption.setting().to_owned()),
            ("login_type", login.login_type.setting().to_owned()),
        ]);
        for (key, value) in settings {
            let command = format!("account {} set {key} {value}", client.tag);
            let reply = client.root_reply(&command).await?;
            if reply != format!("{key} = `{value}'") {
                return Err(client.unexpected(&command, &reply));
            }
        }
        let on = format!("account {} on", client.tag);
        client.irc.command(&on).await?;
        Ok(client)
    }

    /// Waits for `<tag> - Logging in: Logged in`; fails fast on `<tag> - Login error: ...`.
    pub async fn wait_logged_in(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let logged_in = format!("{} - Logging in: Logged in", self.tag);
        let error = format!("{} - Login error: ", self.tag);
        let line = self
            .irc
            .wait_for(&format!("`{logged_in}`"), timeout, |line| {
                line.root_text()
                    .is_some_and(|text| text == logged_in || text.starts_with(&error))
            })
            .await?;
        match line.root_text().and_then(|text| text.strip_prefix(&error)) {
            Some(reason) => Err(HarnessError::LoginFailed {
                reason: reason.to_owned(),
                transcript: self.transcript(),
            }),
            None => Ok(()),
        }
    }

    /// Sends an IM to `to`, creating a temporary bitlbee contact for it first if needed.
    ///
    /// libpurple sends it as ICBM 04/06 with the text wrapped in `<HTML><BODY>…</BODY></HTML>`.
    /// bitlbee gives no delivery feedback (an offline contact only yields a `301 … :Offline`
    /// away reply, and the IM is still sent), so check the server side.
    pub async fn send_im(&mut self, to: &str, text: &str) -> Result<(), HarnessError> {
        if text.contains(['\r', '\n', '\0']) {
            return Err(HarnessError::InvalidArgument {
                what: "IM text",
                value: text.to_owned(),
                why: "IRC carries one line: no CR, LF or NUL",
            });
        }
        let nick = self.nick_for(to).await?;
        self.irc.send_raw(&format!("PRIVMSG {nick} :{text}")).await
    }

    /// Offers `to` the file `name` holding `contents`, as an IRC user does: a CTCP
    /// `DCC SEND <name> <ip> <port> <size>` to the contact's nick, from a listener on our end
    /// of the IRC connection. Returns once bitlbee has fetched and acknowledged every byte.
    ///
    /// bitlbee 3.6 (`dcc.c`) connects to the listener, reads the bytes and answers each
    /// chunk with the running total (4 bytes, big-endian). Its libpurple module
    /// (`protocols/purple/ft.c`) caches the whole file under `/tmp` first (root says `<tag> -
    /// Due to libpurple limitations, the file has to be cached locally ...`) and then calls
    /// `serv_send_file`: libpurple's OSCAR plugin listens on a port of its own (5190–5290)
    /// and sends `to` a rendezvous proposal, ICBM 0x0004/0x0006 on channel 2 with the
    /// send-file capability, its address and port, the file name and the size.
    ///
    /// libpurple silently offers nothing to a screen name whose user info it has seen
    /// without the send-file capability (`oscar_can_receive_file`), e.g. the sender of an IM
    /// through a server that lists no capabilities: offer to contacts it knows nothing of.
    pub async fn send_file(
        &mut self,
        to: &str,
        name: &str,
        contents: &[u8],
    ) -> Result<(), HarnessError> {
        check_word("DCC file name", name)?;
        if contents.is_empty() {
            return Err(HarnessError::InvalidArgument {
                what: "DCC file contents",
                value: String::new(),
                why: "bitlbee needs at least one byte to acknowledge",
            });
        }
        let std::net::IpAddr::V4(ip) = self.irc.local_addr()?.ip() else {
            return Err(HarnessError::InvalidArgument {
                what: "IRC connection",
                value: self.irc.local_addr()?.to_string(),
                why: "a DCC SEND line carries an IPv4 address",
            });
        };
        let nick = self.nick_for(to).await?;
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .map_err(|source| HarnessError::io("bind the DCC listener", source))?;
        let port = listener
            .local_addr()
            .map_err(|source| HarnessError::io("DCC listener address", source))?
            .port();
        let size = contents.len();
        self.irc
            .send_raw(&format!(
                "PRIVMSG {nick} :\u{1}DCC SEND {name} {} {port} {size}\u{1}",
                u32::from(ip)
            ))
            .await?;
        let waiting_for = format!("bitlbee to fetch {name} ({size} bytes) over DCC");
        let timeout = self.timeout;
        let transfer = async {
            let (mut stream, _) = listener.accept().await?;
            stream.write_all(contents).await?;
            let mut acked = 0_usize;
            while acked < size {
                let mut ack = [0_u8; 4];
                stream.read_exact(&mut ack).await?;
                acked = usize::try_from(u32::from_be_bytes(ack)).unwrap_or(usize::MAX);
            }
            Ok::<_, std::io::Error>(())
        };
        match tokio::time::timeout(timeout, transfer).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(HarnessError::io(waiting_for, source)),
            Err(_) => Err(HarnessError::Timeout {
                waiting_for,
                timeout,
                transcript: self.transcript(),
            }),
        }
    }

    /// Waits up to `timeout` for an IM from screen name `from` whose text contains `text`.
    ///
    /// Screen names compare as OSCAR does loosely: case, spaces and punctuation are ignored,
    /// since bitlbee's nick drops them.
    pub async fn wait_im(
        &mut self,
        from: &str,
        text: &str,
        timeout: Duration,
    ) -> Result<ReceivedIm, HarnessError> {
        let wanted = nick_key(from);
        let known_nick = self.nicks.get(&wanted).cloned();
        let (tag, own_nick) = (self.tag.clone(), self.irc.nick().to_owned());
        let line = self
            .irc
            .wait_for(
                &format!("an IM from {from:?} containing {text:?}"),
                timeout,
                |line| {
                    im_from(line, &tag, &own_nick).is_some_and(|im| {
                        let sender_matches = known_nick.as_deref() == Some(im.nick.as_str())
                            || nick_key(&im.nick) == wanted
                            || nick_key(&im.handle) == wanted;
                        sender_matches && im.text.contains(text)
                    })
                },
            )
            .await?;
        let im = im_from(&line, &tag, &own_nick)
            .ok_or_else(|| self.unexpected("(wait_im)", &line.raw))?;
        self.nicks.insert(wanted, im.nick.clone());
        Ok(im)
    }

    /// Signs the account off (`account <tag> off`; libpurple closes its BOS connection) and
    /// waits for `<tag> - Signing off..`.
    pub async fn sign_off(&mut self) -> Result<(), HarnessError> {
        let signing_off = format!("{} - Signing off..", self.tag);
        let mark = self.irc.mark();
        self.irc
            .command(&format!("account {} off", self.tag))
            .await?;
        self.irc
            .wait_for_since(mark, &format!("`{signing_off}`"), self.timeout, |line| {
                line.root_text() == Some(signing_off.as_str())
            })
            .await
            .map(drop)
    }

    /// The bitlbee account tag (`aim` for the first AIM account on a connection).
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The IRC connection, for raw commands and waits.
    pub fn irc(&mut self) -> &mut IrcClient {
        &mut self.irc
    }

    /// The whole IRC conversation so far, for assertion messages.
    pub fn transcript(&self) -> String {
        self.irc.transcript()
    }

    /// The IRC nick of `screen_name`, creating a temporary contact when bitlbee has none.
    async fn nick_for(&mut self, screen_name: &str) -> Result<String, HarnessError> {
        let key = nick_key(screen_name);
        if let Some(nick) = self.nicks.get(&key) {
            return Ok(nick.clone());
        }
        check_quotable("screen name", screen_name)?;
        let mark = self.irc.mark();
        self.irc
            .command(&format!("add -tmp {} \"{screen_name}\"", self.tag))
            .await?;
        self.irc.command("blist all").await?;
        self.irc
            .wait_for_since(mark, "the `blist all` summary", self.timeout, |line| {
                line.root_text().is_some_and(is_blist_summary)
            })
            .await?;
        let rows: Vec<(String, String)> = self
            .irc
            .lines_since(mark)
            .iter()
            .filter_map(IrcLine::root_text)
            .filter_map(|text| blist_row(text, &self.tag))
            .map(|(nick, handle)| (nick.to_owned(), handle.to_owned()))
            .collect();
        let nick = rows
            .iter()
            .find(|(_, handle)| handle == screen_name)
            .or_else(|| rows.iter().find(|(_, handle)| nick_key(handle) == key))
            .map(|(nick, _)| nick.clone())
            .ok_or_else(|| HarnessError::NoSuchContact {
                screen_name: screen_name.to_owned(),
                transcript: self.transcript(),
            })?;
        self.nicks.insert(key, nick.clone());
        Ok(nick)
    }

    /// Sends `command` to root and returns root's next reply.
    async fn root_reply(&mut self, command: &str) -> Result<String, HarnessError> {
        let mark = self.irc.mark();
        self.irc.command(command).await?;
        let line = self
            .irc
            .wait_for_since(
                mark,
                &format!("root's reply to `{command}`"),
                self.timeout,
                |line| line.root_text().is_some(),
            )
            .await?;
        Ok(line.root_text().unwrap_or_default().to_owned())
    }

    fn unexpected(&self, command: &str, reply: &str) -> HarnessError {
        HarnessError::UnexpectedReply {
            command: command.to_owned(),
            reply: reply.to_owned(),
            transcript: self.transcript(),
        }
    }
}

/// The IM in `line`, if it is a PRIVMSG from a contact of account `tag` to us or to a channel.
fn im_from(line: &IrcLine, tag: &str, own_nick: &str) -> Option<ReceivedIm> {
    if line.command != "PRIVMSG" || line.host() != Some(tag) || line.nick() == Some("root") {
        return None;
    }
    let target = line.target()?;
    let text = line.trailing()?;
    let text = if target.starts_with(['&', '#']) {
        // In a channel bitlbee addresses the message to us: "tester: hello".
        text.strip_prefix(own_nick)
            .and_then(|rest| rest.strip_prefix(": "))
            .unwrap_or(text)
    } else if target == own_nick {
        text
    } else {
        return None;
    };
    Some(ReceivedIm {
        nick: line.nick()?.to_owned(),
        handle: line.user()?.to_owned(),
        text: text.to_owned(),
        line: line.clone(),
    })
}

/// `4 buddies (0 available, 0 away, 4 offline)`, the last line of `blist`.
fn is_blist_summary(text: &str) -> bool {
    let mut words = text.split(' ');
    words.next().is_some_and(|n| n.parse::<u32>().is_ok())
        && words.next().is_some_and(|w| w.starts_with("budd"))
        && words.next().is_some_and(|w| w.starts_with('('))
}

/// `(nick, handle)` from a `blist` row such as
/// `ProbeBuddy                Probe Buddy aim                           Offline`.
fn blist_row<'a>(text: &'a str, tag: &str) -> Option<(&'a str, &'a str)> {
    let (nick, rest) = text.split_once(' ')?;
    let rest = rest.trim_start();
    let (handle, after) = rest.split_once(&format!(" {tag}"))?;
    (after.is_empty() || after.starts_with(' ')).then_some((nick, handle))
}

/// Lower-case ASCII letters and digits only: how the harness compares screen names with the
/// nicks and users bitlbee derives from them.
fn nick_key(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Refuses values that cannot sit inside `"..."` in a bitlbee command.
fn check_quotable(what: &'static str, value: &str) -> Result<(), HarnessError> {
    let why = if value.is_empty() {
        "is empty"
    } else if value.contains(['"', '\'', '\\', '\r', '\n', '\0']) {
        "contains a quote, backslash, CR, LF or NUL"
    } else {
        return Ok(());
    };
    Err(HarnessError::InvalidArgument {
        what,
        value: value.to_owned(),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_ims_in_the_control_channel_and_in_queries() {
        let line = IrcLine::parse(
            ":ProbeBuddy!Probe_Buddy@aim PRIVMSG &bitlbee :tester: hello from probe",
        );
        let im = im_from(&line, "aim", "tester").unwrap();
        assert_eq!(
            (im.nick.as_str(), im.handle.as_str()),
            ("ProbeBuddy", "Probe_Buddy")
        );
        assert_eq!(im.text, "hello from probe");

        let line = IrcLine::parse(":_123456!123456@aim PRIVMSG tester :hi");
        assert_eq!(im_from(&line, "aim", "tester").unwrap().text, "hi");

        for not_an_im in [
            ":root!root@localhost PRIVMSG &bitlbee :aim - Logging in: Logged in",
            ":x!x@icq PRIVMSG tester :other account",
            ":x!x@aim PRIVMSG someoneelse :not for us",
            ":x!x@aim NOTICE tester :notice",
        ] {
            assert_eq!(
                im_from(&IrcLine::parse(not_an_im), "aim", "tester"),
                None,
                "{not_an_im}"
            );
        }
    }

    #[test]
    fn normalizes_like_bitlbee_nicks_and_users() {
        assert_eq!(nick_key("Probe Buddy"), nick_key("ProbeBuddy"));
        assert_eq!(nick_key("Probe Buddy"), nick_key("Probe_Buddy"));
        assert_eq!(nick_key("third.one"), nick_key("thirdone"));
        assert_eq!(nick_key("123456"), nick_key("_123456"));
    }

    #[test]
    fn parses_blist_output() {
        let tag = "aim";
        assert_eq!(
            blist_row(
                "ProbeBuddy                Probe Buddy aim                           Offline",
                tag
            ),
            Some(("ProbeBuddy", "Probe Buddy"))
        );
        assert_eq!(
            blist_row(
                "_123456                   123456 aim                                Offline",
                tag
            ),
            Some(("_123456", "123456"))
        );
        assert_eq!(
            blist_row(
                "Nick                      Handle/Account                            Status",
                tag
            ),
            None
        );
        assert_eq!(
            blist_row("x                         y aim2   Online", tag),
            None
        );
        assert!(is_blist_summary(
            "4 buddies (0 available, 0 away, 4 offline)"
        ));
        assert!(is_blist_summary(
            "0 buddies (0 available, 0 away, 0 offline)"
        ));
        assert!(!is_blist_summary(
            "Temporarily assigned nickname `NewOne' to contact `New One'"
        ));
    }

    #[test]
    fn refuses_arguments_that_break_commands() {
        assert!(check_quotable("screen name", "Probe Buddy").is_ok());
        assert!(check_quotable("screen name", "").is_err());
        assert!(check_quotable("password", "a\"b").is_err());
        assert!(check_quotable("password", "a\nb").is_err());
    }
}
