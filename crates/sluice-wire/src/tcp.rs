//! TCP segments (RFC 9293).

use crate::checksum::{finish, pseudo_header_ipv4, pseudo_header_ipv6, sum_skipping};
use crate::field::{be16, be32, set_be16, set_be32};
use crate::{WireError, IPPROTO_TCP};

/// Length of a TCP header without options.
pub const TCP_MIN_HEADER_LEN: usize = 20;
/// TCP flag FIN.
pub const TCP_FIN: u8 = 0x01;
/// TCP flag SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP flag RST.
pub const TCP_RST: u8 = 0x04;
/// TCP flag PSH.
pub const TCP_PSH: u8 = 0x08;
/// TCP flag ACK.
pub const TCP_ACK: u8 = 0x10;
/// TCP flag URG.
pub const TCP_URG: u8 = 0x20;
/// TCP flag ECE.
pub const TCP_ECE: u8 = 0x40;
/// TCP flag CWR.
pub const TCP_CWR: u8 = 0x80;

/// A view of a TCP segment. The buffer must hold exactly the segment (TCP
/// has no length field): everything after the header is payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` (starting at the TCP header), checking that the data
    /// offset is at least 5 and the header (with options) fits.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        let have = b.len();
        if have < TCP_MIN_HEADER_LEN {
            return Err(WireError::Truncated {
                what: "TCP header",
                need: TCP_MIN_HEADER_LEN,
                have,
            });
        }
        let hl = usize::from(b[12] >> 4) * 4;
        if hl < TCP_MIN_HEADER_LEN {
            return Err(WireError::BadHeaderLength {
                what: "TCP",
                len: hl,
                min: TCP_MIN_HEADER_LEN,
            });
        }
        if have < hl {
            return Err(WireError::Truncated {
                what: "TCP header with options",
                need: hl,
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

    /// Sequence number.
    #[inline]
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), 8)
    }

    /// Data offset in 32-bit words.
    #[inline]
    pub fn data_offset(&self) -> u8 {
        self.buffer.as_ref()[12] >> 4
    }

    /// Header length in bytes, options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset()) * 4
    }

    /// The eight flag bits (CWR ECE URG ACK PSH RST SYN FIN); see `TCP_*`.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[13]
    }

    /// True if all bits of `mask` are set in [`flags`](Self::flags).
    #[inline]
    pub fn has_flags(&self, mask: u8) -> bool {
        self.flags() & mask == mask
    }

    /// Window size.
    #[inline]
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), 14)
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 16)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), 18)
    }

    /// The options bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[TCP_MIN_HEADER_LEN..self.header_len()]
    }

    /// The payload (everything after the header).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// The checksum this segment should carry over IPv4.
    #[inline]
    pub fn compute_checksum_ipv4(&self, src: [u8; 4], dst: [u8; 4]) -> u16 {
        let seg = self.buffer.as_ref();
        let pseudo = pseudo_header_ipv4(src, dst, IPPROTO_TCP, seg.len() as u16);
        finish(sum_skipping(pseudo, seg, 16))
    }

    /// The checksum this segment should carry over IPv6.
    #[inline]
    pub fn compute_checksum_ipv6(&self, src: [u8; 16], dst: [u8; 16]) -> u16 {
        let seg = self.buffer.as_ref();
        let pseudo = pseudo_header_ipv6(src, dst, IPPROTO_TCP, seg.len() as u32);
        finish(sum_skipping(pseudo, seg, 16))
    }

    /// True if the checksum is correct over IPv4.
    #[inline]
    pub fn verify_checksum_ipv4(&self, src: [u8; 4], dst: [u8; 4]) -> bool {
        self.checksum() == self.compute_checksum_ipv4(src, dst)
    }

    /// True if the checksum is correct over IPv6.
    #[inline]
    pub fn verify_checksum_ipv6(&self, src: [u8; 16], dst: [u8; 16]) -> bool {
        self.checksum() == self.compute_checksum_ipv6(src, dst)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq(&mut self, seq: u32) {
        set_be32(self.buffer.as_mut(), 4, seq);
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack(&mut self, ack: u32) {
        set_be32(self.buffer.as_mut(), 8, ack);
    }

    /// Sets the eight flag bits.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[13] = flags;
    }

    /// Sets the window size.
    #[inline]
    pub fn set_window(&mut self, window: u16) {
        set_be16(self.buffer.as_mut(), 14, window);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        set_be16(self.buffer.as_mut(), 16, csum);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, urgent: u16) {
        set_be16(self.buffer.as_mut(), 18, urgent);
    }

    /// Mutable access to the payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
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
    use crate::testdata::IPV6_TCP;

    fn addr(last: u8) -> [u8; 16] {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        a[15] = last;
        a
    }

    #[test]
    fn syn_over_ipv6() {
        let t = TcpPacket::new_checked(&IPV6_TCP[54..]).unwrap();
        assert_eq!((t.src_port(), t.dst_port()), (40000, 80));
        assert_eq!((t.seq(), t.ack()), (0x1234_5678, 0));
        assert_eq!((t.data_offset(), t.header_len()), (6, 24));
        assert_eq!(t.flags(), TCP_SYN);
        assert!(t.has_flags(TCP_SYN) && !t.has_flags(TCP_SYN | TCP_ACK));
        assert_eq!((t.window(), t.urgent()), (64240, 0));
        assert_eq!(t.checksum(), 0x3c84);
        assert_eq!(t.options(), &[2, 4, 0x05, 0xb4]);
        assert_eq!(t.payload(), &[] as &[u8]);
        assert_eq!(t.compute_checksum_ipv6(addr(1), addr(2)), 0x3c84);
        assert!(t.verify_checksum_ipv6(addr(1), addr(2)));
        assert!(!t.verify_checksum_ipv6(addr(2), addr(3)));
    }

    #[test]
    fn setters() {
        let mut b = IPV6_TCP[54..].to_vec();
        b.extend_from_slice(b"data");
        let mut t = TcpPacket::new_checked(&mut b[..]).unwrap();
        t.set_src_port(80);
        t.set_dst_port(40000);
        t.set_seq(1);
        t.set_ack(0x1234_5679);
        t.set_flags(TCP_SYN | TCP_ACK);
        t.set_window(1000);
        t.set_urgent(0);
        assert_eq!(t.payload(), b"data");
        t.payload_mut()[0] = b'D';
        t.fill_checksum_ipv6(addr(2), addr(1));
        assert!(t.verify_checksum_ipv6(addr(2), addr(1)));
        t.fill_checksum_ipv4([1, 2, 3, 4], [5, 6, 7, 8]);
        assert!(t.verify_checksum_ipv4([1, 2, 3, 4], [5, 6, 7, 8]));
        t.set_checksum(0);
        assert!(!t.verify_checksum_ipv4([1, 2, 3, 4], [5, 6, 7, 8]));
        assert_eq!(
            &b[..14],
            &[0, 80, 0x9c, 0x40, 0, 0, 0, 1, 0x12, 0x34, 0x56, 0x79, 0x60, 0x12]
        );
        assert_eq!(&b[24..], b"Data");
    }

    #[test]
    fn errors() {
        let t = &IPV6_TCP[54..];
        assert_eq!(
            TcpPacket::new_checked(&t[..19]).unwrap_err().to_string(),
            "truncated TCP header: need 20 bytes, have 19"
        );
        assert_eq!(
            TcpPacket::new_checked(&t[..22]).unwrap_err().to_string(),
            "truncated TCP header with options: need 24 bytes, have 22"
        );
        let mut b = t.to_vec();
        b[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err().to_string(),
            "bad TCP header length: 16 bytes, minimum is 20"
        );
    }
}
