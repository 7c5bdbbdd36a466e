//! ARP for Ethernet / IPv4 (RFC 826).

use std::net::Ipv4Addr;

use crate::ethernet::{MacAddr, ETHERTYPE_IPV4};
use crate::field::{array, be16, set_be16};
use crate::WireError;

/// ARP operation: request.
pub const ARP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const ARP_REPLY: u16 = 2;
/// ARP hardware type of Ethernet.
pub const ARP_HTYPE_ETHERNET: u16 = 1;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

/// A view of an Ethernet/IPv4 ARP packet (28 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer`, checking its length and that it is Ethernet/IPv4 ARP
    /// (htype 1, ptype 0x0800, hlen 6, plen 4).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < ARP_LEN {
            return Err(WireError::Truncated {
                what: "ARP packet",
                need: ARP_LEN,
                have: b.len(),
            });
        }
        let htype = be16(b, 0);
        if htype != ARP_HTYPE_ETHERNET {
            return Err(WireError::Unsupported {
                what: "ARP hardware type",
                value: htype.into(),
            });
        }
        let ptype = be16(b, 2);
        if ptype != ETHERTYPE_IPV4 {
            return Err(WireError::Unsupported {
                what: "ARP protocol type",
                value: ptype.into(),
            });
        }
        if b[4] != 6 || b[5] != 4 {
            return Err(WireError::Unsupported {
                what: "ARP address lengths (hlen, plen)",
                value: u32::from(be16(b, 4)),
            });
        }
        Ok(Self { buffer })
    }

    /// Returns the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (always 1 here).
    #[inline]
    pub fn htype(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// Protocol type (always 0x0800 here).
    #[inline]
    pub fn ptype(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Hardware address length (always 6 here).
    #[inline]
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[4]
    }

    /// Protocol address length (always 4 here).
    #[inline]
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[5]
    }

    /// Operation ([`ARP_REQUEST`] or [`ARP_REPLY`]).
    #[inline]
    pub fn oper(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }

    /// Sender hardware address.
    #[inline]
    pub fn sha(&self) -> MacAddr {
        array(self.buffer.as_ref(), 8)
    }

    /// Sender protocol (IPv4) address.
    #[inline]
    pub fn spa(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), 14)
    }

    /// Target hardware address.
    #[inline]
    pub fn tha(&self) -> MacAddr {
        array(self.buffer.as_ref(), 18)
    }

    /// Target protocol (IPv4) address.
    #[inline]
    pub fn tpa(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), 24)
    }

    /// Sender protocol address as an [`Ipv4Addr`].
    #[inline]
    pub fn spa_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.spa())
    }

    /// Target protocol address as an [`Ipv4Addr`].
    #[inline]
    pub fn tpa_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.tpa())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the operation.
    #[inline]
    pub fn set_oper(&mut self, oper: u16) {
        set_be16(self.buffer.as_mut(), 6, oper);
    }

    /// Sets the sender hardware address.
    #[inline]
    pub fn set_sha(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[8..14].copy_from_slice(&mac);
    }

    /// Sets the sender protocol address.
    #[inline]
    pub fn set_spa(&mut self, ip: [u8; 4]) {
        self.buffer.as_mut()[14..18].copy_from_slice(&ip);
    }

    /// Sets the target hardware address.
    #[inline]
    pub fn set_tha(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[18..24].copy_from_slice(&mac);
    }

    /// Sets the target protocol address.
    #[inline]
    pub fn set_tpa(&mut self, ip: [u8; 4]) {
        self.buffer.as_mut()[24..28].copy_from_slice(&ip);
    }

    /// Turns a request into the reply saying "`tpa` is at `my_mac`": the
    /// old sender becomes the target. Returns false (and changes nothing) if
    /// this is not a request.
    pub fn make_reply(&mut self, my_mac: MacAddr) -> bool {
        if self.oper() != ARP_REQUEST {
            return false;
        }
        let (sha, spa, tpa) = (self.sha(), self.spa(), self.tpa());
        self.set_oper(ARP_REPLY);
        self.set_tha(sha);
        self.set_tpa(spa);
        self.set_sha(my_mac);
        self.set_spa(tpa);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::ARP_REQUEST as FRAME;

    #[test]
    fn captured_request() {
        let a = ArpPacket::new_checked(&FRAME[14..]).unwrap();
        assert_eq!(
            (a.htype(), a.ptype(), a.hlen(), a.plen()),
            (1, 0x0800, 6, 4)
        );
        assert_eq!(a.oper(), ARP_REQUEST);
        assert_eq!(a.sha(), [0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54]);
        assert_eq!(a.spa_addr(), Ipv4Addr::new(24, 166, 172, 1));
        assert_eq!(a.tha(), [0; 6]);
        assert_eq!(a.tpa(), [24, 166, 173, 159]);
    }

    #[test]
    fn reply_in_place() {
        let mut f = FRAME;
        let mut a = ArpPacket::new_checked(&mut f[14..42]).unwrap();
        assert!(a.make_reply([2, 0, 0, 0, 0, 9]));
        assert!(!a.make_reply([2, 0, 0, 0, 0, 9]));
        assert_eq!(
            &f[14..42],
            &[
                0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 2, 0, 0, 0, 0, 9, 24, 166, 173,
                159, 0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 24, 166, 172, 1
            ]
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(
            ArpPacket::new_checked(&FRAME[14..40])
                .unwrap_err()
                .to_string(),
            "truncated ARP packet: need 28 bytes, have 26"
        );
        let mut f = FRAME;
        f[15] = 6; // htype 6 (IEEE 802)
        assert_eq!(
            ArpPacket::new_checked(&f[14..]).unwrap_err().to_string(),
            "unsupported ARP hardware type: 0x0006"
        );
        let mut f = FRAME;
        f[18] = 8;
        assert!(ArpPacket::new_checked(&f[14..]).is_err());
    }
}
