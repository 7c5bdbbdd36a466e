//! Kernel ABI constants, copied from the UAPI headers named next to each group (checked
//! against /usr/include/linux on Debian 12 and a 6.18 kernel). They are part of the
//! stable ABI: values never change once released.

// linux/netlink.h: struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }
pub(crate) const NLMSG_HDRLEN: usize = 16;
// linux/netlink.h: struct nlattr { u16 nla_len; u16 nla_type; }
pub(crate) const NLA_HDRLEN: usize = 4;
// linux/netlink.h: NLA_F_NESTED (1 << 15), NLA_F_NET_BYTEORDER (1 << 14); NLA_TYPE_MASK clears both.
pub(crate) const NLA_TYPE_MASK: u16 = !((1 << 15) | (1 << 14));

// linux/netlink.h: message flags.
pub(crate) const NLM_F_REQUEST: u16 = 0x01;
pub(crate) const NLM_F_ACK: u16 = 0x04;
// linux/netlink.h: flags on an NLMSG_ERROR reply.
pub(crate) const NLM_F_CAPPED: u16 = 0x100;
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;

// linux/netlink.h: control message types.
pub(crate) const NLMSG_NOOP: u16 = 0x1;
pub(crate) const NLMSG_ERROR: u16 = 0x2;
pub(crate) const NLMSG_DONE: u16 = 0x3;
// linux/netlink.h: enum nlmsgerr_attrs.
pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;
// linux/netlink.h: socket options at SOL_NETLINK.
pub(crate) const NETLINK_CAP_ACK: libc::c_int = 10;
pub(crate) const NETLINK_EXT_ACK: libc::c_int = 11;

// linux/rtnetlink.h: RTM_BASE = 16; NEWLINK, DELLINK, GETLINK, SETLINK follow.
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_GETLINK: u16 = 18;
pub(crate) const RTM_SETLINK: u16 = 19;
// linux/rtnetlink.h: struct ifinfomsg { u8 family; u8 pad; u16 type; i32 index; u32 flags; u32 change; }
pub(crate) const IFINFOMSG_LEN: usize = 16;
// linux/rtnetlink.h: IFLA_EXT_MASK filter bits.
pub(crate) const RTEXT_FILTER_VF: u32 = 1 << 0;
pub(crate) const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

// linux/if_link.h: enum { IFLA_UNSPEC, IFLA_ADDRESS, IFLA_BROADCAST, IFLA_IFNAME, ... }
pub(crate) const IFLA_IFNAME: u16 = 3;
pub(crate) const IFLA_NUM_VF: u16 = 21;
pub(crate) const IFLA_VFINFO_LIST: u16 = 22;
pub(crate) const IFLA_EXT_MASK: u16 = 29;

// linux/if_link.h: enum { IFLA_VF_INFO_UNSPEC, IFLA_VF_INFO }
pub(crate) const IFLA_VF_INFO: u16 = 1;

// linux/if_link.h: enum { IFLA_VF_UNSPEC, IFLA_VF_MAC, ... }
pub(crate) const IFLA_VF_MAC: u16 = 1; // struct ifla_vf_mac { u32 vf; u8 mac[32]; }
pub(crate) const IFLA_VF_VLAN: u16 = 2; // struct ifla_vf_vlan { u32 vf; u32 vlan; u32 qos; }
pub(crate) const IFLA_VF_TX_RATE: u16 = 3; // struct ifla_vf_tx_rate { u32 vf; u32 rate; }
pub(crate) const IFLA_VF_SPOOFCHK: u16 = 4; // struct ifla_vf_spoofchk { u32 vf; u32 setting; }
pub(crate) const IFLA_VF_LINK_STATE: u16 = 5; // struct ifla_vf_link_state { u32 vf; u32 link_state; }
pub(crate) const IFLA_VF_RATE: u16 = 6; // struct ifla_vf_rate { u32 vf; u32 min_tx_rate; u32 max_tx_rate; }
pub(crate) const IFLA_VF_RSS_QUERY_EN: u16 = 7; // struct ifla_vf_rss_query_en { u32 vf; u32 setting; }
pub(crate) const IFLA_VF_STATS: u16 = 8; // nest of IFLA_VF_STATS_*
pub(crate) const IFLA_VF_TRUST: u16 = 9; // struct ifla_vf_trust { u32 vf; u32 setting; }
pub(crate) const IFLA_VF_VLAN_LIST: u16 = 12; // nest of IFLA_VF_VLAN_INFO, MAX_VLAN_LIST_LEN = 1

// linux/if_link.h: enum { IFLA_VF_VLAN_INFO_UNSPEC, IFLA_VF_VLAN_INFO }
// struct ifla_vf_vlan_info { u32 vf; u32 vlan; u32 qos; __be16 vlan_proto; } — sizeof is 16
// (2 bytes of tail padding), and the kernel policy wants nla_len >= sizeof.
pub(crate) const IFLA_VF_VLAN_INFO: u16 = 1;
pub(crate) const IFLA_VF_VLAN_INFO_LEN: usize = 16;
// linux/if_link.h: sizeof(struct ifla_vf_mac); mac[] is MAX_ADDR_LEN = 32 bytes.
pub(crate) const IFLA_VF_MAC_LEN: usize = 36;

// linux/if_link.h: enum { IFLA_VF_STATS_RX_PACKETS, ... } (u64 each, PAD is alignment filler)
pub(crate) const IFLA_VF_STATS_RX_PACKETS: u16 = 0;
pub(crate) const IFLA_VF_STATS_TX_PACKETS: u16 = 1;
pub(crate) const IFLA_VF_STATS_RX_BYTES: u16 = 2;
pub(crate) const IFLA_VF_STATS_TX_BYTES: u16 = 3;
pub(crate) const IFLA_VF_STATS_BROADCAST: u16 = 4;
pub(crate) const IFLA_VF_STATS_MULTICAST: u16 = 5;
pub(crate) const IFLA_VF_STATS_RX_DROPPED: u16 = 7;
pub(crate) const IFLA_VF_STATS_TX_DROPPED: u16 = 8;

// linux/if_ether.h: ETH_P_8021Q, ETH_P_8021AD (sent big-endian in vlan_proto).
pub(crate) const ETH_P_8021Q: u16 = 0x8100;
pub(crate) const ETH_P_8021AD: u16 = 0x88a8;

// linux/if.h: IFNAMSIZ (includes the terminating NUL).
pub(crate) const IFNAMSIZ: usize = 16;
