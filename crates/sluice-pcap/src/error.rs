//! Error type of the crate.

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = PcapError> = std::result::Result<T, E>;

/// Everything that can go wrong while reading or writing a capture.
///
/// Reader errors carry the byte offset (from the start of the file) of the
/// header, record or block that is at fault, so a corrupt file can be looked
/// at with a hex dump. Writer I/O errors carry the output offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// Opening or creating a capture file failed.
    #[error("cannot {op} capture file {}: {source}", path.display())]
    File {
        /// `"open"` or `"create"`.
        op: &'static str,
        /// The path that was given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An I/O error from the underlying reader or writer.
    #[error("I/O error at offset {offset}: {source}")]
    Io {
        /// Byte offset in the file at which the failing read/write started.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The input is empty.
    #[error("not a pcap or pcapng file: the file is empty")]
    Empty,

    /// The first four bytes are not a pcap or pcapng magic number.
    #[error("not a pcap or pcapng file: magic {magic:#010x}")]
    BadMagic {
        /// The first four bytes of the file, in file order (big-endian).
        magic: u32,
    },

    /// A fixed-size header (file header, record header, block header) is cut off.
    #[error(
        "truncated {what} at offset {offset}: need {needed} bytes, file ends after {available}"
    )]
    TruncatedHeader {
        /// What was being read.
        what: &'static str,
        /// Offset of the start of the header.
        offset: u64,
        /// Size of the header.
        needed: u64,
        /// Bytes of it present in the file.
        available: u64,
    },

    /// A classic pcap record whose packet data is cut off.
    #[error("truncated packet record at offset {offset}: header says {caplen} bytes, file ends after {available}")]
    TruncatedPacket {
        /// Offset of the record header.
        offset: u64,
        /// Captured length from the record header.
        caplen: u32,
        /// Bytes of packet data present in the file.
        available: u64,
    },

    /// A pcapng block that is cut off.
    #[error("truncated {what} at offset {offset}: block length is {len} bytes, file ends after {available}")]
    TruncatedBlock {
        /// Kind of block.
        what: &'static str,
        /// Offset of the start of the block.
        offset: u64,
        /// Block total length from the block header.
        len: u32,
        /// Bytes of the block present in the file.
        available: u64,
    },

    /// A record or block claims more than [`MAX_CAPLEN`](crate::MAX_CAPLEN) captured bytes.
    #[error("{what} at offset {offset}: captured length {caplen} exceeds the {max}-byte limit (corrupt file?)")]
    CaplenTooLarge {
        /// Kind of record/block.
        what: &'static str,
        /// Offset of the record/block.
        offset: u64,
        /// Captured length found.
        caplen: u32,
        /// The limit.
        max: u32,
    },

    /// Unsupported file-format version.
    #[error("{what} at offset {offset}: unsupported version {major}.{minor}")]
    UnsupportedVersion {
        /// `"pcap file header"` or `"pcapng section header block"`.
        what: &'static str,
        /// Offset of the header.
        offset: u64,
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },

    /// pcapng block length not a multiple of 4.
    #[error("pcapng block at offset {offset}: block length {len} is not a multiple of 4")]
    BlockLengthUnaligned {
        /// Offset of the block.
        offset: u64,
        /// Block total length.
        len: u32,
    },

    /// pcapng block length too small for its type or absurdly large.
    #[error(
        "{what} at offset {offset}: block length {len} is outside the valid range {min}..={max}"
    )]
    BlockLengthOutOfRange {
        /// Kind of block.
        what: &'static str,
        /// Offset of the block.
        offset: u64,
        /// Block total length.
        len: u32,
        /// Smallest valid length for this block type.
        min: u32,
        /// Largest length this reader accepts.
        max: u32,
    },

    /// The trailing copy of the block length differs from the leading one.
    #[error("{what} at offset {offset}: trailing block length {trailer} does not match leading block length {len}")]
    BlockLengthMismatch {
        /// Kind of block.
        what: &'static str,
        /// Offset of the block.
        offset: u64,
        /// Leading block total length.
        len: u32,
        /// Trailing block total length.
        trailer: u32,
    },

    /// Section header block with an invalid byte-order magic.
    #[error("pcapng section header block at offset {offset}: bad byte-order magic {magic:#010x}")]
    BadByteOrderMagic {
        /// Offset of the block.
        offset: u64,
        /// The four bytes found, in file order (big-endian).
        magic: u32,
    },

    /// A packet block refers to an interface that has no description block.
    #[error("{what} at offset {offset}: interface {interface} is not defined (the section has {count} interfaces)")]
    UnknownInterface {
        /// Kind of block.
        what: &'static str,
        /// Offset of the block.
        offset: u64,
        /// Interface id in the block.
        interface: u32,
        /// Number of interfaces defined in the current section.
        count: usize,
    },

    /// A packet block whose captured length does not fit in the block.
    #[error(
        "{what} at offset {offset}: captured length {caplen} does not fit in block length {len}"
    )]
    CaplenExceedsBlock {
        /// Kind of block.
        what: &'static str,
        /// Offset of the block.
        offset: u64,
        /// Captured length.
        caplen: u32,
        /// Block total length.
        len: u32,
    },

    /// A pcapng option runs past the end of its block.
    #[error("{what} at offset {offset}: option code {code} at offset {option_offset} runs past the end of the block")]
    OptionOverrun {
        /// Kind of block.
        what: &'static str,
        /// Offset of the block.
        offset: u64,
        /// Option code.
        code: u16,
        /// Offset of the option header.
        option_offset: u64,
    },

    /// An `if_tsresol` option this reader cannot represent.
    #[error("pcapng interface description block at offset {offset}: unsupported if_tsresol {value:#04x}")]
    BadTsresol {
        /// Offset of the block.
        offset: u64,
        /// The option value.
        value: u8,
    },

    /// Writer: snaplen out of range.
    #[error("invalid snaplen {snaplen}: must be between 1 and {max}")]
    InvalidSnaplen {
        /// The requested snaplen.
        snaplen: u32,
        /// The limit.
        max: u32,
    },

    /// Writer: the timestamp does not fit the 32-bit seconds field of classic pcap.
    #[error(
        "timestamp {ts_nanos} ns does not fit a pcap record (32-bit seconds field, past year 2106)"
    )]
    TimestampOutOfRange {
        /// The timestamp given.
        ts_nanos: u64,
    },

    /// Writer: the frame length does not fit the 32-bit original-length field.
    #[error("frame of {len} bytes is too large for a capture record")]
    FrameTooLarge {
        /// Frame length.
        len: usize,
    },

    /// Writer: interface name longer than a pcapng option can hold.
    #[error("interface name is {len} bytes; a pcapng option holds at most 65535")]
    InterfaceNameTooLong {
        /// Name length in bytes.
        len: usize,
    },
}
