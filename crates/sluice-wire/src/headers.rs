//! One-pass header parser: where each layer starts and what it is.

use crate::arp::{ArpPacket, ARP_LEN};
use crate::ethernet::{
    is_vlan_tpid, EthernetFrame, VlanInfo, VlanTag, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
    VLAN_TAG_LEN,
};
use crate::icmp::IcmpPacket;
use crate::ipv4::Ipv4Packet;
use crate::ipv6::{Ipv6Packet, IPV6_HEADER_LEN};
use crate::tcp::TcpPacket;
use crate::udp::{UdpPacket, UDP_HEADER_LEN};
use crate::{WireError, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};

/// The network-layer protocol of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L3Kind {
    /// IPv4 (validated header).
    Ipv4,
    /// IPv6 (validated header and extension-header chain).
    Ipv6,
    /// Ethernet/IPv4 ARP.
    Arp,
    /// Any other EtherType (the value after VLAN tags).
    Other(u16),
}

/// The transport-layer protocol of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4Kind {
    /// TCP (validated header).
    Tcp,
    /// UDP (validated header and length).
    Udp,
    /// ICMP (8-byte header present).
    Icmp,
    /// ICMPv6 (8-byte header present).
    Icmpv6,
    /// Another IP protocol; its header starts at `l4_offset`.
    Other(u8),
    /// No transport header: not IP, or a non-first fragment.
    None,
}

impl L4Kind {
    /// Maps an IP protocol number to its kind.
    #[inline]
    pub const fn from_proto(proto: u8) -> L4Kind {
        match proto {
            IPPROTO_TCP => L4Kind::Tcp,
            IPPROTO_UDP => L4Kind::Udp,
            IPPROTO_ICMP => L4Kind::Icmp,
            IPPROTO_ICMPV6 => L4Kind::Icmpv6,
            p => L4Kind::Other(p),
        }
    }
}

/// Offsets and facts about one frame, from [`parse`]. Small and `Copy`.
///
/// If `parse` succeeded, the view accessor for every layer it reports
/// (e.g. [`Headers::udp`] when `l4 == L4Kind::Udp`) returns `Some` for the
/// same frame. Accessors never panic, even given a different frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers {
    /// Length of the Ethernet header including VLAN tags.
    pub l2_len: usize,
    /// VLAN tags, outer first (at most two are parsed).
    pub vlans: [Option<VlanInfo>; 2],
    /// EtherType after the VLAN tags.
    pub ethertype: u16,
    /// Offset of the network-layer header (equals `l2_len`).
    pub l3_offset: usize,
    /// Network-layer protocol.
    pub l3: L3Kind,
    /// End of the network-layer packet (IPv4 total length, IPv6 payload
    /// length, 28-byte ARP); link-layer padding starts here. The frame
    /// length for other EtherTypes.
    pub l3_end: usize,
    /// IP protocol (IPv6: after extension headers); 0 when not IP.
    pub ip_proto: u8,
    /// True if the IP packet is a fragment (first or later).
    pub is_fragment: bool,
    /// Offset of the transport header; `None` when not IP or a non-first
    /// fragment.
    pub l4_offset: Option<usize>,
    /// Transport-layer protocol.
    pub l4: L4Kind,
    /// Offset of the transport payload for TCP, UDP, ICMP and ICMPv6.
    pub payload_offset: Option<usize>,
}

/// Parses Ethernet (up to two VLAN tags), IPv4 / IPv6 (extension headers
/// skipped) / ARP and the TCP / UDP / ICMP header in one pass without
/// allocating. Errors if a layer it recognises is truncated or malformed.
pub fn parse(frame: &[u8]) -> Result<Headers, WireError> {
    let eth = EthernetFrame::new_checked(frame)?;
    let mut ethertype = eth.ethertype();
    let mut type_pos = 12;
    let mut vlans = [None; 2];
    for slot in vlans.iter_mut() {
        if !is_vlan_tpid(ethertype) {
            break;
        }
        let tag = VlanTag::new_checked(&frame[type_pos..])?;
        *slot = Some(tag.info());
        ethertype = tag.inner_ethertype();
        type_pos += VLAN_TAG_LEN;
    }
    let l3_offset = type_pos + 2;
    let mut h = Headers {
        l2_len: l3_offset,
        vlans,
        ethertype,
        l3_offset,
        l3: L3Kind::Other(ethertype),
        l3_end: frame.len(),
        ip_proto: 0,
        is_fragment: false,
        l4_offset: None,
        l4: L4Kind::None,
        payload_offset: None,
    };
    let l3 = &frame[l3_offset..];
    match ethertype {
        ETHERTYPE_IPV4 => {
            let ip = Ipv4Packet::new_checked(l3)?;
            h.l3 = L3Kind::Ipv4;
            h.l3_end = l3_offset + usize::from(ip.total_len());
            h.ip_proto = ip.protocol();
            h.is_fragment = ip.is_fragment();
            if ip.frag_offset() == 0 {
                parse_l4(&mut h, frame, l3_offset + ip.header_len())?;
            }
        }
        ETHERTYPE_IPV6 => {
            let ip = Ipv6Packet::new_checked(l3)?;
            let ul = ip.upper_layer()?;
            h.l3 = L3Kind::Ipv6;
            h.l3_end = l3_offset + IPV6_HEADER_LEN + usize::from(ip.payload_len());
            h.ip_proto = ul.proto;
            h.is_fragment = ul.is_fragment;
            if ul.has_l4_header() {
                parse_l4(&mut h, frame, l3_offset + IPV6_HEADER_LEN + ul.offset)?;
            }
        }
        ETHERTYPE_ARP => {
            ArpPacket::new_checked(l3)?;
            h.l3 = L3Kind::Arp;
            h.l3_end = l3_offset + ARP_LEN;
        }
        _ => {}
    }
    Ok(h)
}

fn parse_l4(h: &mut Headers, frame: &[u8], off: usize) -> Result<(), WireError> {
    let seg = &frame[off..h.l3_end];
    h.l4_offset = Some(off);
    h.l4 = L4Kind::from_proto(h.ip_proto);
    h.payload_offset = match h.l4 {
        L4Kind::Tcp => Some(off + TcpPacket::new_checked(seg)?.header_len()),
        L4Kind::Udp => UdpPacket::new_checked(seg).map(|_| Some(off + UDP_HEADER_LEN))?,
        L4Kind::Icmp | L4Kind::Icmpv6 => {
            IcmpPacket::new_checked(seg).map(|_| Some(off + crate::icmp::ICMP_HEADER_LEN))?
        }
        _ => None,
    };
    Ok(())
}

impl Headers {
    /// Same as the free function [`parse`].
    #[inline]
    pub fn parse(frame: &[u8]) -> Result<Headers, WireError> {
        parse(frame)
    }

    /// Number of VLAN tags parsed (0..=2).
    #[inline]
    pub fn vlan_count(&self) -> usize {
        self.vlans.iter().filter(|v| v.is_some()).count()
    }

    /// True for IPv4 or IPv6.
    #[inline]
    pub fn is_ip(&self) -> bool {
        matches!(self.l3, L3Kind::Ipv4 | L3Kind::Ipv6)
    }

    fn l4_range(&self, want: fn(L4Kind) -> bool) -> Option<core::ops::Range<usize>> {
        if want(self.l4) {
            Some(self.l4_offset?..self.l3_end)
        } else {
            None
        }
    }

    /// The Ethernet view of `frame`.
    #[inline]
    pub fn ethernet<'a>(&self, frame: &'a [u8]) -> Option<EthernetFrame<&'a [u8]>> {
        EthernetFrame::new_checked(frame).ok()
    }

    /// The IPv4 view, if `l3` is IPv4.
    #[inline]
    pub fn ipv4<'a>(&self, frame: &'a [u8]) -> Option<Ipv4Packet<&'a [u8]>> {
        if self.l3 != L3Kind::Ipv4 {
            return None;
        }
        Ipv4Packet::new_checked(frame.get(self.l3_offset..)?).ok()
    }

    /// The IPv6 view, if `l3` is IPv6.
    #[inline]
    pub fn ipv6<'a>(&self, frame: &'a [u8]) -> Option<Ipv6Packet<&'a [u8]>> {
        if self.l3 != L3Kind::Ipv6 {
            return None;
        }
        Ipv6Packet::new_checked(frame.get(self.l3_offset..)?).ok()
    }

    /// The ARP view, if `l3` is ARP.
    #[inline]
    pub fn arp<'a>(&self, frame: &'a [u8]) -> Option<ArpPacket<&'a [u8]>> {
        if self.l3 != L3Kind::Arp {
            return None;
        }
        ArpPacket::new_checked(frame.get(self.l3_offset..)?).ok()
    }

    /// The UDP view (bounded by `l3_end`), if `l4` is UDP.
    #[inline]
    pub fn udp<'a>(&self, frame: &'a [u8]) -> Option<UdpPacket<&'a [u8]>> {
        let r = self.l4_range(|k| k == L4Kind::Udp)?;
        UdpPacket::new_checked(frame.get(r)?).ok()
    }

    /// The TCP view (bounded by `l3_end`), if `l4` is TCP.
    #[inline]
    pub fn tcp<'a>(&self, frame: &'a [u8]) -> Option<TcpPacket<&'a [u8]>> {
        let r = self.l4_range(|k| k == L4Kind::Tcp)?;
        TcpPacket::new_checked(frame.get(r)?).ok()
    }

    /// The ICMP view (bounded by `l3_end`), if `l4` is ICMP or ICMPv6.
    #[inline]
    pub fn icmp<'a>(&self, frame: &'a [u8]) -> Option<IcmpPacket<&'a [u8]>> {
        let r = self.l4_range(|k| matches!(k, L4Kind::Icmp | L4Kind::Icmpv6))?;
        IcmpPacket::new_checked(frame.get(r)?).ok()
    }

    /// The transport payload (bounded by `l3_end`), for TCP/UDP/ICMP.
    #[inline]
    pub fn l4_payload<'a>(&self, frame: &'a [u8]) -> Option<&'a [u8]> {
        let start = self.payload_offset?;
        let end = match self.l4 {
            L4Kind::Udp => self.l4_offset? + usize::from(self.udp(frame)?.length()),
            _ => self.l3_end,
        };
        frame.get(start..end)
    }

    /// Mutable Ethernet view of `frame`.
    #[inline]
    pub fn ethernet_mut<'a>(&self, frame: &'a mut [u8]) -> Option<EthernetFrame<&'a mut [u8]>> {
        EthernetFrame::new_checked(frame).ok()
    }

    /// Mutable IPv4 view, if `l3` is IPv4.
    #[inline]
    pub fn ipv4_mut<'a>(&self, frame: &'a mut [u8]) -> Option<Ipv4Packet<&'a mut [u8]>> {
        if self.l3 != L3Kind::Ipv4 {
            return None;
        }
        Ipv4Packet::new_checked(frame.get_mut(self.l3_offset..)?).ok()
    }

    /// Mutable IPv6 view, if `l3` is IPv6.
    #[inline]
    pub fn ipv6_mut<'a>(&self, frame: &'a mut [u8]) -> Option<Ipv6Packet<&'a mut [u8]>> {
        if self.l3 != L3Kind::Ipv6 {
            return None;
        }
        Ipv6Packet::new_checked(frame.get_mut(self.l3_offset..)?).ok()
    }

    /// Mutable ARP view, if `l3` is ARP.
    #[inline]
    pub fn arp_mut<'a>(&self, frame: &'a mut [u8]) -> Option<ArpPacket<&'a mut [u8]>> {
        if self.l3 != L3Kind::Arp {
            return None;
        }
        ArpPacket::new_checked(frame.get_mut(self.l3_offset..)?).ok()
    }

    /// Mutable UDP view, if `l4` is UDP.
    #[inline]
    pub fn udp_mut<'a>(&self, frame: &'a mut [u8]) -> Option<UdpPacket<&'a mut [u8]>> {
        let r = self.l4_range(|k| k == L4Kind::Udp)?;
        UdpPacket::new_checked(frame.get_mut(r)?).ok()
    }

    /// Mutable TCP view, if `l4` is TCP.
    #[inline]
    pub fn tcp_mut<'a>(&self, frame: &'a mut [u8]) -> Option<TcpPacket<&'a mut [u8]>> {
        let r = self.l4_range(|k| k == L4Kind::Tcp)?;
        TcpPacket::new_checked(frame.get_mut(r)?).ok()
    }

    /// Mutable ICMP view, if `l4` is ICMP or ICMPv6.
    #[inline]
    pub fn icmp_mut<'a>(&self, frame: &'a mut [u8]) -> Option<IcmpPacket<&'a mut [u8]>> {
        let r = self.l4_range(|k| matches!(k, L4Kind::Icmp | L4Kind::Icmpv6))?;
        IcmpPacket::new_checked(frame.get_mut(r)?).ok()
    }
}

/// Recomputes every checksum of `frame`: the IPv4 header checksum and the
/// TCP / UDP / ICMP / ICMPv6 checksum (skipped for fragments).
pub fn fill_checksums(frame: &mut [u8]) -> Result<(), WireError> {
    let h = parse(frame)?;
    let whole = h.l4_offset.is_some() && !h.is_fragment;
    match h.l3 {
        L3Kind::Ipv4 => {
            let ip = Ipv4Packet::new_checked(&frame[h.l3_offset..])?;
            let (src, dst) = (ip.src(), ip.dst());
            if whole {
                match h.l4 {
                    L4Kind::Tcp => h.tcp_mut(frame).map(|mut t| t.fill_checksum_ipv4(src, dst)),
                    L4Kind::Udp => h.udp_mut(frame).map(|mut u| u.fill_checksum_ipv4(src, dst)),
                    L4Kind::Icmp => h.icmp_mut(frame).map(|mut i| i.fill_checksum()),
                    _ => None,
                };
            }
            if let Some(mut ip) = h.ipv4_mut(frame) {
                ip.fill_checksum();
            }
        }
        L3Kind::Ipv6 if whole => {
            let ip = Ipv6Packet::new_checked(&frame[h.l3_offset..])?;
            let (src, dst) = (ip.src(), ip.dst());
            match h.l4 {
                L4Kind::Tcp => h.tcp_mut(frame).map(|mut t| t.fill_checksum_ipv6(src, dst)),
                L4Kind::Udp => h.udp_mut(frame).map(|mut u| u.fill_checksum_ipv6(src, dst)),
                L4Kind::Icmpv6 => h
                    .icmp_mut(frame)
                    .map(|mut i| i.fill_checksum_icmpv6(src, dst)),
                _ => None,
            };
        }
        _ => {}
    }
    Ok(())
}

/// True if `frame` parses and every checksum [`fill_checksums`] would
/// write is correct (a UDP/IPv4 checksum of 0 counts as correct).
pub fn verify_checksums(frame: &[u8]) -> bool {
    let Ok(h) = parse(frame) else {
        return false;
    };
    let whole = h.l4_offset.is_some() && !h.is_fragment;
    if let Some(ip) = h.ipv4(frame) {
        if !ip.verify_checksum() {
            return false;
        }
        if !whole {
            return true;
        }
        let (s, d) = (ip.src(), ip.dst());
        return match h.l4 {
            L4Kind::Tcp => h.tcp(frame).is_some_and(|t| t.verify_checksum_ipv4(s, d)),
            L4Kind::Udp => h.udp(frame).is_some_and(|u| u.verify_checksum_ipv4(s, d)),
            L4Kind::Icmp => h.icmp(frame).is_some_and(|i| i.verify_checksum()),
            _ => true,
        };
    }
    if let Some(ip) = h.ipv6(frame) {
        if !whole {
            return true;
        }
        let (s, d) = (ip.src(), ip.dst());
        return match h.l4 {
            L4Kind::Tcp => h.tcp(frame).is_some_and(|t| t.verify_checksum_ipv6(s, d)),
            L4Kind::Udp => h.udp(frame).is_some_and(|u| u.verify_checksum_ipv6(s, d)),
            L4Kind::Icmpv6 => h
                .icmp(frame)
                .is_some_and(|i| i.verify_checksum_icmpv6(s, d)),
            _ => true,
        };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::{update_u16, update_u32};
    use crate::testdata::{ARP_REQUEST, ICMP4_ECHO, IPV4_UDP, IPV6_EXT_UDP, IPV6_TCP, QINQ_UDP};
    use crate::ETHERTYPE_QINQ;

    #[test]
    fn ipv4_udp() {
        let h = parse(&IPV4_UDP).unwrap();
        assert_eq!(
            h,
            Headers {
                l2_len: 14,
                vlans: [None, None],
                ethertype: ETHERTYPE_IPV4,
                l3_offset: 14,
                l3: L3Kind::Ipv4,
                l3_end: 47,
                ip_proto: 17,
                is_fragment: false,
                l4_offset: Some(34),
                l4: L4Kind::Udp,
                payload_offset: Some(42),
            }
        );
        assert_eq!(h.l4_payload(&IPV4_UDP), Some(&b"hello"[..]));
        assert_eq!(h.udp(&IPV4_UDP).unwrap().dst_port(), 53);
        assert!(h.tcp(&IPV4_UDP).is_none() && h.icmp(&IPV4_UDP).is_none());
        assert!(h.ipv6(&IPV4_UDP).is_none() && h.arp(&IPV4_UDP).is_none());
        assert_eq!(h.ethernet(&IPV4_UDP).unwrap().ethertype(), ETHERTYPE_IPV4);
        assert!(h.is_ip());
        assert_eq!(h.vlan_count(), 0);
        // padding after the IP packet is not part of any layer
        let mut padded = IPV4_UDP.to_vec();
        padded.extend_from_slice(&[0; 13]);
        let hp = parse(&padded).unwrap();
        assert_eq!(hp, h);
        assert_eq!(hp.udp(&padded).unwrap().payload(), b"hello");
        // a different, shorter frame never panics
        assert!(h.udp(&IPV4_UDP[..40]).is_none());
        assert!(h.ipv4(&[]).is_none());
    }

    #[test]
    fn qinq() {
        let h = parse(&QINQ_UDP).unwrap();
        assert_eq!(h.l2_len, 22);
        assert_eq!(h.vlan_count(), 2);
        assert_eq!(
            h.vlans,
            [
                Some(VlanInfo {
                    tpid: ETHERTYPE_QINQ,
                    pcp: 3,
                    dei: false,
                    vid: 100
                }),
                Some(VlanInfo {
                    tpid: crate::ETHERTYPE_VLAN,
                    pcp: 0,
                    dei: true,
                    vid: 200
                })
            ]
        );
        assert_eq!(
            (h.ethertype, h.l3, h.l3_offset),
            (ETHERTYPE_IPV4, L3Kind::Ipv4, 22)
        );
        assert_eq!(
            (h.l4, h.l4_offset, h.payload_offset),
            (L4Kind::Udp, Some(42), Some(50))
        );
        assert_eq!(h.ipv4(&QINQ_UDP).unwrap().checksum(), 0x63cc);
        assert_eq!(h.l4_payload(&QINQ_UDP), Some(&[][..]));
        assert!(verify_checksums(&QINQ_UDP));
        // a third tag is not parsed
        let mut three = QINQ_UDP[..16].to_vec();
        three.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        three.extend_from_slice(&QINQ_UDP[16..]);
        let h3 = parse(&three).unwrap();
        assert_eq!(
            (h3.l3, h3.l4, h3.l2_len),
            (L3Kind::Other(0x8100), L4Kind::None, 22)
        );
    }

    #[test]
    fn ipv6() {
        let h = parse(&IPV6_TCP).unwrap();
        assert_eq!((h.l3, h.l4, h.ip_proto), (L3Kind::Ipv6, L4Kind::Tcp, 6));
        assert_eq!(
            (h.l4_offset, h.payload_offset, h.l3_end),
            (Some(54), Some(78), 78)
        );
        assert_eq!(h.tcp(&IPV6_TCP).unwrap().seq(), 0x1234_5678);
        assert_eq!(h.ipv6(&IPV6_TCP).unwrap().hop_limit(), 64);
        assert!(verify_checksums(&IPV6_TCP));

        let h = parse(&IPV6_EXT_UDP).unwrap();
        assert_eq!(
            (h.l4, h.l4_offset, h.is_fragment),
            (L4Kind::Udp, Some(86), true)
        );
        assert_eq!(h.l4_payload(&IPV6_EXT_UDP), Some(&[1, 2, 3, 4][..]));

        let mut later = IPV6_EXT_UDP;
        later[14 + 40 + 24 + 2] = 0x05;
        let h = parse(&later).unwrap();
        assert_eq!(
            (h.l4, h.l4_offset, h.ip_proto, h.is_fragment),
            (L4Kind::None, None, 17, true)
        );
        assert!(h.udp(&later).is_none());
    }

    #[test]
    fn arp_icmp_other() {
        let h = parse(&ARP_REQUEST).unwrap();
        assert_eq!(
            (h.l3, h.l3_end, h.l4, h.ip_proto),
            (L3Kind::Arp, 42, L4Kind::None, 0)
        );
        assert_eq!(h.arp(&ARP_REQUEST).unwrap().tpa(), [24, 166, 173, 159]);
        assert!(!h.is_ip());

        let h = parse(&ICMP4_ECHO).unwrap();
        assert_eq!((h.l4, h.payload_offset), (L4Kind::Icmp, Some(42)));
        assert_eq!(h.icmp(&ICMP4_ECHO).unwrap().identifier(), 0x1234);
        assert_eq!(h.l4_payload(&ICMP4_ECHO), Some(&b"abcdefgh"[..]));

        let mut lldp = ARP_REQUEST;
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        let h = parse(&lldp).unwrap();
        assert_eq!(
            (h.l3, h.l3_end, h.l4_offset),
            (L3Kind::Other(0x88cc), 60, None)
        );
        assert!(h.ipv4(&lldp).is_none() && h.arp(&lldp).is_none());
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(&IPV4_UDP[..10]).unwrap_err().to_string(),
            "truncated Ethernet header: need 14 bytes, have 10"
        );
        assert_eq!(
            parse(&IPV4_UDP[..26]).unwrap_err().to_string(),
            "truncated IPv4 header: need 20 bytes, have 12"
        );
        let mut f = IPV4_UDP;
        f[17] = 26; // total length leaves 6 bytes of UDP
        assert_eq!(
            parse(&f).unwrap_err().to_string(),
            "truncated UDP header: need 8 bytes, have 6"
        );
        assert_eq!(
            parse(&QINQ_UDP[..17]).unwrap_err().to_string(),
            "truncated VLAN tag: need 6 bytes, have 5"
        );
        let mut a = ARP_REQUEST;
        a[15] = 6;
        assert!(matches!(parse(&a), Err(WireError::Unsupported { .. })));
    }

    #[test]
    fn fill_and_verify() {
        for orig in [&IPV4_UDP[..], &IPV6_TCP[..], &ICMP4_ECHO[..], &QINQ_UDP[..]] {
            let mut f = orig.to_vec();
            assert!(verify_checksums(&f));
            let h = parse(&f).unwrap();
            if let Some(mut ip) = h.ipv4_mut(&mut f) {
                ip.set_checksum(0x1111);
            }
            match h.l4 {
                L4Kind::Tcp => h.tcp_mut(&mut f).unwrap().set_checksum(0x2222),
                L4Kind::Udp => h.udp_mut(&mut f).unwrap().set_checksum(0x2222),
                _ => h.icmp_mut(&mut f).unwrap().set_checksum(0x2222),
            }
            assert!(!verify_checksums(&f));
            fill_checksums(&mut f).unwrap();
            assert_eq!(f, orig);
        }
        let mut e = IPV6_EXT_UDP;
        let h = parse(&e).unwrap();
        h.ipv6_mut(&mut e).unwrap().set_hop_limit(1);
        fill_checksums(&mut e).unwrap(); // fragment: nothing to fill
        assert!(verify_checksums(&e));
        assert!(!verify_checksums(&IPV4_UDP[..20]));
        assert!(fill_checksums(&mut [0u8; 3]).is_err());
    }

    #[test]
    fn nat_rewrite_incremental() {
        let mut f = IPV4_UDP;
        let h = parse(&f).unwrap();
        let new_src = [100, 64, 0, 7];
        let new_port = 40000u16;
        let (old_src, old_port);
        {
            let mut ip = h.ipv4_mut(&mut f).unwrap();
            old_src = ip.src();
            ip.set_src(new_src);
            let c = update_u32(
                ip.checksum(),
                u32::from_be_bytes(old_src),
                u32::from_be_bytes(new_src),
            );
            ip.set_checksum(c);
        }
        {
            let mut u = h.udp_mut(&mut f).unwrap();
            old_port = u.src_port();
            u.set_src_port(new_port);
            let mut c = update_u32(
                u.checksum(),
                u32::from_be_bytes(old_src),
                u32::from_be_bytes(new_src),
            );
            c = update_u16(c, old_port, new_port);
            u.set_checksum(c);
        }
        assert!(verify_checksums(&f));
        let mut g = f;
        fill_checksums(&mut g).unwrap();
        assert_eq!(f, g);
        assert_eq!(
            h.ethernet_mut(&mut f).unwrap().src(),
            [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb]
        );
        assert!(h.arp_mut(&mut f).is_none() && h.tcp_mut(&mut f).is_none());
        assert!(h.icmp_mut(&mut f).is_none() && h.ipv6_mut(&mut f).is_none());
    }
}
