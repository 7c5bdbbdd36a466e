//! Wire constants and the NSH context (Sluice metadata) layout.

/// IANA UDP port of VXLAN (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;
/// IANA UDP port of VXLAN-GPE (draft-ietf-nvo3-vxlan-gpe).
pub const VXLAN_GPE_PORT: u16 = 4790;

/// Outer Ethernet (14) + IPv4 without options (20) + UDP (8).
pub const OUTER_IPV4_LEN: usize = 14 + 20 + 8;
/// Outer Ethernet (14) + IPv6 (40) + UDP (8).
pub const OUTER_IPV6_LEN: usize = 14 + 40 + 8;
/// Length of the VXLAN and of the VXLAN-GPE header.
pub const VXLAN_HEADER_LEN: usize = 8;
/// Length of an NSH with MD type 1: base header (4) + service path header (4) + 16-byte
/// fixed context.
pub const NSH_MD1_LEN: usize = 24;
/// Bytes [`encap_vxlan`](crate::encap_vxlan) writes in front of the inner frame (50).
pub const VXLAN_OVERHEAD: usize = OUTER_IPV4_LEN + VXLAN_HEADER_LEN;
/// Bytes [`encap_gpe_nsh`](crate::encap_gpe_nsh) writes in front of the inner frame (74).
pub const GPE_NSH_OVERHEAD: usize = OUTER_IPV4_LEN + VXLAN_HEADER_LEN + NSH_MD1_LEN;

/// Bytes [`encap_vxlan`](crate::encap_vxlan) writes in front of the inner frame with an IPv6
/// outer header (70).
pub const VXLAN_OVERHEAD_V6: usize = OUTER_IPV6_LEN + VXLAN_HEADER_LEN;
/// Bytes [`encap_gpe_nsh`](crate::encap_gpe_nsh) writes in front of the inner frame with an
/// IPv6 outer header (94).
pub const GPE_NSH_OVERHEAD_V6: usize = OUTER_IPV6_LEN + VXLAN_HEADER_LEN + NSH_MD1_LEN;

/// VXLAN flags byte: the I bit (valid VNI).
pub const VXLAN_FLAG_I: u8 = 0x08;
/// VXLAN-GPE flags byte (`R R Ver Ver I P B O`): I bit (valid VNI).
pub const GPE_FLAG_I: u8 = 0x08;
/// VXLAN-GPE flags byte: P bit (next protocol field present).
pub const GPE_FLAG_P: u8 = 0x04;
/// VXLAN-GPE flags byte: O bit (OAM packet).
pub const GPE_FLAG_O: u8 = 0x01;
/// VXLAN-GPE next protocol: Ethernet.
pub const GPE_NEXT_ETHERNET: u8 = 0x03;
/// VXLAN-GPE next protocol: NSH.
pub const GPE_NEXT_NSH: u8 = 0x04;

/// NSH MD type 1: fixed 16-byte context.
pub const NSH_MD_TYPE_1: u8 = 0x1;
/// NSH MD type 2: variable-length TLV context.
pub const NSH_MD_TYPE_2: u8 = 0x2;
/// NSH next protocol: Ethernet.
pub const NSH_NEXT_ETHERNET: u8 = 0x3;
/// NSH TTL recommended by RFC 8300 for a new packet (the field has 6 bits).
pub const NSH_TTL_DEFAULT: u8 = 63;

/// MD class of Sluice's MD type 2 TLV (the first of RFC 8300's experimental range
/// 0xfff6..=0xfffe). The TLV's value is the same 16 bytes as the MD type 1 context.
pub const SLUICE_TLV_CLASS: u16 = 0xfff6;
/// TLV type of Sluice's metadata in [`SLUICE_TLV_CLASS`].
pub const SLUICE_TLV_TYPE: u8 = 0x01;

/// Tunnel crossings a packet may make: one. A host never sends a packet that came in
/// through a tunnel into another tunnel.
pub const MAX_TUNNEL_HOPS: u8 = 1;

/// Sluice's metadata, carried as the NSH MD type 1 fixed context (16 bytes, big-endian):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-------------------------------+-------------------------------+
/// |     origin host id (16)       |   destination service (16)    |
/// +-------------------------------+-------------------------------+
/// |                      inner flow hash (32)                     |
/// +-------------------------------+---------------+---------------+
/// |   ingress port at origin (16) |  NF flags (8) | tunnel hops(8)|
/// +-------------------------------+---------------+---------------+
/// |                       tag (32, opaque)                        |
/// +---------------------------------------------------------------+
/// ```
///
/// The chain is the NSH service path id and the step is the service index (see
/// [`Nsh`](crate::Nsh)), so they are not repeated here.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Metadata {
    /// Host id of the Sluice host that encapsulated the packet (from its host record).
    pub origin_host: u16,
    /// Service the receiver delivers to; 0 = the service at the chain step named by the SI.
    pub service: u16,
    /// Symmetric flow hash of the inner frame (as in `SlotMeta::flow_hash`); also gives the
    /// outer UDP source port.
    pub flow_hash: u32,
    /// Port the packet entered the origin host on.
    pub in_port: u16,
    /// The NF flag bits (`SlotMeta::flags`).
    pub flags: u8,
    /// Tunnels crossed. 0 for a packet that never left its first host; the encapsulator
    /// writes `hops + 1` and refuses a packet that already crossed [`MAX_TUNNEL_HOPS`].
    pub hops: u8,
    /// Opaque 32 bits for the application (e.g. a tenant id); 0 if unused.
    pub tag: u32,
}

impl Metadata {
    /// Encodes into the 16-byte context layout above.
    #[inline]
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..2].copy_from_slice(&self.origin_host.to_be_bytes());
        b[2..4].copy_from_slice(&self.service.to_be_bytes());
        b[4..8].copy_from_slice(&self.flow_hash.to_be_bytes());
        b[8..10].copy_from_slice(&self.in_port.to_be_bytes());
        b[10] = self.flags;
        b[11] = self.hops;
        b[12..16].copy_from_slice(&self.tag.to_be_bytes());
        b
    }

    /// Decodes the 16-byte context layout above.
    #[inline]
    pub fn from_bytes(b: &[u8; 16]) -> Metadata {
        Metadata {
            origin_host: u16::from_be_bytes([b[0], b[1]]),
            service: u16::from_be_bytes([b[2], b[3]]),
            flow_hash: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            in_port: u16::from_be_bytes([b[8], b[9]]),
            flags: b[10],
            hops: b[11],
            tag: u32::from_be_bytes([b[12], b[13], b[14], b[15]]),
        }
    }
}

#[inline(always)]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_layout() {
        let m = Metadata {
            origin_host: 0x0102,
            service: 0x0304,
            flow_hash: 0x0506_0708,
            in_port: 0x090a,
            flags: 0x0b,
            hops: 0x0c,
            tag: 0x0d0e_0f10,
        };
        let b = m.to_bytes();
        assert_eq!(b, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        assert_eq!(Metadata::from_bytes(&b), m);
    }
}
