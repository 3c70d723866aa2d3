//! How a libpurple account signs on: which OSCAR plugin, where, as whom, with what
//! encryption and login type, and how long each step may take. [`AimClient`] takes one.
//!
//! [`AimClient`]: crate::AimClient

use std::net::SocketAddr;
use std::time::Duration;

use crate::irc::DEFAULT_NICK;

/// Default bound on each step (a command reply, the login, a contact lookup).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Which libpurple OSCAR plugin the account uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurpleProtocol {
    /// `prpl-aim` (screen names).
    Aim,
    /// `prpl-icq` (UINs).
    Icq,
}

impl PurpleProtocol {
    /// The protocol name bitlbee's `account add` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aim => "aim",
            Self::Icq => "icq",
        }
    }
}

/// The account's `encryption` setting: whether libpurple wraps its OSCAR connections (and,
/// with [`LoginType::ClientLogin`], asks for a TLS BOS) in TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// `no_encryption`: plain FLAP throughout, to the plain login host
    /// (`login.oscar.aol.com`).
    No,
    /// `opportunistic_encryption`: TLS where the server offers it.
    Opportunistic,
    /// `require_encryption`: TLS or no login; an MD5 login goes to the SSL login host
    /// (`slogin.oscar.aol.com`), and BOS is validated as `bos.oscar.aol.com`.
    Require,
}

impl Encryption {
    /// The value bitlbee's `account <tag> set encryption` takes.
    pub fn setting(self) -> &'static str {
        match self {
            Self::No => "no_encryption",
            Self::Opportunistic => "opportunistic_encryption",
            Self::Require => "require_encryption",
        }
    }
}

/// The account's `login_type` setting: how libpurple proves the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginType {
    /// `md5_login`: BUCP over FLAP (17/06 → 17/07 → 17/02), oscar.md §2.1 (§2.3 with TLS).
    Md5,
    /// `client_login`: AOL's HTTPS API, `POST https://api.screenname.aol.com/auth/clientLogin`
    /// then `GET https://api.oscar.aol.com/aim/startOSCARSession`, oscar.md §2.5. Always over
    /// HTTPS for AIM, whatever [`Encryption`] says.
    ClientLogin,
}

impl LoginType {
    /// The value bitlbee's `account <tag> set login_type` takes.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Md5 => "md5_login",
            Self::ClientLogin => "client_login",
        }
    }
}

/// Everything needed to log the real client in. Build it with [`AimLogin::new`] (or
/// [`AimLogin::default_server`]) and adjust the public fields.
#[derive(Debug, Clone)]
pub struct AimLogin {
    /// The OSCAR login (BUCP) server, or the proxy in front of it. When set, it must be a
    /// loopback address.
    ///
    /// `None` leaves the account's `server` and `port` at libpurple's defaults: the client
    /// then looks up `login.oscar.aol.com` (AIM; ICQ: `login.icq.com`) through the system
    /// resolver and connects to port 5190, as an unconfigured client does. (bitlbee shows the
    /// `server` setting as `slogin.oscar.aol.com`, the TLS login host, but leaves it unset in
    /// libpurple, which picks the plain host when `encryption` is `no_encryption`.) Only
    /// meaningful where the resolver is under the test's control: see
    /// [`Bitlbee::start_in`](crate::Bitlbee::start_in).
    pub server: Option<SocketAddr>,
    /// The screen name (or ICQ UIN).
    pub screen_name: String,
    /// The password.
    pub password: String,
    /// AIM or ICQ. Default: AIM.
    pub protocol: PurpleProtocol,
    /// The IRC nick to register. libpurple keeps its user dir per nick, so concurrent clients
    /// on one bitlbee should use different nicks. Default: `tester`.
    pub irc_nick: String,
    /// Bound on each step. Default: [`DEFAULT_TIMEOUT`].
    pub timeout: Duration,
    /// Default: [`Encryption::No`], because a relay without a CA reads plain FLAP only. With
    /// TLS the client must trust the gateway CA (see
    /// [`NetnsPair::trust_ca_on_client_side`](crate::NetnsPair::trust_ca_on_client_side)).
    pub encryption: Encryption,
    /// Default: [`LoginType::Md5`] (BUCP), which any OSCAR server answers; AOL's web login
    /// needs an HTTPS API upstream.
    pub login_type: LoginType,
}

impl AimLogin {
    /// An AIM login for `screen_name` against `server`, as IRC nick `tester`.
    pub fn new(server: SocketAddr, screen_name: &str, password: &str) -> Self {
        Self {
            server: Some(server),
            ..Self::default_server(screen_name, password)
        }
    }

    /// An AIM login for `screen_name` that leaves the login server and port at libpurple's
    /// defaults (see [`server`](Self::server)), as IRC nick `tester`.
    pub fn default_server(screen_name: &str, password: &str) -> Self {
        Self {
            server: None,
            screen_name: screen_name.to_owned(),
            password: password.to_owned(),
            protocol: PurpleProtocol::Aim,
            irc_nick: DEFAULT_NICK.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            encryption: Encryption::No,
            login_type: LoginType::Md5,
        }
    }
}
