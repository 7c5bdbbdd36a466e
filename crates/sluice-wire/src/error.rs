//! The crate-wide error type.

use thiserror::Error;

/// Everything that can go wrong while viewing, parsing or building packets.
///
/// Parser errors carry only `&'static str` and integers, so they never
/// allocate; only [`WireError::InvalidFlow`] and [`WireError::InvalidMac`]
/// (text parsing for the CLI) hold a `String`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The buffer ends before the structure it should hold.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// What was being read, e.g. "IPv4 header".
        what: &'static str,
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// An IP header carries the wrong version number.
    #[error("bad {what} version: expected {expected}, found {found}")]
    BadVersion {
        /// Which header ("IPv4" or "IPv6").
        what: &'static str,
        /// The version this view handles.
        expected: u8,
        /// The version found in the packet.
        found: u8,
    },
    /// A header-length field is below the fixed size of the header.
    #[error("bad {what} header length: {len} bytes, minimum is {min}")]
    BadHeaderLength {
        /// Which header.
        what: &'static str,
        /// Header length encoded in the packet, in bytes.
        len: usize,
        /// Smallest legal header length, in bytes.
        min: usize,
    },
    /// A total-length field is smaller than the header it belongs to.
    #[error("bad {what}: {len} bytes, less than the {min}-byte header")]
    BadLengthField {
        /// Which length field, e.g. "IPv4 total length".
        what: &'static str,
        /// Value of the length field, in bytes.
        len: usize,
        /// Size of the header it must at least cover.
        min: usize,
    },
    /// A field holds a value this crate does not handle.
    #[error("unsupported {what}: {value:#06x}")]
    Unsupported {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// An operation for one protocol was applied to a packet of another.
    #[error("expected a {expected} packet, found IP protocol {found}")]
    WrongProtocol {
        /// Protocol the operation needs.
        expected: &'static str,
        /// IP protocol / next-header number found.
        found: u8,
    },
    /// A transport checksum cannot be computed from one IP fragment.
    #[error("cannot compute the {what} checksum of a fragmented packet")]
    Fragmented {
        /// Which checksum.
        what: &'static str,
    },
    /// The IPv6 extension-header chain is longer than this crate follows.
    #[error("IPv6 extension header chain longer than {max} headers")]
    TooManyExtensionHeaders {
        /// The limit.
        max: usize,
    },
    /// A builder was asked for a frame shorter than its headers.
    #[error("frame length {len} too small: {what} frames need at least {min} bytes")]
    FrameTooShort {
        /// Kind of frame being built.
        what: &'static str,
        /// Requested frame length.
        len: usize,
        /// Minimum frame length.
        min: usize,
    },
    /// A builder was asked for a frame longer than its length fields allow.
    #[error("frame length {len} too large: {what} frames can be at most {max} bytes")]
    FrameTooLong {
        /// Kind of frame being built.
        what: &'static str,
        /// Requested frame length.
        len: usize,
        /// Maximum frame length.
        max: usize,
    },
    /// The output buffer of a builder is too small.
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes required.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A textual flow key could not be parsed.
    #[error("invalid flow {input:?}: {reason}")]
    InvalidFlow {
        /// The text given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A textual MAC address could not be parsed.
    #[error("invalid MAC address {input:?}: expected six hex bytes like 02:00:00:00:00:01")]
    InvalidMac {
        /// The text given.
        input: String,
    },
}
