//! Every built-in default, in one place. `imtegrity.example.toml` shows the same values, and
//! a test checks the two agree.

use std::net::{Ipv4Addr, SocketAddr};

use crate::host_port::HostPort;

/// The port AIM and ICQ clients connect to for login and BOS.
pub(crate) const OSCAR_PORT: u16 = 5190;

/// `relay.listen`: every IPv4 address, the OSCAR port.
pub(crate) fn listen() -> Vec<SocketAddr> {
    vec![
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, OSCAR_PORT)),
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, HTTPS_PORT)),
    ]
}

/// The HTTPS port: the login API (clientLogin), and SSL logins of clients that use 443.
pub(crate) const HTTPS_PORT: u16 = 443;

/// `relay.max_frame`: the largest FLAP payload, whose length field is 16 bits.
pub(crate) const MAX_FRAME: usize = 65_535;

/// `relay.idle_timeout_secs`: ten minutes.
pub(crate) const IDLE_TIMEOUT_SECS: u64 = 600;

/// The lowest accepted `relay.idle_timeout_secs`. WinAIM sends a keepalive every 60 s; three
/// missed keepalives, not one late one, should end a session.
pub(crate) const MIN_IDLE_TIMEOUT_SECS: u64 = 180;

/// `relay.connect_timeout_secs`.
pub(crate) const CONNECT_TIMEOUT_SECS: u64 = 10;

/// `relay.cookie_ttl_secs`: how long a login cookie routes a client to its BOS host.
pub(crate) const COOKIE_TTL_SECS: u64 = 300;

/// `relay.max_cookie_routes`: a login burst of thousands of users, each with a handful of
/// service redirects, within one cookie lifetime; a few tens of MB at most.
pub(crate) const MAX_COOKIE_ROUTES: usize = 65_536;

/// `upstream.login`: the historical AOL authorizer, which revival DNS still answers.
pub(crate) fn upstream_login() -> HostPort {
    HostPort::from_static("login.oscar.aol.com", OSCAR_PORT)
}

/// `upstream.login_tls`: the historical AOL SSL authorizer (libpurple's default with
/// encryption on).
pub(crate) fn upstream_login_tls() -> HostPort {
    HostPort::from_static("slogin.oscar.aol.com", OSCAR_PORT)
}

/// `dns.listen`: every IPv4 address, the DNS port.
pub(crate) fn dns_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, 53))]
}

/// `dns.allow`: loopback and the private networks (RFC 1918, RFC 4193). Never the
/// internet: an open resolver is abused for amplification.
pub(crate) fn dns_allow() -> Vec<ipnet::IpNet> {
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
}

/// `dns.ttl`: short, so a maintenance move takes effect within a minute.
pub(crate) const DNS_TTL: u32 = 30;

/// `dns.rate_limit`: per client address; a person's machine asks a few names a second.
pub(crate) const DNS_RATE_LIMIT: u32 = 1000;

/// `dns.health_interval_secs`.
pub(crate) const DNS_HEALTH_INTERVAL_SECS: u64 = 5;

/// `tls.permitted`: the domains of the built-in AIM/ICQ names (`crate::dns::BUILTIN_NAMES`),
/// as narrow as they allow. Not all of `aol.com`: AOL Mail and AOL's web login live there
/// still, and a CA that may sign for them would let a stolen gateway key impersonate them.
/// ICQ's and Mirabilis's domains are wholly IM (and ICQ is gone), so they are taken whole.
pub(crate) fn tls_permitted() -> Vec<String> {
    [
        "oscar.aol.com",
        "messaging.aol.com",
        "api.screenname.aol.com",
        "kdc.uas.aol.com",
        "icq.com",
        "icq.net",
        "mirabilis.com",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// `tls.default_name`: the TLS login host of AIM clients (libpurple, qutIM, Apple's AIM
/// account), the likeliest name a client without SNI expects.
pub(crate) const TLS_DEFAULT_NAME: &str = "slogin.oscar.aol.com";

/// `tls.leaf_hours`: a week.
pub(crate) const TLS_LEAF_HOURS: u32 = 168;

/// The longest `tls.leaf_hours`: 397 days, the most browsers and Apple platforms accept.
pub(crate) const TLS_MAX_LEAF_HOURS: u32 = 397 * 24;

/// `tls.renew_before_hours`: a day.
pub(crate) const TLS_RENEW_BEFORE_HOURS: u32 = 24;

/// `tls.cache_size`: far more names than the AIM/ICQ services have.
pub(crate) const TLS_CACHE_SIZE: u64 = 1024;
