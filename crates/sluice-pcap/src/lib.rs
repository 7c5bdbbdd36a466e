//! pcap and pcapng reading and writing for Sluice's replay and record ports.
//!
//! The formats are implemented here directly (no third-party pcap crate):
//!
//! * [`PcapWriter`] writes classic pcap (nanosecond magic `0xa1b23c4d`,
//!   version 2.4, `LINKTYPE_ETHERNET`) or pcapng (one section, one interface
//!   with `if_tsresol` = 9, i.e. nanoseconds). Writing a packet performs no
//!   heap allocation; output goes through an internal [`std::io::BufWriter`].
//! * [`PcapReader`] auto-detects classic pcap (micro- or nanosecond magic,
//!   either byte order) and pcapng (either byte order, multiple sections,
//!   any `if_tsresol`, Enhanced / Simple / obsolete Packet Blocks; other block
//!   types are skipped) and reads each frame into a caller-provided `Vec<u8>`
//!   whose capacity is reused.
//!
//! ```
//! use sluice_pcap::{Format, PcapReader, PcapWriter};
//!
//! let mut w = PcapWriter::new(Vec::new(), Format::PcapNg, 65535)?;
//! w.write_packet(1_700_000_000_123_456_789, &[0xff; 60])?;
//! let file = w.into_inner()?;
//!
//! let mut r = PcapReader::new(&file[..])?;
//! let mut buf = Vec::with_capacity(9000);
//! while let Some(info) = r.next_packet(&mut buf)? {
//!     assert_eq!(info.ts_nanos, 1_700_000_000_123_456_789);
//!     assert_eq!(&buf[..], &[0xff; 60][..]);
//! }
//! # Ok::<(), sluice_pcap::PcapError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::path::Path;

mod error;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use error::{PcapError, Result};
pub use reader::{InterfaceInfo, PacketInfo, PcapReader};
pub use writer::PcapWriter;

/// `LINKTYPE_ETHERNET`: frames start with a 14-byte Ethernet II header.
pub const LINKTYPE_ETHERNET: u16 = 1;

/// Largest captured length accepted by the reader and the largest snaplen
/// accepted by the writer (256 KiB, the libpcap maximum). Records claiming
/// more are treated as corruption.
pub const MAX_CAPLEN: u32 = 256 * 1024;

/// Snaplen used by [`PcapWriter::create`].
pub const DEFAULT_SNAPLEN: u32 = MAX_CAPLEN;

/// Capture file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Classic libpcap format.
    Pcap,
    /// pcapng (next generation) format.
    PcapNg,
}

impl Format {
    /// Chooses the format from a file name: `.pcapng` (any case) gives
    /// [`Format::PcapNg`], anything else [`Format::Pcap`].
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("pcapng") => Format::PcapNg,
            _ => Format::Pcap,
        }
    }
}

// ---- on-disk constants ---------------------------------------------------

/// Classic pcap, microsecond timestamps.
pub(crate) const PCAP_MAGIC_MICRO: u32 = 0xa1b2_c3d4;
/// Classic pcap, nanosecond timestamps.
pub(crate) const PCAP_MAGIC_NANO: u32 = 0xa1b2_3c4d;

/// pcapng Section Header Block type (a byte palindrome).
pub(crate) const BT_SHB: u32 = 0x0A0D_0D0A;
/// pcapng Interface Description Block.
pub(crate) const BT_IDB: u32 = 0x0000_0001;
/// pcapng obsolete Packet Block.
pub(crate) const BT_PB: u32 = 0x0000_0002;
/// pcapng Simple Packet Block.
pub(crate) const BT_SPB: u32 = 0x0000_0003;
/// pcapng Enhanced Packet Block.
pub(crate) const BT_EPB: u32 = 0x0000_0006;
/// pcapng byte-order magic.
pub(crate) const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// pcapng option codes.
pub(crate) const OPT_ENDOFOPT: u16 = 0;
pub(crate) const OPT_SHB_USERAPPL: u16 = 4;
pub(crate) const OPT_IF_NAME: u16 = 2;
pub(crate) const OPT_IF_TSRESOL: u16 = 9;
pub(crate) const OPT_IF_TSOFFSET: u16 = 14;

/// Largest pcapng block the reader accepts (same limit as Wireshark).
pub(crate) const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Bytes of padding needed to bring `len` to a multiple of 4.
#[inline]
pub(crate) const fn pad4(len: usize) -> usize {
    (4 - (len & 3)) & 3
}
