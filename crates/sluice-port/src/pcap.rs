//! The `pcap` port: replays a pcap/pcapng capture on receive (`read`) and records
//! transmitted frames to one (`write`). Either half, or both, may be configured.
//!
//! Replay is lossless: when the pool has no free buffer the file simply waits, so no frame of
//! it is lost. Frames shorter than an Ethernet header, longer than the data room, clipped by
//! the capture's snaplen, or of another link type are counted in `rx_malformed` and skipped.
//! A read error ends the replay (counted in `rx_errors`, logged once).
//!
//! Recording writes every frame byte for byte (up to `snaplen`) with its metadata timestamp
//! converted to wall-clock time. After an I/O error recording stops: that burst and all later
//! ones return how many frames were written, so the caller counts the rest as drops.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_pcap::{Format, PcapError, PcapReader, PcapWriter, LINKTYPE_ETHERNET, MAX_CAPLEN};
use sluice_shm::{now_ns, owner, Buffers, Counter, Region, SlotMeta};
use sluice_wire::flow_hash;

use crate::config::PcapConfig;
use crate::rate::TokenBucket;
use crate::{Halves, PortError, PortStats, RxPort, TxPort};

/// Shortest frame replayed: an Ethernet header.
const MIN_FRAME: usize = 14;

fn config_err(port: &str, reason: String) -> PortError {
    PortError::Config {
        port: port.to_string(),
        reason,
    }
}

/// Turn an error opening a capture into a port error naming the file.
fn open_err(port: &str, path: &Path, e: PcapError) -> PortError {
    match e {
        PcapError::File { op, source, .. } => PortError::Io {
            port: port.to_string(),
            what: format!("cannot {op} capture file {}", path.display()),
            source,
        },
        PcapError::Io { source, .. } => PortError::Io {
            port: port.to_string(),
            what: format!("reading capture file {}", path.display()),
            source,
        },
        other => config_err(port, format!("capture file {}: {other}", path.display())),
    }
}

/// Check the configuration, open the file(s) and build the halves.
pub(crate) fn open(
    id: u16,
    name: &str,
    cfg: &PcapConfig,
    region: &Region,
    stats: Arc<PortStats>,
) -> Result<Halves, PortError> {
    if cfg.read.is_none() && cfg.write.is_none() {
        return Err(config_err(
            name,
            "a pcap port needs `read` (a file to replay), `write` (a file to record to), or both"
                .into(),
        ));
    }
    if !cfg.rate_pps.is_finite() || cfg.rate_pps < 0.0 {
        return Err(config_err(
            name,
            format!(
                "rate_pps {} must be a finite number >= 0 (0 = as fast as possible)",
                cfg.rate_pps
            ),
        ));
    }
    if cfg.snaplen == 0 || cfg.snaplen > MAX_CAPLEN {
        return Err(config_err(
            name,
            format!("snaplen {} must be between 1 and {MAX_CAPLEN}", cfg.snaplen),
        ));
    }
    let rx = match &cfg.read {
        Some(path) => Some(
            Box::new(Replay::open(id, name, path, cfg, region, stats.clone())?) as Box<dyn RxPort>,
        ),
        None => None,
    };
    let tx = match &cfg.write {
        Some(path) => {
            let file = File::create(path).map_err(|source| PortError::Io {
                port: name.to_string(),
                what: format!("cannot create capture file {}", path.display()),
                source,
            })?;
            let writer =
                PcapWriter::with_interface_name(file, Format::from_path(path), cfg.snaplen, name)
                    .map_err(|e| open_err(name, path, e))?;
            Some(Box::new(Record {
                name: name.to_string(),
                path: path.clone(),
                writer,
                failed: false,
                epoch_offset: epoch_offset(),
                stats,
            }) as Box<dyn TxPort>)
        }
        None => None,
    };
    Ok((rx, tx))
}

/// Nanoseconds to add to a CLOCK_MONOTONIC reading to get Unix time.
fn epoch_offset() -> u64 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    wall.saturating_sub(now_ns())
}

// ---- replay -----------------------------------------------------------------------------

struct Replay {
    name: String,
    path: PathBuf,
    reader: PcapReader<BufReader<File>>,
    /// Frame buffer, sized for the largest frame a capture may hold: never reallocated.
    buf: Vec<u8>,
    /// Passes to make; 0 = forever.
    loops: u32,
    /// Passes finished.
    passes: u32,
    /// Frames delivered in the current pass (a pass with none ends an endless replay).
    in_pass: u64,
    done: bool,
    bucket: Option<TokenBucket>,
    room: usize,
    headroom: usize,
    meta: SlotMeta,
    stats: Arc<PortStats>,
}

impl Replay {
    fn open(
        id: u16,
        name: &str,
        path: &Path,
        cfg: &PcapConfig,
        region: &Region,
        stats: Arc<PortStats>,
    ) -> Result<Replay, PortError> {
        let reader = PcapReader::open(path).map_err(|e| open_err(name, path, e))?;
        match reader.linktype() {
            Some(LINKTYPE_ETHERNET) => {}
            Some(other) => {
                return Err(config_err(
                    name,
                    format!(
                        "capture file {} has link type {other}; only Ethernet (1) can be replayed",
                        path.display()
                    ),
                ))
            }
            None => {
                return Err(config_err(
                    name,
                    format!("capture file {} describes no interface", path.display()),
                ))
            }
        }
        let meta = crate::rx_meta(region, id, 0);
        Ok(Replay {
            name: name.to_string(),
            path: path.to_path_buf(),
            reader,
            buf: Vec::with_capacity(MAX_CAPLEN as usize),
            loops: cfg.loops,
            passes: 0,
            in_pass: 0,
            done: false,
            bucket: (cfg.rate_pps > 0.0).then(|| TokenBucket::new(cfg.rate_pps)),
            room: region.data_room() as usize,
            headroom: region.headroom() as usize,
            meta,
            stats,
        })
    }

    /// Read the next frame that fits a slot into `buf`; false when the replay is over.
    fn next_frame(&mut self) -> bool {
        loop {
            match self.reader.next_packet(&mut self.buf) {
                Ok(Some(info)) => {
                    let len = self.buf.len();
                    if len < MIN_FRAME
                        || len > self.room
                        || info.caplen < info.orig_len
                        || info.linktype != LINKTYPE_ETHERNET
                    {
                        self.stats.rx_malformed.bump(1);
                        continue;
                    }
                    self.in_pass += 1;
                    return true;
                }
                Ok(None) => {
                    self.passes += 1;
                    let more = self.loops == 0 || self.passes < self.loops;
                    if !more || self.in_pass == 0 {
                        self.done = true;
                        return false;
                    }
                    self.in_pass = 0;
                    match PcapReader::open(&self.path) {
                        Ok(r) => self.reader = r,
                        Err(e) => return self.fail(0, &e),
                    }
                }
                Err(e) => {
                    let offset = self.reader.offset();
                    return self.fail(offset, &e);
                }
            }
        }
    }

    /// A read error: count it, say so once, and end the replay.
    #[cold]
    fn fail(&mut self, offset: u64, e: &PcapError) -> bool {
        self.stats.rx_errors.bump(1);
        tracing::warn!(
            port = %self.name,
            file = %self.path.display(),
            offset,
            "replay stopped after a read error: {e}"
        );
        self.done = true;
        false
    }
}

impl RxPort for Replay {
    fn rx_burst(&mut self, region: &mut Buffers<'_>, out: &mut [u32]) -> usize {
        if self.done || out.is_empty() {
            return 0;
        }
        let now = now_ns();
        let mut want = out.len();
        if let Some(b) = &mut self.bucket {
            want = b.take(now, want);
            if want == 0 {
                return 0;
            }
        }
        let got = region.alloc(&mut out[..want], owner::MANAGER);
        let mut filled = 0;
        let mut bytes = 0u64;
        let mut meta = self.meta;
        meta.timestamp = now;
        while filled < got && self.next_frame() {
            let idx = out[filled];
            let len = self.buf.len();
            meta.len = len as u16;
            meta.flow_hash = flow_hash(&self.buf);
            // SAFETY: `idx` came from the pool just now; `len <= data room`, so the frame fits
            // the data area after the headroom.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.buf.as_ptr(),
                    region.data(idx).add(self.headroom),
                    len,
                );
                region.meta(idx).write(meta);
            }
            bytes += len as u64;
            filled += 1;
        }
        if filled < got {
            region.free(&out[filled..got]);
        }
        if let Some(b) = &mut self.bucket {
            // Tokens not used for lack of buffers or frames stay for the next burst.
            b.give_back(want - filled);
        }
        if filled > 0 {
            self.stats.rx_packets.bump(filled as u64);
            self.stats.rx_bytes.bump(bytes);
        }
        filled
    }

    fn provides_flow_hash(&self) -> bool {
        true
    }

    fn exhausted(&self) -> bool {
        self.done
    }
}

// ---- record -----------------------------------------------------------------------------

struct Record {
    name: String,
    path: PathBuf,
    writer: PcapWriter<File>,
    /// Set after the first I/O error: the file is no longer trustworthy.
    failed: bool,
    epoch_offset: u64,
    stats: Arc<PortStats>,
}

impl Record {
    #[cold]
    fn fail(&mut self, e: &PcapError) {
        self.stats.tx_errors.bump(1);
        self.failed = true;
        tracing::warn!(
            port = %self.name,
            file = %self.path.display(),
            offset = self.writer.bytes_written(),
            "recording stopped after a write error: {e}"
        );
    }
}

impl TxPort for Record {
    fn tx_burst(&mut self, region: &mut Buffers<'_>, slots: &[u32]) -> usize {
        if self.failed || slots.is_empty() {
            return 0;
        }
        let now = now_ns();
        let area = region.data_area();
        let mut taken = 0;
        let mut written = 0u64;
        let mut bytes = 0u64;
        for &idx in slots {
            // SAFETY: the caller holds the slots (TxPort contract); the metadata is read once.
            let m = unsafe { region.meta(idx).read() };
            let (off, len) = (m.data_off as usize, m.len as usize);
            if off + len > area {
                // A descriptor the manager should have refused: take it, write nothing.
                self.stats.tx_errors.bump(1);
                taken += 1;
                continue;
            }
            let ts = if m.timestamp == 0 { now } else { m.timestamp };
            // SAFETY: bounds checked above; the slot is ours until freed below.
            let frame = unsafe { std::slice::from_raw_parts(region.data(idx).add(off), len) };
            if let Err(e) = self
                .writer
                .write_packet(ts.saturating_add(self.epoch_offset), frame)
            {
                self.fail(&e);
                break;
            }
            bytes += len as u64;
            written += 1;
            taken += 1;
        }
        region.free(&slots[..taken]);
        self.stats.tx_packets.bump(written);
        self.stats.tx_bytes.bump(bytes);
        taken
    }

    fn flush(&mut self, _region: &mut Buffers<'_>) {
        self.flush_file();
    }
}

impl Record {
    /// Write out what the capture file's buffer holds.
    fn flush_file(&mut self) {
        if self.failed {
            return;
        }
        if let Err(e) = self.writer.flush() {
            self.fail(&e);
        }
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.flush_file();
    }
}
