//! Which addresses an upstream's answer may send the gateway to. A login reply, a service
//! redirect, a migration or a startOSCARSession answer names a host the gateway then
//! connects to from its egress address; without a check, whoever answers (or forges) a
//! login could aim the gateway at the inside network. Allowed: public (global unicast)
//! addresses, the configured upstreams' own addresses, and `upstream.redirect_allow`.
//! Decisions only; `upstream.rs` resolves and connects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The configuration key that widens the scope, named in every refusal.
pub(crate) const ALLOW_KEY: &str = "upstream.redirect_allow";

/// Whether a redirect may lead to `ip`, given the operator's `allow` list and the
/// addresses the configured upstreams resolve to.
pub(crate) fn permits(ip: IpAddr, allow: &[IpNet], upstreams: &[IpAddr]) -> bool {
    let ip = canonical(ip);
    is_public(ip)
        || allow.iter().any(|net| net.contains(&ip))
        || upstreams.iter().any(|u| canonical(*u) == ip)
}

/// Whether `ip` is a public, globally routed unicast address: not loopback, private
/// (RFC 1918, RFC 4193), shared (RFC 6598), link-local, documentation, benchmarking,
/// multicast, reserved or unspecified, nor an IPv6 form that embeds an IPv4 address
/// (6to4, NAT64, Teredo), which would reach the embedded address by another route.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    const NOT_PUBLIC: &[(u8, u8, u8, u8, u8)] = &[
        (0, 0, 0, 0, 8),       // "this network", unspecified
        (10, 0, 0, 0, 8),      // RFC 1918
        (100, 64, 0, 0, 10),   // RFC 6598 shared address space (CGNAT)
        (127, 0, 0, 0, 8),     // loopback
        (169, 254, 0, 0, 16),  // link-local
        (172, 16, 0, 0, 12),   // RFC 1918
        (192, 0, 0, 0, 24),    // IETF protocol assignments
        (192, 0, 2, 0, 24),    // TEST-NET-1
        (192, 88, 99, 0, 24),  // 6to4 relay anycast (deprecated)
        (192, 168, 0, 0, 16),  // RFC 1918
        (198, 18, 0, 0, 15),   // benchmarking
        (198, 51, 100, 0, 24), // TEST-NET-2
        (203, 0, 113, 0, 24),  // TEST-NET-3
        (224, 0, 0, 0, 4),     // multicast
        (240, 0, 0, 0, 4),     // reserved, broadcast
    ];
    let bits = u32::from(ip);
    !NOT_PUBLIC.iter().any(|&(a, b, c, d, len)| {
        let net = u32::from(Ipv4Addr::new(a, b, c, d));
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        bits & mask == net
    })
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Global unicast is 2000::/3; everything outside it (loopback, unspecified, fc00::/7,
    // fe80::/10, ff00::/8, 64:ff9b::/96, ::/96 ...) is not public.
    let global_unicast = s[0] & 0xe000 == 0x2000;
    let ietf_protocol = s[0] == 0x2001 && s[1] < 0x0200; // 2001::/23, Teredo included
    let documentation = s[0] == 0x2001 && s[1] == 0x0db8; // 2001:db8::/32
    let six_to_four = s[0] == 0x2002; // 2002::/16 embeds an IPv4 address
    let documentation_2 = s[0] == 0x3fff && s[1] < 0x1000; // 3fff::/20 (RFC 9637)
    global_unicast && !ietf_protocol && !documentation && !six_to_four && !documentation_2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_global_unicast_is_public() {
        for public in [
            "64.12.30.168",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "2607:f8b0::1",
            "::ffff:64.12.30.168",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        for inside in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.7",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip(inside)), "{inside}");
        }
    }

    #[test]
    fn the_allow_list_and_the_upstreams_own_addresses_widen_it() {
        let allow: Vec<IpNet> = vec!["10.20.0.0/16".parse().unwrap()];
        let upstreams = [ip("127.0.0.1")];
        assert!(permits(ip("10.20.3.4"), &allow, &upstreams));
        assert!(!permits(ip("10.21.0.1"), &allow, &upstreams));
        assert!(permits(ip("127.0.0.1"), &allow, &upstreams));
        assert!(permits(ip("::ffff:127.0.0.1"), &allow, &upstreams));
        assert!(!permits(ip("127.0.0.7"), &allow, &upstreams));
        assert!(permits(ip("64.12.30.168"), &[], &[]));
        assert!(!permits(ip("192.168.0.1"), &[], &[]));
    }
}
