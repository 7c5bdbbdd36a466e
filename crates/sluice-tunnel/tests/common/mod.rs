//! Shared helpers for the tunnel tests.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use sluice_tunnel::{Endpoint, Metadata, Nsh, Peer};

/// Headroom in front of inner frames.
pub const HEADROOM: usize = 128;
pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
pub const IP_A: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const IP_B: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

pub const IP6_A: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 1);
pub const IP6_B: Ipv6Addr = Ipv6Addr::new(0xfd00, 9, 0, 0, 0, 0, 0, 2);

/// Host A with an IPv6 address.
pub fn host_a6() -> Endpoint {
    Endpoint {
        ipv6: Some(IP6_A),
        ..host_a()
    }
}

/// Host B with an IPv6 address.
pub fn host_b6() -> Endpoint {
    Endpoint {
        ipv6: Some(IP6_B),
        ..host_b()
    }
}

/// B as seen from A, over IPv6.
pub fn peer_b6() -> Peer {
    Peer::new(2, IP6_B).with_mac(MAC_B)
}

/// Host A (sender).
pub fn host_a() -> Endpoint {
    Endpoint::new(1, MAC_A, IP_A)
}

/// Host B (receiver).
pub fn host_b() -> Endpoint {
    Endpoint::new(2, MAC_B, IP_B)
}

/// B as seen from A.
pub fn peer_b() -> Peer {
    Peer::new(2, IP_B).with_mac(MAC_B)
}

/// A as seen from B.
pub fn peer_a() -> Peer {
    Peer::new(1, IP_A).with_mac(MAC_A)
}

/// A buffer with an inner UDP frame of `len` bytes (source port `sport`) after the headroom.
pub fn inner_udp(len: usize, sport: u16) -> (Vec<u8>, Range<usize>) {
    let mut buf = vec![0xee; HEADROOM + len];
    sluice_wire::write_udp_ipv4(
        &mut buf[HEADROOM..],
        [0x02, 0, 0, 0, 1, 1],
        [0x02, 0, 0, 0, 1, 2],
        [192, 168, 1, 1],
        [192, 168, 1, 2],
        sport,
        53,
        len,
    )
    .expect("inner frame");
    for (i, b) in buf[HEADROOM + 42..].iter_mut().enumerate() {
        *b = i as u8;
    }
    (buf, HEADROOM..HEADROOM + len)
}

/// NSH for chain 7, step 2, with a flow hash of the inner frame.
pub fn nsh_for(inner: &[u8]) -> Nsh {
    Nsh::for_chain(
        7,
        2,
        Metadata {
            origin_host: 1,
            service: 12,
            flow_hash: sluice_wire::flow_hash(inner),
            in_port: 3,
            flags: 0x5a,
            hops: 0,
            tag: 0xdead_beef,
        },
    )
}

/// A valid GPE+NSH frame from A to B (the whole outer frame).
pub fn gpe_frame() -> Vec<u8> {
    let (mut buf, inner) = inner_udp(64, 1000);
    let nsh = nsh_for(&buf[inner.clone()]);
    let r = sluice_tunnel::encap_gpe_nsh(&mut buf, inner, &host_a(), &peer_b(), &nsh).unwrap();
    buf[r].to_vec()
}

/// A valid VXLAN frame (VNI 42) from A to B.
pub fn vxlan_frame() -> Vec<u8> {
    let (mut buf, inner) = inner_udp(64, 1000);
    let h = sluice_wire::flow_hash(&buf[inner.clone()]);
    let r = sluice_tunnel::encap_vxlan(&mut buf, inner, &host_a(), &peer_b(), 42, h).unwrap();
    buf[r].to_vec()
}

/// Internet checksum written independently of sluice-wire.
pub fn csum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the outer IPv4 header checksum of a frame (after editing the header).
pub fn fix_ip_checksum(f: &mut [u8]) {
    f[24] = 0;
    f[25] = 0;
    let c = csum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}
