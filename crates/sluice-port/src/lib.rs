//! Port back ends of the Sluice data plane. A port is opened from its [`PortConfig`] and
//! split into a receive half and a transmit half, so one manager thread can receive while
//! another transmits. Everything works on bursts of slot indices in the shared region.
//!
//! Kinds in this crate: `generator` (synthetic UDP traffic), `null` (a sink that counts),
//! `pcap` (replay a pcap/pcapng file and/or record to one), `af-packet` (a Linux interface
//! through a TPACKET_V3 ring and `sendmmsg`), `tap` (a TAP interface to the host stack or
//! a VM), `af-xdp` (an interface queue through an AF_XDP socket on the packet pool) and
//! `dpdk` (a DPDK ethdev: PCI device or vdev; real only with the `dpdk` cargo feature).
//! Other back ends implement the same two traits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use sluice_shm::{Buffers, Counter, Region};

mod afpacket;
mod afxdp;
mod config;
mod dpdk;
mod generator;
mod netdev;
mod null;
mod pcap;
mod rate;
mod tap;

pub use config::{
    AfPacketConfig, AfXdpConfig, DpdkConfig, GeneratorConfig, Pattern, PcapConfig, PortConfig,
    PortKind, TapConfig, XdpMode,
};
pub use dpdk::{
    cleanup as dpdk_cleanup, default_eal_args as dpdk_default_eal_args, init as dpdk_init,
    runtime_dir as dpdk_runtime_dir, DpdkError, ENABLED as DPDK_ENABLED,
};

/// Receive half of a port.
pub trait RxPort: Send {
    /// Receive up to `out.len()` frames into freshly allocated slots and return how many.
    /// For each slot it sets `data_off`, `len`, `in_port`, `timestamp` and, when
    /// [`RxPort::provides_flow_hash`] is true, `flow_hash`; the owner is the manager.
    /// Frames that cannot be received (no buffer, malformed) are counted in the port's stats.
    fn rx_burst(&mut self, region: &mut Buffers<'_>, out: &mut [u32]) -> usize;

    /// True if `rx_burst` fills in the symmetric flow hash (like a NIC's RSS hash), so the
    /// manager need not parse the frame for it.
    fn provides_flow_hash(&self) -> bool {
        false
    }

    /// True once a finite source (a replayed file, a generator with a count) has nothing more.
    fn exhausted(&self) -> bool {
        false
    }
}

/// Transmit half of a port.
pub trait TxPort: Send {
    /// Transmit the frames in `slots`; returns how many the port took. The port owns (and
    /// eventually frees) the ones it took; the caller drops and frees the rest.
    fn tx_burst(&mut self, region: &mut Buffers<'_>, slots: &[u32]) -> usize;

    /// Push out anything buffered and free the buffers the device has finished sending
    /// (called when the data plane is idle and at shutdown).
    fn flush(&mut self, _region: &mut Buffers<'_>) {}
}

/// Counters of one port, shared between its halves and the stats reader.
#[derive(Debug, Default)]
pub struct PortStats {
    /// Frames received.
    pub rx_packets: AtomicU64,
    /// Bytes received.
    pub rx_bytes: AtomicU64,
    /// Frames transmitted.
    pub tx_packets: AtomicU64,
    /// Bytes transmitted.
    pub tx_bytes: AtomicU64,
    /// Frames lost on receive because the pool was empty.
    pub rx_no_buffer: AtomicU64,
    /// Frames refused on receive as malformed (runt, oversized, truncated).
    pub rx_malformed: AtomicU64,
    /// Receive I/O errors.
    pub rx_errors: AtomicU64,
    /// Transmit I/O errors.
    pub tx_errors: AtomicU64,
    /// Pool buffers the port holds to receive into (an AF_XDP fill ring): out of the pool,
    /// but no packets, so packet accounting leaves them out of "in flight".
    pub rx_held: AtomicU64,
    /// Link state (kernel-interface ports poll it every 100 ms while receiving; while it is
    /// down they transmit nothing, so the caller counts those frames as dropped).
    pub link_up: AtomicBool,
}

impl PortStats {
    /// Drop counters by reason, for `sluice ports` and stats.
    pub fn drops(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        m.insert(
            "rx_no_buffer".into(),
            self.rx_no_buffer.load(Ordering::Relaxed),
        );
        m.insert(
            "rx_malformed".into(),
            self.rx_malformed.load(Ordering::Relaxed),
        );
        m
    }
}

/// An opened port.
pub struct Port {
    /// Name from the config.
    pub name: String,
    /// Kind name (generator, null, pcap, ...).
    pub kind: &'static str,
    /// Receive half, if the port receives.
    pub rx: Option<Box<dyn RxPort>>,
    /// Transmit half, if the port transmits.
    pub tx: Option<Box<dyn TxPort>>,
    /// Counters.
    pub stats: Arc<PortStats>,
}

impl Port {
    /// A placeholder for a port that failed to open: no halves, link down. It keeps its id
    /// so chains naming it stay valid; traffic sent to it counts as `port_down`.
    pub fn down(name: &str, kind: &'static str) -> Port {
        Port {
            name: name.into(),
            kind,
            rx: None,
            tx: None,
            stats: Arc::default(),
        }
    }
}

/// Errors opening a port.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The port's configuration cannot work.
    #[error("port {port}: {reason}")]
    Config {
        /// Port name.
        port: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// An I/O error opening the port.
    #[error("port {port}: {what}: {source}")]
    Io {
        /// Port name.
        port: String,
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Metadata of a freshly received frame: at the headroom, from port `in_port`, held by the
/// manager, everything else 0 (the receive paths then set `flow_hash` and `timestamp`).
#[allow(clippy::field_reassign_with_default)] // SlotMeta has a private field: no `..Default`.
pub(crate) fn rx_meta(region: &Region, in_port: u16, len: u16) -> sluice_shm::SlotMeta {
    let mut m = sluice_shm::SlotMeta::default();
    m.data_off = region.headroom() as u16;
    m.len = len;
    m.in_port = in_port;
    m.owner = sluice_shm::owner::MANAGER;
    m
}

/// The end of a receive burst: slots `out[filled..got]` were allocated but not filled (they
/// go back to the pool); `filled` frames of `bytes` bytes were received. Returns `filled`.
pub(crate) fn finish_rx(
    region: &mut Buffers<'_>,
    stats: &PortStats,
    out: &[u32],
    got: usize,
    filled: usize,
    bytes: u64,
) -> usize {
    if filled < got {
        region.free(&out[filled..got]);
    }
    if filled > 0 {
        stats.rx_packets.bump(filled as u64);
        stats.rx_bytes.bump(bytes);
    }
    filled
}

/// The receive and transmit halves of a port, either of which may be absent.
pub type Halves = (Option<Box<dyn RxPort>>, Option<Box<dyn TxPort>>);

/// Open port number `id` as configured. `region` gives the slot sizes (data room).
pub fn open(id: u16, cfg: &PortConfig, region: &Region) -> Result<Port, PortError> {
    let stats = Arc::new(PortStats::default());
    stats.link_up.store(true, Ordering::Relaxed);
    let (kind, (rx, tx)): (&'static str, Halves) = match &cfg.kind {
        PortKind::Generator(g) => (
            "generator",
            (
                Some(generator::open(id, &cfg.name, g, region, stats.clone())?),
                None,
            ),
        ),
        PortKind::Null => ("null", (None, Some(null::open(stats.clone())))),
        PortKind::Pcap(p) => ("pcap", pcap::open(id, &cfg.name, p, region, stats.clone())?),
        PortKind::AfPacket(a) => (
            "af-packet",
            afpacket::open(id, &cfg.name, a, region, stats.clone())?,
        ),
        PortKind::Tap(t) => ("tap", tap::open(id, &cfg.name, t, region, stats.clone())?),
        PortKind::AfXdp(x) => (
            "af-xdp",
            afxdp::open(id, &cfg.name, x, region, stats.clone())?,
        ),
        PortKind::Dpdk(d) => ("dpdk", dpdk::open(id, &cfg.name, d, region, stats.clone())?),
    };
    Ok(Port {
        name: cfg.name.clone(),
        kind,
        rx,
        tx,
        stats,
    })
}
