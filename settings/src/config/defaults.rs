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

/// `relay.signon_timeout_secs`: a real client signs on in a few seconds, even over TLS
/// through a slow upstream; a connection that has not by then is holding a descriptor.
pub(crate) const SIGNON_TIMEOUT_SECS: u64 = 30;

/// `relay.max_connections_per_address`: an AIM client keeps 2–4 connections; 32 leaves room
/// for a NAT'd office or terminal server, and keeps one host far from the descriptor limit.
pub(crate) const MAX_CONNECTIONS_PER_ADDRESS: u32 = 32;

/// `relay.new_connections_per_second`: a sign-on takes two or three connections.
pub(crate) const NEW_CONNECTIONS_PER_SECOND: u32 = 10;

/// `relay.new_connections_burst`: every client behind one NAT reconnecting at once.
pub(crate) const NEW_CONNECTIONS_BURST: u32 = 64;

/// `relay.descriptor_reserve`: room for the archive's files, the admin socket, DNS sockets
/// and health checks when client connections have taken the rest.
pub(crate) const DESCRIPTOR_RESERVE: u64 = 256;

/// The lowest accepted `relay.descriptor_reserve`: the archive, listeners and DNS sockets
/// alone take a few dozen.
pub(crate) const MIN_DESCRIPTOR_RESERVE: u64 = 64;

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

/// `dns.rate_limit_bytes`: a thousand login answers are under 100 KB; a forged source gets
/// its victim no more than this a second.
pub(crate) const DNS_RATE_LIMIT_BYTES: u32 = 128 * 1024;

/// `dns.query_log_rate`: above what an office re-resolving its login names every TTL writes.
pub(crate) const DNS_QUERY_LOG_RATE: u32 = 50;

/// `dns.client_table_size`: a large site's clients, with room to spare.
pub(crate) const DNS_CLIENT_TABLE_SIZE: u32 = 65_536;

/// `dns.upstream_idle_secs`: TCP to an upstream is rare (a truncated answer), and a
/// single-threaded upstream serves nothing else while the connection is open.
pub(crate) const DNS_UPSTREAM_IDLE_SECS: u64 = 2;

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
