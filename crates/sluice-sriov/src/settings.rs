//! What rtnetlink can set on one VF, as plain values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::consts::{ETH_P_8021AD, ETH_P_8021Q};

/// An Ethernet MAC address; text form `aa:bb:cc:dd:ee:ff` (also in serde).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// True for group (multicast or broadcast) addresses, which no driver takes as a VF MAC.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for 00:00:00:00:00:00 (what the kernel reports for "no administrative MAC").
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Error for a string that is not `hh:hh:hh:hh:hh:hh`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a MAC address (want hh:hh:hh:hh:hh:hh)")]
pub struct BadMac(pub String);

impl FromStr for MacAddr {
    type Err = BadMac;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadMac(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.trim().split(':');
        for byte in &mut out {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The VLAN tag protocol of a port VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum VlanProto {
    /// 802.1Q C-tag, ethertype 0x8100 (what every SR-IOV driver supports).
    #[default]
    #[serde(rename = "802.1Q")]
    Dot1Q,
    /// 802.1ad S-tag, ethertype 0x88a8 (QinQ; mlx5/ice yes, X710 no).
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

impl VlanProto {
    /// The ethertype (host order).
    pub fn ethertype(self) -> u16 {
        match self {
            VlanProto::Dot1Q => ETH_P_8021Q,
            VlanProto::Dot1Ad => ETH_P_8021AD,
        }
    }

    /// The protocol for an ethertype, if it is one of the two.
    pub fn from_ethertype(t: u16) -> Option<Self> {
        match t {
            ETH_P_8021Q => Some(VlanProto::Dot1Q),
            ETH_P_8021AD => Some(VlanProto::Dot1Ad),
            _ => None,
        }
    }
}

impl fmt::Display for VlanProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VlanProto::Dot1Q => "802.1Q",
            VlanProto::Dot1Ad => "802.1ad",
        })
    }
}

/// A port VLAN (VST): the NIC inserts the tag on VF transmit and strips it on receive.
/// `id == 0 && qos == 0` removes the port VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VfVlan {
    /// VLAN id, 0..=4095; 0 = no port VLAN.
    pub id: u16,
    /// 802.1p priority (PCP) put in the inserted tag, 0..=7.
    pub qos: u8,
    /// Tag protocol.
    pub proto: VlanProto,
}

impl VfVlan {
    /// "No port VLAN": the VF sends and receives its own tags (VGT).
    pub const NONE: VfVlan = VfVlan {
        id: 0,
        qos: 0,
        proto: VlanProto::Dot1Q,
    };
}

/// VF transmit rate limits in Mbps (`IFLA_VF_RATE`); 0 = no limit / no guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TxRate {
    /// Guaranteed minimum, Mbps (driver-dependent: ixgbe and i40e refuse non-zero).
    pub min_mbps: u32,
    /// Ceiling, Mbps.
    pub max_mbps: u32,
}

/// The link state the VF driver sees (`IFLA_VF_LINK_STATE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Follow the PF's uplink (IFLA_VF_LINK_STATE_AUTO = 0).
    #[default]
    Auto,
    /// Always up (IFLA_VF_LINK_STATE_ENABLE = 1).
    Enable,
    /// Always down (IFLA_VF_LINK_STATE_DISABLE = 2).
    Disable,
}

impl LinkState {
    /// The kernel value.
    pub fn to_kernel(self) -> u32 {
        match self {
            LinkState::Auto => 0,
            LinkState::Enable => 1,
            LinkState::Disable => 2,
        }
    }

    /// From the kernel value.
    pub fn from_kernel(v: u32) -> Option<Self> {
        match v {
            0 => Some(LinkState::Auto),
            1 => Some(LinkState::Enable),
            2 => Some(LinkState::Disable),
            _ => None,
        }
    }
}

/// Everything rtnetlink can set on one VF. `None` leaves that property as it is on the NIC.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VfSettings {
    /// VF index on the PF (`IFLA_VF_INFO` carries it in every payload).
    pub vf: u32,
    /// Administrative MAC (`IFLA_VF_MAC`).
    pub mac: Option<MacAddr>,
    /// Port VLAN (`IFLA_VF_VLAN` for 802.1Q, `IFLA_VF_VLAN_LIST` for 802.1ad).
    pub vlan: Option<VfVlan>,
    /// Min/max transmit rate (`IFLA_VF_RATE`).
    pub rate: Option<TxRate>,
    /// Source-MAC anti-spoof (`IFLA_VF_SPOOFCHK`).
    pub spoofchk: Option<bool>,
    /// Trusted VF: may change its MAC and enter promisc/allmulti (`IFLA_VF_TRUST`).
    pub trust: Option<bool>,
    /// Link state seen by the VF (`IFLA_VF_LINK_STATE`).
    pub link_state: Option<LinkState>,
    /// Let the VF query the RSS key and table (`IFLA_VF_RSS_QUERY_EN`).
    pub rss_query_en: Option<bool>,
}

impl VfSettings {
    /// Settings for VF `vf` that change nothing yet.
    pub fn new(vf: u32) -> Self {
        VfSettings {
            vf,
            ..Default::default()
        }
    }

    /// The attributes to send, in the order the kernel's `do_setvfinfo()` handles them.
    pub fn attrs(&self) -> Vec<VfAttrValue> {
        let mut out = Vec::new();
        if let Some(m) = self.mac {
            out.push(VfAttrValue::Mac(m));
        }
        if let Some(v) = self.vlan {
            out.push(VfAttrValue::Vlan(v));
        }
        if let Some(r) = self.rate {
            out.push(VfAttrValue::Rate(r));
        }
        if let Some(b) = self.spoofchk {
            out.push(VfAttrValue::SpoofChk(b));
        }
        if let Some(s) = self.link_state {
            out.push(VfAttrValue::LinkState(s));
        }
        if let Some(b) = self.rss_query_en {
            out.push(VfAttrValue::RssQueryEn(b));
        }
        if let Some(b) = self.trust {
            out.push(VfAttrValue::Trust(b));
        }
        out
    }
}

/// Which rtnetlink VF attribute (for reports and errors); displays as the kernel name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VfAttr {
    /// `IFLA_VF_MAC`
    Mac,
    /// `IFLA_VF_VLAN` (802.1Q port VLAN)
    Vlan,
    /// `IFLA_VF_VLAN_LIST` (port VLAN with protocol)
    VlanList,
    /// `IFLA_VF_RATE`
    Rate,
    /// `IFLA_VF_SPOOFCHK`
    SpoofChk,
    /// `IFLA_VF_LINK_STATE`
    LinkState,
    /// `IFLA_VF_RSS_QUERY_EN`
    RssQueryEn,
    /// `IFLA_VF_TRUST`
    Trust,
}

impl VfAttr {
    /// The kernel's name for the attribute.
    pub fn name(self) -> &'static str {
        match self {
            VfAttr::Mac => "IFLA_VF_MAC",
            VfAttr::Vlan => "IFLA_VF_VLAN",
            VfAttr::VlanList => "IFLA_VF_VLAN_LIST",
            VfAttr::Rate => "IFLA_VF_RATE",
            VfAttr::SpoofChk => "IFLA_VF_SPOOFCHK",
            VfAttr::LinkState => "IFLA_VF_LINK_STATE",
            VfAttr::RssQueryEn => "IFLA_VF_RSS_QUERY_EN",
            VfAttr::Trust => "IFLA_VF_TRUST",
        }
    }
}

impl fmt::Display for VfAttr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One VF attribute with its value, ready to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VfAttrValue {
    /// Administrative MAC.
    Mac(MacAddr),
    /// Port VLAN; 802.1Q goes out as `IFLA_VF_VLAN` (as iproute2 does, and pre-4.9 kernels
    /// only know that one), 802.1ad as `IFLA_VF_VLAN_LIST`.
    Vlan(VfVlan),
    /// Min/max rate.
    Rate(TxRate),
    /// Spoof check on/off.
    SpoofChk(bool),
    /// Link state.
    LinkState(LinkState),
    /// RSS query on/off.
    RssQueryEn(bool),
    /// Trust on/off.
    Trust(bool),
}

impl VfAttrValue {
    /// Which attribute this value is sent as.
    pub fn attr(&self) -> VfAttr {
        match self {
            VfAttrValue::Mac(_) => VfAttr::Mac,
            VfAttrValue::Vlan(v) if v.proto == VlanProto::Dot1Q => VfAttr::Vlan,
            VfAttrValue::Vlan(_) => VfAttr::VlanList,
            VfAttrValue::Rate(_) => VfAttr::Rate,
            VfAttrValue::SpoofChk(_) => VfAttr::SpoofChk,
            VfAttrValue::LinkState(_) => VfAttr::LinkState,
            VfAttrValue::RssQueryEn(_) => VfAttr::RssQueryEn,
            VfAttrValue::Trust(_) => VfAttr::Trust,
        }
    }
}

impl fmt::Display for VfAttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VfAttrValue::Mac(m) => write!(f, "mac {m}"),
            VfAttrValue::Vlan(v) => write!(f, "vlan {} qos {} proto {}", v.id, v.qos, v.proto),
            VfAttrValue::Rate(r) => {
                write!(f, "min_tx_rate {} max_tx_rate {}", r.min_mbps, r.max_mbps)
            }
            VfAttrValue::SpoofChk(b) => write!(f, "spoofchk {}", on_off(*b)),
            VfAttrValue::LinkState(s) => write!(
                f,
                "state {}",
                match s {
                    LinkState::Auto => "auto",
                    LinkState::Enable => "enable",
                    LinkState::Disable => "disable",
                }
            ),
            VfAttrValue::RssQueryEn(b) => write!(f, "query_rss {}", on_off(*b)),
            VfAttrValue::Trust(b) => write!(f, "trust {}", on_off(*b)),
        }
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_text_round_trip() {
        let m: MacAddr = "02:11:22:33:44:5F".parse().unwrap();
        assert_eq!(m.0, [2, 0x11, 0x22, 0x33, 0x44, 0x5f]);
        assert_eq!(m.to_string(), "02:11:22:33:44:5f");
        for bad in [
            "",
            "02:11:22:33:44",
            "02:11:22:33:44:55:66",
            "0:11:22:33:44:55",
            "zz:11:22:33:44:55",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        assert!("ff:ff:ff:ff:ff:ff"
            .parse::<MacAddr>()
            .unwrap()
            .is_multicast());
    }

    #[test]
    fn attrs_follow_kernel_order() {
        let s = VfSettings {
            vf: 1,
            mac: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            vlan: Some(VfVlan {
                id: 5,
                qos: 0,
                proto: VlanProto::Dot1Ad,
            }),
            rate: Some(TxRate::default()),
            spoofchk: Some(true),
            trust: Some(false),
            link_state: Some(LinkState::Auto),
            rss_query_en: Some(false),
        };
        let kinds: Vec<VfAttr> = s.attrs().iter().map(|a| a.attr()).collect();
        assert_eq!(
            kinds,
            [
                VfAttr::Mac,
                VfAttr::VlanList,
                VfAttr::Rate,
                VfAttr::SpoofChk,
                VfAttr::LinkState,
                VfAttr::RssQueryEn,
                VfAttr::Trust
            ]
        );
        assert!(VfSettings::new(0).attrs().is_empty());
    }
}
