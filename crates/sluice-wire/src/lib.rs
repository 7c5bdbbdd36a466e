//! Zero-copy packet header views for Sluice, in the style of smoltcp.
//!
//! Every view (`EthernetFrame`, `VlanTag`, `ArpPacket`, `Ipv4Packet`,
//! `Ipv6Packet`, `UdpPacket`, `TcpPacket`, `IcmpPacket`) wraps any
//! `T: AsRef<[u8]>` (mutable setters need `AsMut<[u8]>` too). Its
//! `new_checked` validates lengths once; accessors then never panic. Nothing
//! in the parsers allocates.
//!
//! - [`parse`] / [`Headers`]: one-pass offsets of every layer for the SDK.
//! - [`flow`]: [`FlowKey`], symmetric flow hashing ([`flow_hash`]).
//! - [`checksum`]: Internet checksum, pseudo-headers, RFC 1624 updates.
//! - [`build`]: complete UDP/TCP/ICMP/ARP frames for generators and tests.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod field;

pub mod arp;
pub mod build;
pub mod checksum;
pub mod error;
pub mod ethernet;
pub mod flow;
pub mod headers;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod testdata;

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IP protocol (next header) number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

pub use arp::{ArpPacket, ARP_REPLY, ARP_REQUEST};
pub use build::{
    write_arp_ipv4, write_icmp_echo_ipv4, write_tcp_ipv4, write_tcp_ipv6, write_udp_ipv4,
    write_udp_ipv6,
};
pub use checksum::{
    fill_tcp_checksum_ipv4, fill_tcp_checksum_ipv6, fill_udp_checksum_ipv4, fill_udp_checksum_ipv6,
    internet_checksum, pseudo_header_ipv4, pseudo_header_ipv6, update_bytes, update_u16,
    update_u32,
};
pub use error::WireError;
pub use ethernet::{
    parse_mac, swap_macs, EthernetFrame, MacAddr, MacFmt, VlanInfo, VlanTag, BROADCAST_MAC,
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
};
pub use flow::{flow_hash, FlowKey};
pub use headers::{fill_checksums, parse, verify_checksums, Headers, L3Kind, L4Kind};
pub use icmp::IcmpPacket;
pub use ipv4::Ipv4Packet;
pub use ipv6::{Ipv6Packet, UpperLayer};
pub use tcp::{TcpPacket, TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG};
pub use udp::UdpPacket;
