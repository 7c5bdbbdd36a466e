//! Encapsulation in place: outer headers are written into the headroom in front of the inner
//! frame.

use std::ops::Range;

use std::net::IpAddr;

use sluice_wire::checksum::{accumulate, finish};
use sluice_wire::{
    internet_checksum, pseudo_header_ipv6, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_UDP,
};
use thiserror::Error;

use crate::decap::DropReason;
use crate::endpoint::{Endpoint, Peer};
use crate::wire::{
    Metadata, GPE_FLAG_I, GPE_FLAG_P, GPE_NEXT_NSH, MAX_TUNNEL_HOPS, NSH_MD1_LEN, NSH_MD_TYPE_1,
    NSH_NEXT_ETHERNET, NSH_TTL_DEFAULT, OUTER_IPV4_LEN, OUTER_IPV6_LEN, VXLAN_FLAG_I,
    VXLAN_HEADER_LEN,
};

/// Largest 24-bit value (service path id, VNI).
const MAX_24: u32 = 0x00ff_ffff;
/// VXLAN-GPE + NSH MD type 1 headers.
const GPE_NSH_LEN: usize = VXLAN_HEADER_LEN + NSH_MD1_LEN;
/// Outer IPv4 TTL / IPv6 hop limit.
const OUTER_TTL: u8 = 64;

/// The NSH fields of a packet: service path and index, TTL and Sluice's metadata.
///
/// Sluice maps the chain id to the service path id (SPI) and the chain step to the service
/// index as `si = 255 - step`: RFC 8300 service indexes count down from 255 as the packet
/// moves along the path. [`Nsh::for_chain`] and [`Nsh::step`] do the mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Nsh {
    /// Service path id (24 bits): the chain id.
    pub spi: u32,
    /// Service index: `255 - step`.
    pub si: u8,
    /// NSH TTL, 1..=63.
    pub ttl: u8,
    /// Context (MD type 1).
    pub meta: Metadata,
}

impl Nsh {
    /// The NSH of step `step` of chain `chain`, with the default TTL (63).
    pub fn for_chain(chain: u16, step: u8, meta: Metadata) -> Nsh {
        Nsh {
            spi: u32::from(chain),
            si: 255 - step,
            ttl: NSH_TTL_DEFAULT,
            meta,
        }
    }

    /// Chain step of a service index (`255 - si`).
    #[inline]
    pub fn step_of(si: u8) -> u8 {
        255 - si
    }

    /// Chain step of this header (`255 - si`).
    #[inline]
    pub fn step(&self) -> u8 {
        Self::step_of(self.si)
    }
}

/// Why a frame could not be encapsulated. Nothing was written to the buffer in any case.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncapError {
    /// The inner range does not lie inside the buffer.
    #[error("inner frame {start}..{end} lies outside the {len}-byte buffer")]
    BadRange {
        /// Start of the inner range.
        start: usize,
        /// End of the inner range.
        end: usize,
        /// Buffer length.
        len: usize,
    },
    /// The inner frame is shorter than an Ethernet header.
    #[error("inner frame of {len} bytes is shorter than an Ethernet header (14)")]
    InnerTooShort {
        /// Inner frame length.
        len: usize,
    },
    /// Not enough headroom in front of the inner frame for the outer headers.
    #[error("need {need} bytes of headroom in front of the inner frame, have {have}: give the packet pool more headroom")]
    NoHeadroom {
        /// Headroom needed.
        need: usize,
        /// Headroom available.
        have: usize,
    },
    /// The outer IPv4 packet would exceed the underlay MTU (the frame is dropped, never cut).
    #[error("tunnelled packet of {len} bytes exceeds the underlay MTU of {mtu}: raise the underlay MTU or lower the inner MTU by the tunnel overhead")]
    TooBig {
        /// Outer IPv4 packet length.
        len: usize,
        /// MTU that applies.
        mtu: u16,
    },
    /// The packet already crossed a tunnel; Sluice forwards at most one hop.
    #[error("packet already crossed {hops} tunnel(s): a tunnelled packet is never forwarded to a third host")]
    SecondHop {
        /// Tunnels already crossed.
        hops: u8,
    },
    /// The underlay next hop's MAC is not known yet.
    #[error("no MAC for the underlay next hop of peer {peer}: resolve it with ARP or configure a static MAC")]
    NoNextHopMac {
        /// The peer's tunnel address.
        peer: IpAddr,
    },
    /// The peer has an IPv6 address and the local endpoint none.
    #[error("peer {peer} is IPv6 but the local endpoint has no IPv6 address: set one in the host record")]
    NoLocalIpv6 {
        /// The peer's tunnel address.
        peer: IpAddr,
    },
    /// A field is out of its range (SPI or VNI > 24 bits, NSH TTL not in 1..=63).
    #[error("{what} {value} out of range")]
    OutOfRange {
        /// Which field.
        what: &'static str,
        /// Value given.
        value: u32,
    },
}

impl EncapError {
    /// The reason to count the dropped frame under.
    pub fn drop_reason(&self) -> DropReason {
        match self {
            EncapError::TooBig { .. } => DropReason::TooBig,
            EncapError::SecondHop { .. } => DropReason::HopLimit,
            EncapError::NoNextHopMac { .. } => DropReason::NoNextHopMac,
            EncapError::NoHeadroom { .. } => DropReason::NoHeadroom,
            EncapError::NoLocalIpv6 { .. } => DropReason::NoLocalAddress,
            EncapError::BadRange { .. }
            | EncapError::InnerTooShort { .. }
            | EncapError::OutOfRange { .. } => DropReason::BadInner,
        }
    }
}

/// Outer UDP source port for a flow hash: in 49152..=65535 (RFC 7348 §5), the same for every
/// packet of a flow, spread over flows.
#[inline]
pub fn source_port(flow_hash: u32) -> u16 {
    let h = flow_hash ^ (flow_hash >> 16);
    0xc000 | (h as u16 & 0x3fff)
}

/// Outer addresses of one packet.
#[derive(Clone, Copy)]
enum Outer {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

impl Outer {
    #[inline]
    fn of(local: &Endpoint, peer: &Peer) -> Result<Outer, EncapError> {
        match peer.ip {
            IpAddr::V4(d) => Ok(Outer::V4(local.ip.octets(), d.octets())),
            IpAddr::V6(d) => match local.ipv6 {
                Some(s) => Ok(Outer::V6(s.octets(), d.octets())),
                None => Err(EncapError::NoLocalIpv6 { peer: peer.ip }),
            },
        }
    }

    /// Outer Ethernet + IP + UDP length.
    #[inline]
    fn len(&self) -> usize {
        match self {
            Outer::V4(..) => OUTER_IPV4_LEN,
            Outer::V6(..) => OUTER_IPV6_LEN,
        }
    }
}

/// Checks the range, headroom and MTU; returns the outer frame start.
#[inline]
fn prepare(
    buf_len: usize,
    inner: &Range<usize>,
    overhead: usize,
    local: &Endpoint,
    peer: &Peer,
) -> Result<usize, EncapError> {
    if inner.start > inner.end || inner.end > buf_len {
        return Err(EncapError::BadRange {
            start: inner.start,
            end: inner.end,
            len: buf_len,
        });
    }
    let inner_len = inner.end - inner.start;
    if inner_len < 14 {
        return Err(EncapError::InnerTooShort { len: inner_len });
    }
    if inner.start < overhead {
        return Err(EncapError::NoHeadroom {
            need: overhead,
            have: inner.start,
        });
    }
    let ip_len = inner_len + overhead - 14;
    let mtu = peer.effective_mtu(local);
    // The MTU is a u16, so this also keeps the IPv4 total length and the IPv6 payload length
    // within their 16-bit fields.
    if ip_len > usize::from(mtu) {
        return Err(EncapError::TooBig { len: ip_len, mtu });
    }
    Ok(inner.start - overhead)
}

/// Writes outer Ethernet + IP + UDP at the start of `f` (the whole outer frame, tunnel
/// headers already written after them). IPv4: header checksum, UDP checksum 0. IPv6: flow
/// label from the flow hash (RFC 6438), UDP checksum computed over the whole datagram.
#[inline(always)]
fn write_outer(f: &mut [u8], mac: [u8; 6], src_mac: [u8; 6], outer: Outer, hash: u32, dport: u16) {
    f[0..6].copy_from_slice(&mac);
    f[6..12].copy_from_slice(&src_mac);
    let s = source_port(hash).to_be_bytes();
    let d = dport.to_be_bytes();
    match outer {
        Outer::V4(src, dst) => {
            let ip_len = (f.len() - 14) as u16;
            let u = (ip_len - 20).to_be_bytes();
            f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            let ip = &mut f[14..34];
            let l = ip_len.to_be_bytes();
            // Version 4, IHL 5, DSCP/ECN 0, id 0, DF (RFC 7348: VTEPs do not fragment),
            // TTL 64, UDP.
            ip[..12].copy_from_slice(&[
                0x45,
                0x00,
                l[0],
                l[1],
                0x00,
                0x00,
                0x40,
                0x00,
                OUTER_TTL,
                IPPROTO_UDP,
                0,
                0,
            ]);
            ip[12..16].copy_from_slice(&src);
            ip[16..20].copy_from_slice(&dst);
            let c = internet_checksum(ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            // UDP checksum 0: allowed for IPv4 (RFC 7348 §5, RFC 768).
            f[34..42].copy_from_slice(&[s[0], s[1], d[0], d[1], u[0], u[1], 0, 0]);
        }
        Outer::V6(src, dst) => {
            let udp_len = (f.len() - 54) as u16;
            let u = udp_len.to_be_bytes();
            f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            let fl = (0x6000_0000u32 | (hash & 0x000f_ffff)).to_be_bytes();
            f[14..22].copy_from_slice(&[
                fl[0],
                fl[1],
                fl[2],
                fl[3],
                u[0],
                u[1],
                IPPROTO_UDP,
                OUTER_TTL,
            ]);
            f[22..38].copy_from_slice(&src);
            f[38..54].copy_from_slice(&dst);
            f[54..62].copy_from_slice(&[s[0], s[1], d[0], d[1], u[0], u[1], 0, 0]);
            let sum = accumulate(
                pseudo_header_ipv6(src, dst, IPPROTO_UDP, u32::from(udp_len)),
                &f[54..],
            );
            // RFC 768: a computed 0 is sent as 0xffff (0 means "no checksum").
            let c = match finish(sum) {
                0 => 0xffff,
                c => c,
            };
            f[60..62].copy_from_slice(&c.to_be_bytes());
        }
    }
}

/// Encapsulates the Ethernet frame `buf[inner]` in VXLAN-GPE + NSH (MD type 1) to `peer`,
/// writing the outer headers (74 bytes, 94 with an IPv6 peer) into the headroom just in
/// front of `inner`. Returns the range of the whole outer frame. The UDP source port is
/// [`source_port`]`(nsh.meta.flow_hash)`, so `meta.flow_hash` must be the inner flow hash
/// (`SlotMeta::flow_hash`, or `sluice_wire::flow_hash(inner)`). The metadata's `hops` is
/// written incremented; a packet that already crossed a tunnel is refused
/// ([`EncapError::SecondHop`]). The GPE VNI is 0 (Sluice separates traffic by SPI).
/// Nothing is written when an error is returned.
pub fn encap_gpe_nsh(
    buf: &mut [u8],
    inner: Range<usize>,
    local: &Endpoint,
    peer: &Peer,
    nsh: &Nsh,
) -> Result<Range<usize>, EncapError> {
    if nsh.meta.hops >= MAX_TUNNEL_HOPS {
        return Err(EncapError::SecondHop {
            hops: nsh.meta.hops,
        });
    }
    if nsh.spi > MAX_24 {
        return Err(EncapError::OutOfRange {
            what: "NSH service path id",
            value: nsh.spi,
        });
    }
    if nsh.ttl == 0 || nsh.ttl > 63 {
        return Err(EncapError::OutOfRange {
            what: "NSH TTL",
            value: nsh.ttl.into(),
        });
    }
    let mac = peer.mac.ok_or(EncapError::NoNextHopMac { peer: peer.ip })?;
    let outer = Outer::of(local, peer)?;
    let o = outer.len();
    let start = prepare(buf.len(), &inner, o + GPE_NSH_LEN, local, peer)?;
    let f = &mut buf[start..inner.end];
    let h = &mut f[o..o + GPE_NSH_LEN];
    // VXLAN-GPE: flags I|P, reserved, next protocol NSH; VNI 0, reserved.
    h[..8].copy_from_slice(&[GPE_FLAG_I | GPE_FLAG_P, 0, 0, GPE_NEXT_NSH, 0, 0, 0, 0]);
    // NSH base: Ver 0, O 0, U 0, TTL (6 bits), Length 6 words; U, MD type 1; next Ethernet.
    let b = ((u16::from(nsh.ttl) << 6) | 6).to_be_bytes();
    h[8..12].copy_from_slice(&[b[0], b[1], NSH_MD_TYPE_1, NSH_NEXT_ETHERNET]);
    h[12..16].copy_from_slice(&((nsh.spi << 8) | u32::from(nsh.si)).to_be_bytes());
    let mut meta = nsh.meta;
    meta.hops += 1;
    h[16..32].copy_from_slice(&meta.to_bytes());
    write_outer(f, mac, local.mac, outer, nsh.meta.flow_hash, local.gpe_port);
    Ok(start..inner.end)
}

/// Encapsulates the Ethernet frame `buf[inner]` in plain VXLAN (RFC 7348) with `vni` to
/// `peer`, writing the outer headers (50 bytes, 70 with an IPv6 peer) into the headroom just
/// in front of `inner`. Returns the range of the whole outer frame. The UDP source port is
/// [`source_port`]`(flow_hash)` where `flow_hash` is `sluice_wire::flow_hash` of the inner
/// frame (pass `SlotMeta::flow_hash` when it is already known). Nothing is written when an
/// error is returned.
pub fn encap_vxlan(
    buf: &mut [u8],
    inner: Range<usize>,
    local: &Endpoint,
    peer: &Peer,
    vni: u32,
    flow_hash: u32,
) -> Result<Range<usize>, EncapError> {
    if vni > MAX_24 {
        return Err(EncapError::OutOfRange {
            what: "VXLAN VNI",
            value: vni,
        });
    }
    let mac = peer.mac.ok_or(EncapError::NoNextHopMac { peer: peer.ip })?;
    let outer = Outer::of(local, peer)?;
    let o = outer.len();
    let start = prepare(buf.len(), &inner, o + VXLAN_HEADER_LEN, local, peer)?;
    let f = &mut buf[start..inner.end];
    let v = (vni << 8).to_be_bytes();
    f[o..o + VXLAN_HEADER_LEN].copy_from_slice(&[VXLAN_FLAG_I, 0, 0, 0, v[0], v[1], v[2], 0]);
    write_outer(f, mac, local.mac, outer, flow_hash, local.vxlan_port);
    Ok(start..inner.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ports_in_range() {
        for h in [0u32, 1, 0xffff_ffff, 0x1234_5678, 0xdead_beef] {
            let p = source_port(h);
            assert!(p >= 49152, "{p}");
            assert_eq!(p, source_port(h));
        }
        assert_ne!(source_port(1), source_port(2));
    }

    #[test]
    fn step_mapping() {
        let n = Nsh::for_chain(7, 2, Metadata::default());
        assert_eq!((n.spi, n.si, n.ttl, n.step()), (7, 253, 63, 2));
    }
}
