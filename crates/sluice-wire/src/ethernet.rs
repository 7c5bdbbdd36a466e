//! Ethernet II frames and IEEE 802.1Q / 802.1ad VLAN tags.

use core::fmt;

use crate::field::{array, be16, set_be16};
use crate::WireError;

/// A 48-bit Ethernet MAC address.
pub type MacAddr = [u8; 6];

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// TPID of an IEEE 802.1Q (customer) VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// TPID of an IEEE 802.1ad (QinQ service) VLAN tag.
pub const ETHERTYPE_QINQ: u16 = 0x88a8;

/// Length of an untagged Ethernet II header (destination, source, type).
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of one VLAN tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// The broadcast MAC address `ff:ff:ff:ff:ff:ff`.
pub const BROADCAST_MAC: MacAddr = [0xff; 6];

/// True if `ethertype` is a VLAN TPID understood here (0x8100 or 0x88a8).
#[inline]
pub const fn is_vlan_tpid(ethertype: u16) -> bool {
    matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ)
}

/// Swaps the destination and source MAC addresses of a frame in place.
///
/// Does nothing if `frame` is shorter than 12 bytes.
#[inline]
pub fn swap_macs(frame: &mut [u8]) {
    if let Some(macs) = frame.get_mut(..12) {
        let (dst, src) = macs.split_at_mut(6);
        dst.swap_with_slice(src);
    }
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff` (wrap it: `MacFmt(mac)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacFmt(pub MacAddr);

impl fmt::Display for MacFmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Parses a MAC address written as six hex bytes separated by `:` or `-`.
pub fn parse_mac(s: &str) -> Result<MacAddr, WireError> {
    let bad = || WireError::InvalidMac {
        input: s.to_string(),
    };
    let mut mac = [0u8; 6];
    let mut parts = s.trim().split([':', '-']);
    for byte in mac.iter_mut() {
        let p = parts.next().ok_or_else(bad)?;
        if p.is_empty() || p.len() > 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(mac)
}

/// A view of an Ethernet II frame (14-byte header followed by the payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer`, checking that it holds the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let have = buffer.as_ref().len();
        if have < ETHERNET_HEADER_LEN {
            return Err(WireError::Truncated {
                what: "Ethernet header",
                need: ETHERNET_HEADER_LEN,
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

    /// The whole frame.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst(&self) -> MacAddr {
        array(self.buffer.as_ref(), 0)
    }

    /// Source MAC address.
    #[inline]
    pub fn src(&self) -> MacAddr {
        array(self.buffer.as_ref(), 6)
    }

    /// The first type field (a VLAN TPID if the frame is tagged).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), 12)
    }

    /// Everything after the 14-byte header (starts at the first VLAN TCI
    /// if the frame is tagged).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[ETHERNET_HEADER_LEN..]
    }

    /// The outer VLAN tag, if the frame is tagged and long enough.
    #[inline]
    pub fn vlan(&self) -> Option<VlanTag<&[u8]>> {
        if is_vlan_tpid(self.ethertype()) {
            VlanTag::new_checked(&self.buffer.as_ref()[12..]).ok()
        } else {
            None
        }
    }

    /// True if the destination is the broadcast address.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        self.dst() == BROADCAST_MAC
    }

    /// True if the destination is a multicast (or broadcast) address.
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.buffer.as_ref()[0] & 1 == 1
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[0..6].copy_from_slice(&mac);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src(&mut self, mac: MacAddr) {
        self.buffer.as_mut()[6..12].copy_from_slice(&mac);
    }

    /// Sets the first type field.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        set_be16(self.buffer.as_mut(), 12, ethertype);
    }

    /// Mutable access to everything after the 14-byte header.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[ETHERNET_HEADER_LEN..]
    }

    /// Swaps destination and source MAC addresses.
    #[inline]
    pub fn swap_macs(&mut self) {
        swap_macs(self.buffer.as_mut());
    }
}

/// Decoded fields of one VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanInfo {
    /// Tag protocol identifier (0x8100 or 0x88a8).
    pub tpid: u16,
    /// Priority code point (3 bits).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (12 bits).
    pub vid: u16,
}

/// A view of one VLAN tag: the buffer starts at the TPID and holds at least
/// TPID (2), TCI (2) and the following type field (2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps `buffer` (starting at the TPID), checking its length (6 bytes)
    /// and that the TPID is 0x8100 or 0x88a8.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < 6 {
            return Err(WireError::Truncated {
                what: "VLAN tag",
                need: 6,
                have: b.len(),
            });
        }
        let tpid = be16(b, 0);
        if !is_vlan_tpid(tpid) {
            return Err(WireError::Unsupported {
                what: "VLAN TPID",
                value: tpid.into(),
            });
        }
        Ok(Self { buffer })
    }

    /// Returns the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Tag protocol identifier.
    #[inline]
    pub fn tpid(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }

    /// The raw 16-bit tag control information.
    #[inline]
    pub fn tci(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// Priority code point (0..=7).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (0..=4095).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The type field following the tag (another TPID for stacked tags).
    #[inline]
    pub fn inner_ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }

    /// The bytes starting at the inner type field; pass them to
    /// `VlanTag::new_checked` to read a stacked inner tag.
    #[inline]
    pub fn inner(&self) -> &[u8] {
        &self.buffer.as_ref()[VLAN_TAG_LEN..]
    }

    /// The bytes after the inner type field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[6..]
    }

    /// All decoded fields.
    #[inline]
    pub fn info(&self) -> VlanInfo {
        VlanInfo {
            tpid: self.tpid(),
            pcp: self.pcp(),
            dei: self.dei(),
            vid: self.vid(),
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    fn set_tci(&mut self, tci: u16) {
        set_be16(self.buffer.as_mut(), 2, tci);
    }

    /// Sets the priority code point (low 3 bits of `pcp` are used).
    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        self.set_tci((self.tci() & 0x1fff) | (u16::from(pcp & 7) << 13));
    }

    /// Sets the drop eligible indicator.
    #[inline]
    pub fn set_dei(&mut self, dei: bool) {
        self.set_tci((self.tci() & !0x1000) | (u16::from(dei) << 12));
    }

    /// Sets the VLAN identifier (low 12 bits of `vid` are used).
    #[inline]
    pub fn set_vid(&mut self, vid: u16) {
        self.set_tci((self.tci() & 0xf000) | (vid & 0x0fff));
    }

    /// Sets the type field following the tag.
    #[inline]
    pub fn set_inner_ethertype(&mut self, ethertype: u16) {
        set_be16(self.buffer.as_mut(), 4, ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::QINQ_UDP;

    #[test]
    fn ethernet_fields() {
        let f = EthernetFrame::new_checked(&QINQ_UDP[..]).unwrap();
        assert_eq!(f.dst(), [0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(f.src(), [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb]);
        assert_eq!(f.ethertype(), ETHERTYPE_QINQ);
        assert_eq!(f.payload().len(), QINQ_UDP.len() - 14);
        assert!(!f.is_broadcast());
        assert!(!f.is_multicast());
    }

    #[test]
    fn qinq_tags() {
        let f = EthernetFrame::new_checked(&QINQ_UDP[..]).unwrap();
        let outer = f.vlan().unwrap();
        assert_eq!(outer.tpid(), ETHERTYPE_QINQ);
        assert_eq!(outer.pcp(), 3);
        assert!(!outer.dei());
        assert_eq!(outer.vid(), 100);
        assert_eq!(outer.inner_ethertype(), ETHERTYPE_VLAN);
        let inner = VlanTag::new_checked(outer.inner()).unwrap();
        assert_eq!(
            inner.info(),
            VlanInfo {
                tpid: ETHERTYPE_VLAN,
                pcp: 0,
                dei: true,
                vid: 200
            }
        );
        assert_eq!(inner.inner_ethertype(), ETHERTYPE_IPV4);
        assert_eq!(inner.payload()[0], 0x45);
    }

    #[test]
    fn vlan_setters() {
        let mut buf = [0x81, 0x00, 0x00, 0x00, 0x08, 0x00];
        let mut t = VlanTag::new_checked(&mut buf[..]).unwrap();
        t.set_vid(0xabc);
        t.set_pcp(5);
        t.set_dei(true);
        t.set_inner_ethertype(ETHERTYPE_IPV6);
        assert_eq!((t.vid(), t.pcp(), t.dei()), (0xabc, 5, true));
        t.set_dei(false);
        t.set_vid(1);
        assert_eq!((t.vid(), t.pcp(), t.dei()), (1, 5, false));
        assert_eq!(buf, [0x81, 0x00, 0xa0, 0x01, 0x86, 0xdd]);
        assert!(matches!(
            VlanTag::new_checked(&[0x08, 0x00, 0, 0, 0, 0][..]),
            Err(WireError::Unsupported { .. })
        ));
    }

    #[test]
    fn setters_and_swap() {
        let mut buf = QINQ_UDP;
        let mut f = EthernetFrame::new_checked(&mut buf[..]).unwrap();
        f.swap_macs();
        assert_eq!(f.dst(), [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb]);
        assert_eq!(f.src(), [0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
        f.set_dst(BROADCAST_MAC);
        f.set_src([2, 0, 0, 0, 0, 1]);
        f.set_ethertype(ETHERTYPE_ARP);
        assert!(f.is_broadcast());
        assert_eq!(
            &buf[..14],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06]
        );
        let mut short = [1u8, 2, 3];
        swap_macs(&mut short);
        assert_eq!(short, [1, 2, 3]);
    }

    #[test]
    fn truncated_message() {
        let e = EthernetFrame::new_checked(&[0u8; 12][..]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "truncated Ethernet header: need 14 bytes, have 12"
        );
    }

    #[test]
    fn mac_text() {
        let m = parse_mac("02:00:0a:FF:00:01").unwrap();
        assert_eq!(m, [2, 0, 0x0a, 0xff, 0, 1]);
        assert_eq!(MacFmt(m).to_string(), "02:00:0a:ff:00:01");
        assert_eq!(parse_mac("02-00-0a-ff-00-01").unwrap(), m);
        for bad in [
            "",
            "02:00:0a:ff:00",
            "02:00:0a:ff:00:01:02",
            "02:00:0a:ff:00:zz",
            "020:0:0a:ff:00:01",
        ] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }
}
