//! IPv4 packets (RFC 791), options allowed.

use std::net::Ipv4Addr;

use crate::checksum::{internet_checksum, update_u16};
use crate::field::{array, be16, set_be16};
use crate::WireError;

/// Length of an IPv4 header without options.
pub const IPV4_MIN_HEADER_LEN: usize = 20;

/// A view of an IPv4 packet. `new_checked` validates version, IHL and
/// total length, so the payload ends at `total_len` (link-layer padding
/// after it is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` (starting at the IPv4 header), checking version 4,
    /// IHL >= 5, that the header (with options) fits, and that
    /// `header_len <= total_len <= buffer.len()`.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < IPV4_MIN_HEADER_LEN {
            return Err(WireError::Truncated {
                what: "IPv4 header",
                need: IPV4_MIN_HEADER_LEN,
                have,
            });
        }
        let version = b[0] >> 4;
        if version != 4 {
            return Err(WireError::BadVersion {
                what: "IPv4",
                expected: 4,
                found: version,
            });
        }
        let hl = usize::from(b[0] & 0x0f) * 4;
        if hl < IPV4_MIN_HEADER_LEN {
            return Err(WireError::BadHeaderLength {
                what: "IPv4",
                len: hl,
                min: IPV4_MIN_HEADER_LEN,
            });
        }
        if have < hl {
            return Err(WireError::Truncated {
                what: "IPv4 header with options",
                need: hl,
                have,
            });
        }
        let total = usize::from(be16(b, 2));
        if total < hl {
            return Err(WireError::BadLengthField {
                what: "IPv4 total length",
                len: total,
                min: hl,
            });
        }
        if have < total {
            return Err(WireError::Truncated {
                what: "IPv4 packet",
                need: total,
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

    /// The whole buffer (including any bytes after `total_len`).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// IP version (always 4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Header length in bytes, options included (20..=60).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[0] & 0x0f) * 4
    }

    /// Differentiated services code point (6 bits).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[1] >> 2
    }

    /// Explicit congestion notification (2 bits).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[1] & 3
    }

    /// Total length field: header plus payload, in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Identification field.
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.buffer.as_ref()[6] & 0x40 != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.buffer.as_ref()[6] & 0x20 != 0
    }

    /// Fragment offset in 8-byte units.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), 6) & 0x1fff
    }

    /// True if this is any fragment (MF set or nonzero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be16(self.buffer.as_ref(), 6) & 0x3fff != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[8]
    }

    /// Protocol of the payload (e.g. [`crate::IPPROTO_UDP`]).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 10)
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), 12)
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), 16)
    }

    /// Source address as an [`Ipv4Addr`].
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src())
    }

    /// Destination address as an [`Ipv4Addr`].
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst())
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The options (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV4_MIN_HEADER_LEN..self.header_len()]
    }

    /// True if the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        internet_checksum(self.header()) == 0
    }

    /// The payload: from the end of the header to `total_len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the DSCP (6 bits) and ECN (2 bits) fields.
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[1] = (dscp << 2) | (ecn & 3);
    }

    /// Sets the identification field.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        set_be16(self.buffer.as_mut(), 4, ident);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[8] = ttl;
    }

    /// Sets the protocol field.
    #[inline]
    pub fn set_protocol(&mut self, proto: u8) {
        self.buffer.as_mut()[9] = proto;
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        set_be16(self.buffer.as_mut(), 10, csum);
    }

    /// Sets the source address (the checksum is not updated).
    #[inline]
    pub fn set_src(&mut self, addr: [u8; 4]) {
        self.buffer.as_mut()[12..16].copy_from_slice(&addr);
    }

    /// Sets the destination address (the checksum is not updated).
    #[inline]
    pub fn set_dst(&mut self, addr: [u8; 4]) {
        self.buffer.as_mut()[16..20].copy_from_slice(&addr);
    }

    /// Recomputes the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = internet_checksum(self.header());
        self.set_checksum(c);
    }

    /// Decrements the TTL (saturating at 0) and updates the checksum
    /// incrementally; returns the new TTL.
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let b = self.buffer.as_mut();
        if b[8] == 0 {
            return 0;
        }
        let old = be16(b, 8);
        b[8] -= 1;
        let c = update_u16(be16(b, 10), old, be16(b, 8));
        set_be16(b, 10, c);
        b[8]
    }

    /// Mutable access to the payload (header end to `total_len`).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, total) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..total]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::IPV4_UDP;

    #[test]
    fn fields() {
        let ip = Ipv4Packet::new_checked(&IPV4_UDP[14..]).unwrap();
        assert_eq!(ip.version(), 4);
        assert_eq!(ip.header_len(), 20);
        assert_eq!((ip.dscp(), ip.ecn()), (0, 0));
        assert_eq!(ip.total_len(), 33);
        assert_eq!(ip.ident(), 0x1c46);
        assert!(ip.dont_frag() && !ip.more_frags() && !ip.is_fragment());
        assert_eq!(ip.frag_offset(), 0);
        assert_eq!(ip.ttl(), 64);
        assert_eq!(ip.protocol(), crate::IPPROTO_UDP);
        assert_eq!(ip.checksum(), 0x9b2a);
        assert!(ip.verify_checksum());
        assert_eq!(ip.src(), [192, 168, 1, 10]);
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(ip.options(), &[] as &[u8]);
        assert_eq!(ip.payload(), &IPV4_UDP[34..]);
    }

    #[test]
    fn padding_is_not_payload() {
        let mut f = IPV4_UDP.to_vec();
        f.extend_from_slice(&[0xee; 13]);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.payload(), &IPV4_UDP[34..]);
    }

    #[test]
    fn options() {
        // IHL 6 with a 4-byte NOP/EOL option block.
        let mut h = vec![
            0x46, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 0,
        ];
        h.extend_from_slice(&[0xab; 4]);
        let mut ip = Ipv4Packet::new_checked(&mut h[..]).unwrap();
        ip.fill_checksum();
        assert!(ip.verify_checksum());
        assert_eq!(ip.header_len(), 24);
        assert_eq!(ip.options(), &[1, 1, 1, 0]);
        assert_eq!(ip.payload(), &[0xab; 4]);
    }

    #[test]
    fn setters() {
        let mut f = IPV4_UDP;
        let mut ip = Ipv4Packet::new_checked(&mut f[14..]).unwrap();
        ip.set_src([10, 0, 0, 1]);
        ip.set_dst([10, 0, 0, 2]);
        ip.set_ttl(3);
        ip.set_ident(7);
        ip.set_dscp_ecn(46, 1);
        assert!(!ip.verify_checksum());
        ip.fill_checksum();
        assert!(ip.verify_checksum());
        assert_eq!(ip.decrement_ttl(), 2);
        assert!(ip.verify_checksum());
        assert_eq!(ip.decrement_ttl(), 1);
        assert_eq!(ip.decrement_ttl(), 0);
        assert_eq!(ip.decrement_ttl(), 0);
        assert!(ip.verify_checksum());
        assert_eq!((ip.dscp(), ip.ecn(), ip.ident()), (46, 1, 7));
        ip.payload_mut()[0] = 0xaa;
        ip.set_protocol(6);
        assert_eq!(f[34], 0xaa);
        assert_eq!(f[23], 6);
    }

    #[test]
    fn errors() {
        let p = &IPV4_UDP[14..];
        assert_eq!(
            Ipv4Packet::new_checked(&p[..12]).unwrap_err().to_string(),
            "truncated IPv4 header: need 20 bytes, have 12"
        );
        assert_eq!(
            Ipv4Packet::new_checked(&p[..30]).unwrap_err().to_string(),
            "truncated IPv4 packet: need 33 bytes, have 30"
        );
        let mut b = p.to_vec();
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err().to_string(),
            "bad IPv4 version: expected 4, found 6"
        );
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err().to_string(),
            "bad IPv4 header length: 16 bytes, minimum is 20"
        );
        b[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err().to_string(),
            "truncated IPv4 header with options: need 60 bytes, have 33"
        );
        b[0] = 0x45;
        b[3] = 10;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).unwrap_err().to_string(),
            "bad IPv4 total length: 10 bytes, less than the 20-byte header"
        );
    }
}
