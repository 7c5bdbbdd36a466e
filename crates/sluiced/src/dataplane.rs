//! The manager's data-plane threads.
//!
//! RX: ports → flow director / default chain → first step (an NF's rx ring, or out a port).
//! TX: every NF's tx ring (and the RX thread's own) → validate → port TX, free, or re-route.
//! Both work in bursts; nothing here allocates, locks or logs per packet. The control plane
//! publishes flow rules and the list of active instances by atomic swap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sluice_ctl::RunMode;
use sluice_port::{PortStats, RxPort, TxPort};
use sluice_shm::{
    drop_reason, owner, ActionCode, Buffers, Counter, EventFd, LocalRing, PoolCache, Region,
    SlotMeta, Step, RING_HOLE,
};
use sluice_wire::{flow_hash, FlowKey};

/// Packets moved at once.
pub const BURST: usize = 32;
/// Idle polls before a shared-core data-plane thread sleeps.
const SPINS_BEFORE_SLEEP: u32 = 128;

/// Drop counters by reason, one writer each.
pub struct Drops(pub [AtomicU64; drop_reason::COUNT]);

impl Default for Drops {
    fn default() -> Self {
        Drops::new()
    }
}

impl Drops {
    /// All zero.
    pub fn new() -> Drops {
        Drops(std::array::from_fn(|_| AtomicU64::new(0)))
    }

    #[inline]
    fn bump(&self, reason: u8, n: u64) {
        if let Some(c) = self.0.get(reason as usize) {
            c.bump(n);
        }
    }

    /// Add from any thread (control plane).
    pub fn add(&self, reason: u8, n: u64) {
        if let Some(c) = self.0.get(reason as usize) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Flow-director rules: exact 5-tuple → chain id.
pub type FlowTable = HashMap<FlowKey, u16>;

/// A port as the control plane sees it.
pub struct PortInfo {
    /// Name from the config.
    pub name: String,
    /// Kind name.
    pub kind: &'static str,
    /// Counters.
    pub stats: Arc<PortStats>,
    /// Can transmit.
    pub has_tx: bool,
}

/// State shared by the data-plane threads and the control plane.
pub struct Shared {
    /// The packet region.
    pub region: Region,
    /// Doorbells of every instance slot (0 = the manager's TX thread).
    pub wakers: Vec<EventFd>,
    /// Flow-director rules.
    pub flows: ArcSwap<FlowTable>,
    /// Default chain per port.
    pub port_chain: Vec<Option<u16>>,
    /// Instance ids whose tx rings the TX thread drains (always includes 0).
    pub active: ArcSwap<Vec<u16>>,
    /// Drops counted by the RX thread.
    pub rx_drops: Drops,
    /// Drops counted by the TX thread.
    pub tx_drops: Drops,
    /// Drops counted by the control plane (reclaimed buffers of dead NFs).
    pub ctl_drops: Drops,
    /// Bad descriptors seen on each instance's tx ring.
    pub bad_desc: Vec<AtomicU64>,
    /// Buffers granted to NFs (they enter the accounting like received packets).
    pub nf_alloc: AtomicU64,
    /// Distributed mode (`[cluster]`) and plain-VXLAN overlay ports (`[[vxlan]]`).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Copies made by the data plane (broadcast to several VFs, mirrors); they enter the
    /// accounting like received packets.
    pub copies: AtomicU64,
    /// VF policy: port roles and the PFs' published policies, when `[vfd]` is configured.
    pub vf: Option<Arc<crate::vf::VfShared>>,
    /// Ports, by id.
    pub ports: Vec<PortInfo>,
    /// Ports receive only while this is set (see `manager.wait_for_chains`).
    pub rx_enabled: AtomicBool,
    /// Set when every receiving port is exhausted.
    pub rx_exhausted: AtomicBool,
    /// Run mode.
    pub mode: RunMode,
    /// Tells the data-plane threads to finish.
    pub stop: AtomicBool,
    /// TX thread's surplus free buffers on their way to the RX thread.
    pub exchange: LocalRing,
    /// Free buffers held in the data-plane threads' caches.
    pub cache_held: Vec<Arc<AtomicU64>>,
}

impl Shared {
    /// Free buffers: in the pool ring, in thread caches or on their way between them.
    pub fn free_buffers(&self) -> u32 {
        let cached: u64 = self
            .cache_held
            .iter()
            .map(|h| h.load(Ordering::Relaxed))
            .sum();
        self.region.pool_available() + self.exchange.ring().len() + cached as u32
    }

    /// Packets in flight: buffers out of the pool (on rings, in NFs, in ports' transmit
    /// queues), less those ports hold empty to receive into (AF_XDP fill rings).
    pub fn in_flight(&self) -> u32 {
        let held: u64 = self
            .ports
            .iter()
            .map(|p| p.stats.rx_held.load(Ordering::Relaxed))
            .sum();
        self.region
            .slots()
            .saturating_sub(self.free_buffers())
            .saturating_sub(held as u32)
    }

    /// Sum of drops by reason over every counter set.
    pub fn drops(&self) -> [u64; drop_reason::COUNT] {
        std::array::from_fn(|i| {
            self.rx_drops.0[i].get() + self.tx_drops.0[i].get() + self.ctl_drops.0[i].get()
        })
    }
}

/// Per-destination buffers for NF rx rings, flushed once per burst.
struct NfSender {
    bufs: Vec<Vec<u32>>,
    dirty: Vec<u16>,
}

impl NfSender {
    fn new(max_nfs: u16) -> NfSender {
        NfSender {
            bufs: (0..max_nfs)
                .map(|_| Vec::with_capacity(BURST * 2))
                .collect(),
            dirty: Vec::with_capacity(max_nfs as usize),
        }
    }

    #[inline]
    fn push(&mut self, iid: u16, slot: u32) {
        let b = &mut self.bufs[iid as usize];
        if b.is_empty() {
            self.dirty.push(iid);
        }
        b.push(slot);
    }

    /// Enqueue everything; a full ring is a counted drop. Wakes sleeping NFs.
    fn flush(&mut self, sh: &Shared, drops: &Drops, free: &mut Vec<u32>) {
        let rsv = &sh.region.instance(0).reservation;
        while let Some(iid) = self.dirty.pop() {
            let buf = &mut self.bufs[iid as usize];
            let sent = sh.region.rx_ring(iid).enqueue_mp(buf, rsv);
            if sent < buf.len() {
                let lost = (buf.len() - sent) as u64;
                sh.region
                    .instance(iid)
                    .stats
                    .rx_drop_full
                    .fetch_add(lost, Ordering::Relaxed);
                drops.bump(drop_reason::RING_FULL, lost);
                free.extend_from_slice(&buf[sent..]);
            }
            if sent > 0 && sh.region.instance(iid).take_wakeup() {
                sh.wakers[iid as usize].notify();
            }
            buf.clear();
        }
    }
}

/// Where a packet goes next, decided by the manager.
enum Dest {
    Nf(u16),
    Port(u16),
    Drop(u8),
}

/// Resolve a chain step for a packet the manager holds; sets the metadata for the hop.
#[inline]
fn resolve(region: &Region, meta: &mut SlotMeta, step: Option<Step>) -> Dest {
    match step {
        None => Dest::Drop(drop_reason::CHAIN_END),
        Some(Step::Out(p)) => {
            if p >= region.num_ports() {
                return Dest::Drop(drop_reason::BAD_DESTINATION);
            }
            meta.action = ActionCode::Out as u8;
            meta.destination = p;
            Dest::Port(p)
        }
        Some(Step::ToService(s)) => {
            let Some(table) = region.service(s) else {
                return Dest::Drop(drop_reason::BAD_DESTINATION);
            };
            let pick = match table.sole() {
                0 => table.pick(meta.flow_hash),
                only => Some(only),
            };
            match pick {
                None => {
                    // Distributed mode sends it to another host running `s`.
                    meta.destination = s;
                    Dest::Drop(drop_reason::NO_INSTANCE)
                }
                Some(iid) => {
                    meta.action = ActionCode::ToService as u8;
                    meta.destination = s;
                    meta.owner = iid;
                    Dest::Nf(iid)
                }
            }
        }
    }
}

/// Sleeps a shared-core data-plane thread when it has had nothing to do for a while.
struct Idle {
    spins: u32,
    mode: RunMode,
}

impl Idle {
    fn new(mode: RunMode) -> Idle {
        Idle { spins: 0, mode }
    }

    /// Returns true when the caller should sleep now.
    fn tick(&mut self, work: usize) -> bool {
        if work > 0 {
            self.spins = 0;
            return false;
        }
        self.spins += 1;
        if self.mode == RunMode::SharedCore && self.spins > SPINS_BEFORE_SLEEP {
            self.spins = 0;
            return true;
        }
        std::hint::spin_loop();
        false
    }
}

/// The RX side: ports in, first hop out.
pub struct RxWorker {
    sh: Arc<Shared>,
    pool: PoolCache,
    ports: Vec<(u16, Box<dyn RxPort>, bool)>,
    nfs: NfSender,
    to_tx: Vec<u32>,
    free: Vec<u32>,
    idle: Idle,
    vf: Option<crate::vf::VfPath>,
    remote: Option<crate::cluster::Remote>,
    deliver: Vec<(u16, u32)>,
    /// Runs in one thread with the TX side (`threads = 1`).
    combined: bool,
}

impl RxWorker {
    /// A worker over the receiving halves `ports` (port id, half).
    pub fn new(sh: Arc<Shared>, ports: Vec<(u16, Box<dyn RxPort>)>, pool: PoolCache) -> RxWorker {
        let ports = ports.into_iter().map(|(id, p)| (id, p, false)).collect();
        RxWorker {
            pool,
            nfs: NfSender::new(sh.region.max_nfs()),
            to_tx: Vec::with_capacity(BURST * 4),
            free: Vec::with_capacity(BURST * 4),
            idle: Idle::new(sh.mode),
            vf: sh.vf.clone().map(crate::vf::VfPath::new),
            remote: sh.cluster.clone().map(crate::cluster::Remote::new),
            deliver: Vec::with_capacity(BURST),
            combined: false,
            ports,
            sh,
        }
    }

    /// One pass over every port. Returns packets received.
    pub fn poll(&mut self) -> usize {
        let mut slots = [0u32; BURST];
        let mut total = 0;
        let sh = &*self.sh;
        if !sh.rx_enabled.load(Ordering::Relaxed) {
            return 0;
        }
        let region = &sh.region;
        let flows = sh.flows.load();
        if let Some(rm) = &mut self.remote {
            rm.begin();
        }
        for (id, port, done) in &mut self.ports {
            let n = port.rx_burst(&mut Buffers::cached(region, &mut self.pool), &mut slots);
            if n == 0 {
                if !*done && port.exhausted() {
                    *done = true;
                }
                continue;
            }
            total += n;
            if let Some(rm) = &mut self.remote {
                if rm.is_underlay(*id) {
                    // Tunnel frames and ARP on the underlay (distributed mode, overlays).
                    rm.rx_underlay(
                        sh,
                        *id,
                        &slots[..n],
                        &mut self.deliver,
                        &mut self.to_tx,
                        &mut self.free,
                    );
                    for (iid, s) in self.deliver.drain(..) {
                        self.nfs.push(iid, s);
                    }
                    self.nfs.flush(sh, &sh.rx_drops, &mut self.free);
                    continue;
                }
            }
            if let Some(vf) = &mut self.vf {
                if vf.role(*id) != crate::vf::Role::Chain {
                    let out = crate::vf::Out {
                        tx: &mut self.to_tx,
                        free: &mut self.free,
                    };
                    vf.burst(
                        sh,
                        &mut Buffers::cached(region, &mut self.pool),
                        *id,
                        &slots[..n],
                        out,
                    );
                    continue;
                }
            }
            let hashed = port.provides_flow_hash();
            // The port's default chain and its first step, looked up once per burst.
            let default = sh.port_chain[*id as usize];
            let default_step = default
                .and_then(|c| region.chain(c))
                .and_then(|c| c.step(0));
            for &s in &slots[..n] {
                // SAFETY: the port just filled this slot for us (owner = manager).
                let meta = unsafe { &mut *region.meta(s) };
                // SAFETY: the port set data_off/len within the slot.
                let frame = unsafe { region.frame_mut(s, meta.data_off, meta.len) };
                if !hashed {
                    meta.flow_hash = flow_hash(frame);
                }
                meta.in_port = *id;
                meta.src = 0;
                meta.chain_index = 0;
                meta.reserved = 0;
                let rule = match flows.is_empty() {
                    true => None,
                    false => FlowKey::parse(frame).and_then(|k| flows.get(&k).copied()),
                };
                let (chain, step) = match rule {
                    Some(c) => (Some(c), region.chain(c).and_then(|c| c.step(0))),
                    None => (default, default_step),
                };
                match chain {
                    Some(c) => meta.chain = c,
                    None => {
                        sh.rx_drops.bump(drop_reason::CHAIN_END, 1);
                        self.free.push(s);
                        continue;
                    }
                }
                let spread = match (&mut self.remote, step) {
                    // Spread policy: this flow's instance is on another host.
                    (Some(rm), Some(Step::ToService(sv))) => rm.spread(sv, meta.flow_hash),
                    _ => false,
                };
                let dest = match (spread, step) {
                    (true, Some(Step::ToService(sv))) => {
                        meta.destination = sv;
                        Dest::Drop(drop_reason::NO_INSTANCE)
                    }
                    _ => resolve(region, meta, step),
                };
                match dest {
                    Dest::Nf(iid) => self.nfs.push(iid, s),
                    Dest::Port(_) => self.to_tx.push(s),
                    Dest::Drop(r) => {
                        let r = match (&mut self.remote, r) {
                            // No local instance: to a host that runs the service.
                            (Some(rm), drop_reason::NO_INSTANCE) => {
                                let sv = meta.destination;
                                match rm.send_remote(sh, s, meta, sv) {
                                    Ok(_) => {
                                        self.to_tx.push(s);
                                        continue;
                                    }
                                    Err(r) => r,
                                }
                            }
                            _ => r,
                        };
                        sh.rx_drops.bump(r, 1);
                        self.free.push(s);
                    }
                }
            }
            self.nfs.flush(sh, &sh.rx_drops, &mut self.free);
        }
        if !self.to_tx.is_empty() {
            // The RX thread is the only producer of instance 0's tx ring.
            let ring = region.tx_ring(0);
            let mut sent = 0;
            // With its own TX thread, wait for room; in combined mode nobody would make any.
            loop {
                sent += ring.enqueue_sp(&self.to_tx[sent..]);
                if sent == self.to_tx.len() || self.combined || sh.stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            self.free.extend_from_slice(&self.to_tx[sent..]);
            if sent < self.to_tx.len() {
                sh.rx_drops
                    .bump(drop_reason::RING_FULL, (self.to_tx.len() - sent) as u64);
            }
            self.to_tx.clear();
        }
        if !self.free.is_empty() {
            Buffers::cached(region, &mut self.pool).free(&self.free);
            self.free.clear();
        }
        if total == 0 {
            if let Some(vf) = &mut self.vf {
                vf.flush();
            }
        }
        if total == 0 && self.ports.iter().all(|p| p.2) {
            sh.rx_exhausted.store(true, Ordering::Relaxed);
        }
        total
    }

    /// Run until told to stop.
    pub fn run(mut self) {
        while !self.sh.stop.load(Ordering::Relaxed) {
            let n = self.poll();
            if self.idle.tick(n) {
                // Ports in this build have no doorbell: back off briefly.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        self.pool.drain(&self.sh.region);
    }
}

/// The TX side: NF tx rings in, ports (or the next NF) out.
pub struct TxWorker {
    sh: Arc<Shared>,
    pool: PoolCache,
    ports: Vec<Option<Box<dyn TxPort>>>,
    port_bufs: Vec<Vec<u32>>,
    nfs: NfSender,
    free: Vec<u32>,
    idle: Idle,
    idle_flushed: bool,
    remote: Option<crate::cluster::Remote>,
}

impl TxWorker {
    /// A worker over the transmitting halves, indexed by port id (None = cannot transmit).
    pub fn new(sh: Arc<Shared>, ports: Vec<Option<Box<dyn TxPort>>>, pool: PoolCache) -> TxWorker {
        TxWorker {
            pool,
            port_bufs: ports
                .iter()
                .map(|_| Vec::with_capacity(BURST * 4))
                .collect(),
            nfs: NfSender::new(sh.region.max_nfs()),
            free: Vec::with_capacity(BURST * 4),
            idle: Idle::new(sh.mode),
            idle_flushed: true,
            remote: sh.cluster.clone().map(crate::cluster::Remote::new),
            ports,
            sh,
        }
    }

    /// One pass over every active tx ring. Returns packets handled.
    pub fn poll(&mut self) -> usize {
        let sh = &*self.sh;
        let region = &sh.region;
        let drops = &sh.tx_drops;
        let area = region.data_area();
        // The manager's own ring gathers every receiving port's bursts: take several at once.
        let mut slots = [0u32; BURST * 4];
        let mut total = 0;
        let active = sh.active.load();
        if let Some(rm) = &mut self.remote {
            rm.begin();
        }
        for &iid in active.iter() {
            let want = if iid == 0 { slots.len() } else { BURST };
            let n = region.tx_ring(iid).dequeue_sc(&mut slots[..want]);
            total += n;
            for &s in &slots[..n] {
                region.prefetch(s);
            }
            for &s in &slots[..n] {
                if !region.valid_slot(s) {
                    // Holes left by a dead producer are skipped; anything else is forged.
                    if s != RING_HOLE {
                        sh.bad_desc[iid as usize].bump(1);
                    }
                    continue;
                }
                // SAFETY: a valid slot index, handed to the manager through the tx ring.
                let meta = unsafe { &mut *region.meta(s) };
                if meta.owner != owner::MANAGER {
                    // Not a buffer handed to us (double hand-back or a forged index): leave
                    // it alone, whoever holds it.
                    sh.bad_desc[iid as usize].bump(1);
                    continue;
                }
                if meta.data_off as usize + meta.len as usize > area {
                    sh.bad_desc[iid as usize].bump(1);
                    drops.bump(drop_reason::BAD_DESCRIPTOR, 1);
                    self.free.push(s);
                    continue;
                }
                let dest = match ActionCode::from_u8(meta.action) {
                    Some(ActionCode::Drop) => {
                        let r = meta.drop_reason;
                        Dest::Drop(if (r as usize) < drop_reason::COUNT && r != 0 {
                            r
                        } else {
                            drop_reason::NF_ACTION
                        })
                    }
                    Some(ActionCode::Out) => {
                        resolve(region, meta, Some(Step::Out(meta.destination)))
                    }
                    Some(ActionCode::ToService) => {
                        resolve(region, meta, Some(Step::ToService(meta.destination)))
                    }
                    Some(ActionCode::Next) => {
                        meta.chain_index = meta.chain_index.wrapping_add(1);
                        let step = region
                            .chain(meta.chain)
                            .and_then(|c| c.step(meta.chain_index as usize));
                        resolve(region, meta, step)
                    }
                    None => {
                        sh.bad_desc[iid as usize].bump(1);
                        Dest::Drop(drop_reason::BAD_DESCRIPTOR)
                    }
                };
                let dest = match (&mut self.remote, dest) {
                    // Overlay ports: plain VXLAN out of their underlay port.
                    (Some(rm), Dest::Port(p)) => match rm.overlay_tx(sh, s, meta, p) {
                        None => Dest::Port(p),
                        Some(Ok(ul)) => Dest::Port(ul),
                        Some(Err(r)) => Dest::Drop(r),
                    },
                    // No local instance: to a host that runs the service.
                    (Some(rm), Dest::Drop(drop_reason::NO_INSTANCE)) => {
                        let sv = meta.destination;
                        match rm.send_remote(sh, s, meta, sv) {
                            Ok(ul) => Dest::Port(ul),
                            Err(r) => Dest::Drop(r),
                        }
                    }
                    (_, d) => d,
                };
                match dest {
                    Dest::Port(p) => match self.ports.get(p as usize) {
                        Some(Some(_)) => self.port_bufs[p as usize].push(s),
                        _ => {
                            drops.bump(drop_reason::PORT_DOWN, 1);
                            self.free.push(s);
                        }
                    },
                    Dest::Nf(to) => self.nfs.push(to, s),
                    Dest::Drop(r) => {
                        if r == drop_reason::BAD_DESTINATION {
                            sh.bad_desc[iid as usize].bump(1);
                        }
                        drops.bump(r, 1);
                        self.free.push(s);
                    }
                }
            }
        }
        if let Some(rm) = &mut self.remote {
            // ARP for the tunnel's next hops.
            if rm.tick(sh, &mut self.pool, &mut self.port_bufs) > 0 {
                self.idle_flushed = false;
            }
        }
        for (p, buf) in self.port_bufs.iter_mut().enumerate() {
            if buf.is_empty() {
                continue;
            }
            let port = self.ports[p]
                .as_mut()
                .expect("buffers only fill for ports with TX");
            let taken = port.tx_burst(&mut Buffers::cached(region, &mut self.pool), buf);
            if taken < buf.len() {
                let reason = match sh.ports[p].stats.link_up.load(Ordering::Relaxed) {
                    true => drop_reason::PORT_TX_FULL,
                    false => drop_reason::PORT_DOWN,
                };
                drops.bump(reason, (buf.len() - taken) as u64);
                self.free.extend_from_slice(&buf[taken..]);
            }
            buf.clear();
        }
        self.nfs.flush(sh, drops, &mut self.free);
        if !self.free.is_empty() {
            Buffers::cached(region, &mut self.pool).free(&self.free);
            self.free.clear();
        }
        if total > 0 {
            self.idle_flushed = false;
        } else if !self.idle_flushed {
            self.flush_ports();
        }
        total
    }

    fn flush_ports(&mut self) {
        for p in self.ports.iter_mut().flatten() {
            p.flush(&mut Buffers::cached(&self.sh.region, &mut self.pool));
        }
        self.idle_flushed = true;
    }

    /// Sleep until an NF rings the manager's doorbell or `max` passes.
    fn sleep(&self, max: Duration) {
        let me = self.sh.region.instance(0);
        me.announce_sleep();
        let pending = self
            .sh
            .active
            .load()
            .iter()
            .any(|&i| !self.sh.region.tx_ring(i).is_empty());
        if me.still_idle(pending || self.sh.stop.load(Ordering::Relaxed)) {
            self.sh.wakers[0].wait(max);
            me.sleeping.store(0, Ordering::Relaxed);
        }
    }

    /// Run until told to stop, then drain and flush.
    pub fn run(mut self) {
        while !self.sh.stop.load(Ordering::Relaxed) {
            let n = self.poll();
            if self.idle.tick(n) {
                self.sleep(Duration::from_millis(1));
            }
        }
        self.finish();
    }

    /// Drain what is left and flush the ports (at shutdown).
    pub fn finish(&mut self) {
        while self.poll() > 0 {}
        self.flush_ports();
        self.pool.drain(&self.sh.region);
    }
}

/// Both sides in one thread (`threads = 1`).
pub fn run_combined(mut rx: RxWorker, mut tx: TxWorker) {
    rx.combined = true;
    while !tx.sh.stop.load(Ordering::Relaxed) {
        let n = rx.poll() + tx.poll();
        if tx.idle.tick(n) {
            tx.sleep(Duration::from_micros(200));
        }
    }
    tx.finish();
    rx.pool.drain(&rx.sh.region);
}

/// Pin the calling thread to `core` (best effort, logged on failure).
pub fn pin(core: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it; sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            tracing::warn!(
                core,
                "cannot pin data-plane thread: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}
