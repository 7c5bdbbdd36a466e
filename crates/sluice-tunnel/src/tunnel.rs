//! A tunnel endpoint with its peers: counting, and the receive checks that need
//! configuration.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::counters::PeerCounters;
use crate::decap::{decap_ports, Decapped, DropReason, TunnelKind};
use crate::encap::{encap_gpe_nsh, encap_vxlan, EncapError, Nsh};
use crate::endpoint::{Endpoint, Peer};

/// Index of a peer in a [`Tunnel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub usize);

/// The local endpoint, its peers and their counters. Sending and receiving take `&self`
/// (counters are atomics), so one `Tunnel` can be shared by data-plane threads; change
/// peers on a copy and publish it (e.g. by atomic swap).
#[derive(Debug)]
pub struct Tunnel {
    local: Endpoint,
    vni: u32,
    peers: Vec<(Peer, PeerCounters)>,
    stray: PeerCounters,
}

impl Tunnel {
    /// A tunnel from `local`; `vni` is the plain-VXLAN network id from the config.
    pub fn new(local: Endpoint, vni: u32) -> Tunnel {
        Tunnel {
            local,
            vni,
            peers: Vec::new(),
            stray: PeerCounters::new(),
        }
    }

    /// The local endpoint.
    pub fn local(&self) -> &Endpoint {
        &self.local
    }

    /// The plain-VXLAN VNI.
    pub fn vni(&self) -> u32 {
        self.vni
    }

    /// Adds a peer (or replaces the one with the same address, keeping its counters).
    pub fn add_peer(&mut self, peer: Peer) -> PeerId {
        if let Some(id) = self.find_peer(peer.ip) {
            self.peers[id.0].0 = peer;
            return id;
        }
        self.peers.push((peer, PeerCounters::new()));
        PeerId(self.peers.len() - 1)
    }

    /// Sets the underlay next-hop MAC of a peer (from ARP or static config).
    pub fn set_peer_mac(&mut self, id: PeerId, mac: sluice_wire::MacAddr) {
        if let Some(p) = self.peers.get_mut(id.0) {
            p.0.mac = Some(mac);
        }
    }

    /// The peer with tunnel address `ip`.
    #[inline]
    pub fn find_peer(&self, ip: IpAddr) -> Option<PeerId> {
        self.peers.iter().position(|(p, _)| p.ip == ip).map(PeerId)
    }

    /// A peer's record.
    pub fn peer(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id.0).map(|p| &p.0)
    }

    /// A peer's counters.
    pub fn counters(&self, id: PeerId) -> Option<&PeerCounters> {
        self.peers.get(id.0).map(|p| &p.1)
    }

    /// Counters of frames whose sender is not a known peer.
    pub fn stray_counters(&self) -> &PeerCounters {
        &self.stray
    }

    /// Every peer with its counters, in id order.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &Peer, &PeerCounters)> {
        self.peers
            .iter()
            .enumerate()
            .map(|(i, (p, c))| (PeerId(i), p, c))
    }

    fn counted(
        &self,
        id: PeerId,
        r: Result<Range<usize>, EncapError>,
    ) -> Result<Range<usize>, EncapError> {
        let c = &self.peers[id.0].1;
        match &r {
            Ok(range) => c.count_tx(range.end - range.start),
            Err(e) => c.count_drop(e.drop_reason()),
        }
        r
    }

    /// [`encap_gpe_nsh`] to peer `id`, counted (sent, or dropped by reason). `nsh.meta`'s
    /// `origin_host` is set to this host. Panics if `id` did not come from this tunnel.
    pub fn tx_gpe_nsh(
        &self,
        id: PeerId,
        buf: &mut [u8],
        inner: Range<usize>,
        nsh: &Nsh,
    ) -> Result<Range<usize>, EncapError> {
        let mut nsh = *nsh;
        nsh.meta.origin_host = self.local.host_id;
        let r = encap_gpe_nsh(buf, inner, &self.local, &self.peers[id.0].0, &nsh);
        self.counted(id, r)
    }

    /// [`encap_vxlan`] with the configured VNI to peer `id`, counted. Plain VXLAN has no
    /// hop count: like the kernel's vxlan device, never send a frame received from a
    /// tunnel back into one (split horizon). Panics if `id` did not come from this tunnel.
    pub fn tx_vxlan(
        &self,
        id: PeerId,
        buf: &mut [u8],
        inner: Range<usize>,
        flow_hash: u32,
    ) -> Result<Range<usize>, EncapError> {
        let r = encap_vxlan(
            buf,
            inner,
            &self.local,
            &self.peers[id.0].0,
            self.vni,
            flow_hash,
        );
        self.counted(id, r)
    }

    /// Receives a frame from the underlay: [`decap_ports`] with our ports, then checks that
    /// it is addressed to us (outer destination IP and MAC), comes from a known peer, carries
    /// the configured VNI (plain VXLAN) and, for NSH, a service path for which `known_path(spi,
    /// si)` is true. Counts it against the peer (accepted, or dropped by reason); frames
    /// from unknown senders count in [`stray_counters`](Self::stray_counters).
    pub fn rx(
        &self,
        frame: &[u8],
        known_path: impl Fn(u32, u8) -> bool,
    ) -> Result<(PeerId, Decapped), DropReason> {
        let sender = if frame.len() >= 34 && frame[12..14] == [0x08, 0x00] {
            let a = Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]);
            self.find_peer(a.into())
        } else if frame.len() >= 54 && frame[12..14] == [0x86, 0xdd] {
            let mut a = [0u8; 16];
            a.copy_from_slice(&frame[22..38]);
            self.find_peer(Ipv6Addr::from(a).into())
        } else {
            None
        };
        let counters = match sender {
            Some(id) => &self.peers[id.0].1,
            None => &self.stray,
        };
        let r = self.check(frame, sender, known_path);
        match &r {
            Ok(_) => counters.count_rx(frame.len()),
            Err(reason) => counters.count_drop(*reason),
        }
        r
    }

    fn check(
        &self,
        frame: &[u8],
        sender: Option<PeerId>,
        known_path: impl Fn(u32, u8) -> bool,
    ) -> Result<(PeerId, Decapped), DropReason> {
        let d = decap_ports(frame, self.local.vxlan_port, self.local.gpe_port)?;
        let ours = match d.outer_dst {
            IpAddr::V4(a) => a == self.local.ip,
            IpAddr::V6(a) => Some(a) == self.local.ipv6,
        };
        if !ours || d.outer_dst_mac != self.local.mac {
            return Err(DropReason::NotForUs);
        }
        let id = sender.ok_or(DropReason::UnknownPeer)?;
        match d.kind {
            TunnelKind::Vxlan if d.vni != self.vni => return Err(DropReason::WrongVni),
            TunnelKind::GpeNsh if !known_path(d.spi, d.si) => {
                return Err(DropReason::UnknownService)
            }
            _ => {}
        }
        Ok((id, d))
    }
}
