//! Registration with sluiced and the NF run loop, for one NF or a co-located group.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_ctl::{Conn, Request, Response, RunMode};
use sluice_shm::{
    drop_reason, now_ns, owner, wait_any, ActionCode, Counter, EventFd, Region, ServiceTable, Step,
    RING_HOLE,
};

use crate::packet::{Batch, Packet};
use crate::{Action, Context, NetworkFunction, NfArgs, NfError};

/// Packets taken from a ring at once.
const BURST: usize = 32;
/// Empty polls before a shared-core NF goes to sleep.
const SPINS_BEFORE_SLEEP: u32 = 256;
/// Longest sleep, so TTL and ticks are checked even without traffic.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// How long to wait for sluiced's answers at registration.
const CTL_TIMEOUT: Duration = Duration::from_secs(10);

/// What an NF did, returned when it stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunSummary {
    /// Packets received.
    pub rx: u64,
    /// Packets sent on (to NFs and ports).
    pub tx: u64,
    /// Packets dropped by this NF (action or no route).
    pub dropped: u64,
    /// Time between ready and stop.
    pub elapsed: Duration,
}

/// Run one NF until it is stopped (by sluiced, a signal, `--ttl` or `--packet-limit`).
pub fn run<N: NetworkFunction + 'static>(args: &NfArgs, nf: N) -> Result<RunSummary, NfError> {
    let mut g = Group::new(args.clone());
    g.add(&args.service, &args.tag(), Box::new(nf));
    Ok(g.run()?.into_iter().next().unwrap_or_default())
}

/// Several NFs in one process and one thread. Packets between members are handed over by
/// function call instead of a ring; each member is still its own instance to sluiced.
pub struct Group {
    args: NfArgs,
    pending: Vec<(String, String, Box<dyn NetworkFunction>)>,
}

impl Group {
    /// A group using `args` for the socket, mode, TTL and packet limit (its service and name
    /// are ignored: each member brings its own).
    pub fn new(args: NfArgs) -> Group {
        Group {
            args,
            pending: Vec::new(),
        }
    }

    /// Add a member NF for `service` (id or name), tagged `name`.
    pub fn add(&mut self, service: &str, name: &str, nf: Box<dyn NetworkFunction>) -> &mut Self {
        self.pending
            .push((service.to_string(), name.to_string(), nf));
        self
    }

    /// Register every member, run until stopped, and return each member's summary.
    pub fn run(self) -> Result<Vec<RunSummary>, NfError> {
        let stop = Arc::new(AtomicBool::new(false));
        install_signal_handlers(&stop);
        let mut engine: Option<Engine> = None;
        let mut members = Vec::new();
        for (service, name, nf) in self.pending {
            let mut conn = Conn::connect(&self.args.socket)?;
            conn.send(
                &Request::Register {
                    name: name.clone(),
                    service,
                    instance: if members.is_empty() {
                        self.args.instance
                    } else {
                        None
                    },
                    mode: self.args.mode,
                    pid: std::process::id(),
                },
                &[],
            )?;
            conn.set_read_timeout(Some(CTL_TIMEOUT))?;
            let (resp, fds): (Response, Vec<OwnedFd>) = conn.recv()?;
            let (iid, sid, size, mode, remote) = match resp {
                Response::Registered {
                    instance,
                    service,
                    region_size,
                    mode,
                    remote,
                } => (instance, service, region_size as usize, mode, remote),
                Response::Refused { reason } => return Err(NfError::Refused { name, reason }),
                other => return Err(NfError::Protocol(format!("{other:?}"))),
            };
            if engine.is_none() {
                let mut fds = fds.into_iter();
                let memfd = fds
                    .next()
                    .ok_or_else(|| NfError::Protocol("no region fd".into()))?;
                let region = Region::attach(memfd, size)?;
                let wakers: Vec<EventFd> = fds.map(EventFd::from_owned).collect();
                if wakers.len() != region.max_nfs() as usize {
                    return Err(NfError::Protocol(format!(
                        "{} wakeup fds for {} instance slots",
                        wakers.len(),
                        region.max_nfs()
                    )));
                }
                engine = Some(Engine::new(region, wakers, mode, stop.clone()));
            }
            let e = engine.as_mut().expect("set above");
            e.remote |= remote;
            let ctx = Context {
                instance: iid,
                service: sid,
                name: name.clone(),
                now: Default::default(),
                ports: e.region.num_ports(),
                stop: Default::default(),
            };
            tracing::info!(nf = %name, instance = iid, service = sid, %mode, "registered");
            members.push(Member::new(&e.region, nf, ctx, conn));
        }
        let mut e = engine.ok_or_else(|| NfError::Setup("a group needs at least one NF".into()))?;
        e.attach_members(members);
        e.ready_and_start()?;
        let limits = Limits {
            deadline: self
                .args
                .ttl
                .map(|s| Instant::now() + Duration::from_secs_f64(s)),
            packets: self.args.packet_limit,
        };
        let started = Instant::now();
        e.run_loop(&limits);
        Ok(e.finish(started.elapsed()))
    }
}

struct Limits {
    deadline: Option<Instant>,
    packets: Option<u64>,
}

struct Member {
    nf: Box<dyn NetworkFunction>,
    ctx: Context,
    conn: Conn,
    iid: u16,
    rx: sluice_shm::Ring,
    tx: sluice_shm::Ring,
    /// Packets handed over by another member of the group.
    input: Vec<u32>,
    /// Buffers for the manager (Out, and drops to free), flushed to the tx ring.
    to_mgr: Vec<u32>,
    rx_total: u64,
    tx_total: u64,
    dropped: u64,
    from_start: Vec<(u32, Action)>,
}

impl Member {
    fn new(region: &Region, nf: Box<dyn NetworkFunction>, ctx: Context, conn: Conn) -> Member {
        let iid = ctx.instance;
        Member {
            nf,
            conn,
            iid,
            rx: region.rx_ring(iid),
            tx: region.tx_ring(iid),
            input: Vec::with_capacity(BURST * 4),
            to_mgr: Vec::with_capacity(BURST * 2),
            rx_total: 0,
            tx_total: 0,
            dropped: 0,
            from_start: Vec::new(),
            ctx,
        }
    }
}

/// Context for [`NetworkFunction::start`]: make packets before the loop begins.
pub struct Start<'a> {
    region: &'a Region,
    member: &'a mut Member,
}

impl Start<'_> {
    /// The NF's context (instance, service, ports).
    pub fn ctx(&self) -> &Context {
        &self.member.ctx
    }

    /// Ask sluiced for `count` fresh buffers, let `fill` write each one and choose its action;
    /// they are sent when the loop starts. Returns how many were granted.
    pub fn alloc(
        &mut self,
        count: u32,
        mut fill: impl FnMut(&mut Packet<'_>, &Context) -> Action,
    ) -> Result<u32, NfError> {
        let m = &mut *self.member;
        m.conn.send(&Request::Alloc { count }, &[])?;
        let (resp, _): (Response, _) = m.conn.recv()?;
        let slots = match resp {
            Response::Allocated { slots } => slots,
            Response::Error { message } => return Err(NfError::Setup(message)),
            other => return Err(NfError::Protocol(format!("{other:?}"))),
        };
        for &s in &slots {
            if !self.region.valid_slot(s) {
                return Err(NfError::Protocol(format!(
                    "granted slot {s} is out of range"
                )));
            }
            // SAFETY: the manager granted us this slot; nobody else holds it.
            let meta = unsafe { &mut *self.region.meta(s) };
            *meta = sluice_shm::SlotMeta {
                data_off: self.region.headroom() as u16,
                owner: m.iid,
                src: m.iid,
                timestamp: now_ns(),
                ..Default::default()
            };
            // SAFETY: as above.
            let mut p = unsafe { Packet::new(self.region, s) };
            let a = fill(&mut p, &m.ctx);
            m.from_start.push((s, a));
        }
        Ok(slots.len() as u32)
    }
}

struct Engine {
    region: Region,
    wakers: Vec<EventFd>,
    mode: RunMode,
    stop: Arc<AtomicBool>,
    members: Vec<Member>,
    /// Member index + 1 for each local instance id, 0 elsewhere.
    local: Vec<u8>,
    /// Per destination instance: packets waiting to be enqueued on its rx ring.
    dest: Vec<Vec<u32>>,
    dirty: Vec<u16>,
    manager_gone: Arc<AtomicBool>,
    listeners: Vec<std::thread::JoinHandle<()>>,
    /// Distributed mode: a service without a local instance is handed to the manager
    /// (which tunnels it to another host) instead of being dropped as `no_instance`.
    remote: bool,
}

impl Engine {
    fn new(region: Region, wakers: Vec<EventFd>, mode: RunMode, stop: Arc<AtomicBool>) -> Engine {
        let n = region.max_nfs() as usize;
        Engine {
            region,
            wakers,
            mode,
            stop,
            members: Vec::new(),
            local: vec![0; n],
            dest: (0..n).map(|_| Vec::new()).collect(),
            dirty: Vec::with_capacity(n),
            manager_gone: Arc::new(AtomicBool::new(false)),
            listeners: Vec::new(),
            remote: false,
        }
    }

    fn attach_members(&mut self, members: Vec<Member>) {
        for (k, m) in members.iter().enumerate() {
            self.local[m.iid as usize] = k as u8 + 1;
        }
        self.members = members;
    }

    /// Tell sluiced each member is ready (it starts routing to them once it answers), run the
    /// members' `start`, then listen for sluiced's messages.
    fn ready_and_start(&mut self) -> Result<(), NfError> {
        for m in &mut self.members {
            m.conn.send(&Request::Ready, &[])?;
            let (resp, _): (Response, _) = m.conn.recv()?;
            if !matches!(resp, Response::Ok) {
                return Err(NfError::Protocol(format!("answer to Ready: {resp:?}")));
            }
        }
        for k in 0..self.members.len() {
            let (region, members) = (&self.region, &mut self.members);
            let m = &mut members[k];
            let mut nf = std::mem::replace(&mut m.nf, Box::new(Idle));
            let r = nf.start(&mut Start { region, member: m });
            self.members[k].nf = nf;
            r?;
            let from_start = std::mem::take(&mut self.members[k].from_start);
            for (slot, a) in from_start {
                self.dispatch(k, slot, a);
            }
            self.flush(k);
        }
        for m in &self.members {
            let conn = m.conn.try_clone()?;
            conn.set_read_timeout(None)?;
            let stop = self.stop.clone();
            let gone = self.manager_gone.clone();
            // The listener rings the member's own doorbell to cut a shared-core sleep short.
            let doorbell = self.wakers[m.iid as usize].raw();
            self.listeners.push(std::thread::spawn(move || {
                listen(conn, stop, gone, doorbell)
            }));
        }
        Ok(())
    }

    fn run_loop(&mut self, limits: &Limits) {
        let mut slots = [0u32; BURST];
        let mut idle = 0u32;
        let mut next_tick = Instant::now() + Duration::from_secs(1);
        let mut iter = 0u64;
        loop {
            let mut work = 0usize;
            for k in 0..self.members.len() {
                let n = self.members[k].rx.dequeue_sc(&mut slots);
                if n > 0 {
                    work += n;
                    self.process(k, &slots[..n]);
                }
                while !self.members[k].input.is_empty() {
                    let input = &mut self.members[k].input;
                    let take = input.len().min(BURST);
                    slots[..take].copy_from_slice(&input[..take]);
                    input.drain(..take);
                    work += take;
                    self.process(k, &slots[..take]);
                }
            }
            for k in 0..self.members.len() {
                self.flush(k);
            }
            iter += 1;
            if work == 0 {
                idle += 1;
                if self.mode == RunMode::SharedCore && idle > SPINS_BEFORE_SLEEP {
                    self.sleep();
                    idle = 0;
                } else {
                    std::hint::spin_loop();
                }
            } else {
                idle = 0;
            }
            // Clocks are read when idle, and every 1024 busy passes.
            if work == 0 || iter.is_multiple_of(1024) {
                let now = Instant::now();
                if now >= next_tick {
                    next_tick = now + Duration::from_secs(1);
                    for m in &mut self.members {
                        m.ctx.now.set(0);
                        m.nf.tick(&m.ctx);
                    }
                }
                if limits.deadline.is_some_and(|d| now >= d) {
                    break;
                }
            }
            if self.stop.load(Ordering::Relaxed)
                || self.members.iter().any(|m| m.ctx.stop.get())
                || limits
                    .packets
                    .is_some_and(|p| self.members.iter().any(|m| m.rx_total >= p))
            {
                break;
            }
        }
    }

    fn sleep(&mut self) {
        for m in &self.members {
            self.region.instance(m.iid).announce_sleep();
        }
        let pending = self.stop.load(Ordering::Relaxed)
            || self
                .members
                .iter()
                .any(|m| !m.rx.is_empty() || !m.input.is_empty());
        let mut still = true;
        for m in &self.members {
            still &= self.region.instance(m.iid).still_idle(pending);
        }
        if !still {
            return;
        }
        let fds: Vec<&EventFd> = self
            .members
            .iter()
            .map(|m| &self.wakers[m.iid as usize])
            .collect();
        let woken = wait_any(&fds, MAX_SLEEP);
        for m in &self.members {
            let inst = self.region.instance(m.iid);
            inst.sleeping.store(0, Ordering::Relaxed);
            inst.stats.sleeps.bump(1);
            if woken {
                inst.stats.wakeups.bump(1);
            }
        }
    }

    /// Validate a burst from member `k`'s ring or input, run the handler, route the results.
    fn process(&mut self, k: usize, slots: &[u32]) {
        let region = &self.region;
        let m = &mut self.members[k];
        let inst = region.instance(m.iid);
        let mut good = [0u32; BURST];
        let mut n = 0;
        let area = region.data_area();
        for &s in slots {
            region.prefetch(s);
        }
        for &s in slots {
            if !region.valid_slot(s) {
                // A hole left by a producer that died mid-enqueue is not a descriptor.
                if s != RING_HOLE {
                    inst.stats.drop_bad_desc.bump(1);
                }
                continue;
            }
            // SAFETY: valid index; the producer handed the slot to us through the ring.
            let meta = unsafe { &mut *region.meta(s) };
            if meta.data_off as usize + meta.len as usize > area || meta.owner != m.iid {
                inst.stats.drop_bad_desc.bump(1);
                if meta.owner == m.iid {
                    meta.action = ActionCode::Drop as u8;
                    meta.drop_reason = drop_reason::BAD_DESCRIPTOR;
                    meta.owner = owner::MANAGER;
                    m.to_mgr.push(s);
                }
                continue;
            }
            good[n] = s;
            n += 1;
        }
        if n == 0 {
            return;
        }
        let mut actions = [Action::Drop; BURST];
        m.ctx.now.set(0);
        m.nf.handle_batch(
            &mut Batch::new(region, &good[..n], &mut actions[..n]),
            &m.ctx,
        );
        m.rx_total += n as u64;
        inst.stats.rx.bump(n as u64);
        let mut router = Router::new(self);
        let mut counts = [0u64; 4];
        for i in 0..n {
            counts[match actions[i] {
                Action::Drop => 0,
                Action::Next => 1,
                Action::ToService(_) => 2,
                Action::Out(_) => 3,
            }] += 1;
            router.dispatch(k, good[i], actions[i]);
        }
        router.end_run();
        let st = &self.region.instance(self.members[k].iid).stats;
        st.act_drop.bump(counts[0]);
        st.act_next.bump(counts[1]);
        st.act_tonf.bump(counts[2]);
        st.act_out.bump(counts[3]);
    }

    /// Give a buffer back to the manager to free (used outside a batch).
    fn hand_back(&mut self, k: usize, slot: u32, reason: u8) {
        hand_back(&self.region, &mut self.members[k], slot, reason);
    }

    /// Route one packet made in `start`.
    fn dispatch(&mut self, k: usize, slot: u32, action: Action) {
        let mut r = Router::new(self);
        r.dispatch(k, slot, action);
        r.end_run();
    }

    /// Enqueue everything member `k` produced: to other instances' rx rings, then its tx ring.
    fn flush(&mut self, k: usize) {
        let me = self.members[k].iid;
        while let Some(iid) = self.dirty.pop() {
            let buf = std::mem::take(&mut self.dest[iid as usize]);
            let rsv = &self.region.instance(me).reservation;
            let ring = self.region.rx_ring(iid);
            let mut sent = 0;
            while sent < buf.len() {
                let n = ring.enqueue_mp(&buf[sent..], rsv);
                if n == 0 {
                    break;
                }
                sent += n;
            }
            self.region.instance(me).stats.tx_nf.bump(sent as u64);
            if sent < buf.len() {
                let lost = (buf.len() - sent) as u64;
                self.region
                    .instance(iid)
                    .stats
                    .rx_drop_full
                    .fetch_add(lost, Ordering::Relaxed);
                for &s in &buf[sent..] {
                    self.hand_back(k, s, drop_reason::RING_FULL);
                }
            }
            if sent > 0 && self.region.instance(iid).take_wakeup() {
                self.wakers[iid as usize].notify();
            }
            let mut buf = buf;
            buf.clear();
            self.dest[iid as usize] = buf;
        }
        let m = &mut self.members[k];
        if m.to_mgr.is_empty() {
            return;
        }
        let mut sent = 0;
        while sent < m.to_mgr.len() {
            let n = m.tx.enqueue_sp(&m.to_mgr[sent..]);
            sent += n;
            if n == 0 {
                // The manager drains tx rings continuously; wait for room unless it is gone.
                if self.manager_gone.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::yield_now();
            }
        }
        self.region.instance(m.iid).stats.tx_mgr.bump(sent as u64);
        m.to_mgr.clear();
        if sent > 0 && self.region.instance(0).take_wakeup() {
            self.wakers[0].notify();
        }
    }

    fn finish(mut self, elapsed: Duration) -> Vec<RunSummary> {
        for k in 0..self.members.len() {
            self.flush(k);
        }
        let mut out = Vec::new();
        for m in &mut self.members {
            m.ctx.now.set(0);
            m.nf.stop(&m.ctx);
            let _ = m.conn.send(&Request::Stopping, &[]);
            out.push(RunSummary {
                rx: m.rx_total,
                tx: m.tx_total,
                dropped: m.dropped,
                elapsed,
            });
            tracing::info!(
                nf = %m.ctx.name,
                instance = m.iid,
                rx = m.rx_total,
                tx = m.tx_total,
                dropped = m.dropped,
                "stopped after {:.1} s",
                elapsed.as_secs_f64()
            );
        }
        out
    }
}

/// The mutable parts of the engine a batch's routing needs, borrowed apart from the region.
struct Router<'a> {
    region: &'a Region,
    members: &'a mut [Member],
    local: &'a [u8],
    dest: &'a mut [Vec<u32>],
    dirty: &'a mut Vec<u16>,
    /// Last service looked up in this batch: (id, table, its sole instance or 0).
    cached: Option<(u16, &'a ServiceTable, u16)>,
    /// Last chain step looked up in this batch: (chain, index, step).
    step_cache: Option<(u16, u8, Option<Step>)>,
    /// Distributed mode (see `Engine::remote`).
    remote: bool,
    /// Consecutive packets for one remote instance, appended to its buffer in one go.
    run: [u32; BURST],
    run_len: usize,
    run_iid: u16,
}

impl<'a> Router<'a> {
    /// Hand a packet member `k` cannot route back to the manager, counting why.
    #[inline]
    fn reject(&mut self, k: usize, slot: u32, reason: u8) {
        hand_back(self.region, &mut self.members[k], slot, reason)
    }

    /// Send one packet where its action says.
    #[inline(always)]
    fn dispatch(&mut self, k: usize, slot: u32, action: Action) {
        let region = self.region;
        // SAFETY: `slot` was validated and is held by member k.
        let meta = unsafe { &mut *region.meta(slot) };
        let step = match action {
            Action::ToService(s) => Step::ToService(s),
            Action::Out(p) => Step::Out(p),
            Action::Drop => return self.reject(k, slot, drop_reason::NF_ACTION),
            Action::Next => {
                let ci = meta.chain_index.wrapping_add(1);
                meta.chain_index = ci;
                let step = match self.step_cache {
                    Some((c, i, st)) if c == meta.chain && i == ci => st,
                    _ => {
                        let st = region.chain(meta.chain).and_then(|c| c.step(ci as usize));
                        self.step_cache = Some((meta.chain, ci, st));
                        st
                    }
                };
                match step {
                    Some(s) => s,
                    None => return self.reject(k, slot, drop_reason::CHAIN_END),
                }
            }
        };
        let me = self.members[k].iid;
        meta.src = me;
        match step {
            Step::Out(p) => {
                if p >= region.num_ports() {
                    return self.reject(k, slot, drop_reason::BAD_DESTINATION);
                }
                meta.action = ActionCode::Out as u8;
                meta.destination = p;
                meta.owner = owner::MANAGER;
                let m = &mut self.members[k];
                m.to_mgr.push(slot);
                m.tx_total += 1;
            }
            Step::ToService(s) => {
                let (table, sole) = match self.cached {
                    Some((id, t, sole)) if id == s => (t, sole),
                    _ => {
                        let Some(t) = region.service(s) else {
                            return self.reject(k, slot, drop_reason::BAD_DESTINATION);
                        };
                        let sole = t.sole();
                        self.cached = Some((s, t, sole));
                        (t, sole)
                    }
                };
                let iid = if sole != 0 {
                    sole
                } else {
                    match table.pick(meta.flow_hash) {
                        Some(i) => i,
                        None if self.remote => {
                            // The manager sends it to a host that runs the service.
                            meta.action = ActionCode::ToService as u8;
                            meta.destination = s;
                            meta.owner = owner::MANAGER;
                            let m = &mut self.members[k];
                            m.to_mgr.push(slot);
                            m.tx_total += 1;
                            return;
                        }
                        None => return self.reject(k, slot, drop_reason::NO_INSTANCE),
                    }
                };
                meta.action = ActionCode::ToService as u8;
                meta.destination = s;
                meta.owner = iid;
                self.members[k].tx_total += 1;
                let local = self.local.get(iid as usize).copied().unwrap_or(0);
                if local != 0 && iid != me {
                    self.members[local as usize - 1].input.push(slot);
                    return;
                }
                if iid != self.run_iid || self.run_len == BURST {
                    self.end_run();
                    self.run_iid = iid;
                }
                self.run[self.run_len] = slot;
                self.run_len += 1;
            }
        }
    }

    /// Move the current run into its destination's buffer.
    #[inline]
    fn end_run(&mut self) {
        if self.run_len == 0 {
            return;
        }
        let buf = &mut self.dest[self.run_iid as usize];
        if buf.is_empty() {
            self.dirty.push(self.run_iid);
        }
        buf.extend_from_slice(&self.run[..self.run_len]);
        self.run_len = 0;
    }

    fn new(e: &'a mut Engine) -> Router<'a> {
        Router {
            region: &e.region,
            members: &mut e.members,
            local: &e.local,
            dest: &mut e.dest,
            dirty: &mut e.dirty,
            cached: None,
            step_cache: None,
            remote: e.remote,
            run: [0; BURST],
            run_len: 0,
            run_iid: 0,
        }
    }
}

/// Give a buffer back to the manager to free, counting why.
fn hand_back(region: &Region, m: &mut Member, slot: u32, reason: u8) {
    // SAFETY: member m holds the slot.
    let meta = unsafe { &mut *region.meta(slot) };
    meta.action = ActionCode::Drop as u8;
    meta.drop_reason = reason;
    meta.owner = owner::MANAGER;
    let st = &region.instance(m.iid).stats;
    match reason {
        drop_reason::NF_ACTION => {}
        drop_reason::RING_FULL => st.drop_ring_full.bump(1),
        _ => st.drop_no_route.bump(1),
    }
    m.dropped += 1;
    m.to_mgr.push(slot);
}

/// Placeholder while a member's NF is borrowed out for `start`.
struct Idle;
impl NetworkFunction for Idle {
    fn handle(&mut self, _: &mut Packet<'_>, _: &Context) -> Action {
        Action::Drop
    }
}

/// Read sluiced's messages for one member until the connection ends.
fn listen(mut conn: Conn, stop: Arc<AtomicBool>, gone: Arc<AtomicBool>, doorbell: i32) {
    let ring = |fd: i32| {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to an eventfd this process holds open for its lifetime.
        unsafe { libc::write(fd, &one as *const u64 as *const _, 8) };
    };
    loop {
        match conn.recv::<Response>() {
            Ok((Response::Stop, _)) => {
                tracing::info!("sluiced asked this NF to stop");
                stop.store(true, Ordering::Relaxed);
                ring(doorbell);
            }
            Ok((other, _)) => tracing::debug!("ignoring message from sluiced: {other:?}"),
            Err(_) => {
                gone.store(true, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
                ring(doorbell);
                return;
            }
        }
    }
}

static STOP_FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

extern "C" fn on_signal(_: libc::c_int) {
    if let Some(s) = STOP_FLAG.get() {
        s.store(true, Ordering::Relaxed);
    }
}

/// SIGINT and SIGTERM stop the loop cleanly (the loop checks the flag every iteration and
/// sleeps at most `MAX_SLEEP`).
fn install_signal_handlers(stop: &Arc<AtomicBool>) {
    let _ = STOP_FLAG.set(stop.clone());
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installing an async-signal-safe handler that only stores to atomics.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}
