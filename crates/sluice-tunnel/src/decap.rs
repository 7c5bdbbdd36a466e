//! Decapsulation and validation of received tunnel frames.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use sluice_wire::{internet_checksum, MacAddr, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_UDP};

use crate::wire::{
    be16, Metadata, GPE_FLAG_I, GPE_FLAG_O, GPE_FLAG_P, GPE_NEXT_ETHERNET, GPE_NEXT_NSH,
    MAX_TUNNEL_HOPS, NSH_MD_TYPE_1, NSH_MD_TYPE_2, NSH_NEXT_ETHERNET, SLUICE_TLV_CLASS,
    SLUICE_TLV_TYPE, VXLAN_FLAG_I, VXLAN_GPE_PORT, VXLAN_PORT,
};

/// Why a tunnel frame was dropped (received or to be sent). Each reason has a stable name
/// ([`DropReason::as_str`]) for counters, and a stable index ([`DropReason::index`]) into
/// [`PeerCounters`](crate::PeerCounters)' drop array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[repr(u8)]
pub enum DropReason {
    /// The frame ends before a header or length field says it should.
    TooShort = 0,
    /// Not IPv4 or IPv6 / UDP to the VXLAN or VXLAN-GPE port.
    NotTunnel,
    /// Outer IP header invalid: version; IPv4 header length, total length, checksum, or a
    /// fragment (tunnel packets are never fragmented).
    BadOuterIp,
    /// Outer UDP length inconsistent with the IP length.
    BadUdp,
    /// Plain VXLAN header without the I bit.
    VxlanFlags,
    /// VXLAN-GPE header with a non-zero version, or without the I or P bit.
    GpeFlags,
    /// VXLAN-GPE next protocol other than NSH (0x4) or Ethernet (0x3).
    GpeNextProtocol,
    /// OAM packet (GPE or NSH O bit): Sluice does not process tunnel OAM.
    Oam,
    /// NSH version other than 0.
    NshVersion,
    /// NSH length field inconsistent with the MD type (MD type 1: 6 words; MD type 2: at
    /// least 2 words and well-formed TLVs) or past the end of the packet.
    NshLength,
    /// NSH MD type other than 1 and 2.
    NshMdType,
    /// NSH next protocol other than Ethernet (0x3).
    NshNextProtocol,
    /// NSH TTL is zero.
    TtlExpired,
    /// Service path (chain) not known here.
    UnknownService,
    /// Outer source address is not a known peer.
    UnknownPeer,
    /// Outer destination address or MAC is not this endpoint's.
    NotForUs,
    /// Plain VXLAN VNI other than the configured one.
    WrongVni,
    /// The packet crossed more than one tunnel, or (sending) already crossed one.
    HopLimit,
    /// Sending: the outer packet would exceed the underlay MTU.
    TooBig,
    /// Sending: the underlay next hop's MAC is not resolved.
    NoNextHopMac,
    /// Sending: not enough headroom in front of the inner frame.
    NoHeadroom,
    /// Sending: inner frame range, length or a header field out of range.
    BadInner,
    /// Sending: the peer is IPv6 and the endpoint has no IPv6 address.
    NoLocalAddress,
}

impl DropReason {
    /// Number of reasons (length of counter arrays).
    pub const COUNT: usize = 23;

    /// Every reason, in index order.
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::TooShort,
        DropReason::NotTunnel,
        DropReason::BadOuterIp,
        DropReason::BadUdp,
        DropReason::VxlanFlags,
        DropReason::GpeFlags,
        DropReason::GpeNextProtocol,
        DropReason::Oam,
        DropReason::NshVersion,
        DropReason::NshLength,
        DropReason::NshMdType,
        DropReason::NshNextProtocol,
        DropReason::TtlExpired,
        DropReason::UnknownService,
        DropReason::UnknownPeer,
        DropReason::NotForUs,
        DropReason::WrongVni,
        DropReason::HopLimit,
        DropReason::TooBig,
        DropReason::NoNextHopMac,
        DropReason::NoHeadroom,
        DropReason::BadInner,
        DropReason::NoLocalAddress,
    ];

    /// Stable index into counter arrays.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// Stable snake_case name for counters and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::NotTunnel => "not_tunnel",
            DropReason::BadOuterIp => "bad_outer_ip",
            DropReason::BadUdp => "bad_udp",
            DropReason::VxlanFlags => "vxlan_flags",
            DropReason::GpeFlags => "gpe_flags",
            DropReason::GpeNextProtocol => "gpe_next_proto",
            DropReason::Oam => "oam",
            DropReason::NshVersion => "nsh_version",
            DropReason::NshLength => "nsh_length",
            DropReason::NshMdType => "nsh_md_type",
            DropReason::NshNextProtocol => "nsh_next_proto",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::UnknownService => "unknown_service",
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::NotForUs => "not_for_us",
            DropReason::WrongVni => "wrong_vni",
            DropReason::HopLimit => "hop_limit",
            DropReason::TooBig => "too_big",
            DropReason::NoNextHopMac => "no_next_hop_mac",
            DropReason::NoHeadroom => "no_headroom",
            DropReason::BadInner => "bad_inner",
            DropReason::NoLocalAddress => "no_local_address",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which encapsulation a frame used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TunnelKind {
    /// Plain VXLAN (RFC 7348): an L2 overlay frame.
    Vxlan,
    /// VXLAN-GPE carrying NSH carrying Ethernet.
    GpeNsh,
    /// VXLAN-GPE carrying Ethernet directly.
    GpeEthernet,
}

/// A validated tunnel frame: the outer fields and where the inner Ethernet frame lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decapped {
    /// Encapsulation used.
    pub kind: TunnelKind,
    /// Outer source MAC.
    pub outer_src_mac: MacAddr,
    /// Outer destination MAC.
    pub outer_dst_mac: MacAddr,
    /// Outer source address (the sending peer).
    pub outer_src: IpAddr,
    /// Outer destination address.
    pub outer_dst: IpAddr,
    /// Outer UDP source port.
    pub src_port: u16,
    /// VNI (VXLAN; for GPE the VNI field, 0 from Sluice).
    pub vni: u32,
    /// NSH service path id (the chain); 0 without NSH.
    pub spi: u32,
    /// NSH service index (`255 - step`); 0 without NSH.
    pub si: u8,
    /// NSH TTL as received (1..=63); 0 without NSH. Decrement it before sending the packet
    /// on along its path.
    pub ttl: u8,
    /// NSH MD type (1 or 2); 0 without NSH.
    pub md_type: u8,
    /// Sluice's metadata (MD type 1 context, or Sluice's MD type 2 TLV; all zero without
    /// them). `hops` is at least 1: the packet came through a tunnel, so
    /// [`encap_gpe_nsh`](crate::encap_gpe_nsh) refuses to send it on to a third host.
    pub meta: Metadata,
    /// Range of the inner Ethernet frame in the decapsulated buffer.
    pub inner: Range<usize>,
}

/// [`decap_ports`] with the IANA ports (VXLAN 4789, VXLAN-GPE 4790).
#[inline]
pub fn decap(frame: &[u8]) -> Result<Decapped, DropReason> {
    decap_ports(frame, VXLAN_PORT, VXLAN_GPE_PORT)
}

/// Validates an Ethernet frame received from the underlay as VXLAN (to UDP `vxlan_port`) or
/// VXLAN-GPE (to `gpe_port`) and returns its fields, or why it must be dropped. Never
/// panics, never allocates. It checks the frame alone; [`Tunnel::rx`](crate::Tunnel::rx)
/// adds our address, known peers, the VNI and known service paths.
pub fn decap_ports(frame: &[u8], vxlan_port: u16, gpe_port: u16) -> Result<Decapped, DropReason> {
    use DropReason::*;
    if frame.len() < 14 {
        return Err(TooShort);
    }
    // Outer IP: addresses, and where the UDP datagram starts and ends in `frame`.
    let (src, dst, u, end) = match be16(frame, 12) {
        ETHERTYPE_IPV4 => outer_ipv4(frame)?,
        ETHERTYPE_IPV6 => outer_ipv6(frame)?,
        _ => return Err(NotTunnel),
    };
    if end - u < 8 {
        return Err(TooShort);
    }
    let udp = &frame[u..end];
    let dport = be16(udp, 2);
    let is_gpe = if dport == gpe_port {
        true
    } else if dport == vxlan_port {
        false
    } else {
        return Err(NotTunnel);
    };
    if usize::from(be16(udp, 4)) != udp.len() {
        return Err(BadUdp);
    }
    // A non-zero UDP checksum is not verified (RFC 7348 §5 makes it optional; RFC 6935
    // allows zero for tunnels over IPv6): frames from a sender with checksum offload, read
    // on AF_PACKET over veth, carry only the partial (pseudo-header) sum, and the inner
    // frame has its own checks.
    let p = u + 8; // tunnel header offset in `frame`
    if end - p < 8 {
        return Err(TooShort);
    }
    let h = &frame[p..p + 8];
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    let mut d = Decapped {
        kind: TunnelKind::Vxlan,
        outer_src_mac: [frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]],
        outer_dst_mac: [frame[0], frame[1], frame[2], frame[3], frame[4], frame[5]],
        outer_src: src,
        outer_dst: dst,
        src_port: be16(udp, 0),
        vni,
        spi: 0,
        si: 0,
        ttl: 0,
        md_type: 0,
        meta: Metadata::default(),
        inner: p + 8..end,
    };
    if !is_gpe {
        // RFC 7348: the I bit must be set; the other flag bits are reserved and ignored.
        if h[0] & VXLAN_FLAG_I == 0 {
            return Err(VxlanFlags);
        }
    } else {
        let flags = h[0];
        if (flags >> 4) & 0x3 != 0 || flags & (GPE_FLAG_I | GPE_FLAG_P) != GPE_FLAG_I | GPE_FLAG_P {
            return Err(GpeFlags);
        }
        if flags & GPE_FLAG_O != 0 {
            return Err(Oam);
        }
        match h[3] {
            GPE_NEXT_ETHERNET => d.kind = TunnelKind::GpeEthernet,
            GPE_NEXT_NSH => {
                d.kind = TunnelKind::GpeNsh;
                nsh(frame, p + 8, end, &mut d)?;
            }
            _ => return Err(GpeNextProtocol),
        }
    }
    if d.inner.end - d.inner.start < 14 {
        return Err(TooShort);
    }
    Ok(d)
}

/// Outer IPv4 header checks; returns (src, dst, UDP start, IP end).
#[inline]
fn outer_ipv4(frame: &[u8]) -> Result<(IpAddr, IpAddr, usize, usize), DropReason> {
    use DropReason::*;
    let ip = &frame[14..];
    if ip.len() < 20 {
        return Err(TooShort);
    }
    if ip[0] >> 4 != 4 {
        return Err(BadOuterIp);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ihl < 20 {
        return Err(BadOuterIp);
    }
    if ip.len() < ihl {
        return Err(TooShort);
    }
    let total = usize::from(be16(ip, 2));
    if total < ihl {
        return Err(BadOuterIp);
    }
    if ip.len() < total {
        return Err(TooShort);
    }
    // Header checksum, and no fragments (tunnel packets are never fragmented).
    if internet_checksum(&ip[..ihl]) != 0 || be16(ip, 6) & 0x3fff != 0 {
        return Err(BadOuterIp);
    }
    if ip[9] != IPPROTO_UDP {
        return Err(NotTunnel);
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Ok((src.into(), dst.into(), 14 + ihl, 14 + total))
}

/// Outer IPv6 header checks (no extension headers: Sluice never sends any); returns (src,
/// dst, UDP start, IP end).
#[inline]
fn outer_ipv6(frame: &[u8]) -> Result<(IpAddr, IpAddr, usize, usize), DropReason> {
    use DropReason::*;
    let ip = &frame[14..];
    if ip.len() < 40 {
        return Err(TooShort);
    }
    if ip[0] >> 4 != 6 {
        return Err(BadOuterIp);
    }
    let end = 40 + usize::from(be16(ip, 4));
    if ip.len() < end {
        return Err(TooShort);
    }
    if ip[6] != IPPROTO_UDP {
        return Err(NotTunnel);
    }
    let mut s = [0u8; 16];
    s.copy_from_slice(&ip[8..24]);
    let mut d = [0u8; 16];
    d.copy_from_slice(&ip[24..40]);
    Ok((
        Ipv6Addr::from(s).into(),
        Ipv6Addr::from(d).into(),
        14 + 40,
        14 + end,
    ))
}

/// Parses the NSH at `frame[n..end]` into `d`.
#[inline]
fn nsh(frame: &[u8], n: usize, end: usize, d: &mut Decapped) -> Result<(), DropReason> {
    use DropReason::*;
    if end - n < 8 {
        return Err(TooShort);
    }
    let w = be16(frame, n);
    if w >> 14 != 0 {
        return Err(NshVersion);
    }
    if w & 0x2000 != 0 {
        return Err(Oam);
    }
    let ttl = ((w >> 6) & 0x3f) as u8;
    let words = usize::from(w & 0x3f);
    let md_type = frame[n + 2] & 0x0f;
    let len = words * 4;
    match md_type {
        NSH_MD_TYPE_1 => {
            if words != 6 {
                return Err(NshLength);
            }
        }
        NSH_MD_TYPE_2 => {
            if words < 2 {
                return Err(NshLength);
            }
        }
        _ => return Err(NshMdType),
    }
    if len > end - n {
        return Err(NshLength);
    }
    let ctx = &frame[n + 8..n + len];
    let meta = if md_type == NSH_MD_TYPE_1 {
        let mut c = [0u8; 16];
        c.copy_from_slice(ctx);
        Metadata::from_bytes(&c)
    } else {
        md2_metadata(ctx)?
    };
    if ttl == 0 {
        return Err(TtlExpired);
    }
    if frame[n + 3] != NSH_NEXT_ETHERNET {
        return Err(NshNextProtocol);
    }
    if meta.hops > MAX_TUNNEL_HOPS {
        return Err(HopLimit);
    }
    let sp = u32::from_be_bytes([frame[n + 4], frame[n + 5], frame[n + 6], frame[n + 7]]);
    d.spi = sp >> 8;
    d.si = sp as u8;
    d.ttl = ttl;
    d.md_type = md_type;
    d.meta = meta;
    d.meta.hops = meta.hops.max(1);
    d.inner = n + len..end;
    Ok(())
}

/// Walks MD type 2 TLVs; returns Sluice's metadata TLV if present (else all zero).
fn md2_metadata(mut ctx: &[u8]) -> Result<Metadata, DropReason> {
    let mut meta = Metadata::default();
    while !ctx.is_empty() {
        if ctx.len() < 4 {
            return Err(DropReason::NshLength);
        }
        let class = be16(ctx, 0);
        let ty = ctx[2];
        let vlen = usize::from(ctx[3] & 0x7f);
        let padded = 4 + vlen.div_ceil(4) * 4;
        if padded > ctx.len() {
            return Err(DropReason::NshLength);
        }
        if class == SLUICE_TLV_CLASS && ty == SLUICE_TLV_TYPE && vlen == 16 {
            let mut c = [0u8; 16];
            c.copy_from_slice(&ctx[4..20]);
            meta = Metadata::from_bytes(&c);
        }
        ctx = &ctx[padded..];
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_are_unique_and_indexed() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            for s in &DropReason::ALL[i + 1..] {
                assert_ne!(r.as_str(), s.as_str());
            }
        }
    }

    #[test]
    fn never_panics_on_prefixes() {
        let f = [0u8; 120];
        for n in 0..f.len() {
            let _ = decap(&f[..n]);
        }
    }
}
