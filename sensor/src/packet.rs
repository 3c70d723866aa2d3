//! One captured Ethernet frame to a typed TCP segment, or nothing. pnet's packet views read
//! the header fields; every length the packet claims is checked against what was captured
//! before anything is sliced, so a hostile or truncated frame is skipped, never a panic.

use std::net::{IpAddr, SocketAddr};

use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::tcp::{TcpFlags, TcpPacket};
use pnet_packet::vlan::VlanPacket;

/// The TCP flags the flow table acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// SYN: a connection opens (with ACK: the server's answer).
    pub syn: bool,
    /// ACK.
    pub ack: bool,
    /// FIN: one side is done sending.
    pub fin: bool,
    /// RST: the connection is gone.
    pub rst: bool,
}

/// A TCP segment as captured: addresses, sequence number, flags and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte (of the SYN itself for a SYN).
    pub seq: u32,
    /// Flags.
    pub flags: Flags,
    /// The payload, exactly as long as the IP header says (Ethernet padding dropped).
    pub payload: &'a [u8],
}

/// Why a frame gave no segment (counted, never an error: most traffic on a mirror port is
/// not TCP over IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Not IPv4 or IPv6 (ARP, LLDP, ...).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, an IPv6 extension header chain).
    NotTcp,
    /// An IP fragment: the sensor reassembles none (the capture hands IPv4 datagrams over
    /// reassembled by the kernel, so this is IPv6, or a datagram the kernel gave up on).
    Fragment,
    /// A length field that does not fit what was captured.
    Malformed,
}

const MAX_VLAN_TAGS: usize = 2;
/// IPv4 "more fragments" flag (in pnet's 3-bit flags field).
const IPV4_MORE_FRAGMENTS: u8 = 0b001;

/// Parses an Ethernet II frame (with up to two 802.1Q / 802.1ad tags, as a mirror port of a
/// trunk shows them) down to its TCP segment.
pub fn parse_ethernet(frame: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let eth = EthernetPacket::new(frame).ok_or(Skip::Malformed)?;
    let mut ethertype = eth.get_ethertype();
    let mut rest = frame
        .get(EthernetPacket::minimum_packet_size()..)
        .ok_or(Skip::Malformed)?;
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != EtherTypes::Vlan && ethertype != EtherTypes::QinQ {
            break;
        }
        let vlan = VlanPacket::new(rest).ok_or(Skip::Malformed)?;
        ethertype = vlan.get_ethertype();
        rest = rest
            .get(VlanPacket::minimum_packet_size()..)
            .ok_or(Skip::Malformed)?;
    }
    parse_ip(ethertype, rest)
}

fn parse_ip(ethertype: EtherType, packet: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    match ethertype {
        EtherTypes::Ipv4 => parse_ipv4(packet),
        EtherTypes::Ipv6 => parse_ipv6(packet),
        _ => Err(Skip::NotIp),
    }
}

/// An IPv4 packet (no link header) down to its TCP segment.
pub fn parse_ipv4(packet: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let ip = Ipv4Packet::new(packet).ok_or(Skip::Malformed)?;
    if ip.get_version() != 4 {
        return Err(Skip::Malformed);
    }
    let header = usize::from(ip.get_header_length()) * 4;
    let total = usize::from(ip.get_total_length());
    if header < Ipv4Packet::minimum_packet_size() || total < header || total > packet.len() {
        return Err(Skip::Malformed);
    }
    if ip.get_flags() & IPV4_MORE_FRAGMENTS != 0 || ip.get_fragment_offset() != 0 {
        return Err(Skip::Fragment);
    }
    if ip.get_next_level_protocol() != IpNextHeaderProtocols::Tcp {
        return Err(Skip::NotTcp);
    }
    let tcp = packet.get(header..total).ok_or(Skip::Malformed)?;
    parse_tcp(
        IpAddr::V4(ip.get_source()),
        IpAddr::V4(ip.get_destination()),
        tcp,
    )
}

/// An IPv6 packet down to its TCP segment (TCP directly after the fixed header only).
pub fn parse_ipv6(packet: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let ip = Ipv6Packet::new(packet).ok_or(Skip::Malformed)?;
    if ip.get_version() != 6 {
        return Err(Skip::Malformed);
    }
    let header = Ipv6Packet::minimum_packet_size();
    let end = header
        .checked_add(usize::from(ip.get_payload_length()))
        .ok_or(Skip::Malformed)?;
    if ip.get_next_header() != IpNextHeaderProtocols::Tcp {
        return Err(Skip::NotTcp);
    }
    let tcp = packet.get(header..end).ok_or(Skip::Malformed)?;
    parse_tcp(
        IpAddr::V6(ip.get_source()),
        IpAddr::V6(ip.get_destination()),
        tcp,
    )
}

fn parse_tcp(src: IpAddr, dst: IpAddr, segment: &[u8]) -> Result<TcpSegment<'_>, Skip> {
    let tcp = TcpPacket::new(segment).ok_or(Skip::Malformed)?;
    let offset = usize::from(tcp.get_data_offset()) * 4;
    if offset < TcpPacket::minimum_packet_size() {
        return Err(Skip::Malformed);
    }
    let payload = segment.get(offset..).ok_or(Skip::Malformed)?;
    let bits = tcp.get_flags();
    Ok(TcpSegment {
        src: SocketAddr::new(src, tcp.get_source()),
        dst: SocketAddr::new(dst, tcp.get_destination()),
        seq: tcp.get_sequence(),
        flags: Flags {
            syn: bits & TcpFlags::SYN != 0,
            ack: bits & TcpFlags::ACK != 0,
            fin: bits & TcpFlags::FIN != 0,
            rst: bits & TcpFlags::RST != 0,
        },
        payload,
    })
}

/// Builds Ethernet/IPv4/TCP frames, for tests, benchmarks and fuzz seeds.
pub mod build {
    use std::net::SocketAddrV4;

    /// An Ethernet II + IPv4 + TCP frame (no options, checksums left zero: the sensor does
    /// not check them, as a mirror port's offloaded frames often carry none).
    pub fn tcp_v4(
        src: SocketAddrV4,
        dst: SocketAddrV4,
        seq: u32,
        flags: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let total = 20 + 20 + payload.len();
        let mut f = Vec::with_capacity(14 + total);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&u16::try_from(total).unwrap_or(u16::MAX).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        f.extend_from_slice(&src.ip().octets());
        f.extend_from_slice(&dst.ip().octets());
        f.extend_from_slice(&src.port().to_be_bytes());
        f.extend_from_slice(&dst.port().to_be_bytes());
        f.extend_from_slice(&seq.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    /// TCP flag bits for [`tcp_v4`].
    pub const SYN: u8 = 0x02;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// PSH|ACK: a data segment.
    pub const PSH_ACK: u8 = 0x18;
    /// FIN|ACK.
    pub const FIN_ACK: u8 = 0x11;

    /// One TCP connection's frames, each side's sequence number kept, so a test or a
    /// benchmark writes a conversation rather than single segments.
    #[derive(Debug, Clone)]
    pub struct Connection {
        /// The side that opened it.
        pub client: SocketAddrV4,
        /// The side it was opened to.
        pub server: SocketAddrV4,
        /// The next sequence number of the client, then of the server (a test may move one to
        /// send a segment out of order).
        pub seq: [u32; 2],
    }

    impl Connection {
        /// A connection from `client` to `server` whose sides start at `seq`.
        pub fn new(client: SocketAddrV4, server: SocketAddrV4, seq: [u32; 2]) -> Self {
            Self {
                client,
                server,
                seq,
            }
        }

        /// The next frame: from the client when `up`, else from the server.
        pub fn frame(&mut self, up: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
            let i = usize::from(!up);
            let (src, dst) = if up {
                (self.client, self.server)
            } else {
                (self.server, self.client)
            };
            let f = tcp_v4(src, dst, self.seq[i], flags, payload);
            self.seq[i] = self.seq[i]
                .wrapping_add(payload.len() as u32)
                .wrapping_add(u32::from(flags & SYN != 0));
            f
        }

        /// The three-way handshake.
        pub fn handshake(&mut self) -> Vec<Vec<u8>> {
            vec![
                self.frame(true, SYN, b""),
                self.frame(false, SYN | ACK, b""),
                self.frame(true, ACK, b""),
            ]
        }

        /// A FIN from each side.
        pub fn close(&mut self) -> Vec<Vec<u8>> {
            vec![
                self.frame(true, FIN_ACK, b""),
                self.frame(false, FIN_ACK, b""),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;

    use proptest::prelude::*;

    use super::build::*;
    use super::*;

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn a_built_frame_parses_back() {
        let f = tcp_v4(
            a("10.0.0.2:40000"),
            a("10.0.1.2:80"),
            7,
            PSH_ACK,
            b"*\x01hi",
        );
        let s = parse_ethernet(&f).unwrap();
        assert_eq!(s.src, "10.0.0.2:40000".parse().unwrap());
        assert_eq!(s.dst, "10.0.1.2:80".parse().unwrap());
        assert_eq!(s.seq, 7);
        assert!(s.flags.ack && !s.flags.syn);
        assert_eq!(s.payload, b"*\x01hi");
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut f = tcp_v4(a("10.0.0.2:1"), a("10.0.1.2:2"), 0, ACK, b"");
        f.extend_from_slice(&[0; 6]); // a minimum-size frame's padding
        assert_eq!(parse_ethernet(&f).unwrap().payload, b"");
    }

    #[test]
    fn vlan_tagged_frames_parse() {
        let plain = tcp_v4(a("10.0.0.2:1"), a("10.0.1.2:2"), 0, ACK, b"x");
        let mut f = plain[..12].to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]); // VLAN 5
        f.extend_from_slice(&plain[12..]);
        assert_eq!(parse_ethernet(&f).unwrap().payload, b"x");
    }

    #[test]
    fn fragments_and_other_protocols_are_skipped() {
        let mut f = tcp_v4(a("10.0.0.2:1"), a("10.0.1.2:2"), 0, ACK, b"x");
        f[14 + 6] = 0x20; // more fragments
        assert_eq!(parse_ethernet(&f), Err(Skip::Fragment));
        let mut f = tcp_v4(a("10.0.0.2:1"), a("10.0.1.2:2"), 0, ACK, b"x");
        f[14 + 9] = 17; // UDP
        assert_eq!(parse_ethernet(&f), Err(Skip::NotTcp));
        let mut f = tcp_v4(a("10.0.0.2:1"), a("10.0.1.2:2"), 0, ACK, b"x");
        f[12] = 0x08;
        f[13] = 0x06; // ARP
        assert_eq!(parse_ethernet(&f), Err(Skip::NotIp));
    }

    #[test]
    fn lengths_that_do_not_fit_are_malformed() {
        let f = tcp_v4(a("10.0.0.2:1"), a("10.0.1.2:2"), 0, ACK, b"abc");
        for cut in 0..f.len() {
            // Every truncation is skipped or parsed, never a panic; a cut inside the IP
            // packet is always malformed (the total length no longer fits).
            let r = parse_ethernet(&f[..cut]);
            assert!(r.is_err(), "cut at {cut}");
        }
        let mut bad = f.clone();
        bad[14] = 0x44; // IHL 4: shorter than the fixed header
        assert_eq!(parse_ethernet(&bad), Err(Skip::Malformed));
        let mut bad = f;
        bad[14 + 20 + 12] = 0x40; // TCP data offset 4
        assert_eq!(parse_ethernet(&bad), Err(Skip::Malformed));
    }

    proptest! {
        #[test]
        fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_ethernet(&frame);
        }

        #[test]
        fn a_mutated_header_is_parsed_within_bounds(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            at in 0usize..54,
            byte in any::<u8>(),
        ) {
            let mut f = tcp_v4(a("10.0.0.2:1"), a("10.0.1.2:2"), 0, PSH_ACK, &payload);
            f[at] = byte;
            if let Ok(s) = parse_ethernet(&f) {
                prop_assert!(s.payload.len() <= f.len());
            }
        }
    }
}
