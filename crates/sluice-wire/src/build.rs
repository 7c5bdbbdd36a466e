//! Frame builders for the traffic generator and tests. Each writes a
//! complete frame of exactly `frame_len` bytes (payload zero-filled, all
//! checksums correct) into the front of `buf` and returns `frame_len`.
//! IPv4 headers use IHL 5, ident 0, no flags, TTL 64; IPv6 headers use hop
//! limit 64; TCP headers use seq 0, ack 0, window 65535.

use crate::arp::{ArpPacket, ARP_LEN, ARP_REQUEST};
use crate::ethernet::{MacAddr, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::field::set_be16;
use crate::icmp::{IcmpPacket, ICMP_ECHO_REQUEST};
use crate::ipv4::Ipv4Packet;
use crate::tcp::TcpPacket;
use crate::udp::UdpPacket;
use crate::{WireError, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

const ETH: usize = 14;
const IP4: usize = 20;
const IP6: usize = 40;

/// Smallest Ethernet/IPv4/UDP frame (42 bytes).
pub const MIN_UDP_IPV4_FRAME: usize = ETH + IP4 + 8;
/// Smallest Ethernet/IPv6/UDP frame (62 bytes).
pub const MIN_UDP_IPV6_FRAME: usize = ETH + IP6 + 8;
/// Smallest Ethernet/IPv4/TCP frame (54 bytes).
pub const MIN_TCP_IPV4_FRAME: usize = ETH + IP4 + 20;
/// Smallest Ethernet/IPv6/TCP frame (74 bytes).
pub const MIN_TCP_IPV6_FRAME: usize = ETH + IP6 + 20;
/// Length of an Ethernet/ARP frame without padding (42 bytes).
pub const ARP_FRAME_LEN: usize = ETH + ARP_LEN;

fn prepare<'a>(
    buf: &'a mut [u8],
    frame_len: usize,
    min: usize,
    max: usize,
    what: &'static str,
) -> Result<&'a mut [u8], WireError> {
    if frame_len < min {
        return Err(WireError::FrameTooShort {
            what,
            len: frame_len,
            min,
        });
    }
    if frame_len > max {
        return Err(WireError::FrameTooLong {
            what,
            len: frame_len,
            max,
        });
    }
    let have = buf.len();
    let f = buf.get_mut(..frame_len).ok_or(WireError::BufferTooSmall {
        need: frame_len,
        have,
    })?;
    f.fill(0);
    Ok(f)
}

fn write_eth(f: &mut [u8], src: MacAddr, dst: MacAddr, ethertype: u16) {
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    set_be16(f, 12, ethertype);
}

fn write_ipv4(f: &mut [u8], proto: u8, src: [u8; 4], dst: [u8; 4]) -> Result<(), WireError> {
    let total = (f.len() - ETH) as u16;
    let h = &mut f[ETH..];
    h[0] = 0x45;
    set_be16(h, 2, total);
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    Ipv4Packet::new_checked(h)?.fill_checksum();
    Ok(())
}

fn write_ipv6(f: &mut [u8], next_header: u8, src: [u8; 16], dst: [u8; 16]) {
    let plen = (f.len() - ETH - IP6) as u16;
    let h = &mut f[ETH..];
    h[0] = 0x60;
    set_be16(h, 4, plen);
    h[6] = next_header;
    h[7] = 64;
    h[8..24].copy_from_slice(&src);
    h[24..40].copy_from_slice(&dst);
}

fn write_udp_header(seg: &mut [u8], sport: u16, dport: u16) {
    let len = seg.len() as u16;
    set_be16(seg, 0, sport);
    set_be16(seg, 2, dport);
    set_be16(seg, 4, len);
}

fn write_tcp_header(seg: &mut [u8], sport: u16, dport: u16, flags: u8) {
    set_be16(seg, 0, sport);
    set_be16(seg, 2, dport);
    seg[12] = 5 << 4;
    seg[13] = flags;
    set_be16(seg, 14, 0xffff);
}

/// Writes an Ethernet/IPv4/UDP frame of exactly `frame_len` bytes (42 ..=
/// 65549) with a zero payload and correct IPv4 and UDP checksums.
#[allow(clippy::too_many_arguments)]
pub fn write_udp_ipv4(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    frame_len: usize,
) -> Result<usize, WireError> {
    let f = prepare(
        buf,
        frame_len,
        MIN_UDP_IPV4_FRAME,
        ETH + 0xffff,
        "Ethernet/IPv4/UDP",
    )?;
    write_eth(f, src_mac, dst_mac, ETHERTYPE_IPV4);
    write_ipv4(f, IPPROTO_UDP, src, dst)?;
    let seg = &mut f[ETH + IP4..];
    write_udp_header(seg, sport, dport);
    UdpPacket::new_checked(seg)?.fill_checksum_ipv4(src, dst);
    Ok(frame_len)
}

/// Writes an Ethernet/IPv6/UDP frame of exactly `frame_len` bytes (62 ..=
/// 65589) with a zero payload and a correct UDP checksum.
#[allow(clippy::too_many_arguments)]
pub fn write_udp_ipv6(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    frame_len: usize,
) -> Result<usize, WireError> {
    let max = ETH + IP6 + 0xffff;
    let f = prepare(buf, frame_len, MIN_UDP_IPV6_FRAME, max, "Ethernet/IPv6/UDP")?;
    write_eth(f, src_mac, dst_mac, ETHERTYPE_IPV6);
    write_ipv6(f, IPPROTO_UDP, src, dst);
    let seg = &mut f[ETH + IP6..];
    write_udp_header(seg, sport, dport);
    UdpPacket::new_checked(seg)?.fill_checksum_ipv6(src, dst);
    Ok(frame_len)
}

/// Writes an Ethernet/IPv4/TCP frame of exactly `frame_len` bytes (54 ..=
/// 65549) with the given `flags` (see `TCP_*`), a zero payload and correct
/// checksums.
#[allow(clippy::too_many_arguments)]
pub fn write_tcp_ipv4(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: u8,
    frame_len: usize,
) -> Result<usize, WireError> {
    let f = prepare(
        buf,
        frame_len,
        MIN_TCP_IPV4_FRAME,
        ETH + 0xffff,
        "Ethernet/IPv4/TCP",
    )?;
    write_eth(f, src_mac, dst_mac, ETHERTYPE_IPV4);
    write_ipv4(f, IPPROTO_TCP, src, dst)?;
    let seg = &mut f[ETH + IP4..];
    write_tcp_header(seg, sport, dport, flags);
    TcpPacket::new_checked(seg)?.fill_checksum_ipv4(src, dst);
    Ok(frame_len)
}

/// Writes an Ethernet/IPv6/TCP frame of exactly `frame_len` bytes (74 ..=
/// 65589) with the given `flags`, a zero payload and a correct checksum.
#[allow(clippy::too_many_arguments)]
pub fn write_tcp_ipv6(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    flags: u8,
    frame_len: usize,
) -> Result<usize, WireError> {
    let max = ETH + IP6 + 0xffff;
    let f = prepare(buf, frame_len, MIN_TCP_IPV6_FRAME, max, "Ethernet/IPv6/TCP")?;
    write_eth(f, src_mac, dst_mac, ETHERTYPE_IPV6);
    write_ipv6(f, IPPROTO_TCP, src, dst);
    let seg = &mut f[ETH + IP6..];
    write_tcp_header(seg, sport, dport, flags);
    TcpPacket::new_checked(seg)?.fill_checksum_ipv6(src, dst);
    Ok(frame_len)
}

/// Writes an Ethernet/IPv4 ICMP echo request of exactly `frame_len` bytes
/// (42 ..= 65549) with a zero payload and correct checksums.
#[allow(clippy::too_many_arguments)]
pub fn write_icmp_echo_ipv4(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: [u8; 4],
    dst: [u8; 4],
    ident: u16,
    seq: u16,
    frame_len: usize,
) -> Result<usize, WireError> {
    let f = prepare(
        buf,
        frame_len,
        ETH + IP4 + 8,
        ETH + 0xffff,
        "Ethernet/IPv4/ICMP",
    )?;
    write_eth(f, src_mac, dst_mac, ETHERTYPE_IPV4);
    write_ipv4(f, IPPROTO_ICMP, src, dst)?;
    let mut icmp = IcmpPacket::new_checked(&mut f[ETH + IP4..])?;
    icmp.set_msg_type(ICMP_ECHO_REQUEST);
    icmp.set_identifier(ident);
    icmp.set_sequence(seq);
    icmp.fill_checksum();
    Ok(frame_len)
}

/// Writes a 42-byte Ethernet/ARP frame: Ethernet source `sha`, destination
/// broadcast for a request and `tha` otherwise. Returns 42.
pub fn write_arp_ipv4(
    buf: &mut [u8],
    oper: u16,
    sha: MacAddr,
    spa: [u8; 4],
    tha: MacAddr,
    tpa: [u8; 4],
) -> Result<usize, WireError> {
    let f = prepare(
        buf,
        ARP_FRAME_LEN,
        ARP_FRAME_LEN,
        ARP_FRAME_LEN,
        "Ethernet/ARP",
    )?;
    let eth_dst = if oper == ARP_REQUEST {
        BROADCAST_MAC
    } else {
        tha
    };
    write_eth(f, sha, eth_dst, ETHERTYPE_ARP);
    let a = &mut f[ETH..];
    a[..6].copy_from_slice(&[0x00, 0x01, 0x08, 0x00, 0x06, 0x04]);
    let mut arp = ArpPacket::new_checked(a)?;
    arp.set_oper(oper);
    arp.set_sha(sha);
    arp.set_spa(spa);
    arp.set_tha(tha);
    arp.set_tpa(tpa);
    Ok(ARP_FRAME_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{parse, verify_checksums, L3Kind, L4Kind};
    use crate::tcp::{TCP_ACK, TCP_SYN};

    const SM: MacAddr = [2, 0, 0, 0, 0, 1];
    const DM: MacAddr = [2, 0, 0, 0, 0, 2];
    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    fn v6(last: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[0] = 0xfe;
        a[1] = 0x80;
        a[15] = last;
        a
    }

    #[test]
    fn udp_ipv4_literal() {
        let mut buf = [0xaa; 128];
        let n = write_udp_ipv4(&mut buf, SM, DM, A, B, 1234, 80, 60).unwrap();
        assert_eq!(n, 60);
        let expected: [u8; 60] = [
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, 0x66, 0xbd, 0x0a, 0x00,
            0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x04, 0xd2, 0x00, 0x50, 0x00, 0x1a, 0xe6, 0x95, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(&buf[..60], &expected);
        assert_eq!(buf[60], 0xaa, "nothing written past frame_len");
        let h = parse(&buf[..n]).unwrap();
        let ip = h.ipv4(&buf[..n]).unwrap();
        assert!(ip.verify_checksum());
        assert!(h.udp(&buf[..n]).unwrap().verify_checksum_ipv4(A, B));
        assert!(verify_checksums(&buf[..n]));
    }

    #[test]
    fn tcp_ipv4_literal() {
        let mut buf = [0u8; 54];
        let n = write_tcp_ipv4(&mut buf, SM, DM, A, B, 1234, 80, TCP_SYN | TCP_ACK, 54).unwrap();
        let expected: [u8; 54] = [
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00,
            0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x40, 0x06, 0x66, 0xce, 0x0a, 0x00,
            0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x04, 0xd2, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x50, 0x12, 0xff, 0xff, 0x96, 0xae, 0x00, 0x00,
        ];
        assert_eq!(buf, expected);
        let h = parse(&buf[..n]).unwrap();
        let t = h.tcp(&buf).unwrap();
        assert!(t.verify_checksum_ipv4(A, B));
        assert_eq!(t.flags(), TCP_SYN | TCP_ACK);
        assert!(verify_checksums(&buf));
    }

    #[test]
    fn udp_ipv6_literal() {
        let mut buf = [0u8; 72];
        write_udp_ipv6(&mut buf, SM, DM, v6(1), v6(2), 5000, 6000, 72).unwrap();
        let expected: [u8; 72] = [
            0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xdd,
            0x60, 0x00, 0x00, 0x00, 0x00, 0x12, 0x11, 0x40, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfe, 0x80, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x13, 0x88,
            0x17, 0x70, 0x00, 0x12, 0xd7, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(buf, expected);
        let h = parse(&buf).unwrap();
        assert!(h.udp(&buf).unwrap().verify_checksum_ipv6(v6(1), v6(2)));
        assert!(verify_checksums(&buf));
    }

    #[test]
    fn others_verify() {
        let mut buf = vec![0u8; 2000];
        for len in [74, 75, 1514] {
            let n = write_tcp_ipv6(&mut buf, SM, DM, v6(1), v6(2), 1, 2, TCP_SYN, len).unwrap();
            let h = parse(&buf[..n]).unwrap();
            assert_eq!((h.l3, h.l4), (L3Kind::Ipv6, L4Kind::Tcp));
            assert_eq!(h.tcp(&buf[..n]).unwrap().payload().len(), len - 74);
            assert!(verify_checksums(&buf[..n]));
        }
        for len in [42, 43, 60, 1514] {
            let n = write_udp_ipv4(&mut buf, SM, DM, A, B, 9, 9, len).unwrap();
            assert!(verify_checksums(&buf[..n]), "{len}");
            let n = write_icmp_echo_ipv4(&mut buf, SM, DM, A, B, 7, 8, len).unwrap();
            let h = parse(&buf[..n]).unwrap();
            let i = h.icmp(&buf[..n]).unwrap();
            assert!(i.is_echo_request() && i.verify_checksum());
            assert_eq!((i.identifier(), i.sequence()), (7, 8));
            assert!(verify_checksums(&buf[..n]));
        }
        let n = write_arp_ipv4(&mut buf, ARP_REQUEST, SM, A, [0; 6], B).unwrap();
        assert_eq!(n, 42);
        assert_eq!(
            &buf[..n],
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0x00, 0x01, 0x08,
                0x00, 0x06, 0x04, 0x00, 0x01, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10,
                0, 0, 2
            ]
        );
        let h = parse(&buf[..n]).unwrap();
        assert_eq!(h.arp(&buf[..n]).unwrap().tpa(), B);
        write_arp_ipv4(&mut buf, crate::arp::ARP_REPLY, SM, A, DM, B).unwrap();
        assert_eq!(&buf[..6], &DM);
    }

    #[test]
    fn builder_errors() {
        let mut buf = [0u8; 100];
        assert_eq!(
            write_udp_ipv4(&mut buf, SM, DM, A, B, 1, 2, 41)
                .unwrap_err()
                .to_string(),
            "frame length 41 too small: Ethernet/IPv4/UDP frames need at least 42 bytes"
        );
        assert_eq!(
            write_udp_ipv4(&mut buf, SM, DM, A, B, 1, 2, 101)
                .unwrap_err()
                .to_string(),
            "output buffer too small: need 101 bytes, have 100"
        );
        assert!(matches!(
            write_udp_ipv4(&mut buf, SM, DM, A, B, 1, 2, 70_000),
            Err(WireError::FrameTooLong { max: 65549, .. })
        ));
        let mut big = vec![0u8; 65549];
        assert_eq!(
            write_udp_ipv4(&mut big, SM, DM, A, B, 1, 2, 65549),
            Ok(65549)
        );
        assert!(verify_checksums(&big));
        assert!(write_tcp_ipv6(&mut buf, SM, DM, v6(1), v6(2), 1, 2, 0, 73).is_err());
        assert!(write_udp_ipv6(&mut buf, SM, DM, v6(1), v6(2), 1, 2, 61).is_err());
        assert!(write_arp_ipv4(&mut buf[..41], 1, SM, A, DM, B).is_err());
    }
}
