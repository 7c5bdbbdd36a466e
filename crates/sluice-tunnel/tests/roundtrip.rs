//! Encapsulation and decapsulation round trips, byte for byte.

mod common;

use common::*;
use sluice_tunnel::{
    decap, encap_gpe_nsh, encap_vxlan, source_port, DropReason, EncapError, Metadata, Nsh,
    TunnelKind, GPE_NSH_OVERHEAD, VXLAN_OVERHEAD,
};

/// The outer headers written independently: Ethernet, IPv4 (checksum by `csum`), UDP.
fn expected_outer(ip_len: u16, sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&MAC_B);
    h.extend_from_slice(&MAC_A);
    h.extend_from_slice(&[0x08, 0x00]);
    let ip_start = h.len();
    h.extend_from_slice(&[0x45, 0x00]);
    h.extend_from_slice(&ip_len.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0x00, 64, 17, 0, 0]);
    h.extend_from_slice(&IP_A.octets());
    h.extend_from_slice(&IP_B.octets());
    let c = csum(&h[ip_start..]);
    h[ip_start + 10..ip_start + 12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&(ip_len - 20).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h
}

#[test]
fn gpe_nsh_round_trip_byte_exact() {
    let (mut buf, inner) = inner_udp(64, 1000);
    let original = buf.clone();
    let nsh = nsh_for(&buf[inner.clone()]);
    let r = encap_gpe_nsh(&mut buf, inner.clone(), &host_a(), &peer_b(), &nsh).unwrap();
    assert_eq!(r, HEADROOM - GPE_NSH_OVERHEAD..HEADROOM + 64);
    // Nothing outside the headroom slice moved: the inner frame and the bytes before.
    assert_eq!(&buf[r.start + GPE_NSH_OVERHEAD..], &original[HEADROOM..]);
    assert_eq!(&buf[..r.start], &original[..r.start]);

    let mut want = expected_outer(
        (64 + GPE_NSH_OVERHEAD - 14) as u16,
        source_port(nsh.meta.flow_hash),
        4790,
    );
    want.extend_from_slice(&[0x0c, 0, 0, 0x04, 0, 0, 0, 0]); // GPE: I|P, next NSH, VNI 0
    want.extend_from_slice(&[0x0f, 0xc6, 0x01, 0x03]); // NSH: TTL 63, len 6, MD 1, next Ethernet
    want.extend_from_slice(&[0, 0, 7, 253]); // SPI 7, SI 255-2
    want.extend_from_slice(&[0, 1, 0, 12]); // origin host 1, service 12
    want.extend_from_slice(&nsh.meta.flow_hash.to_be_bytes());
    want.extend_from_slice(&[0, 3, 0x5a, 1]); // in-port 3, flags, hops 1
    want.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(want.len(), GPE_NSH_OVERHEAD);
    assert_eq!(&buf[r.start..inner.start], &want[..]);

    let frame = &buf[r.clone()];
    let d = decap(frame).unwrap();
    assert_eq!(d.kind, TunnelKind::GpeNsh);
    assert_eq!((d.spi, d.si, d.ttl, d.md_type, d.vni), (7, 253, 63, 1, 0));
    assert_eq!(Nsh::step_of(d.si), 2);
    assert_eq!(
        d.meta,
        Metadata {
            hops: 1,
            ..nsh.meta
        }
    );
    assert_eq!((d.outer_src, d.outer_dst), (IP_A.into(), IP_B.into()));
    assert_eq!(d.src_port, source_port(nsh.meta.flow_hash));
    assert_eq!(&frame[d.inner.clone()], &original[inner]);
}

#[test]
fn vxlan_round_trip_byte_exact() {
    let (mut buf, inner) = inner_udp(100, 1000);
    let original = buf.clone();
    let hash = sluice_wire::flow_hash(&buf[inner.clone()]);
    let r = encap_vxlan(
        &mut buf,
        inner.clone(),
        &host_a(),
        &peer_b(),
        0x123456,
        hash,
    )
    .unwrap();
    assert_eq!(r, HEADROOM - VXLAN_OVERHEAD..HEADROOM + 100);
    let mut want = expected_outer((100 + VXLAN_OVERHEAD - 14) as u16, source_port(hash), 4789);
    want.extend_from_slice(&[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
    assert_eq!(&buf[r.start..inner.start], &want[..]);
    assert_eq!(&buf[inner.clone()], &original[inner.clone()]);
    assert_eq!(&buf[..r.start], &original[..r.start]);

    let frame = &buf[r];
    let d = decap(frame).unwrap();
    assert_eq!(d.kind, TunnelKind::Vxlan);
    assert_eq!((d.vni, d.spi, d.md_type), (0x123456, 0, 0));
    assert_eq!(&frame[d.inner.clone()], &original[inner]);
}

#[test]
fn outer_ipv4_checksum_verifies_independently() {
    for f in [gpe_frame(), vxlan_frame()] {
        assert_eq!(csum(&f[14..34]), 0, "header sums to zero with its checksum");
        let total = u16::from_be_bytes([f[16], f[17]]) as usize;
        assert_eq!(total, f.len() - 14);
        let udp_len = u16::from_be_bytes([f[38], f[39]]) as usize;
        assert_eq!(udp_len, total - 20);
        assert_eq!(&f[40..42], &[0, 0], "UDP checksum 0");
    }
}

#[test]
fn source_port_differs_per_flow_and_is_stable() {
    let mut ports = std::collections::BTreeSet::new();
    for sport in 1000..1064u16 {
        let mut seen = None;
        for _ in 0..3 {
            let (mut buf, inner) = inner_udp(64, sport);
            let h = sluice_wire::flow_hash(&buf[inner.clone()]);
            let r = encap_vxlan(&mut buf, inner, &host_a(), &peer_b(), 1, h).unwrap();
            let p = u16::from_be_bytes([buf[r.start + 34], buf[r.start + 35]]);
            assert!(p >= 49152);
            assert!(seen.is_none() || seen == Some(p), "stable per flow");
            seen = Some(p);
        }
        ports.insert(seen.unwrap());
    }
    assert!(ports.len() > 56, "64 flows gave only {} ports", ports.len());
}

#[test]
fn too_big_is_refused_not_cut() {
    // Inner 1514 + 50 - 14 = 1550 > 1500.
    let (mut buf, inner) = inner_udp(1514, 1);
    let before = buf.clone();
    let h = sluice_wire::flow_hash(&buf[inner.clone()]);
    let e = encap_vxlan(&mut buf, inner.clone(), &host_a(), &peer_b(), 1, h).unwrap_err();
    assert_eq!(
        e,
        EncapError::TooBig {
            len: 1550,
            mtu: 1500
        }
    );
    assert_eq!(e.drop_reason(), DropReason::TooBig);
    assert_eq!(buf, before, "nothing written");
    // The largest inner frame that fits: 1500 - 50 + 14.
    let (mut buf, inner) = inner_udp(1464, 1);
    assert!(encap_vxlan(&mut buf, inner, &host_a(), &peer_b(), 1, h).is_ok());
    let (mut buf, inner) = inner_udp(1441, 1);
    let nsh = nsh_for(&buf[inner.clone()]);
    assert_eq!(
        encap_gpe_nsh(&mut buf, inner, &host_a(), &peer_b(), &nsh).unwrap_err(),
        EncapError::TooBig {
            len: 1501,
            mtu: 1500
        }
    );
    // A peer with a smaller path MTU.
    let mut p = peer_b();
    p.mtu = Some(1400);
    let (mut buf, inner) = inner_udp(1400, 1);
    assert!(matches!(
        encap_vxlan(&mut buf, inner, &host_a(), &p, 1, h),
        Err(EncapError::TooBig { mtu: 1400, .. })
    ));
}

#[test]
fn no_headroom() {
    let (mut buf, _) = inner_udp(64, 1);
    let inner = 40..HEADROOM + 24;
    let nsh = nsh_for(&buf[inner.clone()]);
    assert_eq!(
        encap_gpe_nsh(&mut buf, inner, &host_a(), &peer_b(), &nsh).unwrap_err(),
        EncapError::NoHeadroom { need: 74, have: 40 }
    );
    assert!(matches!(
        encap_vxlan(&mut buf, 100..300, &host_a(), &peer_b(), 1, 0),
        Err(EncapError::BadRange { .. })
    ));
    assert!(matches!(
        encap_vxlan(&mut buf, 100..110, &host_a(), &peer_b(), 1, 0),
        Err(EncapError::InnerTooShort { len: 10 })
    ));
}

#[test]
fn at_most_one_hop() {
    let frame = gpe_frame();
    let d = decap(&frame).unwrap();
    assert_eq!(d.meta.hops, 1);
    // Host B tries to send the packet on to a third host with the metadata it received.
    let mut buf = vec![0u8; HEADROOM];
    buf.extend_from_slice(&frame[d.inner.clone()]);
    let third = sluice_tunnel::Peer::new(3, std::net::Ipv4Addr::new(10, 9, 0, 3)).with_mac([2; 6]);
    let nsh = Nsh::for_chain(7, 3, d.meta);
    let inner = HEADROOM..buf.len();
    assert_eq!(
        encap_gpe_nsh(&mut buf, inner, &host_b(), &third, &nsh).unwrap_err(),
        EncapError::SecondHop { hops: 1 }
    );
}

#[test]
fn unresolved_next_hop_and_ranges() {
    let (mut buf, inner) = inner_udp(64, 1);
    let p = sluice_tunnel::Peer::new(2, IP_B);
    assert!(matches!(
        encap_vxlan(&mut buf, inner.clone(), &host_a(), &p, 1, 0),
        Err(EncapError::NoNextHopMac { .. })
    ));
    assert!(matches!(
        encap_vxlan(&mut buf, inner.clone(), &host_a(), &peer_b(), 1 << 24, 0),
        Err(EncapError::OutOfRange { .. })
    ));
    let mut nsh = nsh_for(&buf[inner.clone()]);
    nsh.ttl = 0;
    assert!(matches!(
        encap_gpe_nsh(&mut buf, inner.clone(), &host_a(), &peer_b(), &nsh),
        Err(EncapError::OutOfRange {
            what: "NSH TTL",
            ..
        })
    ));
    nsh.ttl = 1;
    nsh.spi = 1 << 24;
    assert!(matches!(
        encap_gpe_nsh(&mut buf, inner, &host_a(), &peer_b(), &nsh),
        Err(EncapError::OutOfRange { .. })
    ));
}

#[test]
fn md_type_2_with_sluice_tlv() {
    // Built by hand: GPE + NSH MD type 2 with an unrelated TLV and Sluice's TLV.
    let mut f = vxlan_frame();
    let inner = f[50..].to_vec();
    f.truncate(42);
    f[36..38].copy_from_slice(&4790u16.to_be_bytes());
    f.extend_from_slice(&[0x0c, 0, 0, 0x04, 0, 0, 0, 0]);
    let words = 2 + 2 + 5; // base+path, TLV of 3 bytes (padded 4) + header, Sluice TLV 4+16
    f.extend_from_slice(&[
        (20u16 << 6 >> 8) as u8,
        ((20u16 << 6) as u8) | words,
        0x02,
        0x03,
    ]);
    f.extend_from_slice(&[0, 0, 9, 250]);
    f.extend_from_slice(&[0x00, 0x00, 0x05, 3, 1, 2, 3, 0]);
    f.extend_from_slice(&[0xff, 0xf6, 0x01, 16]);
    let m = Metadata {
        origin_host: 1,
        service: 2,
        flow_hash: 3,
        in_port: 4,
        flags: 5,
        hops: 1,
        tag: 6,
    };
    f.extend_from_slice(&m.to_bytes());
    f.extend_from_slice(&inner);
    let n = f.len();
    f[16..18].copy_from_slice(&((n - 14) as u16).to_be_bytes());
    f[38..40].copy_from_slice(&((n - 34) as u16).to_be_bytes());
    fix_ip_checksum(&mut f);
    let d = decap(&f).unwrap();
    assert_eq!((d.spi, d.si, d.ttl, d.md_type), (9, 250, 20, 2));
    assert_eq!(d.meta, m);
    assert_eq!(&f[d.inner.clone()], &inner[..]);
}

#[test]
fn ipv6_outer_round_trip_with_udp_checksum() {
    let (mut buf, inner) = inner_udp(64, 1000);
    let original = buf.clone();
    let nsh = nsh_for(&buf[inner.clone()]);
    let r = encap_gpe_nsh(&mut buf, inner.clone(), &host_a6(), &peer_b6(), &nsh).unwrap();
    assert_eq!(r.start, HEADROOM - sluice_tunnel::GPE_NSH_OVERHEAD_V6);
    let f = buf[r.clone()].to_vec();
    assert_eq!(&f[12..14], &[0x86, 0xdd]);
    let flow_label = u32::from_be_bytes([f[14], f[15], f[16], f[17]]);
    assert_eq!(flow_label >> 28, 6);
    assert_eq!(flow_label & 0xfffff, nsh.meta.flow_hash & 0xfffff);
    let payload_len = u16::from_be_bytes([f[18], f[19]]) as usize;
    assert_eq!(payload_len, f.len() - 54);
    assert_eq!((f[20], f[21]), (17, 64));
    assert_eq!(&f[22..38], &IP6_A.octets());
    assert_eq!(&f[38..54], &IP6_B.octets());
    assert_eq!(u16::from_be_bytes([f[56], f[57]]), 4790);
    assert_eq!(u16::from_be_bytes([f[58], f[59]]) as usize, payload_len);
    // UDP checksum verified independently over the pseudo-header and the datagram.
    let mut ph = Vec::new();
    ph.extend_from_slice(&f[22..54]);
    ph.extend_from_slice(&(payload_len as u32).to_be_bytes());
    ph.extend_from_slice(&[0, 0, 0, 17]);
    ph.extend_from_slice(&f[54..]);
    assert_ne!(&f[60..62], &[0, 0]);
    assert_eq!(csum(&ph), 0);
    // Everything after the outer headers is what the IPv4 encapsulation writes too.
    let (mut buf4, inner4) = inner_udp(64, 1000);
    let r4 = encap_gpe_nsh(&mut buf4, inner4, &host_a(), &peer_b(), &nsh).unwrap();
    assert_eq!(&f[62..], &buf4[r4.start + 42..r4.end]);

    let d = decap(&f).unwrap();
    assert_eq!((d.outer_src, d.outer_dst), (IP6_A.into(), IP6_B.into()));
    assert_eq!((d.kind, d.spi, d.si), (TunnelKind::GpeNsh, 7, 253));
    assert_eq!(&f[d.inner.clone()], &original[inner.clone()]);

    // Plain VXLAN over IPv6, and a receiving tunnel that knows the IPv6 peer.
    let (mut buf, inner) = inner_udp(64, 1000);
    let r = encap_vxlan(&mut buf, inner.clone(), &host_a6(), &peer_b6(), 42, 7).unwrap();
    assert_eq!(r.start, HEADROOM - sluice_tunnel::VXLAN_OVERHEAD_V6);
    let mut t = sluice_tunnel::Tunnel::new(host_b6(), 42);
    let a = t.add_peer(sluice_tunnel::Peer::new(1, IP6_A).with_mac(MAC_A));
    let (id, d) = t.rx(&buf[r], |_, _| true).unwrap();
    assert_eq!((id, d.kind, d.vni), (a, TunnelKind::Vxlan, 42));
    assert_eq!(&buf[inner.clone()], &original[inner]);
}

#[test]
fn ipv6_peer_needs_local_ipv6_and_fits_mtu() {
    let (mut buf, inner) = inner_udp(64, 1);
    assert!(matches!(
        encap_vxlan(&mut buf, inner, &host_a(), &peer_b6(), 1, 0),
        Err(EncapError::NoLocalIpv6 { .. })
    ));
    // 1500 - 70 + 14 = 1444 fits, one more does not.
    let (mut buf, inner) = inner_udp(1444, 1);
    assert!(encap_vxlan(&mut buf, inner, &host_a6(), &peer_b6(), 1, 0).is_ok());
    let (mut buf, inner) = inner_udp(1445, 1);
    assert_eq!(
        encap_vxlan(&mut buf, inner, &host_a6(), &peer_b6(), 1, 0).unwrap_err(),
        EncapError::TooBig {
            len: 1501,
            mtu: 1500
        }
    );
}
