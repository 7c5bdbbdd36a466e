//! Tunnels between Sluice hosts: VXLAN-GPE + NSH and plain VXLAN encapsulation, decapsulation and ARP.
//!
//! * [`encap_gpe_nsh`] / [`encap_vxlan`] write outer Ethernet / IPv4 / UDP / VXLAN(-GPE) (/ NSH)
//!   headers **in place** into the headroom in front of an inner Ethernet frame: no allocation,
//!   no copy of the inner frame. The outer IPv4 total length and header checksum are correct,
//!   the UDP checksum is 0 (allowed for IPv4, RFC 7348 §5); with an IPv6 peer the outer header
//!   is IPv6 (flow label from the flow hash) and the UDP checksum is computed. The UDP source
//!   port comes from the inner flow hash ([`source_port`]). A frame that would exceed the
//!   underlay MTU is refused ([`EncapError::TooBig`]), never cut.
//! * [`decap`] validates a received frame and returns the inner frame's range and the tunnel
//!   fields ([`Decapped`]), or the [`DropReason`] it must be dropped and counted for.
//! * [`Tunnel`] holds the local [`Endpoint`], the [`Peer`]s and their [`PeerCounters`], and adds
//!   the checks that need configuration (our address, known peer, VNI, known service path).
//! * [`arp`]: ARP requests for the underlay next hop, replies for our tunnel address, and an
//!   [`ArpCache`].
//!
//! The wire format, the NSH metadata layout ([`Metadata`]), the counters and the drop reasons
//! are described in this crate's README.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arp;
mod counters;
mod decap;
mod encap;
mod endpoint;
mod tunnel;
mod wire;

pub use arp::{arp_request, handle_arp, ArpCache, ArpError, ArpOutcome, ARP_FRAME_LEN};
pub use counters::{PeerCounters, PeerStats};
pub use decap::{decap, decap_ports, Decapped, DropReason, TunnelKind};
pub use encap::{encap_gpe_nsh, encap_vxlan, source_port, EncapError, Nsh};
pub use endpoint::{Endpoint, Peer};
pub use tunnel::{PeerId, Tunnel};
pub use wire::{
    Metadata, GPE_FLAG_I, GPE_FLAG_O, GPE_FLAG_P, GPE_NEXT_ETHERNET, GPE_NEXT_NSH,
    GPE_NSH_OVERHEAD, GPE_NSH_OVERHEAD_V6, MAX_TUNNEL_HOPS, NSH_MD1_LEN, NSH_MD_TYPE_1,
    NSH_MD_TYPE_2, NSH_NEXT_ETHERNET, NSH_TTL_DEFAULT, OUTER_IPV4_LEN, OUTER_IPV6_LEN,
    SLUICE_TLV_CLASS, SLUICE_TLV_TYPE, VXLAN_FLAG_I, VXLAN_GPE_PORT, VXLAN_HEADER_LEN,
    VXLAN_OVERHEAD, VXLAN_OVERHEAD_V6, VXLAN_PORT,
};
