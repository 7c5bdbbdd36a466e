//! The software embedded switch of one PF: where a frame goes, and each VF's RX / TX policy.
//!
//! Three pieces, so the data path needs no lock:
//! - [`PfPolicy`]: immutable tables built from a [`PfState`] by the control plane and
//!   published to data-plane threads (e.g. `arc-swap`); rebuilt on every add / delete.
//! - [`PfShared`]: atomics read and written from any thread: counters (clearable) and the
//!   PF link state.
//! - [`PfSwitch`]: what a data-plane thread holds: the current policy, the shared block and
//!   the per-VF token buckets (mutable state, so `from_vf` takes `&mut self`).
//!
//! Per frame: no allocation, no lock, no syscall, no log line. Frames are edited in place in
//! the caller's buffer through [`FrameBuf`], using its headroom to insert a tag.
//!
//! Model: a frame between the PF uplink and the VFs is in *wire form* (outer tag present).
//! [`PfSwitch::from_wire`] and [`PfSwitch::from_vf`] classify a wire-form frame into a set of
//! VFs (a [`VfMask`]) and/or the wire; [`PfSwitch::to_vf`] then applies that VF's RX edit
//! (strip) to the caller's copy for it. `from_vf` first applies the sender's TX policy
//! (anti-spoof, insert, rate) which turns the VF's frame into wire form.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sluice_wire::{MacAddr, ETHERTYPE_QINQ, ETHERTYPE_VLAN};

use crate::config::{LinkStatus, MirrorDirection, MirrorTarget, PfState, MAX_VFS};

/// A set of VFs of one PF: bit `n` = vfid `n` (vfids are 0..=31).
pub type VfMask = u32;

/// The vfids in a mask, lowest first.
pub fn mask_iter(mut mask: VfMask) -> impl Iterator<Item = u8> {
    std::iter::from_fn(move || {
        if mask == 0 {
            return None;
        }
        let vf = mask.trailing_zeros() as u8;
        mask &= mask - 1;
        Some(vf)
    })
}

// ------------------------------------------------------------------------------------------
// Frame buffers
// ------------------------------------------------------------------------------------------

/// A frame in a buffer with headroom: what the switch edits in place.
///
/// The manager implements it over its packet slot (frame offset and length in the slot
/// metadata); [`SliceFrame`] implements it over a plain byte slice.
pub trait FrameBuf {
    /// The frame bytes.
    fn frame(&self) -> &[u8];
    /// The frame bytes, writable.
    fn frame_mut(&mut self) -> &mut [u8];
    /// Free bytes in front of the frame.
    fn headroom(&self) -> usize;
    /// Grows the frame by `n` bytes at the front (`n <= headroom()`, checked by the caller).
    fn push_head(&mut self, n: usize);
    /// Shrinks the frame by `n` bytes at the front (`n <= frame().len()`).
    fn pull_head(&mut self, n: usize);
}

/// A frame at `buf[off..off + len]`; the bytes before `off` are headroom.
#[derive(Debug)]
pub struct SliceFrame<'a> {
    buf: &'a mut [u8],
    off: usize,
    len: usize,
}

impl<'a> SliceFrame<'a> {
    /// Wraps `buf` with the frame at `off..off + len`; `None` if that is out of bounds.
    pub fn new(buf: &'a mut [u8], off: usize, len: usize) -> Option<Self> {
        (off.checked_add(len)? <= buf.len()).then_some(SliceFrame { buf, off, len })
    }
    /// Offset of the frame in the buffer (changes when a tag is inserted or stripped).
    pub fn offset(&self) -> usize {
        self.off
    }
    /// Length of the frame.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True if the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FrameBuf for SliceFrame<'_> {
    #[inline]
    fn frame(&self) -> &[u8] {
        &self.buf[self.off..self.off + self.len]
    }
    #[inline]
    fn frame_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.off..self.off + self.len]
    }
    #[inline]
    fn headroom(&self) -> usize {
        self.off
    }
    #[inline]
    fn push_head(&mut self, n: usize) {
        let n = n.min(self.off);
        self.off -= n;
        self.len += n;
    }
    #[inline]
    fn pull_head(&mut self, n: usize) {
        let n = n.min(self.len);
        self.off += n;
        self.len -= n;
    }
}

#[inline(always)]
fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Removes the outer tag (bytes 12..16): the MACs move 4 bytes up. Needs `len >= 18`.
#[inline]
fn strip_outer<B: FrameBuf>(buf: &mut B) {
    buf.frame_mut().copy_within(0..12, 4);
    buf.pull_head(4);
}

/// Inserts an outer tag after the MACs. Needs `headroom() >= 4` and `len >= 12`.
#[inline]
fn insert_outer<B: FrameBuf>(buf: &mut B, tpid: u16, tci: u16) {
    buf.push_head(4);
    let f = buf.frame_mut();
    // Fixed-size copies through a local: plain moves, no memmove call.
    let mut head = [0u8; 16];
    head[..12].copy_from_slice(&f[4..16]);
    head[12..14].copy_from_slice(&tpid.to_be_bytes());
    head[14..16].copy_from_slice(&tci.to_be_bytes());
    f[..16].copy_from_slice(&head);
}

// ------------------------------------------------------------------------------------------
// Counters
// ------------------------------------------------------------------------------------------

/// One counter of a PF or VF (see [`CounterSnapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// Frames received (PF: from the wire; VF: delivered to the VF).
    RxPackets,
    /// Bytes of those frames (VF: as delivered, after strip).
    RxBytes,
    /// Malformed frames received (too short, or over the PF's MTU).
    RxErrors,
    /// Frames that could not be delivered (PF: no VF wanted them; VF: link down).
    RxDropped,
    /// Frames sent (PF: to the wire; VF: accepted from the VF).
    TxPackets,
    /// Bytes of those frames (VF: as the VF sent them, before insert).
    TxBytes,
    /// Frames from the VF that could not be sent: malformed, over the PF's MTU, or no
    /// headroom to insert.
    TxErrors,
    /// Frames from the VF dropped by policy other than spoofing: link down, max rate,
    /// VF not configured.
    TxDropped,
    /// Frames from the VF dropped by MAC or VLAN anti-spoof (PF: sum over its VFs).
    Spoofed,
    /// Frames mirrored (VF: copies of this VF's traffic handed to its mirror target).
    Mirrored,
}

const NCOUNTERS: usize = 10;
/// Counter blocks per switch: index 0 is the PF, 1 + vfid the VFs.
const NPORTS: usize = MAX_VFS + 1;

/// One port's counters in one [`PfSwitch`]'s block. Single writer (the thread owning that
/// switch), so an add is a plain load + store, no locked read-modify-write.
#[derive(Debug, Default)]
#[repr(align(64))]
struct PortBlock {
    v: [AtomicU64; NCOUNTERS],
}

impl PortBlock {
    #[inline(always)]
    fn add(&self, c: Counter, n: u64) {
        // Only the owning switch's thread writes (PfSwitch is !Sync); readers may see the
        // old value, never a torn one.
        let a = &self.v[c as usize];
        a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
}

/// The counters one [`PfSwitch`] writes.
#[derive(Debug)]
struct SwitchCounters {
    ports: [PortBlock; NPORTS],
}

/// A read of one port's counters (summed over every switch of the PF) since the last clear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// See [`Counter::RxPackets`].
    pub rx_packets: u64,
    /// See [`Counter::RxBytes`].
    pub rx_bytes: u64,
    /// See [`Counter::RxErrors`].
    pub rx_errors: u64,
    /// See [`Counter::RxDropped`].
    pub rx_dropped: u64,
    /// See [`Counter::TxPackets`].
    pub tx_packets: u64,
    /// See [`Counter::TxBytes`].
    pub tx_bytes: u64,
    /// See [`Counter::TxErrors`].
    pub tx_errors: u64,
    /// See [`Counter::TxDropped`].
    pub tx_dropped: u64,
    /// See [`Counter::Spoofed`].
    pub spoofed: u64,
    /// See [`Counter::Mirrored`].
    pub mirrored: u64,
}

impl CounterSnapshot {
    fn from_raw(r: [u64; NCOUNTERS]) -> Self {
        CounterSnapshot {
            rx_packets: r[Counter::RxPackets as usize],
            rx_bytes: r[Counter::RxBytes as usize],
            rx_errors: r[Counter::RxErrors as usize],
            rx_dropped: r[Counter::RxDropped as usize],
            tx_packets: r[Counter::TxPackets as usize],
            tx_bytes: r[Counter::TxBytes as usize],
            tx_errors: r[Counter::TxErrors as usize],
            tx_dropped: r[Counter::TxDropped as usize],
            spoofed: r[Counter::Spoofed as usize],
            mirrored: r[Counter::Mirrored as usize],
        }
    }

    /// The value of one counter.
    pub fn get(&self, c: Counter) -> u64 {
        use Counter::*;
        match c {
            RxPackets => self.rx_packets,
            RxBytes => self.rx_bytes,
            RxErrors => self.rx_errors,
            RxDropped => self.rx_dropped,
            TxPackets => self.tx_packets,
            TxBytes => self.tx_bytes,
            TxErrors => self.tx_errors,
            TxDropped => self.tx_dropped,
            Spoofed => self.spoofed,
            Mirrored => self.mirrored,
        }
    }
}

/// What the data path of one PF shares with the control plane: counters and link state.
///
/// Every [`PfSwitch`] writes its own counter block (registered here when it is created;
/// the lock is taken then and by readers, never per frame). Reads sum the blocks; clears
/// record a baseline that reads subtract, so clearing never races with the writers.
#[derive(Debug)]
pub struct PfShared {
    blocks: Mutex<Vec<Arc<SwitchCounters>>>,
    base: Mutex<[[u64; NCOUNTERS]; NPORTS]>,
    pf_link_up: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking reader cannot leave counters inconsistent: ignore poisoning.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PfShared {
    /// Zeroed counters, PF link up.
    pub fn new() -> Arc<Self> {
        Arc::new(PfShared {
            blocks: Mutex::new(Vec::new()),
            base: Mutex::new([[0; NCOUNTERS]; NPORTS]),
            pf_link_up: AtomicBool::new(true),
        })
    }

    fn register(&self) -> Arc<SwitchCounters> {
        let block = Arc::new(SwitchCounters {
            ports: std::array::from_fn(|_| PortBlock::default()),
        });
        lock(&self.blocks).push(Arc::clone(&block));
        block
    }

    fn raw(&self, port: usize) -> [u64; NCOUNTERS] {
        let mut sum = [0u64; NCOUNTERS];
        for b in lock(&self.blocks).iter() {
            for (s, v) in sum.iter_mut().zip(&b.ports[port].v) {
                *s = s.wrapping_add(v.load(Ordering::Relaxed));
            }
        }
        sum
    }

    fn snapshot(&self, port: usize) -> CounterSnapshot {
        let raw = self.raw(port);
        let base = lock(&self.base)[port];
        CounterSnapshot::from_raw(std::array::from_fn(|i| raw[i].wrapping_sub(base[i])))
    }

    fn clear(&self, port: usize) {
        let raw = self.raw(port);
        lock(&self.base)[port] = raw;
    }

    /// The PF's counters since the last clear.
    pub fn pf_snapshot(&self) -> CounterSnapshot {
        self.snapshot(0)
    }

    /// A VF's counters since the last clear (`None` if `vfid > 31`).
    pub fn vf_snapshot(&self, vfid: u32) -> Option<CounterSnapshot> {
        (vfid < MAX_VFS as u32).then(|| self.snapshot(1 + vfid as usize))
    }

    /// Clears the PF's counters.
    pub fn clear_pf(&self) {
        self.clear(0);
    }

    /// Clears one VF's counters.
    pub fn clear_vf(&self, vfid: u32) {
        if vfid < MAX_VFS as u32 {
            self.clear(1 + vfid as usize);
        }
    }

    /// Clears the PF's and every VF's counters.
    pub fn clear_all(&self) {
        (0..NPORTS).for_each(|p| self.clear(p));
    }

    /// Records the uplink's link state; VFs with `link_status: auto` follow it.
    pub fn set_pf_link(&self, up: bool) {
        self.pf_link_up.store(up, Ordering::Relaxed);
    }

    /// The uplink's link state as last set.
    pub fn pf_link_up(&self) -> bool {
        self.pf_link_up.load(Ordering::Relaxed)
    }
}

// ------------------------------------------------------------------------------------------
// Policy tables
// ------------------------------------------------------------------------------------------

/// Where a mirrored copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MirrorTo {
    /// Deliver the copy, unmodified and without policy, to this VF.
    Vf(u8),
    /// Write the copy to the pcap file configured for this source VF
    /// ([`PfPolicy::mirror_pcap`]).
    Pcap {
        /// The VF whose traffic is mirrored.
        source_vf: u8,
    },
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than an Ethernet header, or a tag TPID without the tag.
    Malformed,
    /// No VF wants it (VLAN filter, BUM policy, unknown unicast) and it is not for the wire.
    NoDestination,
    /// The VF's link is down.
    LinkDown,
    /// Source MAC or VLAN not allowed for the sending VF.
    Spoofed,
    /// Over the VF's max rate.
    RateLimited,
    /// A tag had to be inserted but the buffer has less than 4 bytes of headroom.
    NoHeadroom,
    /// The VF has no accepted config.
    NotConfigured,
    /// Longer than the PF's MTU allows (MTU + Ethernet header + two tags).
    Oversize,
}

/// The switch's decision for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    /// VFs that get a copy; call [`PfSwitch::to_vf`] on each copy before sending it.
    pub vfs: VfMask,
    /// Send the frame (as left by the call, wire form) to the PF uplink.
    pub wire: bool,
    /// "out" mirroring of the sending VF: copy the frame (wire form) there.
    pub mirror: Option<MirrorTo>,
    /// Set when nothing is sent (`vfs == 0 && !wire`): why. Already counted.
    pub drop: Option<DropReason>,
}

impl Dispatch {
    fn dropped(reason: DropReason) -> Self {
        Dispatch {
            vfs: 0,
            wire: false,
            mirror: None,
            drop: Some(reason),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct VfRule {
    strip: bool,
    insert: bool,
    tpid: u16,
    default_vlan: u16,
    mac_anti_spoof: bool,
    rate_bps: u64,
    burst: u64,
    mirror_dir: MirrorDirection,
    mirror_to: Option<MirrorTo>,
}

const MAC_SLOTS: usize = 512;

/// Open-addressed MAC → vfid table; ≤ 160 entries in 512 slots, so probes are short.
#[derive(Debug, Clone)]
struct MacTable {
    keys: Box<[u64; MAC_SLOTS]>,
    vals: Box<[u8; MAC_SLOTS]>,
}

impl MacTable {
    fn new() -> Self {
        MacTable {
            keys: Box::new([0; MAC_SLOTS]),
            vals: Box::new([0; MAC_SLOTS]),
        }
    }

    #[inline(always)]
    fn key(mac: &[u8]) -> u64 {
        // Bit 63 marks a used slot, so the all-zero MAC is a valid key.
        (1 << 63) | u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])
    }

    #[inline(always)]
    fn slot(key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 55) as usize & (MAC_SLOTS - 1)
    }

    fn insert(&mut self, mac: &MacAddr, vf: u8) {
        let k = Self::key(mac);
        let mut i = Self::slot(k);
        for _ in 0..MAC_SLOTS {
            if self.keys[i] == 0 || self.keys[i] == k {
                self.keys[i] = k;
                self.vals[i] = vf;
                return;
            }
            i = (i + 1) & (MAC_SLOTS - 1);
        }
    }

    #[inline]
    fn lookup(&self, mac: &[u8]) -> Option<u8> {
        let k = Self::key(mac);
        let mut i = Self::slot(k);
        for _ in 0..MAC_SLOTS {
            let s = self.keys[i];
            if s == k {
                return Some(self.vals[i]);
            }
            if s == 0 {
                return None;
            }
            i = (i + 1) & (MAC_SLOTS - 1);
        }
        None
    }
}

/// The immutable switching tables of one PF, built from its accepted VFs.
#[derive(Debug, Clone)]
pub struct PfPolicy {
    pciid: String,
    loopback: bool,
    max_frame: usize,
    configured: VfMask,
    proto_ad: VfMask,
    vlan_q: Box<[VfMask; 4096]>,
    vlan_ad: Box<[VfMask; 4096]>,
    bcast: VfMask,
    mcast: VfMask,
    un_ucast: VfMask,
    untagged: VfMask,
    link_on: VfMask,
    link_auto: VfMask,
    macs: MacTable,
    default_macs: [MacAddr; MAX_VFS],
    rules: [VfRule; MAX_VFS],
    pcaps: Vec<Option<String>>,
}

impl PfPolicy {
    /// Tables for `pf` and its accepted VFs.
    pub fn build(pf: &PfState) -> PfPolicy {
        let mut p = PfPolicy {
            pciid: pf.config.id.clone(),
            loopback: pf.config.enable_loopback,
            max_frame: pf.config.mtu as usize + 14 + 8,
            configured: 0,
            proto_ad: 0,
            vlan_q: Box::new([0; 4096]),
            vlan_ad: Box::new([0; 4096]),
            bcast: 0,
            mcast: 0,
            un_ucast: 0,
            untagged: 0,
            link_on: 0,
            link_auto: 0,
            macs: MacTable::new(),
            default_macs: [[0; 6]; MAX_VFS],
            rules: [VfRule::default(); MAX_VFS],
            pcaps: vec![None; MAX_VFS],
        };
        // Bytes/s per unit of `rate`: link Mbit/s * 1e6 / 8.
        let link_bps = f64::from(pf.config.link_speed_mbps) * 1e6 / 8.0;
        // Two max-size tagged frames at least, so a frame at the MTU always fits the bucket.
        let min_burst = 2 * (u64::from(pf.config.mtu) + 22);
        for vf in pf.vfs() {
            let id = vf.vfid() as usize;
            if id >= MAX_VFS {
                continue;
            }
            let bit = 1u32 << id;
            let c = &vf.config;
            p.configured |= bit;
            let table = if c.vlan_proto.tpid() == ETHERTYPE_QINQ {
                p.proto_ad |= bit;
                &mut p.vlan_ad
            } else {
                &mut p.vlan_q
            };
            for &v in &vf.vlans {
                table[usize::from(v & 0x0fff)] |= bit;
            }
            if c.allow_bcast {
                p.bcast |= bit;
            }
            if c.allow_mcast {
                p.mcast |= bit;
            }
            if c.allow_un_ucast {
                p.un_ucast |= bit;
            }
            if c.allow_untagged {
                p.untagged |= bit;
            }
            match c.link_status {
                LinkStatus::On => p.link_on |= bit,
                LinkStatus::Auto => p.link_auto |= bit,
                LinkStatus::Off => {}
            }
            for m in vf.effective_macs() {
                p.macs.insert(&m, id as u8);
            }
            p.default_macs[id] = vf.default_mac;
            let rate_bps = (c.rate.clamp(0.0, 1.0) * link_bps) as u64;
            let (mirror_dir, mirror_to) = match &c.mirror {
                Some(m) if m.direction != MirrorDirection::Off => match &m.target {
                    Some(MirrorTarget::Vf(t)) => (m.direction, Some(MirrorTo::Vf(*t as u8))),
                    Some(MirrorTarget::Pcap(path)) => {
                        p.pcaps[id] = Some(path.clone());
                        (
                            m.direction,
                            Some(MirrorTo::Pcap {
                                source_vf: id as u8,
                            }),
                        )
                    }
                    None => (MirrorDirection::Off, None),
                },
                _ => (MirrorDirection::Off, None),
            };
            p.rules[id] = VfRule {
                strip: c.strip_stag,
                insert: c.insert_stag,
                tpid: c.vlan_proto.tpid(),
                default_vlan: vf.vlans.first().copied().unwrap_or(0),
                mac_anti_spoof: c.mac_anti_spoof,
                rate_bps,
                burst: (rate_bps / 100).max(min_burst),
                mirror_dir,
                mirror_to,
            };
        }
        p
    }

    /// The PF's PCI address.
    pub fn pciid(&self) -> &str {
        &self.pciid
    }
    /// VFs with an accepted config.
    pub fn configured(&self) -> VfMask {
        self.configured
    }
    /// The MAC a VF uses (give it to the VF's port / guest), if configured.
    pub fn default_mac(&self, vfid: u8) -> Option<MacAddr> {
        (vfid < 32 && self.configured & (1 << vfid) != 0)
            .then(|| self.default_macs[usize::from(vfid)])
    }
    /// The pcap file a VF's traffic is mirrored to, if any.
    pub fn mirror_pcap(&self, vfid: u8) -> Option<&str> {
        self.pcaps.get(usize::from(vfid))?.as_deref()
    }
    /// Max TX rate of a VF in bytes/s (0 = unlimited).
    pub fn rate_bytes_per_sec(&self, vfid: u8) -> u64 {
        self.rules.get(usize::from(vfid)).map_or(0, |r| r.rate_bps)
    }

    #[inline(always)]
    fn vlan_allowed(&self, tpid: u16, vid: u16, bit: VfMask) -> bool {
        let t = if tpid == ETHERTYPE_QINQ {
            &self.vlan_ad
        } else {
            &self.vlan_q
        };
        t[usize::from(vid & 0x0fff)] & bit != 0
    }

    /// Candidate VFs for a wire-form frame (`len >= 14`, a tag TPID implies `len >= 18`),
    /// and whether it is known unicast to one of them.
    #[inline]
    fn classify(&self, f: &[u8], exclude: VfMask) -> (VfMask, bool) {
        let et = be16(f, 12);
        // VLAN-matched VFs, and the VFs for which the outer tag is "theirs" (the others see
        // the frame as untagged: an 802.1Q VF does not match on an 802.1ad tag).
        let (by_vlan, tag_is_theirs) = match et {
            ETHERTYPE_VLAN => (
                self.vlan_q[usize::from(be16(f, 14) & 0x0fff)],
                !self.proto_ad,
            ),
            ETHERTYPE_QINQ => (
                self.vlan_ad[usize::from(be16(f, 14) & 0x0fff)],
                self.proto_ad,
            ),
            _ => (0, 0),
        };
        let cand = (by_vlan | (self.untagged & !tag_is_theirs)) & self.configured & !exclude;
        if f[0] & 1 != 0 {
            if f[..6] == [0xff; 6] {
                (cand & self.bcast, false)
            } else {
                (cand & self.mcast, false)
            }
        } else {
            match self.macs.lookup(&f[..6]) {
                Some(v) if v < 32 && cand & (1 << v) != 0 => (1 << v, true),
                _ => (cand & self.un_ucast, false),
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Token bucket
// ------------------------------------------------------------------------------------------

const NANO: u64 = 1_000_000_000;

/// Max-rate limiter: tokens in byte-nanoseconds (bytes x 1e9) so the refill is one integer
/// multiply of the caller's monotonic clock delta; no clock read here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct TokenBucket {
    rate: u64,
    burst: u64,
    tokens: u64,
    last_ns: u64,
    started: bool,
}

impl TokenBucket {
    fn configure(&mut self, rate: u64, burst: u64) {
        if self.rate != rate || self.burst != burst {
            *self = TokenBucket {
                rate,
                burst,
                tokens: burst.saturating_mul(NANO),
                last_ns: 0,
                started: false,
            };
        }
    }

    #[inline]
    fn allow(&mut self, bytes: u64, now_ns: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        if !self.started {
            self.started = true;
            self.last_ns = now_ns;
        } else if now_ns > self.last_ns {
            let add = (now_ns - self.last_ns).saturating_mul(self.rate);
            self.tokens = self
                .tokens
                .saturating_add(add)
                .min(self.burst.saturating_mul(NANO));
            self.last_ns = now_ns;
        }
        let cost = bytes.saturating_mul(NANO);
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }
}

// ------------------------------------------------------------------------------------------
// The switch
// ------------------------------------------------------------------------------------------

/// One data-plane thread's handle on a PF's switch.
///
/// `from_wire` and `to_vf` take `&self`; `from_vf` takes `&mut self` because it charges
/// the sender's token bucket, which lives here: handle each VF's TX on one thread (several
/// `PfSwitch`es may share one policy and one [`PfShared`]).
#[derive(Debug)]
pub struct PfSwitch {
    policy: Arc<PfPolicy>,
    shared: Arc<PfShared>,
    counters: Arc<SwitchCounters>,
    buckets: [TokenBucket; MAX_VFS],
    // !Sync: the counter block has one writer, the thread that owns this switch.
    _one_thread: PhantomData<Cell<()>>,
}

impl PfSwitch {
    /// A switch over `policy`, counting into `shared`.
    pub fn new(policy: Arc<PfPolicy>, shared: Arc<PfShared>) -> Self {
        let counters = shared.register();
        let mut s = PfSwitch {
            policy,
            shared,
            counters,
            buckets: [TokenBucket::default(); MAX_VFS],
            _one_thread: PhantomData,
        };
        s.sync_buckets();
        s
    }

    /// Switches to a new policy (after an add / delete). Token buckets of VFs whose rate did
    /// not change keep their state. Not per packet: call it when the published policy
    /// changed (e.g. an epoch check per burst).
    pub fn set_policy(&mut self, policy: Arc<PfPolicy>) {
        self.policy = policy;
        self.sync_buckets();
    }

    fn sync_buckets(&mut self) {
        for (b, r) in self.buckets.iter_mut().zip(self.policy.rules.iter()) {
            b.configure(r.rate_bps, r.burst);
        }
    }

    /// The current policy.
    pub fn policy(&self) -> &Arc<PfPolicy> {
        &self.policy
    }

    /// Counters and link state.
    pub fn shared(&self) -> &Arc<PfShared> {
        &self.shared
    }

    /// VFs whose link is up now (`on`, or `auto` while the PF link is up).
    #[inline]
    pub fn link_up_mask(&self) -> VfMask {
        let p = &*self.policy;
        p.link_on
            | if self.shared.pf_link_up.load(Ordering::Relaxed) {
                p.link_auto
            } else {
                0
            }
    }

    /// Removes VFs with link down from `raw`, counting a drop on each.
    #[inline]
    fn link_filter(&self, raw: VfMask) -> VfMask {
        let up = self.link_up_mask();
        let down = raw & !up;
        if down != 0 {
            for vf in mask_iter(down) {
                self.counters.ports[1 + usize::from(vf)].add(Counter::RxDropped, 1);
            }
        }
        raw & up
    }

    /// A frame received on the PF uplink: which VFs get it (VLAN filter, untagged policy,
    /// MAC lookup, broadcast / multicast / unknown-unicast allow, link state).
    /// The frame is not modified; apply [`PfSwitch::to_vf`] to each VF's copy.
    #[inline]
    pub fn from_wire(&self, frame: &[u8]) -> Dispatch {
        let pf = &self.counters.ports[0];
        pf.add(Counter::RxPackets, 1);
        pf.add(Counter::RxBytes, frame.len() as u64);
        if !well_formed(frame) {
            pf.add(Counter::RxErrors, 1);
            return Dispatch::dropped(DropReason::Malformed);
        }
        if frame.len() > self.policy.max_frame {
            pf.add(Counter::RxErrors, 1);
            return Dispatch::dropped(DropReason::Oversize);
        }
        let (raw, _) = self.policy.classify(frame, 0);
        let vfs = self.link_filter(raw);
        if vfs == 0 {
            pf.add(Counter::RxDropped, 1);
            let why = if raw != 0 {
                DropReason::LinkDown
            } else {
                DropReason::NoDestination
            };
            return Dispatch::dropped(why);
        }
        Dispatch {
            vfs,
            wire: false,
            mirror: None,
            drop: None,
        }
    }

    /// RX edit for one VF's copy of a wire-form frame (from [`PfSwitch::from_wire`] or
    /// [`PfSwitch::from_vf`]): strips the outer tag if the VF has `strip_stag` and the
    /// outer tag has the VF's TPID (an inner QinQ tag stays), then counts the delivery.
    /// Returns the "in" mirror target, if the VF has one; the mirrored copy is the frame as
    /// delivered.
    #[inline]
    pub fn to_vf<B: FrameBuf>(&self, vf: u8, buf: &mut B) -> Result<Option<MirrorTo>, DropReason> {
        let i = usize::from(vf);
        let (Some(r), Some(c)) = (self.policy.rules.get(i), self.counters.ports.get(1 + i)) else {
            return Err(DropReason::NotConfigured);
        };
        if self.policy.configured & (1 << i) == 0 {
            c.add(Counter::RxDropped, 1);
            return Err(DropReason::NotConfigured);
        }
        let f = buf.frame();
        if !well_formed(f) {
            c.add(Counter::RxErrors, 1);
            return Err(DropReason::Malformed);
        }
        if r.strip && be16(f, 12) == r.tpid {
            strip_outer(buf);
        }
        c.add(Counter::RxPackets, 1);
        c.add(Counter::RxBytes, buf.frame().len() as u64);
        if r.mirror_dir.covers_in() {
            c.add(Counter::Mirrored, 1);
            return Ok(r.mirror_to);
        }
        Ok(None)
    }

    /// A frame sent by VF `vf`: TX policy, then where it goes.
    ///
    /// In order: VF configured and link up; MAC anti-spoof (source MAC one of the VF's);
    /// VLAN: with insert, the outer tag (the VF's TPID) is inserted with `tx_vlan` (the
    /// VLAN a TX descriptor would carry, if the VF port has one) or the VF's first VLAN,
    /// which must be listed; without insert the frame's own outer tag must be a listed VLAN,
    /// or the frame untagged and `allow_untagged` set (VLAN anti-spoof is always on); then
    /// the max-rate token bucket on the wire-form length at `now_ns` (caller's monotonic
    /// clock). Spoofed frames are dropped and counted as spoofed on the VF and the PF.
    ///
    /// Destination: with `enable_loopback`, a frame to another VF's MAC (and VLAN) goes only
    /// to that VF; broadcast / multicast / unknown unicast go to the wire and to the local
    /// VFs that accept them; without loopback everything goes to the wire. `buf` is left in
    /// wire form; apply [`PfSwitch::to_vf`] to each local copy.
    #[inline]
    pub fn from_vf<B: FrameBuf>(
        &mut self,
        vf: u8,
        buf: &mut B,
        tx_vlan: Option<u16>,
        now_ns: u64,
    ) -> Dispatch {
        let i = usize::from(vf);
        let Some(c) = self.counters.ports.get(1 + i).filter(|_| i < MAX_VFS) else {
            self.counters.ports[0].add(Counter::TxDropped, 1);
            return Dispatch::dropped(DropReason::NotConfigured);
        };
        let p = &*self.policy;
        let bit = 1u32 << i;
        if p.configured & bit == 0 {
            c.add(Counter::TxDropped, 1);
            return Dispatch::dropped(DropReason::NotConfigured);
        }
        if self.link_up_mask() & bit == 0 {
            c.add(Counter::TxDropped, 1);
            return Dispatch::dropped(DropReason::LinkDown);
        }
        let f = buf.frame();
        let sent_len = f.len() as u64;
        if !well_formed(f) {
            c.add(Counter::TxErrors, 1);
            return Dispatch::dropped(DropReason::Malformed);
        }
        let r = &p.rules[i];
        let spoofed = || {
            c.add(Counter::Spoofed, 1);
            self.counters.ports[0].add(Counter::Spoofed, 1);
            Dispatch::dropped(DropReason::Spoofed)
        };
        // Most frames carry the VF's default MAC: check it (one fixed-size compare) before
        // the table.
        if r.mac_anti_spoof
            && <&[u8; 6]>::try_from(&f[6..12]).ok() != Some(&p.default_macs[i])
            && p.macs.lookup(&f[6..12]) != Some(vf)
        {
            return spoofed();
        }
        if r.insert {
            // The VF's own first VLAN is listed by construction; a descriptor VLAN is checked.
            let vid = match tx_vlan {
                None => r.default_vlan,
                Some(v) if p.vlan_allowed(r.tpid, v & 0x0fff, bit) => v & 0x0fff,
                Some(_) => return spoofed(),
            };
            if buf.headroom() < 4 {
                c.add(Counter::TxErrors, 1);
                return Dispatch::dropped(DropReason::NoHeadroom);
            }
            insert_outer(buf, r.tpid, vid);
        } else if be16(f, 12) == r.tpid {
            if !p.vlan_allowed(r.tpid, be16(f, 14), bit) {
                return spoofed();
            }
        } else if p.untagged & bit == 0 {
            return spoofed();
        }
        let f = buf.frame();
        if f.len() > p.max_frame {
            c.add(Counter::TxErrors, 1);
            return Dispatch::dropped(DropReason::Oversize);
        }
        if !self.buckets[i].allow(f.len() as u64, now_ns) {
            c.add(Counter::TxDropped, 1);
            return Dispatch::dropped(DropReason::RateLimited);
        }
        c.add(Counter::TxPackets, 1);
        c.add(Counter::TxBytes, sent_len);
        let (vfs, wire) = if p.loopback {
            let (raw, known_local) = p.classify(f, bit);
            (self.link_filter(raw), !known_local)
        } else {
            (0, true)
        };
        if wire {
            self.counters.ports[0].add(Counter::TxPackets, 1);
            self.counters.ports[0].add(Counter::TxBytes, f.len() as u64);
        }
        let mirror = if r.mirror_dir.covers_out() {
            c.add(Counter::Mirrored, 1);
            r.mirror_to
        } else {
            None
        };
        Dispatch {
            vfs,
            wire,
            mirror,
            drop: (vfs == 0 && !wire).then_some(DropReason::LinkDown),
        }
    }
}

/// At least an Ethernet header, and the whole outer tag if the type field is a TPID.
#[inline(always)]
fn well_formed(f: &[u8]) -> bool {
    f.len() >= 14 && (f.len() >= 18 || !matches!(be16(f, 12), ETHERTYPE_VLAN | ETHERTYPE_QINQ))
}
