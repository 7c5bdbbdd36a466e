//! The local tunnel endpoint and its peers, filled from the host records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sluice_wire::MacAddr;

use crate::wire::{VXLAN_GPE_PORT, VXLAN_PORT};

/// This host's end of the tunnels: underlay interface MAC and IPv4 address, UDP ports and the
/// underlay MTU. Build it from the host record, never from constants.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// Sluice host id, written into the metadata of packets sent from here.
    pub host_id: u16,
    /// MAC address of the underlay interface (outer source MAC).
    pub mac: MacAddr,
    /// Tunnel IPv4 address (outer source address towards IPv4 peers; received IPv4 tunnel
    /// packets must be sent to it).
    pub ip: Ipv4Addr,
    /// Tunnel IPv6 address, needed to reach IPv6 peers (outer source address; received IPv6
    /// tunnel packets must be sent to it). Default none.
    pub ipv6: Option<Ipv6Addr>,
    /// Prefix length of `ip`'s subnet: peers inside it are reached directly, others through
    /// `gateway`. Default 0 (every peer on the link).
    pub prefix_len: u8,
    /// Underlay router for peers outside the subnet. Default none.
    pub gateway: Option<Ipv4Addr>,
    /// Underlay IP MTU in bytes: the largest outer IPv4 or IPv6 packet (outer Ethernet
    /// header not counted). Default 1500.
    pub mtu: u16,
    /// UDP port of VXLAN-GPE, sent to and listened on. Default 4790.
    pub gpe_port: u16,
    /// UDP port of plain VXLAN, sent to and listened on. Default 4789 (the kernel's
    /// `dstport 4789`).
    pub vxlan_port: u16,
}

impl Endpoint {
    /// An endpoint with the defaults above.
    pub fn new(host_id: u16, mac: MacAddr, ip: Ipv4Addr) -> Endpoint {
        Endpoint {
            host_id,
            mac,
            ip,
            ipv6: None,
            prefix_len: 0,
            gateway: None,
            mtu: 1500,
            gpe_port: VXLAN_GPE_PORT,
            vxlan_port: VXLAN_PORT,
        }
    }

    /// The underlay next hop for `peer`: the peer itself when it is in our subnet (or no
    /// gateway is set), else the gateway. This is the address to resolve with ARP.
    pub fn next_hop(&self, peer: Ipv4Addr) -> Ipv4Addr {
        let Some(gw) = self.gateway else {
            return peer;
        };
        let mask = match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        };
        if u32::from(peer) & mask == u32::from(self.ip) & mask {
            peer
        } else {
            gw
        }
    }
}

/// Another Sluice host, from its host record.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Peer {
    /// The peer's Sluice host id.
    pub host_id: u16,
    /// The peer's tunnel address (outer destination address); IPv4 or IPv6 selects the
    /// outer IP version.
    pub ip: IpAddr,
    /// MAC of the underlay next hop towards the peer (the peer itself or the gateway), from
    /// ARP or configured statically (IPv6 peers: static only, there is no NDP here); `None` until resolved (sending then fails with
    /// [`EncapError::NoNextHopMac`](crate::EncapError::NoNextHopMac)).
    pub mac: Option<MacAddr>,
    /// Path MTU towards this peer if smaller than the endpoint's MTU.
    pub mtu: Option<u16>,
}

impl Peer {
    /// A peer with no MAC yet and no MTU of its own.
    pub fn new(host_id: u16, ip: impl Into<IpAddr>) -> Peer {
        Peer {
            host_id,
            ip: ip.into(),
            mac: None,
            mtu: None,
        }
    }

    /// The same peer with a static next-hop MAC.
    pub fn with_mac(mut self, mac: MacAddr) -> Peer {
        self.mac = Some(mac);
        self
    }

    /// The MTU that applies to packets to this peer from `local`.
    #[inline]
    pub fn effective_mtu(&self, local: &Endpoint) -> u16 {
        match self.mtu {
            Some(m) => m.min(local.mtu),
            None => local.mtu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hop() {
        let mut e = Endpoint::new(1, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 1, 5));
        let near = Ipv4Addr::new(10, 0, 1, 9);
        let far = Ipv4Addr::new(10, 0, 2, 9);
        assert_eq!(e.next_hop(far), far);
        e.gateway = Some(Ipv4Addr::new(10, 0, 1, 1));
        e.prefix_len = 24;
        assert_eq!(e.next_hop(near), near);
        assert_eq!(e.next_hop(far), Ipv4Addr::new(10, 0, 1, 1));
        e.prefix_len = 32;
        assert_eq!(e.next_hop(near), Ipv4Addr::new(10, 0, 1, 1));
    }

    #[test]
    fn mtu() {
        let e = Endpoint::new(1, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 1, 5));
        let mut p = Peer::new(2, Ipv4Addr::new(10, 0, 1, 6));
        assert_eq!(p.effective_mtu(&e), 1500);
        p.mtu = Some(1400);
        assert_eq!(p.effective_mtu(&e), 1400);
        p.mtu = Some(9000);
        assert_eq!(p.effective_mtu(&e), 1500);
    }
}
