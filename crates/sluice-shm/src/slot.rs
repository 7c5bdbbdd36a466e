//! Packet slots: fixed-size buffers addressed by index, each starting with its metadata.
//!
//! ```text
//! | SlotMeta (64 B) | headroom | data room ...                          |
//!                   ^ data area; the frame starts at data area + data_off
//! ```
//! The headroom lets later stages prepend headers (tunnels) without a copy.

/// Who holds a slot, kept in [`SlotMeta::owner`] so that a dead NF's buffers can be found.
pub mod owner {
    /// In the pool's free ring.
    pub const FREE: u16 = u16::MAX;
    /// In the manager's hands, or on a ring the manager consumes.
    pub const MANAGER: u16 = 0;
}

/// What should happen to a packet next; stored as a byte in [`SlotMeta::action`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionCode {
    /// Free the buffer.
    Drop = 0,
    /// Go to the next step of the packet's chain.
    Next = 1,
    /// Go to an instance of the service in `destination`.
    ToService = 2,
    /// Leave through the port in `destination`.
    Out = 3,
}

impl ActionCode {
    /// Decode an action byte written by another process.
    pub fn from_u8(v: u8) -> Option<ActionCode> {
        Some(match v {
            0 => ActionCode::Drop,
            1 => ActionCode::Next,
            2 => ActionCode::ToService,
            3 => ActionCode::Out,
            _ => return None,
        })
    }
}

/// Packet metadata at the start of every slot. One cache line; plain fields, because a slot
/// has exactly one owner at a time and ownership moves through ring release/acquire pairs.
/// Everything read from another process is validated before use.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotMeta {
    /// Offset of the frame's first byte from the start of the data area (headroom included).
    pub data_off: u16,
    /// Frame length in bytes.
    pub len: u16,
    /// [`ActionCode`] as a byte.
    pub action: u8,
    /// Step of the chain the packet is at (0 = first step).
    pub chain_index: u8,
    /// Free bits for NFs.
    pub flags: u8,
    /// Why the packet was dropped, when `action` is Drop (see the manager's drop reasons).
    pub drop_reason: u8,
    /// Chain id the packet follows.
    pub chain: u16,
    /// Service id or port id, depending on `action`.
    pub destination: u16,
    /// Port the packet came in on.
    pub in_port: u16,
    /// Instance id of the last NF that handled it (0 = from a port).
    pub src: u16,
    /// Symmetric flow hash, set on RX.
    pub flow_hash: u32,
    /// Current holder, see [`owner`].
    pub owner: u16,
    /// Reserved (zero).
    pub reserved: u16,
    /// Timestamp in nanoseconds (CLOCK_MONOTONIC), set on RX or by the creator; for latency.
    pub timestamp: u64,
}

/// Bytes reserved for [`SlotMeta`] at the start of each slot.
pub const META_BYTES: usize = 64;
const _: () = assert!(std::mem::size_of::<SlotMeta>() == META_BYTES);

/// Why a packet was dropped, stored in [`SlotMeta::drop_reason`] when an NF hands a buffer back
/// to the manager to free, and used as the index of the manager's drop counters.
pub mod drop_reason {
    /// The NF's handler returned Drop.
    pub const NF_ACTION: u8 = 1;
    /// ToService to a service that has no running instance.
    pub const NO_INSTANCE: u8 = 2;
    /// Next past the last step of the chain, or no chain.
    pub const CHAIN_END: u8 = 3;
    /// Unknown service or port, or an action byte that means nothing.
    pub const BAD_DESTINATION: u8 = 4;
    /// The destination's ring was full.
    pub const RING_FULL: u8 = 5;
    /// A descriptor failed validation (slot index, length, owner).
    pub const BAD_DESCRIPTOR: u8 = 6;
    /// The port's transmit queue was full.
    pub const PORT_TX_FULL: u8 = 7;
    /// No free buffer when a port received (counted by the port, never in a slot).
    pub const NO_BUFFER: u8 = 8;
    /// The NF died or stopped with the packet on its ring or in its hands.
    pub const NF_GONE: u8 = 9;
    /// The port the packet was sent to is down or receive-only.
    pub const PORT_DOWN: u8 = 10;
    /// VF policy: no VF takes the frame (VLAN filter, broadcast / multicast / unknown-unicast
    /// policy), the VF's link is down or the VF has no config.
    pub const VF_FILTERED: u8 = 11;
    /// VF policy: source MAC or VLAN not allowed for the sending VF (anti-spoof).
    pub const VF_SPOOFED: u8 = 12;
    /// VF policy: over the VF's max rate.
    pub const VF_RATE: u8 = 13;
    /// VF policy: malformed or oversized for the PF, or no headroom for a tag.
    pub const VF_ERROR: u8 = 14;
    /// Distributed mode: a tunnel frame refused on receive, or a packet that could not be
    /// sent to another host (the per-peer tunnel counters say why).
    pub const TUNNEL: u8 = 15;
    /// Distributed mode: a frame on the underlay port consumed by the manager itself (ARP)
    /// or not meant for the tunnel.
    pub const UNDERLAY: u8 = 16;
    /// Number of reasons (array size for counters).
    pub const COUNT: usize = 17;

    /// Name of a reason for tables and JSON.
    pub fn name(r: u8) -> &'static str {
        match r {
            NF_ACTION => "nf_drop",
            NO_INSTANCE => "no_instance",
            CHAIN_END => "chain_end",
            BAD_DESTINATION => "bad_destination",
            RING_FULL => "ring_full",
            BAD_DESCRIPTOR => "bad_descriptor",
            PORT_TX_FULL => "port_tx_full",
            NO_BUFFER => "no_buffer",
            NF_GONE => "nf_gone",
            PORT_DOWN => "port_down",
            VF_FILTERED => "vf_filtered",
            VF_SPOOFED => "vf_spoofed",
            VF_RATE => "vf_rate_limited",
            VF_ERROR => "vf_error",
            TUNNEL => "tunnel",
            UNDERLAY => "underlay",
            _ => "unknown",
        }
    }
}
