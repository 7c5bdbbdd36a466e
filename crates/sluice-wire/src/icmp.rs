//! ICMP (RFC 792) and ICMPv6 (RFC 4443) messages: the common 8-byte
//! header (type, code, checksum, rest of header).

use crate::checksum::{
    accumulate, finish, internet_checksum, pseudo_header_ipv6, sum_skipping, update_u16,
};
use crate::field::{be16, set_be16};
use crate::{WireError, IPPROTO_ICMPV6};

/// Length of the ICMP header checked by [`IcmpPacket::new_checked`].
pub const ICMP_HEADER_LEN: usize = 8;
/// ICMP echo reply.
pub const ICMP_ECHO_REPLY: u8 = 0;
/// ICMP destination unreachable.
pub const ICMP_DEST_UNREACHABLE: u8 = 3;
/// ICMP echo request.
pub const ICMP_ECHO_REQUEST: u8 = 8;
/// ICMP time exceeded.
pub const ICMP_TIME_EXCEEDED: u8 = 11;
/// ICMPv6 echo request.
pub const ICMPV6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 echo reply.
pub const ICMPV6_ECHO_REPLY: u8 = 129;
/// ICMPv6 neighbor solicitation.
pub const ICMPV6_NEIGHBOR_SOLICIT: u8 = 135;
/// ICMPv6 neighbor advertisement.
pub const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;

/// A view of an ICMP or ICMPv6 message. The buffer must hold exactly the
/// message: the checksum covers all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps `buffer` (starting at the ICMP header), checking that the
    /// 8-byte header fits.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let have = buffer.as_ref().len();
        if have < ICMP_HEADER_LEN {
            return Err(WireError::Truncated {
                what: "ICMP header",
                need: ICMP_HEADER_LEN,
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

    /// Message type (`type` is a keyword, hence the name).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Alias of [`msg_type`](Self::msg_type).
    #[inline]
    pub fn icmp_type(&self) -> u8 {
        self.msg_type()
    }

    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }

    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Echo identifier (bytes 4..6; meaningful for echo messages).
    #[inline]
    pub fn identifier(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// Echo sequence number (bytes 6..8; meaningful for echo messages).
    #[inline]
    pub fn sequence(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// True for an ICMP or ICMPv6 echo request.
    #[inline]
    pub fn is_echo_request(&self) -> bool {
        matches!(self.msg_type(), ICMP_ECHO_REQUEST | ICMPV6_ECHO_REQUEST)
    }

    /// True for an ICMP or ICMPv6 echo reply.
    #[inline]
    pub fn is_echo_reply(&self) -> bool {
        matches!(self.msg_type(), ICMP_ECHO_REPLY | ICMPV6_ECHO_REPLY)
    }

    /// The bytes after the 8-byte header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[ICMP_HEADER_LEN..]
    }

    /// True if the ICMP (IPv4) checksum over the whole message is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        internet_checksum(self.buffer.as_ref()) == 0
    }

    /// The checksum an ICMPv6 message should carry (pseudo-header
    /// included).
    #[inline]
    pub fn compute_checksum_icmpv6(&self, src: [u8; 16], dst: [u8; 16]) -> u16 {
        let m = self.buffer.as_ref();
        let pseudo = pseudo_header_ipv6(src, dst, IPPROTO_ICMPV6, m.len() as u32);
        finish(sum_skipping(pseudo, m, 2))
    }

    /// True if the ICMPv6 checksum is correct.
    #[inline]
    pub fn verify_checksum_icmpv6(&self, src: [u8; 16], dst: [u8; 16]) -> bool {
        let m = self.buffer.as_ref();
        let pseudo = pseudo_header_ipv6(src, dst, IPPROTO_ICMPV6, m.len() as u32);
        finish(accumulate(pseudo, m)) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets the message type (the checksum is not updated).
    #[inline]
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[0] = t;
    }

    /// Sets the message code (the checksum is not updated).
    #[inline]
    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[1] = code;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, csum: u16) {
        set_be16(self.buffer.as_mut(), 2, csum);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_identifier(&mut self, id: u16) {
        set_be16(self.buffer.as_mut(), 4, id);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_sequence(&mut self, seq: u16) {
        set_be16(self.buffer.as_mut(), 6, seq);
    }

    /// Mutable access to the bytes after the header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[ICMP_HEADER_LEN..]
    }

    /// Recomputes the ICMP (IPv4) checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = internet_checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// Recomputes the ICMPv6 checksum.
    #[inline]
    pub fn fill_checksum_icmpv6(&mut self, src: [u8; 16], dst: [u8; 16]) {
        let c = self.compute_checksum_icmpv6(src, dst);
        self.set_checksum(c);
    }

    /// Turns an echo request (ICMP 8 or ICMPv6 128) into the matching reply,
    /// updating the checksum incrementally (valid for both, as swapping IP
    /// addresses leaves the pseudo-header sum unchanged). Returns false and
    /// changes nothing for other messages.
    pub fn make_echo_reply(&mut self) -> bool {
        let reply = match self.msg_type() {
            ICMP_ECHO_REQUEST => ICMP_ECHO_REPLY,
            ICMPV6_ECHO_REQUEST => ICMPV6_ECHO_REPLY,
            _ => return false,
        };
        let b = self.buffer.as_mut();
        let old = be16(b, 0);
        b[0] = reply;
        let c = update_u16(be16(b, 2), old, be16(b, 0));
        set_be16(b, 2, c);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::ICMP4_ECHO;

    #[test]
    fn echo_request() {
        let i = IcmpPacket::new_checked(&ICMP4_ECHO[34..]).unwrap();
        assert_eq!((i.msg_type(), i.icmp_type(), i.code()), (8, 8, 0));
        assert_eq!(i.checksum(), 0x5435);
        assert!(i.verify_checksum());
        assert_eq!((i.identifier(), i.sequence()), (0x1234, 1));
        assert!(i.is_echo_request() && !i.is_echo_reply());
        assert_eq!(i.payload(), b"abcdefgh");
    }

    #[test]
    fn reply_and_setters() {
        let mut b = ICMP4_ECHO;
        let mut i = IcmpPacket::new_checked(&mut b[34..]).unwrap();
        assert!(i.make_echo_reply());
        assert!(!i.make_echo_reply());
        assert!(i.is_echo_reply());
        assert!(i.verify_checksum());
        assert_eq!(i.checksum(), 0x5c35);
        i.set_identifier(9);
        i.set_sequence(10);
        i.set_code(1);
        i.set_msg_type(ICMP_DEST_UNREACHABLE);
        i.payload_mut()[0] = 0;
        assert!(!i.verify_checksum());
        i.fill_checksum();
        assert!(i.verify_checksum());
        // ICMPv6 echo request with pseudo-header
        let mut m = [ICMPV6_ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 2, b'x'];
        let (s, d) = ([0xfe; 16], [0x20; 16]);
        let mut v6 = IcmpPacket::new_checked(&mut m[..]).unwrap();
        v6.fill_checksum_icmpv6(s, d);
        assert!(v6.verify_checksum_icmpv6(s, d));
        assert!(v6.verify_checksum_icmpv6(d, s));
        assert!(!v6.verify_checksum_icmpv6(s, [0x21; 16]));
        assert!(v6.make_echo_reply());
        assert_eq!(v6.msg_type(), ICMPV6_ECHO_REPLY);
        assert!(v6.verify_checksum_icmpv6(d, s));
        assert_eq!(
            IcmpPacket::new_checked(&m[..4]).unwrap_err().to_string(),
            "truncated ICMP header: need 8 bytes, have 4"
        );
    }
}
