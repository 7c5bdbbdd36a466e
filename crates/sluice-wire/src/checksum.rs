//! The Internet checksum (RFC 1071), pseudo-headers, incremental update
//! (RFC 1624) and helpers that fill transport checksums in IP packets.
//!
//! Partial sums are `u32` values already folded to 16 bits; chain them with
//! [`accumulate`] and close with [`finish`].

use crate::ipv4::Ipv4Packet;
use crate::ipv6::Ipv6Packet;
use crate::tcp::TcpPacket;
use crate::udp::UdpPacket;
use crate::{WireError, IPPROTO_TCP, IPPROTO_UDP};

#[inline(always)]
fn fold(mut acc: u64) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// Adds `data` (big-endian 16-bit words, an odd last byte padded with zero)
/// to the partial sum `sum` and returns the new partial sum (folded to 16
/// bits). Chained calls must split the data at even offsets.
#[inline]
pub fn accumulate(sum: u32, data: &[u8]) -> u32 {
    let mut acc = u64::from(sum);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    match *chunks.remainder() {
        [a] => acc += u64::from(a) << 8,
        [a, b] => acc += u64::from(u16::from_be_bytes([a, b])),
        [a, b, c] => acc += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        _ => {}
    }
    fold(acc)
}

/// Folds a partial sum and returns its ones' complement: the value to store
/// in a checksum field.
#[inline]
pub fn finish(sum: u32) -> u16 {
    !(fold(u64::from(sum)) as u16)
}

/// The Internet checksum of `data`. Over data that includes a correct
/// checksum field, the result is 0.
#[inline]
pub fn internet_checksum(data: &[u8]) -> u16 {
    finish(accumulate(0, data))
}

/// Partial sum of the IPv4 pseudo-header (src, dst, zero, protocol,
/// upper-layer length).
#[inline]
pub fn pseudo_header_ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u32 {
    let acc = u64::from(u32::from_be_bytes(src))
        + u64::from(u32::from_be_bytes(dst))
        + u64::from(proto)
        + u64::from(len);
    fold(acc)
}

/// Partial sum of the IPv6 pseudo-header (src, dst, 32-bit upper-layer
/// length, next header).
#[inline]
pub fn pseudo_header_ipv6(src: [u8; 16], dst: [u8; 16], proto: u8, len: u32) -> u32 {
    let s = u128::from_be_bytes(src);
    let d = u128::from_be_bytes(dst);
    let acc = u64::from(s as u32)
        + u64::from((s >> 32) as u32)
        + u64::from((s >> 64) as u32)
        + u64::from((s >> 96) as u32)
        + u64::from(d as u32)
        + u64::from((d >> 32) as u32)
        + u64::from((d >> 64) as u32)
        + u64::from((d >> 96) as u32)
        + u64::from(len)
        + u64::from(proto);
    fold(acc)
}

/// Incrementally updates checksum `old_csum` after a 16-bit word of the
/// covered data changed from `old_word` to `new_word` (RFC 1624, eqn. 3).
#[inline]
pub fn update_u16(old_csum: u16, old_word: u16, new_word: u16) -> u16 {
    let acc = u64::from(!old_csum) + u64::from(!old_word) + u64::from(new_word);
    !(fold(acc) as u16)
}

/// Incrementally updates `old_csum` after a 32-bit value at an even offset
/// (e.g. an IPv4 address) changed from `old` to `new`.
#[inline]
pub fn update_u32(old_csum: u16, old: u32, new: u32) -> u16 {
    let acc = u64::from(!old_csum)
        + u64::from(!(old >> 16) as u16)
        + u64::from(!(old as u16))
        + u64::from(new >> 16)
        + u64::from(new as u16);
    !(fold(acc) as u16)
}

/// Incrementally updates `old_csum` after the bytes `old` were replaced by
/// `new` (same length, starting at an even offset of the covered data).
#[inline]
pub fn update_bytes(old_csum: u16, old: &[u8], new: &[u8]) -> u16 {
    let old_sum = accumulate(0, old) as u16;
    let acc = u64::from(!old_csum) + u64::from(!old_sum) + u64::from(accumulate(0, new));
    !(fold(acc) as u16)
}

/// Recomputes the IPv4 header checksum of `ip_packet` (starting at the
/// IPv4 header).
pub fn fill_ipv4_checksum(ip_packet: &mut [u8]) -> Result<(), WireError> {
    Ipv4Packet::new_checked(ip_packet)?.fill_checksum();
    Ok(())
}

/// Source address, destination address and the transport segment.
type Split<'a, A> = (A, A, &'a mut [u8]);

fn ipv4_l4<'a>(
    ip_packet: &'a mut [u8],
    proto: u8,
    what: &'static str,
) -> Result<Split<'a, [u8; 4]>, WireError> {
    let ip = Ipv4Packet::new_checked(ip_packet)?;
    if ip.protocol() != proto {
        return Err(WireError::WrongProtocol {
            expected: what,
            found: ip.protocol(),
        });
    }
    if ip.is_fragment() {
        return Err(WireError::Fragmented { what });
    }
    let (src, dst) = (ip.src(), ip.dst());
    let hl = ip.header_len();
    let total = usize::from(ip.total_len());
    let buf = ip.into_inner();
    Ok((src, dst, &mut buf[hl..total]))
}

fn ipv6_l4<'a>(
    ip_packet: &'a mut [u8],
    proto: u8,
    what: &'static str,
) -> Result<Split<'a, [u8; 16]>, WireError> {
    let ip = Ipv6Packet::new_checked(ip_packet)?;
    let ul = ip.upper_layer()?;
    if ul.proto != proto {
        return Err(WireError::WrongProtocol {
            expected: what,
            found: ul.proto,
        });
    }
    if ul.is_fragment {
        return Err(WireError::Fragmented { what });
    }
    let (src, dst) = (ip.src(), ip.dst());
    let end = crate::ipv6::IPV6_HEADER_LEN + usize::from(ip.payload_len());
    let buf = ip.into_inner();
    Ok((
        src,
        dst,
        &mut buf[crate::ipv6::IPV6_HEADER_LEN + ul.offset..end],
    ))
}

fn ipv4_l4_ro(ip_packet: &[u8], proto: u8) -> Option<([u8; 4], [u8; 4], &[u8])> {
    let ip = Ipv4Packet::new_checked(ip_packet).ok()?;
    if ip.protocol() != proto || ip.is_fragment() {
        return None;
    }
    let (hl, total) = (ip.header_len(), usize::from(ip.total_len()));
    Some((ip.src(), ip.dst(), &ip_packet[hl..total]))
}

fn ipv6_l4_ro(ip_packet: &[u8], proto: u8) -> Option<([u8; 16], [u8; 16], &[u8])> {
    let ip = Ipv6Packet::new_checked(ip_packet).ok()?;
    let ul = ip.upper_layer().ok()?;
    if ul.proto != proto || ul.is_fragment {
        return None;
    }
    let end = crate::ipv6::IPV6_HEADER_LEN + usize::from(ip.payload_len());
    Some((
        ip.src(),
        ip.dst(),
        &ip_packet[crate::ipv6::IPV6_HEADER_LEN + ul.offset..end],
    ))
}

/// Recomputes the UDP checksum of the IPv4 packet `ip_packet`.
pub fn fill_udp_checksum_ipv4(ip_packet: &mut [u8]) -> Result<(), WireError> {
    let (src, dst, seg) = ipv4_l4(ip_packet, IPPROTO_UDP, "UDP")?;
    UdpPacket::new_checked(seg)?.fill_checksum_ipv4(src, dst);
    Ok(())
}

/// Recomputes the TCP checksum of the IPv4 packet `ip_packet`.
pub fn fill_tcp_checksum_ipv4(ip_packet: &mut [u8]) -> Result<(), WireError> {
    let (src, dst, seg) = ipv4_l4(ip_packet, IPPROTO_TCP, "TCP")?;
    TcpPacket::new_checked(seg)?.fill_checksum_ipv4(src, dst);
    Ok(())
}

/// Recomputes the UDP checksum of the IPv6 packet `ip_packet` (extension
/// headers are skipped).
pub fn fill_udp_checksum_ipv6(ip_packet: &mut [u8]) -> Result<(), WireError> {
    let (src, dst, seg) = ipv6_l4(ip_packet, IPPROTO_UDP, "UDP")?;
    UdpPacket::new_checked(seg)?.fill_checksum_ipv6(src, dst);
    Ok(())
}

/// Recomputes the TCP checksum of the IPv6 packet `ip_packet` (extension
/// headers are skipped).
pub fn fill_tcp_checksum_ipv6(ip_packet: &mut [u8]) -> Result<(), WireError> {
    let (src, dst, seg) = ipv6_l4(ip_packet, IPPROTO_TCP, "TCP")?;
    TcpPacket::new_checked(seg)?.fill_checksum_ipv6(src, dst);
    Ok(())
}

/// True if `ip_packet` is an unfragmented IPv4/UDP packet whose UDP
/// checksum is correct or absent (0).
pub fn verify_udp_checksum_ipv4(ip_packet: &[u8]) -> bool {
    ipv4_l4_ro(ip_packet, IPPROTO_UDP)
        .and_then(|(s, d, seg)| Some(UdpPacket::new_checked(seg).ok()?.verify_checksum_ipv4(s, d)))
        .unwrap_or(false)
}

/// True if `ip_packet` is an unfragmented IPv4/TCP packet with a correct
/// TCP checksum.
pub fn verify_tcp_checksum_ipv4(ip_packet: &[u8]) -> bool {
    ipv4_l4_ro(ip_packet, IPPROTO_TCP)
        .and_then(|(s, d, seg)| Some(TcpPacket::new_checked(seg).ok()?.verify_checksum_ipv4(s, d)))
        .unwrap_or(false)
}

/// True if `ip_packet` is an unfragmented IPv6/UDP packet with a correct
/// UDP checksum.
pub fn verify_udp_checksum_ipv6(ip_packet: &[u8]) -> bool {
    ipv6_l4_ro(ip_packet, IPPROTO_UDP)
        .and_then(|(s, d, seg)| Some(UdpPacket::new_checked(seg).ok()?.verify_checksum_ipv6(s, d)))
        .unwrap_or(false)
}

/// True if `ip_packet` is an unfragmented IPv6/TCP packet with a correct
/// TCP checksum.
pub fn verify_tcp_checksum_ipv6(ip_packet: &[u8]) -> bool {
    ipv6_l4_ro(ip_packet, IPPROTO_TCP)
        .and_then(|(s, d, seg)| Some(TcpPacket::new_checked(seg).ok()?.verify_checksum_ipv6(s, d)))
        .unwrap_or(false)
}

/// Sum of `data` with the 16-bit field at `csum_off` treated as zero.
#[inline]
pub(crate) fn sum_skipping(sum: u32, data: &[u8], csum_off: usize) -> u32 {
    let s = accumulate(sum, &data[..csum_off]);
    accumulate(s, &data[csum_off + 2..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::be16;
    use crate::testdata::{IPV4_UDP, IPV6_TCP};

    fn naive(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            s += u32::from(w);
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(accumulate(0, &d), 0xddf2);
        assert_eq!(internet_checksum(&d), !0xddf2);
    }

    #[test]
    fn known_ipv4_header() {
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(internet_checksum(&h), 0xb861);
        h[10] = 0xb8;
        h[11] = 0x61;
        assert_eq!(internet_checksum(&h), 0);
    }

    #[test]
    fn matches_naive_at_all_lengths() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(167) ^ (i >> 3)) as u8)
            .collect();
        for n in 0..data.len() {
            assert_eq!(internet_checksum(&data[..n]), naive(&data[..n]), "len {n}");
        }
        // chaining at even offsets equals one pass
        let s = accumulate(accumulate(0, &data[..100]), &data[100..]);
        assert_eq!(finish(s), internet_checksum(&data));
        assert_eq!(internet_checksum(&[0xff; 4]), 0);
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 section 4: m 0x5555 -> 0x3285 with HC 0xdd2f gives 0x0000.
        assert_eq!(update_u16(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn incremental_matches_recompute() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2000 {
            let mut d = [0u8; 40];
            for b in d.iter_mut() {
                *b = next() as u8;
            }
            d[10] = 0;
            d[11] = 0;
            let c = internet_checksum(&d);
            d[10..12].copy_from_slice(&c.to_be_bytes());
            // change a 16-bit word
            let r = next();
            let off = 2 * (r as usize % 20);
            if off == 10 {
                continue;
            }
            let old = be16(&d, off);
            let new = (r >> 16) as u16;
            d[off..off + 2].copy_from_slice(&new.to_be_bytes());
            let c1 = update_u16(be16(&d, 10), old, new);
            d[10..12].copy_from_slice(&c1.to_be_bytes());
            assert_eq!(internet_checksum(&d), 0);
            // change a 32-bit value (an address)
            let old32 = u32::from_be_bytes([d[12], d[13], d[14], d[15]]);
            let new32 = (r >> 32) as u32;
            d[12..16].copy_from_slice(&new32.to_be_bytes());
            let c2 = update_u32(be16(&d, 10), old32, new32);
            d[10..12].copy_from_slice(&c2.to_be_bytes());
            assert_eq!(internet_checksum(&d), 0);
            // change 6 bytes
            let old6: [u8; 6] = d[20..26].try_into().unwrap();
            let new6 = [r as u8, 1, 2, (r >> 8) as u8, 4, 5];
            d[20..26].copy_from_slice(&new6);
            let c3 = update_bytes(be16(&d, 10), &old6, &new6);
            d[10..12].copy_from_slice(&c3.to_be_bytes());
            assert_eq!(internet_checksum(&d), 0);
        }
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_header_ipv4([192, 168, 1, 10], [192, 168, 1, 1], 17, 13);
        let mut manual = Vec::new();
        manual.extend_from_slice(&[192, 168, 1, 10, 192, 168, 1, 1, 0, 17, 0, 13]);
        assert_eq!(v4, accumulate(0, &manual));
        let s = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 1,
        ];
        let d = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let mut m = Vec::new();
        m.extend_from_slice(&s);
        m.extend_from_slice(&d);
        m.extend_from_slice(&[0, 1, 0, 20, 0, 0, 0, 6]);
        assert_eq!(pseudo_header_ipv6(s, d, 6, 0x10014), accumulate(0, &m));
    }

    #[test]
    fn fill_helpers() {
        let mut p = IPV4_UDP;
        assert!(verify_udp_checksum_ipv4(&p[14..]));
        p[40] = 0;
        p[41] = 0;
        assert!(verify_udp_checksum_ipv4(&p[14..]), "0 means no checksum");
        p[40] = 0x12;
        assert!(!verify_udp_checksum_ipv4(&p[14..]));
        fill_udp_checksum_ipv4(&mut p[14..]).unwrap();
        assert_eq!(p, IPV4_UDP);
        assert!(matches!(
            fill_tcp_checksum_ipv4(&mut p[14..]),
            Err(WireError::WrongProtocol { found: 17, .. })
        ));
        p[24] = 0;
        fill_ipv4_checksum(&mut p[14..]).unwrap();
        assert_eq!(p, IPV4_UDP);

        let mut q = IPV6_TCP;
        assert!(verify_tcp_checksum_ipv6(&q[14..]));
        assert!(!verify_udp_checksum_ipv6(&q[14..]));
        q[70] = 0;
        assert!(!verify_tcp_checksum_ipv6(&q[14..]));
        fill_tcp_checksum_ipv6(&mut q[14..]).unwrap();
        assert_eq!(q, IPV6_TCP);
        assert!(fill_udp_checksum_ipv6(&mut q[14..]).is_err());
    }

    #[test]
    fn fragment_refused() {
        let mut p = IPV4_UDP;
        p[20] = 0x20; // MF
        assert_eq!(
            fill_udp_checksum_ipv4(&mut p[14..])
                .unwrap_err()
                .to_string(),
            "cannot compute the UDP checksum of a fragmented packet"
        );
    }
}
