//! Robustness: every prefix of valid packets, mutated packets and a few
//! thousand pseudo-random buffers go through every parser and accessor;
//! nothing may panic, and `Headers` must keep its promises.

use crate::arp::ArpPacket;
use crate::build::{write_tcp_ipv4, write_tcp_ipv6, write_udp_ipv4, write_udp_ipv6};
use crate::checksum::{
    fill_tcp_checksum_ipv4, fill_tcp_checksum_ipv6, fill_udp_checksum_ipv4, fill_udp_checksum_ipv6,
    verify_tcp_checksum_ipv4, verify_tcp_checksum_ipv6, verify_udp_checksum_ipv4,
    verify_udp_checksum_ipv6,
};
use crate::ethernet::{swap_macs, EthernetFrame, VlanTag};
use crate::flow::{flow_hash, FlowKey};
use crate::headers::{fill_checksums, parse, verify_checksums, L3Kind, L4Kind};
use crate::icmp::IcmpPacket;
use crate::ipv4::Ipv4Packet;
use crate::ipv6::{find_upper_layer, Ipv6Packet};
use crate::tcp::TcpPacket;
use crate::testdata::{ARP_REQUEST, ICMP4_ECHO, IPV4_UDP, IPV6_EXT_UDP, IPV6_TCP, QINQ_UDP};
use crate::udp::UdpPacket;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Calls every accessor of every view that accepts `b` (at offset 0).
fn views(b: &[u8], sink: &mut u64) {
    let mut add = |x: u64| *sink = sink.wrapping_add(x);
    if let Ok(e) = EthernetFrame::new_checked(b) {
        add(u64::from(e.dst()[0]) + u64::from(e.src()[5]) + u64::from(e.ethertype()));
        add(e.payload().len() as u64 + u64::from(e.is_broadcast()) + u64::from(e.is_multicast()));
        if let Some(v) = e.vlan() {
            add(u64::from(v.vid()) + v.inner().len() as u64 + v.payload().len() as u64);
        }
    }
    if let Ok(v) = VlanTag::new_checked(b) {
        let i = v.info();
        add(u64::from(i.vid) + u64::from(i.pcp) + u64::from(v.inner_ethertype()));
    }
    if let Ok(a) = ArpPacket::new_checked(b) {
        add(u64::from(a.oper()) + u64::from(a.sha()[0]) + u64::from(a.spa()[0]));
        add(u64::from(a.tha()[5]) + u64::from(a.tpa_addr().octets()[3]));
    }
    if let Ok(ip) = Ipv4Packet::new_checked(b) {
        add(u64::from(ip.total_len()) + ip.header_len() as u64 + u64::from(ip.ttl()));
        add(ip.options().len() as u64
            + ip.payload().len() as u64
            + u64::from(ip.verify_checksum()));
        add(u64::from(ip.frag_offset()) + u64::from(ip.is_fragment()) + u64::from(ip.protocol()));
        add(u64::from(ip.src()[0]) + u64::from(ip.dst_addr().octets()[0]) + u64::from(ip.ident()));
    }
    if let Ok(ip) = Ipv6Packet::new_checked(b) {
        add(u64::from(ip.payload_len())
            + u64::from(ip.flow_label())
            + u64::from(ip.traffic_class()));
        add(ip.payload().len() as u64 + u64::from(ip.src()[15]) + u64::from(ip.hop_limit()));
        if let Ok(ul) = ip.upper_layer() {
            add(ul.offset as u64 + u64::from(ul.proto));
        }
    }
    for nh in [0u8, 43, 44, 60] {
        if let Ok(ul) = find_upper_layer(nh, b) {
            add(ul.offset as u64);
        }
    }
    if let Ok(u) = UdpPacket::new_checked(b) {
        add(u64::from(u.src_port()) + u64::from(u.length()) + u.payload().len() as u64);
        add(u64::from(u.verify_checksum_ipv4([1; 4], [2; 4])));
        add(u64::from(u.verify_checksum_ipv6([1; 16], [2; 16])));
    }
    if let Ok(t) = TcpPacket::new_checked(b) {
        add(u64::from(t.seq()) + u64::from(t.ack()) + u64::from(t.flags()));
        add(t.options().len() as u64 + t.payload().len() as u64 + u64::from(t.window()));
        add(u64::from(t.compute_checksum_ipv4([1; 4], [2; 4])));
        add(u64::from(t.compute_checksum_ipv6([1; 16], [2; 16])));
    }
    if let Ok(i) = IcmpPacket::new_checked(b) {
        add(u64::from(i.msg_type()) + u64::from(i.identifier()) + u64::from(i.sequence()));
        add(i.payload().len() as u64 + u64::from(i.verify_checksum()));
        add(u64::from(i.verify_checksum_icmpv6([1; 16], [2; 16])));
    }
    add(u64::from(verify_udp_checksum_ipv4(b)) + u64::from(verify_tcp_checksum_ipv4(b)));
    add(u64::from(verify_udp_checksum_ipv6(b)) + u64::from(verify_tcp_checksum_ipv6(b)));
}

/// Everything, on one buffer. Returns how deep `parse` got: 0 error,
/// 1 Ethernet, 2 IP, 3 TCP/UDP/ICMP header.
fn exercise(frame: &[u8], sink: &mut u64) -> usize {
    let depth = match parse(frame) {
        Ok(h)
            if matches!(
                h.l4,
                L4Kind::Tcp | L4Kind::Udp | L4Kind::Icmp | L4Kind::Icmpv6
            ) =>
        {
            3
        }
        Ok(h) if h.is_ip() => 2,
        Ok(_) => 1,
        Err(_) => 0,
    };
    match parse(frame) {
        Ok(h) => {
            // The promises of `Headers`.
            assert!(h.l3_offset == h.l2_len && h.l3_end <= frame.len());
            assert!(h.ethernet(frame).is_some());
            match h.l3 {
                L3Kind::Ipv4 => assert!(h.ipv4(frame).is_some()),
                L3Kind::Ipv6 => assert!(h.ipv6(frame).is_some()),
                L3Kind::Arp => assert!(h.arp(frame).is_some()),
                L3Kind::Other(t) => assert_eq!(t, h.ethertype),
            }
            match h.l4 {
                L4Kind::Tcp => assert!(h.tcp(frame).is_some()),
                L4Kind::Udp => assert!(h.udp(frame).is_some()),
                L4Kind::Icmp | L4Kind::Icmpv6 => assert!(h.icmp(frame).is_some()),
                L4Kind::Other(_) => assert!(h.l4_offset.is_some()),
                L4Kind::None => assert!(h.l4_offset.is_none()),
            }
            if let Some(p) = h.l4_payload(frame) {
                *sink = sink.wrapping_add(p.len() as u64);
            }
            if h.is_ip() {
                let k = FlowKey::parse(frame).expect("parsed IP frame has a flow key");
                assert_eq!(k.is_ipv6, h.l3 == L3Kind::Ipv6);
                assert_eq!(k.proto, h.ip_proto);
            }
            // Filling then verifying checksums must agree.
            let mut copy = frame.to_vec();
            fill_checksums(&mut copy).expect("parse succeeded");
            assert!(verify_checksums(&copy), "{frame:02x?}");
            let h2 = parse(&copy).unwrap();
            for m in [
                h2.udp_mut(&mut copy).map(|u| u.into_inner().len()),
                h2.tcp_mut(&mut copy).map(|t| t.into_inner().len()),
                h2.icmp_mut(&mut copy).map(|i| i.into_inner().len()),
            ]
            .into_iter()
            .flatten()
            {
                *sink = sink.wrapping_add(m as u64);
            }
        }
        Err(e) => *sink = sink.wrapping_add(e.to_string().len() as u64),
    }
    if let Some(k) = FlowKey::parse(frame) {
        *sink = sink.wrapping_add(u64::from(k.symmetric_hash()));
        assert_eq!(k.symmetric_hash(), k.reversed().symmetric_hash());
        let text = k.to_string();
        assert_eq!(text.parse::<FlowKey>().unwrap(), k, "{text}");
    }
    *sink = sink.wrapping_add(u64::from(flow_hash(frame)));
    let mut copy = frame.to_vec();
    swap_macs(&mut copy);
    for off in [0usize, 12, 14, 16, 18, 22, 26, 34, 38, 42, 54, 58, 62] {
        if let Some(b) = frame.get(off..) {
            views(b, sink);
            let mut m = b.to_vec();
            let _ = fill_udp_checksum_ipv4(&mut m);
            let _ = fill_tcp_checksum_ipv4(&mut m);
            let _ = fill_udp_checksum_ipv6(&mut m);
            let _ = fill_tcp_checksum_ipv6(&mut m);
        }
    }
    depth
}

fn samples() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        ARP_REQUEST.to_vec(),
        IPV4_UDP.to_vec(),
        IPV6_TCP.to_vec(),
        QINQ_UDP.to_vec(),
        ICMP4_ECHO.to_vec(),
        IPV6_EXT_UDP.to_vec(),
    ];
    let (m1, m2) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut b = [0u8; 96];
    let n = write_udp_ipv4(&mut b, m1, m2, [1, 2, 3, 4], [5, 6, 7, 8], 1, 2, 70).unwrap();
    v.push(b[..n].to_vec());
    let n = write_tcp_ipv4(&mut b, m1, m2, [1, 2, 3, 4], [5, 6, 7, 8], 1, 2, 0x18, 80).unwrap();
    v.push(b[..n].to_vec());
    let n = write_udp_ipv6(&mut b, m1, m2, [1; 16], [2; 16], 1, 2, 90).unwrap();
    v.push(b[..n].to_vec());
    let n = write_tcp_ipv6(&mut b, m1, m2, [1; 16], [2; 16], 1, 2, 0x02, 96).unwrap();
    v.push(b[..n].to_vec());
    v
}

#[test]
fn every_prefix_of_valid_packets() {
    let mut sink = 0u64;
    for s in samples() {
        assert!(parse(&s).is_ok());
        for n in 0..=s.len() {
            exercise(&s[..n], &mut sink);
        }
    }
    assert_ne!(sink, 0);
}

#[test]
fn mutated_packets() {
    let mut r = XorShift(0x0123_4567_89ab_cdef);
    let mut sink = 0u64;
    let samples = samples();
    let mut depth = [0usize; 4];
    for i in 0..4000 {
        let mut f = samples[i % samples.len()].clone();
        let flips = 1 + r.next() % 4;
        for _ in 0..flips {
            let x = r.next();
            let pos = (x % f.len() as u64) as usize;
            f[pos] = (x >> 32) as u8;
        }
        let cut = (r.next() % (f.len() as u64 + 1)) as usize;
        depth[exercise(&f, &mut sink)] += 1;
        depth[exercise(&f[..cut], &mut sink)] += 1;
    }
    assert_ne!(sink, 0);
    eprintln!("mutated coverage {depth:?}");
    assert!(depth.iter().all(|&d| d > 100), "coverage {depth:?}");
}

#[test]
fn random_buffers() {
    let mut r = XorShift(0xfeed_face_dead_beef);
    let mut sink = 0u64;
    let mut depth = [0usize; 4];
    let types: [[u8; 2]; 6] = [
        [8, 0],
        [0x86, 0xdd],
        [8, 6],
        [0x81, 0],
        [0x88, 0xa8],
        [0x12, 0x34],
    ];
    for i in 0..4000u64 {
        let len = (r.next() % 160) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        // Steer half of them past the Ethernet header to reach deeper layers:
        // plausible type, version, lengths and protocol; the rest stays random.
        if i % 2 == 0 && len >= 16 {
            let t = types[(r.next() % 6) as usize];
            f[12..14].copy_from_slice(&t);
            let v4 = r.next() & 1 == 0;
            f[14] = if v4 { 0x45 } else { 0x60 };
            let room = len - 14;
            if v4 && len >= 34 {
                let total = 20 + (r.next() % (room as u64 - 19)) as u16;
                f[16..18].copy_from_slice(&total.to_be_bytes());
                f[20] = 0;
                f[21] = 0;
                f[23] = [6u8, 17, 1, 58, 0, 44][(r.next() % 6) as usize];
                if f[23] == 17 && total >= 28 && len >= 42 {
                    let ulen = 8 + (r.next() % u64::from(total - 27)) as u16;
                    f[38..40].copy_from_slice(&ulen.to_be_bytes());
                }
                if f[23] == 6 && len > 46 {
                    f[46] = 0x50;
                }
            } else if !v4 && len >= 54 {
                let plen = (r.next() % (room as u64 - 39)) as u16;
                f[18..20].copy_from_slice(&plen.to_be_bytes());
                f[20] = [6u8, 17, 58, 1, 0, 43, 44, 60][(r.next() % 8) as usize];
                if f[20] == 6 && len >= 67 {
                    f[66] = 0x50;
                }
            }
        }
        depth[exercise(&f, &mut sink)] += 1;
    }
    assert_ne!(sink, 0);
    eprintln!("random coverage {depth:?}");
    assert!(depth.iter().all(|&d| d > 0), "coverage {depth:?}");
}
