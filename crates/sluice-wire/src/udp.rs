//! UDP datagrams (RFC 768).

use crate::checksum::{finish, pseudo_header_ipv4, pseudo_header_ipv6, sum_skipping};
use crate::field::{be16, set_be16};
use crate::{WireError, IPPROTO_UDP};

/// Length of the UDP header.
pub const UDP_HEADER_LEN: usize = 8;

/// A view of a UDP datagram. The length field is checked against the
/// buffer; bytes after it are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` (starting at the UDP header), checking that
    /// `8 <= length <= buffer.len()`.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < UDP_HEADER_LEN {
            return Err(WireError::Truncated {
                what: "UDP header",
                need: UDP_HEADER_LEN,
                have,
            });
        }
        let len = usize::from(be16(b, 4));
        if len < UDP_HEADER_LEN {
            return Err(WireError::BadLengthField {
                what: "UDP length",
                len,
                min: UDP_HEADER_LEN,
            });
        }
        if have < len {
            return Err(WireError::Truncated {
                what: "UDP datagram",
                need: len,
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

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Length field (header plus payload).
    #[inline]
    pub fn length(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Checksum field (0 means "none" over IPv4).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Header and payload, `length` bytes.
    #[inline]
    pub fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.length())]
    }

    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[UDP_HEADER_LEN..usize::from(self.length())]
    }

    #[inline]
    fn compute(&self, pseudo: u32) -> u16 {
        match finish(sum_skipping(pseudo, self.datagram(), 6)) {
            0 => 0xffff,
            c => c,
        }
    }

    /// The checksum this datagram should carry over IPv4.
    #[inline]
    pub fn compute_checksum_ipv4(&self, src: [u8; 4], dst: [u8; 4]) -> u16 {
        self.compute(pseudo_header_ipv4(src, dst, IPPROTO_UDP, self.length()))
    }

    /// The checksum this datagram should carry over IPv6.
    #[inline]
    pub fn compute_checksum_ipv6(&self, src: [u8; 16], dst: [u8; 16]) -> u16 {
        self.compute(pseudo_header_ipv6(
            src,
            dst,
            IPPROTO_UDP,
            u32::from(self.length()),
        ))
    }

    /// True if the checksum is correct or absent (0) over IPv4.
    #[inline]
    pub fn verify_checksum_ipv4(&self, src: [u8; 4], dst: [u8; 4]) -> bool {
        let c = self.checksum();
        c == 0 || c == self.compute_checksum_ipv4(src, dst)
    }

    /// True if the checksum is correct over IPv6 (where it is mandatory).
    #[inline]
    pub fn verify_checksum_ipv6(&self, src: [u8; 16], dst: [u8; 16]) -> bool {
        self.checksum() == self.compute_checksum_ipv6(src, dst)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port (the checksum is not updated).
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        set_be16(self.buffer.as_mut(), 0, port);
    }

    /// Sets the destination port (the checksum is not updated).
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        set_be16(self.buffer.as_mut(), 2, port);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        set_be16(self.buffer.as_mut(), 6, csum);
    }

    /// Mutable access to the payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = usize::from(self.length());
        &mut self.buffer.as_mut()[UDP_HEADER_LEN..len]
    }

    /// Computes and stores the checksum for IPv4 addresses `src`, `dst`.
    #[inline]
    pub fn fill_checksum_ipv4(&mut self, src: [u8; 4], dst: [u8; 4]) {
        let c = self.compute_checksum_ipv4(src, dst);
        self.set_checksum(c);
    }

    /// Computes and stores the checksum for IPv6 addresses `src`, `dst`.
    #[inline]
    pub fn fill_checksum_ipv6(&mut self, src: [u8; 16], dst: [u8; 16]) {
        let c = self.compute_checksum_ipv6(src, dst);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{IPV4_UDP, QINQ_UDP};

    const SRC: [u8; 4] = [192, 168, 1, 10];
    const DST: [u8; 4] = [192, 168, 1, 1];

    #[test]
    fn fields_and_checksum() {
        let u = UdpPacket::new_checked(&IPV4_UDP[34..]).unwrap();
        assert_eq!((u.src_port(), u.dst_port()), (53000, 53));
        assert_eq!(u.length(), 13);
        assert_eq!(u.checksum(), 0x6968);
        assert_eq!(u.payload(), b"hello");
        assert_eq!(u.compute_checksum_ipv4(SRC, DST), 0x6968);
        assert!(u.verify_checksum_ipv4(SRC, DST));
        assert!(!u.verify_checksum_ipv4(DST, [1, 2, 3, 4]));

        let q = UdpPacket::new_checked(&QINQ_UDP[42..]).unwrap();
        assert_eq!((q.src_port(), q.dst_port(), q.length()), (1111, 2222, 8));
        assert_eq!(q.payload(), &[] as &[u8]);
        assert_eq!(
            q.compute_checksum_ipv4([10, 1, 1, 1], [10, 2, 2, 2]),
            0xdbd3
        );
    }

    #[test]
    fn setters() {
        let mut b = IPV4_UDP;
        let mut u = UdpPacket::new_checked(&mut b[34..]).unwrap();
        u.set_src_port(1);
        u.set_dst_port(2);
        u.payload_mut().copy_from_slice(b"world");
        u.set_checksum(0);
        assert!(u.verify_checksum_ipv4(SRC, DST));
        u.fill_checksum_ipv4(SRC, DST);
        assert!(u.verify_checksum_ipv4(SRC, DST));
        u.fill_checksum_ipv6([1; 16], [2; 16]);
        assert!(u.verify_checksum_ipv6([1; 16], [2; 16]));
        assert!(!u.verify_checksum_ipv6([1; 16], [3; 16]));
        assert_eq!(&b[34..38], &[0, 1, 0, 2]);
    }

    #[test]
    fn errors() {
        let u = &IPV4_UDP[34..];
        assert_eq!(
            UdpPacket::new_checked(&u[..5]).unwrap_err().to_string(),
            "truncated UDP header: need 8 bytes, have 5"
        );
        assert_eq!(
            UdpPacket::new_checked(&u[..10]).unwrap_err().to_string(),
            "truncated UDP datagram: need 13 bytes, have 10"
        );
        let mut b = u.to_vec();
        b[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err().to_string(),
            "bad UDP length: 7 bytes, less than the 8-byte header"
        );
    }
}
