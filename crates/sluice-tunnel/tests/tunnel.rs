//! `Tunnel`: receive checks that need configuration, and per-peer counters.

mod common;

use common::*;
use sluice_tunnel::{DropReason, Peer, Tunnel, TunnelKind};

fn tunnel_b() -> (Tunnel, sluice_tunnel::PeerId) {
    let mut t = Tunnel::new(host_b(), 42);
    let id = t.add_peer(peer_a());
    (t, id)
}

fn chain_7(spi: u32, _si: u8) -> bool {
    spi == 7
}

#[test]
fn accepted_frames_are_counted_per_peer() {
    let (t, a) = tunnel_b();
    let g = gpe_frame();
    let v = vxlan_frame();
    let (id, d) = t.rx(&g, chain_7).unwrap();
    assert_eq!((id, d.kind), (a, TunnelKind::GpeNsh));
    let (_, d) = t.rx(&v, chain_7).unwrap();
    assert_eq!(d.kind, TunnelKind::Vxlan);
    let s = t.counters(a).unwrap().snapshot();
    assert_eq!((s.rx_packets, s.rx_bytes), (2, (g.len() + v.len()) as u64));
    assert!(s.drops.is_empty());
}

#[test]
fn unknown_service() {
    let (t, a) = tunnel_b();
    assert_eq!(
        t.rx(&gpe_frame(), |spi, _| spi == 8).unwrap_err(),
        DropReason::UnknownService
    );
    assert_eq!(t.counters(a).unwrap().drops(DropReason::UnknownService), 1);
}

#[test]
fn wrong_vni() {
    let mut t = Tunnel::new(host_b(), 43);
    let a = t.add_peer(peer_a());
    assert_eq!(
        t.rx(&vxlan_frame(), chain_7).unwrap_err(),
        DropReason::WrongVni
    );
    assert_eq!(t.counters(a).unwrap().drops(DropReason::WrongVni), 1);
}

#[test]
fn unknown_peer_counts_as_stray() {
    let t = Tunnel::new(host_b(), 42);
    assert_eq!(
        t.rx(&gpe_frame(), chain_7).unwrap_err(),
        DropReason::UnknownPeer
    );
    assert_eq!(t.stray_counters().drops(DropReason::UnknownPeer), 1);
}

#[test]
fn not_for_us() {
    let mut other = host_b();
    other.ip = std::net::Ipv4Addr::new(10, 9, 0, 99);
    let mut t = Tunnel::new(other, 42);
    let a = t.add_peer(peer_a());
    assert_eq!(
        t.rx(&gpe_frame(), chain_7).unwrap_err(),
        DropReason::NotForUs
    );
    assert_eq!(t.counters(a).unwrap().drops(DropReason::NotForUs), 1);
}

#[test]
fn malformed_from_a_peer_counts_against_it() {
    let (t, a) = tunnel_b();
    let mut f = gpe_frame();
    f[53] = 0x01;
    assert_eq!(t.rx(&f, chain_7).unwrap_err(), DropReason::NshNextProtocol);
    let mut f = gpe_frame();
    f[50] &= 0xf0;
    f[51] &= 0x3f;
    assert_eq!(t.rx(&f, chain_7).unwrap_err(), DropReason::TtlExpired);
    let s = t.counters(a).unwrap().snapshot();
    assert_eq!(s.rx_packets, 0);
    assert_eq!(s.drops, vec![("nsh_next_proto", 1), ("ttl_expired", 1)]);
}

#[test]
fn tx_counts_sent_and_dropped() {
    let mut t = Tunnel::new(host_a(), 42);
    let b = t.add_peer(Peer::new(2, IP_B));
    let (mut buf, inner) = inner_udp(64, 1);
    let nsh = nsh_for(&buf[inner.clone()]);
    assert!(t.tx_gpe_nsh(b, &mut buf, inner.clone(), &nsh).is_err());
    t.set_peer_mac(b, MAC_B);
    let r = t.tx_gpe_nsh(b, &mut buf, inner.clone(), &nsh).unwrap();
    let (mut big, big_inner) = inner_udp(1514, 1);
    assert!(t.tx_vxlan(b, &mut big, big_inner, 0).is_err());
    let s = t.counters(b).unwrap().snapshot();
    assert_eq!((s.tx_packets, s.tx_bytes), (1, (r.end - r.start) as u64));
    assert_eq!(s.drops, vec![("too_big", 1), ("no_next_hop_mac", 1)]);
    // And B accepts what A sent.
    let (tb, a) = tunnel_b();
    let (id, d) = tb.rx(&buf[r], chain_7).unwrap();
    assert_eq!((id, d.meta.origin_host), (a, 1));
}
