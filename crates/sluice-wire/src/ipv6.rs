//! IPv6 packets (RFC 8200) and extension-header skipping.

use std::net::Ipv6Addr;

use crate::field::{array, be16, be32, set_be32};
use crate::WireError;

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Next-header value of the Hop-by-Hop options header.
pub const IPV6_HOP_BY_HOP: u8 = 0;
/// Next-header value of the Routing header.
pub const IPV6_ROUTING: u8 = 43;
/// Next-header value of the Fragment header.
pub const IPV6_FRAGMENT: u8 = 44;
/// Next-header value of the Destination options header.
pub const IPV6_DEST_OPTS: u8 = 60;
/// Next-header value meaning "no next header".
pub const IPV6_NO_NEXT: u8 = 59;
/// Most extension headers [`find_upper_layer`] will skip.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// True for the extension headers skipped here: Hop-by-Hop (0), Routing
/// (43), Fragment (44) and Destination options (60).
#[inline]
pub const fn is_extension_header(next_header: u8) -> bool {
    matches!(
        next_header,
        IPV6_HOP_BY_HOP | IPV6_ROUTING | IPV6_FRAGMENT | IPV6_DEST_OPTS
    )
}

/// Where the upper-layer protocol starts after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// Upper-layer protocol number (for a fragment: of the whole packet).
    pub proto: u8,
    /// Offset of the upper-layer header (or fragment data) from the start
    /// of the IPv6 payload.
    pub offset: usize,
    /// True if a Fragment header was seen.
    pub is_fragment: bool,
    /// Fragment offset in 8-byte units; nonzero means the upper-layer
    /// header is not in this packet.
    pub frag_offset: u16,
}

impl UpperLayer {
    /// True if the upper-layer header is present (not a later fragment).
    #[inline]
    pub fn has_l4_header(&self) -> bool {
        self.frag_offset == 0
    }
}

/// Follows the extension-header chain starting with `next_header` over the
/// IPv6 `payload`, skipping Hop-by-Hop, Routing, Destination options and
/// Fragment headers (at most [`MAX_EXTENSION_HEADERS`]). Stops at a
/// non-first fragment.
pub fn find_upper_layer(next_header: u8, payload: &[u8]) -> Result<UpperLayer, WireError> {
    let mut nh = next_header;
    let mut off = 0usize;
    let mut is_fragment = false;
    let mut count = 0;
    loop {
        if !is_extension_header(nh) {
            return Ok(UpperLayer {
                proto: nh,
                offset: off,
                is_fragment,
                frag_offset: 0,
            });
        }
        if count == MAX_EXTENSION_HEADERS {
            return Err(WireError::TooManyExtensionHeaders {
                max: MAX_EXTENSION_HEADERS,
            });
        }
        count += 1;
        let rest = payload.get(off..).unwrap_or(&[]);
        if rest.len() < 8 {
            return Err(WireError::Truncated {
                what: "IPv6 extension header",
                need: 8,
                have: rest.len(),
            });
        }
        if nh == IPV6_FRAGMENT {
            let frag_offset = be16(rest, 2) >> 3;
            nh = rest[0];
            off += 8;
            is_fragment = true;
            if frag_offset != 0 {
                return Ok(UpperLayer {
                    proto: nh,
                    offset: off,
                    is_fragment,
                    frag_offset,
                });
            }
        } else {
            let len = (usize::from(rest[1]) + 1) * 8;
            if rest.len() < len {
                return Err(WireError::Truncated {
                    what: "IPv6 extension header",
                    need: len,
                    have: rest.len(),
                });
            }
            nh = rest[0];
            off += len;
        }
    }
}

/// A view of an IPv6 packet: fixed header plus `payload_len` bytes
/// (link-layer padding after them is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` (starting at the IPv6 header), checking version 6 and
    /// that `40 + payload_len <= buffer.len()`.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < IPV6_HEADER_LEN {
            return Err(WireError::Truncated {
                what: "IPv6 header",
                need: IPV6_HEADER_LEN,
                have,
            });
        }
        let version = b[0] >> 4;
        if version != 6 {
            return Err(WireError::BadVersion {
                what: "IPv6",
                expected: 6,
                found: version,
            });
        }
        let need = IPV6_HEADER_LEN + usize::from(be16(b, 4));
        if have < need {
            return Err(WireError::Truncated {
                what: "IPv6 packet",
                need,
                have,
            });
        }
        Ok(Self { buffer })
    }

    /// Returns the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer (including any bytes after the payload).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// IP version (always 6).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class (8 bits).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (be32(self.buffer.as_ref(), 0) >> 20) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), 0) & 0x000f_ffff
    }

    /// Payload length field (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Next header of the fixed header (may be an extension header).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[6]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), 8)
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), 24)
    }

    /// Source address as an [`Ipv6Addr`].
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.src())
    }

    /// Destination address as an [`Ipv6Addr`].
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.dst())
    }

    /// The payload (`payload_len` bytes after the fixed header, extension
    /// headers included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV6_HEADER_LEN..IPV6_HEADER_LEN + usize::from(self.payload_len())]
    }

    /// Skips the extension headers; see [`find_upper_layer`].
    #[inline]
    pub fn upper_layer(&self) -> Result<UpperLayer, WireError> {
        find_upper_layer(self.next_header(), self.payload())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let b = self.buffer.as_mut();
        let w = (be32(b, 0) & 0xf00f_ffff) | (u32::from(tc) << 20);
        set_be32(b, 0, w);
    }

    /// Sets the flow label (low 20 bits are used).
    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        let b = self.buffer.as_mut();
        let w = (be32(b, 0) & 0xfff0_0000) | (label & 0x000f_ffff);
        set_be32(b, 0, w);
    }

    /// Sets the next-header field of the fixed header.
    #[inline]
    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[6] = nh;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[7] = hop_limit;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src(&mut self, addr: [u8; 16]) {
        self.buffer.as_mut()[8..24].copy_from_slice(&addr);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst(&mut self, addr: [u8; 16]) {
        self.buffer.as_mut()[24..40].copy_from_slice(&addr);
    }

    /// Mutable access to the payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = IPV6_HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[IPV6_HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{IPV6_EXT_UDP, IPV6_TCP};

    #[test]
    fn fields() {
        let ip = Ipv6Packet::new_checked(&IPV6_TCP[14..]).unwrap();
        assert_eq!(ip.version(), 6);
        assert_eq!((ip.traffic_class(), ip.flow_label()), (0, 0));
        assert_eq!(ip.payload_len(), 24);
        assert_eq!(ip.next_header(), crate::IPPROTO_TCP);
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!(ip.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            ip.dst(),
            "2001:db8::2".parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(ip.payload(), &IPV6_TCP[54..]);
        let ul = ip.upper_layer().unwrap();
        assert_eq!(
            ul,
            UpperLayer {
                proto: 6,
                offset: 0,
                is_fragment: false,
                frag_offset: 0
            }
        );
    }

    #[test]
    fn extension_headers() {
        let ip = Ipv6Packet::new_checked(&IPV6_EXT_UDP[14..]).unwrap();
        assert_eq!(ip.next_header(), IPV6_HOP_BY_HOP);
        let ul = ip.upper_layer().unwrap();
        assert_eq!(ul.proto, crate::IPPROTO_UDP);
        assert_eq!(ul.offset, 32);
        assert!(ul.is_fragment && ul.has_l4_header());
        assert_eq!(&ip.payload()[ul.offset..ul.offset + 4], &[0, 7, 0, 9]);

        // make it a later fragment: offset 185 * 8
        let mut f = IPV6_EXT_UDP;
        f[14 + 40 + 24 + 2] = 0x05;
        f[14 + 40 + 24 + 3] = 0xc8;
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        let ul = ip.upper_layer().unwrap();
        assert_eq!((ul.proto, ul.offset, ul.frag_offset), (17, 32, 185));
        assert!(!ul.has_l4_header());
    }

    #[test]
    fn extension_errors() {
        // Chain pointing at a truncated header.
        let e = find_upper_layer(IPV6_ROUTING, &[6, 1, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "truncated IPv6 extension header: need 16 bytes, have 9"
        );
        let e = find_upper_layer(IPV6_DEST_OPTS, &[6, 0]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "truncated IPv6 extension header: need 8 bytes, have 2"
        );
        // Endless chain of destination options.
        let chain = [IPV6_DEST_OPTS, 0, 0, 0, 0, 0, 0, 0].repeat(20);
        assert_eq!(
            find_upper_layer(IPV6_DEST_OPTS, &chain),
            Err(WireError::TooManyExtensionHeaders { max: 8 })
        );
        assert_eq!(
            find_upper_layer(IPV6_NO_NEXT, &[]).unwrap().proto,
            IPV6_NO_NEXT
        );
    }

    #[test]
    fn errors_and_setters() {
        let p = &IPV6_TCP[14..];
        assert_eq!(
            Ipv6Packet::new_checked(&p[..39]).unwrap_err().to_string(),
            "truncated IPv6 header: need 40 bytes, have 39"
        );
        assert_eq!(
            Ipv6Packet::new_checked(&p[..50]).unwrap_err().to_string(),
            "truncated IPv6 packet: need 64 bytes, have 50"
        );
        assert!(matches!(
            Ipv6Packet::new_checked(&IPV6_TCP[..]),
            Err(WireError::BadVersion { found: 0, .. })
        ));
        let mut b = p.to_vec();
        let mut ip = Ipv6Packet::new_checked(&mut b[..]).unwrap();
        ip.set_traffic_class(0xb8);
        ip.set_flow_label(0x12345);
        ip.set_hop_limit(1);
        ip.set_src([1; 16]);
        ip.set_dst([2; 16]);
        ip.set_next_header(IPV6_NO_NEXT);
        assert_eq!(
            (ip.version(), ip.traffic_class(), ip.flow_label()),
            (6, 0xb8, 0x12345)
        );
        assert_eq!(ip.hop_limit(), 1);
        ip.payload_mut()[0] = 0xff;
        assert_eq!(&b[..8], &[0x6b, 0x81, 0x23, 0x45, 0, 24, 59, 1]);
        assert_eq!(&b[8..40], &[[1u8; 16], [2u8; 16]].concat()[..]);
        assert_eq!(b[40], 0xff);
    }
}
