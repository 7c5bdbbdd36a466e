//! Capture reader.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::{
    pad4, Format, PcapError, Result, BT_EPB, BT_IDB, BT_PB, BT_SHB, BT_SPB, BYTE_ORDER_MAGIC,
    MAX_BLOCK_LEN, MAX_CAPLEN, NANOS_PER_SEC, OPT_ENDOFOPT, OPT_IF_NAME, OPT_IF_TSOFFSET,
    OPT_IF_TSRESOL, PCAP_MAGIC_MICRO, PCAP_MAGIC_NANO,
};

/// Buffer size used by [`PcapReader::open`].
const READ_BUFFER: usize = 64 * 1024;

const SHB_BYTES: [u8; 4] = BT_SHB.to_le_bytes();

const WHAT_SHB: &str = "pcapng section header block";
const WHAT_IDB: &str = "pcapng interface description block";
const WHAT_EPB: &str = "pcapng enhanced packet block";
const WHAT_SPB: &str = "pcapng simple packet block";
const WHAT_PB: &str = "pcapng packet block";
const WHAT_BLOCK: &str = "pcapng block";

/// Metadata of one packet returned by [`PcapReader::next_packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    /// Timestamp in nanoseconds since the Unix epoch (0 for pcapng Simple
    /// Packet Blocks, which carry none).
    pub ts_nanos: u64,
    /// Captured bytes, i.e. the length of the frame placed in the buffer.
    pub caplen: usize,
    /// Length of the frame on the wire (may exceed `caplen` when clipped).
    pub orig_len: usize,
    /// Interface id within the current pcapng section (always 0 for pcap).
    pub interface: u32,
    /// Link type of that interface (1 = Ethernet).
    pub linktype: u16,
}

/// Description of a capture interface.
///
/// For classic pcap there is exactly one, built from the file header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InterfaceInfo {
    /// Link type (`LINKTYPE_*` value).
    pub linktype: u16,
    /// Snapshot length (0 = unlimited in pcapng).
    pub snaplen: u32,
    /// `if_name` option, if present.
    pub name: Option<String>,
    /// Raw `if_tsresol` value: the low 7 bits are a negative exponent of 10,
    /// or of 2 when the top bit is set (6 = microseconds, 9 = nanoseconds).
    pub ts_resolution: u8,
    /// `if_tsoffset` option: seconds added to every timestamp.
    pub ts_offset_secs: i64,
}

/// Timestamp conversion of one interface.
#[derive(Debug, Clone, Copy)]
struct TsConv {
    scale: TsScale,
    offset_secs: i64,
}

#[derive(Debug, Clone, Copy)]
enum TsScale {
    /// Units are 10^-k s with k <= 9: multiply.
    Mul(u64),
    /// Units are 10^-k s with k > 9: divide.
    Div(u64),
    /// Units are 2^-k s.
    Pow2(u32),
}

impl TsConv {
    /// Parses an `if_tsresol` value; `None` if it cannot be represented.
    fn new(tsresol: u8, offset_secs: i64) -> Option<TsConv> {
        let exp = u32::from(tsresol & 0x7f);
        let scale = if tsresol & 0x80 != 0 {
            TsScale::Pow2(exp)
        } else if exp <= 9 {
            TsScale::Mul(10u64.pow(9 - exp))
        } else if exp <= 19 {
            TsScale::Div(10u64.pow(exp - 9))
        } else {
            return None;
        };
        Some(TsConv { scale, offset_secs })
    }

    #[inline]
    fn to_nanos(self, ts: u64) -> u64 {
        let nanos = match self.scale {
            TsScale::Mul(1) => ts,
            TsScale::Mul(m) => ts.saturating_mul(m),
            TsScale::Div(d) => ts / d,
            TsScale::Pow2(shift) => {
                let n = (u128::from(ts) * u128::from(NANOS_PER_SEC)) >> shift;
                u64::try_from(n).unwrap_or(u64::MAX)
            }
        };
        if self.offset_secs == 0 {
            nanos
        } else {
            let n = i128::from(nanos) + i128::from(self.offset_secs) * i128::from(NANOS_PER_SEC);
            n.clamp(0, i128::from(u64::MAX)) as u64
        }
    }
}

/// Result of processing one pcapng block.
enum Step {
    Eof,
    Packet(PacketInfo),
    Other,
}

/// Reads packets from a pcap or pcapng stream; the format is detected from
/// the magic number.
///
/// **Buffering:** the reader issues small reads (record headers) straight to
/// `R`, so `R` should be buffered or in memory: pass a [`BufReader`] or a
/// byte slice. [`open`](PcapReader::open) does this for files.
///
/// [`new`](Self::new) reads the file header; for pcapng it also reads up to
/// and including the first Interface Description Block, so that
/// [`linktype`](Self::linktype) is known.
///
/// After an error the reader is positioned somewhere inside the bad record;
/// further reads are not meaningful.
#[derive(Debug)]
pub struct PcapReader<R: Read> {
    r: R,
    /// Bytes consumed from `r` so far = file offset of the next read.
    offset: u64,
    format: Format,
    /// Byte order of the file (pcap) or current section (pcapng).
    big_endian: bool,
    /// pcap: record timestamps are in nanoseconds rather than microseconds.
    pcap_nanos: bool,
    /// Interfaces of the current section (pcapng), or the single pcap one.
    interfaces: Vec<InterfaceInfo>,
    /// Timestamp conversion per entry of `interfaces`.
    convs: Vec<TsConv>,
    /// Link type of the very first interface seen.
    first_linktype: Option<u16>,
    /// Reusable buffer for SHB / IDB bodies.
    scratch: Vec<u8>,
}

impl PcapReader<BufReader<File>> {
    /// Opens a capture file (wrapped in a 64 KiB [`BufReader`]) and reads
    /// its header.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| PcapError::File {
            op: "open",
            path: path.to_path_buf(),
            source,
        })?;
        PcapReader::new(BufReader::with_capacity(READ_BUFFER, file))
    }
}

impl<R: Read> PcapReader<R> {
    /// Detects the format and reads the file header (see the type docs).
    pub fn new(r: R) -> Result<Self> {
        let mut this = PcapReader {
            r,
            offset: 0,
            format: Format::Pcap,
            big_endian: false,
            pcap_nanos: false,
            interfaces: Vec::new(),
            convs: Vec::new(),
            first_linktype: None,
            scratch: Vec::new(),
        };
        let mut magic = [0u8; 4];
        match this.fill(&mut magic)? {
            0 => return Err(PcapError::Empty),
            4 => {}
            n => {
                return Err(PcapError::TruncatedHeader {
                    what: "file magic",
                    offset: 0,
                    needed: 4,
                    available: n as u64,
                })
            }
        }
        if magic == SHB_BYTES {
            this.format = Format::PcapNg;
            let mut len = [0u8; 4];
            let n = this.fill(&mut len)?;
            if n < 4 {
                return Err(PcapError::TruncatedHeader {
                    what: WHAT_SHB,
                    offset: 0,
                    needed: 12,
                    available: 4 + n as u64,
                });
            }
            this.read_shb(0, len)?;
            // Read ahead to the first interface so linktype() is known. A
            // packet block cannot come first: it would need an interface.
            while this.first_linktype.is_none() {
                match this.pcapng_step(&mut Vec::new())? {
                    Step::Other => {}
                    Step::Eof | Step::Packet(_) => break,
                }
            }
        } else {
            this.read_pcap_header(magic)?;
        }
        Ok(this)
    }

    /// Reads the next packet into `buf` (cleared first; its capacity is
    /// reused, so no allocation happens once it is large enough) and returns
    /// its metadata, or `Ok(None)` at a clean end of file.
    ///
    /// A file that ends inside a record or block is an error, as is a
    /// captured length above [`MAX_CAPLEN`]. pcapng blocks other than
    /// packets are processed (section and interface blocks) or skipped.
    pub fn next_packet(&mut self, buf: &mut Vec<u8>) -> Result<Option<PacketInfo>> {
        match self.format {
            Format::Pcap => self.next_pcap(buf),
            Format::PcapNg => loop {
                match self.pcapng_step(buf)? {
                    Step::Packet(info) => return Ok(Some(info)),
                    Step::Eof => return Ok(None),
                    Step::Other => {}
                }
            },
        }
    }

    /// Link type of the first interface: the pcap header's, or that of the
    /// first pcapng Interface Description Block. `None` only for a pcapng file
    /// with no interface at all.
    pub fn linktype(&self) -> Option<u16> {
        self.first_linktype
    }

    /// Detected format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Interfaces of the current pcapng section (grows as Interface
    /// Description Blocks are read, reset by each new section); for pcap the
    /// single interface described by the file header.
    pub fn interfaces(&self) -> &[InterfaceInfo] {
        &self.interfaces
    }

    /// Bytes consumed so far, i.e. the file offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.r
    }

    /// Returns the underlying reader.
    pub fn into_inner(self) -> R {
        self.r
    }

    // ---- classic pcap ----------------------------------------------------

    fn read_pcap_header(&mut self, magic: [u8; 4]) -> Result<()> {
        let (big_endian, nanos) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (PCAP_MAGIC_MICRO, _) => (false, false),
            (PCAP_MAGIC_NANO, _) => (false, true),
            (_, PCAP_MAGIC_MICRO) => (true, false),
            (_, PCAP_MAGIC_NANO) => (true, true),
            (_, be) => return Err(PcapError::BadMagic { magic: be }),
        };
        self.big_endian = big_endian;
        self.pcap_nanos = nanos;
        let mut h = [0u8; 20];
        let n = self.fill(&mut h)?;
        if n < h.len() {
            return Err(PcapError::TruncatedHeader {
                what: "pcap file header",
                offset: 0,
                needed: 24,
                available: 4 + n as u64,
            });
        }
        let major = self.u16(&h[0..2]);
        let minor = self.u16(&h[2..4]);
        if major != 2 {
            return Err(PcapError::UnsupportedVersion {
                what: "pcap file header",
                offset: 0,
                major,
                minor,
            });
        }
        let snaplen = self.u32(&h[12..16]);
        // The upper 16 bits of the link-type field hold FCS information.
        let linktype = (self.u32(&h[16..20]) & 0xffff) as u16;
        let resolution = if nanos { 9 } else { 6 };
        self.interfaces.push(InterfaceInfo {
            linktype,
            snaplen,
            name: None,
            ts_resolution: resolution,
            ts_offset_secs: 0,
        });
        self.first_linktype = Some(linktype);
        Ok(())
    }

    fn next_pcap(&mut self, buf: &mut Vec<u8>) -> Result<Option<PacketInfo>> {
        let start = self.offset;
        let mut h = [0u8; 16];
        match self.fill(&mut h)? {
            0 => return Ok(None),
            16 => {}
            n => {
                return Err(PcapError::TruncatedHeader {
                    what: "pcap packet record header",
                    offset: start,
                    needed: 16,
                    available: n as u64,
                })
            }
        }
        let secs = u64::from(self.u32(&h[0..4]));
        let frac = u64::from(self.u32(&h[4..8]));
        let caplen = self.u32(&h[8..12]);
        let orig_len = self.u32(&h[12..16]);
        if caplen > MAX_CAPLEN {
            return Err(PcapError::CaplenTooLarge {
                what: "pcap packet record",
                offset: start,
                caplen,
                max: MAX_CAPLEN,
            });
        }
        let got = self.read_data(buf, caplen)?;
        if got < caplen as usize {
            return Err(PcapError::TruncatedPacket {
                offset: start,
                caplen,
                available: got as u64,
            });
        }
        let frac_nanos = if self.pcap_nanos { frac } else { frac * 1000 };
        Ok(Some(PacketInfo {
            ts_nanos: secs * NANOS_PER_SEC + frac_nanos,
            caplen: caplen as usize,
            orig_len: orig_len as usize,
            interface: 0,
            linktype: self.interfaces[0].linktype,
        }))
    }

    // ---- pcapng ----------------------------------------------------------

    /// Reads and processes one block.
    fn pcapng_step(&mut self, buf: &mut Vec<u8>) -> Result<Step> {
        let start = self.offset;
        let mut h = [0u8; 8];
        match self.fill(&mut h)? {
            0 => return Ok(Step::Eof),
            8 => {}
            n => {
                return Err(PcapError::TruncatedHeader {
                    what: "pcapng block header",
                    offset: start,
                    needed: 8,
                    available: n as u64,
                })
            }
        }
        if h[0..4] == SHB_BYTES {
            // The byte order of the length is only known after the BOM.
            self.read_shb(start, [h[4], h[5], h[6], h[7]])?;
            return Ok(Step::Other);
        }
        let block_type = self.u32(&h[0..4]);
        let len = self.u32(&h[4..8]);
        match block_type {
            BT_EPB => self.read_epb(start, len, false, buf).map(Step::Packet),
            BT_PB => self.read_epb(start, len, true, buf).map(Step::Packet),
            BT_SPB => self.read_spb(start, len, buf).map(Step::Packet),
            BT_IDB => self.read_idb(start, len).map(|()| Step::Other),
            _ => {
                self.check_len(start, len, WHAT_BLOCK, 12)?;
                self.finish_block(start, len, WHAT_BLOCK, u64::from(len) - 12)?;
                Ok(Step::Other)
            }
        }
    }

    /// Section Header Block; type and (raw) length already consumed.
    fn read_shb(&mut self, start: u64, len_raw: [u8; 4]) -> Result<()> {
        let mut bom = [0u8; 4];
        let n = self.fill(&mut bom)?;
        if n < 4 {
            return Err(PcapError::TruncatedHeader {
                what: WHAT_SHB,
                offset: start,
                needed: 12,
                available: 8 + n as u64,
            });
        }
        self.big_endian = if bom == BYTE_ORDER_MAGIC.to_le_bytes() {
            false
        } else if bom == BYTE_ORDER_MAGIC.to_be_bytes() {
            true
        } else {
            return Err(PcapError::BadByteOrderMagic {
                offset: start,
                magic: u32::from_be_bytes(bom),
            });
        };
        let len = self.u32(&len_raw);
        // type, len, BOM, major, minor, section length (8), trailer
        self.check_len(start, len, WHAT_SHB, 28)?;
        let mut body = std::mem::take(&mut self.scratch);
        let result = self
            .read_block_body(start, len, WHAT_SHB, 12, &mut body)
            .map(|()| (self.u16(&body[0..2]), self.u16(&body[2..4])));
        self.scratch = body;
        let (major, minor) = result?;
        if major != 1 {
            return Err(PcapError::UnsupportedVersion {
                what: WHAT_SHB,
                offset: start,
                major,
                minor,
            });
        }
        // Interface ids are per section.
        self.interfaces.clear();
        self.convs.clear();
        Ok(())
    }

    /// Interface Description Block; type and length already consumed.
    fn read_idb(&mut self, start: u64, len: u32) -> Result<()> {
        self.check_len(start, len, WHAT_IDB, 20)?;
        let mut body = std::mem::take(&mut self.scratch);
        let result = self
            .read_block_body(start, len, WHAT_IDB, 8, &mut body)
            .and_then(|()| self.parse_idb(start, &body));
        self.scratch = body;
        let (info, conv) = result?;
        self.first_linktype.get_or_insert(info.linktype);
        self.interfaces.push(info);
        self.convs.push(conv);
        Ok(())
    }

    /// `body` is the block minus type and length, trailer included.
    fn parse_idb(&self, start: u64, body: &[u8]) -> Result<(InterfaceInfo, TsConv)> {
        let linktype = self.u16(&body[0..2]);
        let snaplen = self.u32(&body[4..8]);
        let mut name = None;
        let mut ts_resolution = 6;
        let mut ts_offset_secs = 0;
        let end = body.len() - 4;
        let mut pos = 8;
        while pos + 4 <= end {
            let code = self.u16(&body[pos..pos + 2]);
            let olen = usize::from(self.u16(&body[pos + 2..pos + 4]));
            if code == OPT_ENDOFOPT {
                break;
            }
            let value_start = pos + 4;
            let value_end = value_start + olen;
            if value_end > end {
                return Err(PcapError::OptionOverrun {
                    what: WHAT_IDB,
                    offset: start,
                    code,
                    option_offset: start + 8 + pos as u64,
                });
            }
            let value = &body[value_start..value_end];
            match code {
                OPT_IF_NAME => {
                    let s = String::from_utf8_lossy(value);
                    name = Some(s.trim_end_matches('\0').to_owned());
                }
                OPT_IF_TSRESOL if olen >= 1 => ts_resolution = value[0],
                OPT_IF_TSOFFSET if olen == 8 => {
                    let b = [
                        value[0], value[1], value[2], value[3], value[4], value[5], value[6],
                        value[7],
                    ];
                    ts_offset_secs = if self.big_endian {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                }
                _ => {}
            }
            pos = value_end + pad4(olen);
        }
        let conv = TsConv::new(ts_resolution, ts_offset_secs).ok_or(PcapError::BadTsresol {
            offset: start,
            value: ts_resolution,
        })?;
        let info = InterfaceInfo {
            linktype,
            snaplen,
            name,
            ts_resolution,
            ts_offset_secs,
        };
        Ok((info, conv))
    }

    /// Enhanced Packet Block, or the obsolete Packet Block (16-bit interface
    /// id followed by a 16-bit drop count, otherwise the same layout).
    fn read_epb(
        &mut self,
        start: u64,
        len: u32,
        obsolete: bool,
        buf: &mut Vec<u8>,
    ) -> Result<PacketInfo> {
        let what = if obsolete { WHAT_PB } else { WHAT_EPB };
        self.check_len(start, len, what, 32)?;
        let mut f = [0u8; 20];
        self.read_block_part(start, len, what, &mut f)?;
        let interface = if obsolete {
            u32::from(self.u16(&f[0..2]))
        } else {
            self.u32(&f[0..4])
        };
        let ts = (u64::from(self.u32(&f[4..8])) << 32) | u64::from(self.u32(&f[8..12]));
        let caplen = self.u32(&f[12..16]);
        let orig_len = self.u32(&f[16..20]);
        if caplen > MAX_CAPLEN {
            return Err(PcapError::CaplenTooLarge {
                what,
                offset: start,
                caplen,
                max: MAX_CAPLEN,
            });
        }
        if caplen > len - 32 {
            return Err(PcapError::CaplenExceedsBlock {
                what,
                offset: start,
                caplen,
                len,
            });
        }
        let (linktype, conv) = self.interface(start, what, interface)?;
        if self.read_data(buf, caplen)? < caplen as usize {
            return Err(self.truncated_block(start, len, what));
        }
        self.finish_block(start, len, what, u64::from(len - 32 - caplen))?;
        Ok(PacketInfo {
            ts_nanos: conv.to_nanos(ts),
            caplen: caplen as usize,
            orig_len: orig_len as usize,
            interface,
            linktype,
        })
    }

    /// Simple Packet Block: interface 0, no timestamp.
    fn read_spb(&mut self, start: u64, len: u32, buf: &mut Vec<u8>) -> Result<PacketInfo> {
        self.check_len(start, len, WHAT_SPB, 16)?;
        let mut f = [0u8; 4];
        self.read_block_part(start, len, WHAT_SPB, &mut f)?;
        let orig_len = self.u32(&f);
        let (linktype, _) = self.interface(start, WHAT_SPB, 0)?;
        let snaplen = match self.interfaces[0].snaplen {
            0 => u32::MAX,
            s => s,
        };
        let caplen = orig_len.min(snaplen).min(len - 16);
        if caplen > MAX_CAPLEN {
            return Err(PcapError::CaplenTooLarge {
                what: WHAT_SPB,
                offset: start,
                caplen,
                max: MAX_CAPLEN,
            });
        }
        if self.read_data(buf, caplen)? < caplen as usize {
            return Err(self.truncated_block(start, len, WHAT_SPB));
        }
        self.finish_block(start, len, WHAT_SPB, u64::from(len - 16 - caplen))?;
        Ok(PacketInfo {
            ts_nanos: 0,
            caplen: caplen as usize,
            orig_len: orig_len as usize,
            interface: 0,
            linktype,
        })
    }

    fn interface(&self, start: u64, what: &'static str, id: u32) -> Result<(u16, TsConv)> {
        match (
            self.interfaces.get(id as usize),
            self.convs.get(id as usize),
        ) {
            (Some(info), Some(conv)) => Ok((info.linktype, *conv)),
            _ => Err(PcapError::UnknownInterface {
                what,
                offset: start,
                interface: id,
                count: self.interfaces.len(),
            }),
        }
    }

    /// Validates a block's total length (alignment first, then range).
    fn check_len(&self, start: u64, len: u32, what: &'static str, min: u32) -> Result<()> {
        if !len.is_multiple_of(4) {
            return Err(PcapError::BlockLengthUnaligned { offset: start, len });
        }
        if len < min || len > MAX_BLOCK_LEN {
            return Err(PcapError::BlockLengthOutOfRange {
                what,
                offset: start,
                len,
                min,
                max: MAX_BLOCK_LEN,
            });
        }
        Ok(())
    }

    /// Reads the rest of a block (everything after the first `consumed`
    /// bytes, trailer included) into `body` and checks the trailer.
    fn read_block_body(
        &mut self,
        start: u64,
        len: u32,
        what: &'static str,
        consumed: u32,
        body: &mut Vec<u8>,
    ) -> Result<()> {
        let rest = (len - consumed) as usize;
        body.clear();
        body.resize(rest, 0);
        self.read_block_part(start, len, what, body)?;
        let trailer = self.u32(&body[rest - 4..]);
        if trailer != len {
            return Err(PcapError::BlockLengthMismatch {
                what,
                offset: start,
                len,
                trailer,
            });
        }
        Ok(())
    }

    /// Skips `skip` bytes (padding, options) and checks the trailing length.
    fn finish_block(&mut self, start: u64, len: u32, what: &'static str, skip: u64) -> Result<()> {
        if skip <= 4 {
            // Just padding (the common case): no need for io::copy.
            let mut pad = [0u8; 4];
            self.read_block_part(start, len, what, &mut pad[..skip as usize])?;
        } else {
            let skipped =
                io::copy(&mut (&mut self.r).take(skip), &mut io::sink()).map_err(|source| {
                    PcapError::Io {
                        offset: self.offset,
                        source,
                    }
                })?;
            self.offset += skipped;
            if skipped < skip {
                return Err(self.truncated_block(start, len, what));
            }
        }
        let mut t = [0u8; 4];
        self.read_block_part(start, len, what, &mut t)?;
        let trailer = self.u32(&t);
        if trailer != len {
            return Err(PcapError::BlockLengthMismatch {
                what,
                offset: start,
                len,
                trailer,
            });
        }
        Ok(())
    }

    /// Reads exactly `part.len()` bytes of the current block.
    fn read_block_part(
        &mut self,
        start: u64,
        len: u32,
        what: &'static str,
        part: &mut [u8],
    ) -> Result<()> {
        if self.fill(part)? < part.len() {
            return Err(self.truncated_block(start, len, what));
        }
        Ok(())
    }

    fn truncated_block(&self, start: u64, len: u32, what: &'static str) -> PcapError {
        PcapError::TruncatedBlock {
            what,
            offset: start,
            len,
            available: self.offset - start,
        }
    }

    // ---- low level -------------------------------------------------------

    /// Reads `caplen` bytes of packet data into `buf`; returns how many were
    /// available (`buf` is truncated to that).
    #[inline]
    fn read_data(&mut self, buf: &mut Vec<u8>, caplen: u32) -> Result<usize> {
        let caplen = caplen as usize;
        buf.clear();
        buf.resize(caplen, 0);
        let got = self.fill(buf)?;
        buf.truncate(got);
        Ok(got)
    }

    /// Reads until `buf` is full or end of file; returns the byte count.
    #[inline]
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(PcapError::Io {
                        offset: self.offset + filled as u64,
                        source,
                    })
                }
            }
        }
        self.offset += filled as u64;
        Ok(filled)
    }

    #[inline]
    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }

    #[inline]
    fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
}
