//! Every malformed tunnel frame is dropped with its own reason. Offsets in a GPE+NSH frame
//! from A: outer IPv4 at 14, UDP at 34, GPE at 42, NSH at 50 (context at 58), inner at 74.

mod common;

use common::*;
use sluice_tunnel::{decap, DropReason};

fn reason(f: &[u8]) -> DropReason {
    decap(f).expect_err("must be dropped")
}

#[test]
fn valid_frames_pass() {
    assert!(decap(&gpe_frame()).is_ok());
    assert!(decap(&vxlan_frame()).is_ok());
}

#[test]
fn too_short_ethernet() {
    assert_eq!(reason(&gpe_frame()[..12]), DropReason::TooShort);
    assert_eq!(reason(&gpe_frame()[..30]), DropReason::TooShort);
}

#[test]
fn too_short_ip_length_past_end() {
    // The IPv4 total length says more bytes than the frame has.
    let f = gpe_frame();
    assert_eq!(reason(&f[..f.len() - 1]), DropReason::TooShort);
}

#[test]
fn too_short_inner_frame() {
    // A VXLAN packet whose inner frame has 10 bytes.
    let mut f = vxlan_frame();
    f.truncate(60);
    let n = f.len();
    f[16..18].copy_from_slice(&((n - 14) as u16).to_be_bytes());
    f[38..40].copy_from_slice(&((n - 34) as u16).to_be_bytes());
    fix_ip_checksum(&mut f);
    assert_eq!(reason(&f), DropReason::TooShort);
}

#[test]
fn not_tunnel_other_port() {
    let mut f = gpe_frame();
    f[36..38].copy_from_slice(&4791u16.to_be_bytes());
    assert_eq!(reason(&f), DropReason::NotTunnel);
}

#[test]
fn not_tunnel_not_udp() {
    let mut f = gpe_frame();
    f[23] = 6; // TCP
    fix_ip_checksum(&mut f);
    assert_eq!(reason(&f), DropReason::NotTunnel);
}

#[test]
fn not_tunnel_arp() {
    let mut f = vec![0u8; 42];
    sluice_wire::write_arp_ipv4(&mut f, 1, MAC_A, [1, 2, 3, 4], [0; 6], [1, 2, 3, 5]).unwrap();
    assert_eq!(reason(&f), DropReason::NotTunnel);
}

#[test]
fn bad_outer_ip_checksum() {
    let mut f = gpe_frame();
    f[25] ^= 1;
    assert_eq!(reason(&f), DropReason::BadOuterIp);
}

#[test]
fn bad_outer_ip_fragment() {
    let mut f = gpe_frame();
    f[20] = 0x20; // MF
    fix_ip_checksum(&mut f);
    assert_eq!(reason(&f), DropReason::BadOuterIp);
}

#[test]
fn bad_outer_ip_version() {
    let mut f = gpe_frame();
    f[14] = 0x65;
    assert_eq!(reason(&f), DropReason::BadOuterIp);
}

#[test]
fn bad_udp_length() {
    let mut f = gpe_frame();
    f[39] -= 1;
    assert_eq!(reason(&f), DropReason::BadUdp);
}

#[test]
fn udp_checksum_is_not_verified() {
    // RFC 7348 §5: verifying a non-zero checksum is optional; frames read on AF_PACKET from
    // a sender with checksum offload carry only the partial sum (seen with the kernel's
    // vxlan device over veth), so a non-zero checksum is accepted as it is.
    let mut f = gpe_frame();
    f[40..42].copy_from_slice(&[0x12, 0x34]);
    assert!(decap(&f).is_ok());
}

#[test]
fn vxlan_without_i_bit() {
    let mut f = vxlan_frame();
    f[42] = 0x00;
    assert_eq!(reason(&f), DropReason::VxlanFlags);
}

#[test]
fn gpe_bad_version() {
    let mut f = gpe_frame();
    f[42] |= 0x10;
    assert_eq!(reason(&f), DropReason::GpeFlags);
}

#[test]
fn gpe_without_p_bit() {
    let mut f = gpe_frame();
    f[42] = 0x08;
    assert_eq!(reason(&f), DropReason::GpeFlags);
}

#[test]
fn gpe_unknown_next_protocol() {
    let mut f = gpe_frame();
    f[45] = 0x01; // IPv4
    assert_eq!(reason(&f), DropReason::GpeNextProtocol);
}

#[test]
fn gpe_oam() {
    let mut f = gpe_frame();
    f[42] |= 0x01;
    assert_eq!(reason(&f), DropReason::Oam);
}

#[test]
fn nsh_bad_version() {
    let mut f = gpe_frame();
    f[50] |= 0x40;
    assert_eq!(reason(&f), DropReason::NshVersion);
}

#[test]
fn nsh_oam() {
    let mut f = gpe_frame();
    f[50] |= 0x20;
    assert_eq!(reason(&f), DropReason::Oam);
}

#[test]
fn nsh_length_wrong_for_md_type_1() {
    let mut f = gpe_frame();
    f[51] = (f[51] & 0xc0) | 5;
    assert_eq!(reason(&f), DropReason::NshLength);
}

#[test]
fn nsh_length_md_type_2_past_end() {
    let mut f = gpe_frame();
    f[52] = 0x02;
    f[51] = (f[51] & 0xc0) | 63;
    assert_eq!(reason(&f), DropReason::NshLength);
}

#[test]
fn nsh_md_type_2_bad_tlv() {
    // MD type 2, 6 words: a TLV claiming 100 bytes in a 16-byte context.
    let mut f = gpe_frame();
    f[52] = 0x02;
    f[58..62].copy_from_slice(&[0, 0, 1, 100]);
    assert_eq!(reason(&f), DropReason::NshLength);
}

#[test]
fn nsh_unknown_md_type() {
    for md in [0x0u8, 0x3, 0xf] {
        let mut f = gpe_frame();
        f[52] = md;
        assert_eq!(reason(&f), DropReason::NshMdType, "MD type {md}");
    }
}

#[test]
fn nsh_unknown_next_protocol() {
    let mut f = gpe_frame();
    f[53] = 0x01;
    assert_eq!(reason(&f), DropReason::NshNextProtocol);
}

#[test]
fn nsh_ttl_expired() {
    let mut f = gpe_frame();
    f[50] &= 0xf0;
    f[51] &= 0x3f;
    assert_eq!(reason(&f), DropReason::TtlExpired);
}

#[test]
fn nsh_second_hop() {
    let mut f = gpe_frame();
    f[58 + 11] = 2; // hops: sent on by a host that received it through a tunnel
    assert_eq!(reason(&f), DropReason::HopLimit);
}

#[test]
fn random_corruption_never_panics_and_ranges_stay_inside() {
    // Deterministic xorshift: flip bytes of valid frames and truncate them.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let bases = [gpe_frame(), vxlan_frame()];
    for i in 0..200_000 {
        let mut f = bases[i % 2].clone();
        for _ in 0..(next() % 4 + 1) {
            let pos = (next() % f.len() as u64) as usize;
            f[pos] = next() as u8;
        }
        if next() % 4 == 0 {
            let n = (next() % f.len() as u64) as usize;
            f.truncate(n);
        }
        if let Ok(d) = decap(&f) {
            assert!(d.inner.start <= d.inner.end && d.inner.end <= f.len());
            assert!(d.inner.end - d.inner.start >= 14);
        }
    }
}

#[test]
fn ipv6_outer_malformed() {
    let (mut buf, inner) = inner_udp(64, 1);
    let r = sluice_tunnel::encap_vxlan(&mut buf, inner, &host_a6(), &peer_b6(), 42, 0).unwrap();
    let f = buf[r].to_vec();
    assert!(decap(&f).is_ok());
    assert_eq!(reason(&f[..50]), DropReason::TooShort);
    assert_eq!(reason(&f[..f.len() - 1]), DropReason::TooShort);
    let mut g = f.clone();
    g[14] = 0x40;
    assert_eq!(reason(&g), DropReason::BadOuterIp);
    let mut g = f.clone();
    g[20] = 0; // next header: hop-by-hop options
    assert_eq!(reason(&g), DropReason::NotTunnel);
    let mut g = f.clone();
    g[59] += 1; // UDP length
    assert_eq!(reason(&g), DropReason::BadUdp);
}
