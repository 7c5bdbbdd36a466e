//! Capture writer.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::{
    pad4, Format, PcapError, Result, BT_EPB, BT_IDB, BT_SHB, BYTE_ORDER_MAGIC, DEFAULT_SNAPLEN,
    LINKTYPE_ETHERNET, MAX_CAPLEN, NANOS_PER_SEC, OPT_ENDOFOPT, OPT_IF_NAME, OPT_IF_TSRESOL,
    OPT_SHB_USERAPPL, PCAP_MAGIC_NANO,
};

/// Size of the internal output buffer.
const WRITE_BUFFER: usize = 64 * 1024;

/// Application name recorded in the pcapng `shb_userappl` option.
const USERAPPL: &str = concat!("sluice-pcap ", env!("CARGO_PKG_VERSION"));

/// Writes Ethernet frames to a pcap or pcapng stream.
///
/// **Buffering:** the writer wraps `W` in its own [`BufWriter`] (64 KiB), so
/// pass an unbuffered sink such as a [`File`]; passing a `BufWriter` works
/// but buffers twice. Everything is little-endian. Data reaches `W` when the
/// buffer fills, on [`flush`](Self::flush) and on
/// [`into_inner`](Self::into_inner); dropping the writer also flushes but
/// silently ignores errors, so call one of those two at the end.
///
/// [`write_packet`](Self::write_packet) does not allocate.
///
/// The file layout:
/// * [`Format::Pcap`]: 24-byte header with magic `0xa1b23c4d` (nanosecond
///   timestamps), version 2.4, the given snaplen, `LINKTYPE_ETHERNET`; then a
///   16-byte record header plus the (clipped) frame per packet.
/// * [`Format::PcapNg`]: a Section Header Block (with `shb_userappl`), one
///   Interface Description Block (`LINKTYPE_ETHERNET`, snaplen, `if_tsresol` =
///   9, optional `if_name`), then one Enhanced Packet Block per packet on
///   interface 0 with a nanosecond timestamp.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: BufWriter<W>,
    format: Format,
    snaplen: u32,
    bytes_written: u64,
    packets_written: u64,
}

impl PcapWriter<File> {
    /// Creates (truncates) `path` and writes the file header, with
    /// [`DEFAULT_SNAPLEN`]. Use [`Format::from_path`] to choose the format
    /// from the file name.
    pub fn create(path: impl AsRef<Path>, format: Format) -> Result<Self> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| PcapError::File {
            op: "create",
            path: path.to_path_buf(),
            source,
        })?;
        PcapWriter::new(file, format, DEFAULT_SNAPLEN)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Starts a capture on `w`, writing the global header (pcap) or the
    /// section header and interface description blocks (pcapng).
    ///
    /// Frames longer than `snaplen` are clipped; `snaplen` must be in
    /// `1..=`[`MAX_CAPLEN`].
    pub fn new(w: W, format: Format, snaplen: u32) -> Result<Self> {
        Self::with_options(w, format, snaplen, None)
    }

    /// Like [`new`](Self::new), but for pcapng also records `name` as the
    /// interface's `if_name` option (e.g. the port name). Classic pcap has no
    /// place for it, so there the name is ignored; an empty name writes no
    /// option.
    pub fn with_interface_name(w: W, format: Format, snaplen: u32, name: &str) -> Result<Self> {
        Self::with_options(w, format, snaplen, Some(name))
    }

    fn with_options(w: W, format: Format, snaplen: u32, name: Option<&str>) -> Result<Self> {
        if snaplen == 0 || snaplen > MAX_CAPLEN {
            return Err(PcapError::InvalidSnaplen {
                snaplen,
                max: MAX_CAPLEN,
            });
        }
        let header = match format {
            Format::Pcap => pcap_header(snaplen),
            Format::PcapNg => pcapng_header(snaplen, name.filter(|n| !n.is_empty()))?,
        };
        let mut this = PcapWriter {
            out: BufWriter::with_capacity(WRITE_BUFFER, w),
            format,
            snaplen,
            bytes_written: 0,
            packets_written: 0,
        };
        this.put(&header)?;
        Ok(this)
    }

    /// Appends one frame captured at `ts_nanos` (nanoseconds since the Unix
    /// epoch). The stored length is clipped to the snaplen; the original
    /// length is always `frame.len()`. Zero-length frames are allowed.
    ///
    /// Errors: [`PcapError::TimestampOutOfRange`] (classic pcap only, after
    /// year 2106), [`PcapError::FrameTooLarge`] (over 4 GiB), or I/O. Nothing
    /// is written when the frame is refused.
    pub fn write_packet(&mut self, ts_nanos: u64, frame: &[u8]) -> Result<()> {
        let orig_len = u32::try_from(frame.len())
            .map_err(|_| PcapError::FrameTooLarge { len: frame.len() })?;
        let caplen = orig_len.min(self.snaplen);
        let data = &frame[..caplen as usize];
        match self.format {
            Format::Pcap => {
                let secs = u32::try_from(ts_nanos / NANOS_PER_SEC)
                    .map_err(|_| PcapError::TimestampOutOfRange { ts_nanos })?;
                let frac = (ts_nanos % NANOS_PER_SEC) as u32;
                let mut hdr = [0u8; 16];
                hdr[0..4].copy_from_slice(&secs.to_le_bytes());
                hdr[4..8].copy_from_slice(&frac.to_le_bytes());
                hdr[8..12].copy_from_slice(&caplen.to_le_bytes());
                hdr[12..16].copy_from_slice(&orig_len.to_le_bytes());
                self.put(&hdr)?;
                self.put(data)?;
            }
            Format::PcapNg => {
                let pad = pad4(caplen as usize);
                // type, total len, iface, ts hi, ts lo, caplen, orig len | data | pad | total len
                let total = 32 + caplen + pad as u32;
                let mut hdr = [0u8; 28];
                hdr[0..4].copy_from_slice(&BT_EPB.to_le_bytes());
                hdr[4..8].copy_from_slice(&total.to_le_bytes());
                // interface id 0: bytes 8..12 stay zero
                hdr[12..16].copy_from_slice(&((ts_nanos >> 32) as u32).to_le_bytes());
                hdr[16..20].copy_from_slice(&(ts_nanos as u32).to_le_bytes());
                hdr[20..24].copy_from_slice(&caplen.to_le_bytes());
                hdr[24..28].copy_from_slice(&orig_len.to_le_bytes());
                let mut tail = [0u8; 7];
                tail[pad..pad + 4].copy_from_slice(&total.to_le_bytes());
                self.put(&hdr)?;
                self.put(data)?;
                self.put(&tail[..pad + 4])?;
            }
        }
        self.packets_written += 1;
        Ok(())
    }

    /// Pushes buffered data to the underlying writer and flushes it.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|source| PcapError::Io {
            offset: self.bytes_written,
            source,
        })
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> Result<W> {
        let offset = self.bytes_written;
        self.out.into_inner().map_err(|e| PcapError::Io {
            offset,
            source: e.into_error(),
        })
    }

    /// The underlying writer (may lag behind: data can still be buffered).
    pub fn get_ref(&self) -> &W {
        self.out.get_ref()
    }

    /// Format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Snaplen frames are clipped to.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Bytes produced so far, headers included (buffered or not).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Packets written so far.
    pub fn packets_written(&self) -> u64 {
        self.packets_written
    }

    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|source| PcapError::Io {
            offset: self.bytes_written,
            source,
        })?;
        self.bytes_written += bytes.len() as u64;
        Ok(())
    }
}

fn pcap_header(snaplen: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&PCAP_MAGIC_NANO.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    h.extend_from_slice(&snaplen.to_le_bytes());
    h.extend_from_slice(&u32::from(LINKTYPE_ETHERNET).to_le_bytes());
    h
}

fn pcapng_header(snaplen: u32, if_name: Option<&str>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);

    let mut shb = Vec::with_capacity(64);
    shb.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes()); // major
    shb.extend_from_slice(&0u16.to_le_bytes()); // minor
    shb.extend_from_slice(&(-1i64).to_le_bytes()); // section length: unspecified
    push_option(&mut shb, OPT_SHB_USERAPPL, USERAPPL.as_bytes());
    push_option(&mut shb, OPT_ENDOFOPT, &[]);
    push_block(&mut out, BT_SHB, &shb);

    let mut idb = Vec::with_capacity(64);
    idb.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes()); // reserved
    idb.extend_from_slice(&snaplen.to_le_bytes());
    if let Some(name) = if_name {
        if name.len() > usize::from(u16::MAX) {
            return Err(PcapError::InterfaceNameTooLong { len: name.len() });
        }
        push_option(&mut idb, OPT_IF_NAME, name.as_bytes());
    }
    push_option(&mut idb, OPT_IF_TSRESOL, &[9]); // 10^-9 s
    push_option(&mut idb, OPT_ENDOFOPT, &[]);
    push_block(&mut out, BT_IDB, &idb);

    Ok(out)
}

/// Appends a pcapng option (value padded to 4 bytes). `value.len()` must fit u16.
fn push_option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + pad4(value.len()), 0);
}

/// Appends a block whose body is already a multiple of 4 bytes.
fn push_block(out: &mut Vec<u8>, block_type: u32, body: &[u8]) {
    debug_assert_eq!(body.len() % 4, 0);
    let total = (12 + body.len()) as u32;
    out.extend_from_slice(&block_type.to_le_bytes());
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&total.to_le_bytes());
}
