//! NF instances, services and chains as the control plane keeps them, and their publication
//! into the shared region (service bucket maps, chains) and to the TX thread (active list).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_ctl::{NfInfo, RunMode};
use sluice_shm::{bucket_map, drop_reason, owner, InstanceState, Ring, Step};

use crate::dataplane::Shared;

/// How long after unpublishing an instance producers may still hold a stale pick.
const GRACE: Duration = Duration::from_millis(20);
/// Departed NFs kept for `sluice nfs` / stats.
const GONE_KEPT: usize = 64;

/// A registered NF instance.
#[derive(Clone, Debug)]
pub struct Nf {
    /// Instance id.
    pub iid: u16,
    /// Service id.
    pub service: u16,
    /// Tag.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Run mode.
    pub mode: RunMode,
    /// Current state.
    pub state: InstanceState,
    /// Registration time.
    pub since: Instant,
}

/// A service.
#[derive(Clone, Debug)]
pub struct Service {
    /// Name.
    pub name: String,
    /// Running instances, in join order.
    pub instances: Vec<u16>,
}

/// Why a registration was refused (sent to the NF verbatim).
pub type Refusal = String;

/// The control plane's view of NFs and services.
pub struct Registry {
    sh: Arc<Shared>,
    /// Registered instances by id.
    pub nfs: BTreeMap<u16, Nf>,
    /// Services by id.
    pub services: BTreeMap<u16, Service>,
    /// Final snapshots of departed NFs (newest last).
    pub gone: VecDeque<NfInfo>,
    strict: bool,
    max_per_service: u16,
    default_mode: RunMode,
    next_iid: u16,
}

impl Registry {
    /// A registry over `sh` with the configured services.
    pub fn new(
        sh: Arc<Shared>,
        services: BTreeMap<u16, String>,
        strict: bool,
        max_per_service: u16,
        default_mode: RunMode,
    ) -> Registry {
        Registry {
            sh,
            nfs: BTreeMap::new(),
            services: services
                .into_iter()
                .map(|(id, name)| {
                    (
                        id,
                        Service {
                            name,
                            instances: Vec::new(),
                        },
                    )
                })
                .collect(),
            gone: VecDeque::new(),
            strict,
            max_per_service,
            default_mode,
            next_iid: 1,
        }
    }

    /// Resolve a service given by id or name.
    pub fn service_id(&self, s: &str) -> Option<u16> {
        match s.parse::<u16>() {
            Ok(id) => self.services.contains_key(&id).then_some(id),
            Err(_) => self
                .services
                .iter()
                .find(|(_, v)| v.name == s)
                .map(|(k, _)| *k),
        }
    }

    /// Register an NF (state Starting). Returns its instance id and service id.
    pub fn register(
        &mut self,
        name: &str,
        service: &str,
        want: Option<u16>,
        mode: Option<RunMode>,
        pid: u32,
    ) -> Result<(u16, u16, RunMode), Refusal> {
        let sid = match self.service_id(service) {
            Some(id) => id,
            None => match service.parse::<u16>() {
                Ok(id) if !self.strict && id >= 1 && id as usize <= sluice_shm::MAX_SERVICES => {
                    self.services.insert(
                        id,
                        Service {
                            name: format!("service-{id}"),
                            instances: vec![],
                        },
                    );
                    id
                }
                _ => {
                    let known: Vec<String> = self
                        .services
                        .iter()
                        .map(|(k, v)| format!("{k} ({})", v.name))
                        .collect();
                    return Err(format!(
                        "unknown service {service:?}; configured services: {}",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ));
                }
            },
        };
        let count = self.nfs.values().filter(|n| n.service == sid).count();
        if count >= self.max_per_service as usize {
            return Err(format!(
                "service {sid} already has {count} instances (max_instances_per_service)"
            ));
        }
        let max = self.sh.region.max_nfs();
        let iid = match want {
            Some(0) => return Err("instance id 0 is reserved for the manager".into()),
            Some(i) if i >= max => {
                return Err(format!("instance id {i} is out of range 1..={}", max - 1))
            }
            Some(i) => {
                if let Some(n) = self.nfs.get(&i) {
                    return Err(format!(
                        "instance id {i} is taken by {} (pid {})",
                        n.name, n.pid
                    ));
                }
                i
            }
            None => self.free_iid().ok_or_else(|| {
                format!(
                    "no free instance id: all {} are in use (pool.max_nfs)",
                    max - 1
                )
            })?,
        };
        let inst = self.sh.region.instance(iid);
        inst.reset();
        inst.service.store(sid, Ordering::Relaxed);
        let mode = mode.unwrap_or(self.default_mode);
        inst.may_sleep
            .store((mode == RunMode::SharedCore) as u32, Ordering::Relaxed);
        inst.set_state(InstanceState::Starting);
        self.sh.bad_desc[iid as usize].store(0, Ordering::Relaxed);
        self.sh.wakers[iid as usize].drain();
        self.nfs.insert(
            iid,
            Nf {
                iid,
                service: sid,
                name: name.to_string(),
                pid,
                mode,
                state: InstanceState::Starting,
                since: Instant::now(),
            },
        );
        self.set_active();
        Ok((iid, sid, mode))
    }

    /// Ids are handed out in increasing order and wrap around, so a just-freed id is not
    /// reused at once.
    fn free_iid(&mut self) -> Option<u16> {
        let max = self.sh.region.max_nfs();
        for k in 0..max - 1 {
            let iid = 1 + (self.next_iid - 1 + k) % (max - 1);
            if !self.nfs.contains_key(&iid) {
                self.next_iid = iid % (max - 1) + 1;
                return Some(iid);
            }
        }
        None
    }

    /// The NF is ready: it joins its service and starts receiving.
    pub fn ready(&mut self, iid: u16) {
        let Some(nf) = self.nfs.get_mut(&iid) else {
            return;
        };
        nf.state = InstanceState::Running;
        self.sh
            .region
            .instance(iid)
            .set_state(InstanceState::Running);
        let sid = nf.service;
        if let Some(s) = self.services.get_mut(&sid) {
            if !s.instances.contains(&iid) {
                s.instances.push(iid);
            }
        }
        self.publish_service(sid);
        if !self.sh.rx_enabled.load(Ordering::Relaxed) && self.chains_ready() {
            tracing::info!("every chain has its NFs: ports start receiving");
            self.sh.rx_enabled.store(true, Ordering::Relaxed);
        }
    }

    /// True when every service named in any chain has a running instance.
    fn chains_ready(&self) -> bool {
        (0..sluice_shm::MAX_CHAINS as u16).all(|c| {
            let Some(chain) = self.sh.region.chain(c) else {
                return true;
            };
            (0..chain.len())
                .filter_map(|i| chain.step(i))
                .all(|s| match s {
                    Step::ToService(sid) => self
                        .services
                        .get(&sid)
                        .is_some_and(|s| !s.instances.is_empty()),
                    Step::Out(_) => true,
                })
        })
    }

    /// The NF is stopping: it leaves its service (no new traffic) but keeps draining.
    pub fn stopping(&mut self, iid: u16) {
        let Some(nf) = self.nfs.get_mut(&iid) else {
            return;
        };
        nf.state = InstanceState::Stopping;
        self.sh
            .region
            .instance(iid)
            .set_state(InstanceState::Stopping);
        let sid = nf.service;
        self.leave_service(iid, sid);
    }

    fn leave_service(&mut self, iid: u16, sid: u16) {
        if let Some(s) = self.services.get_mut(&sid) {
            s.instances.retain(|&i| i != iid);
        }
        self.publish_service(sid);
    }

    /// Rebuild and publish a service's flow map (only the departed or joined instance's share
    /// of flows moves).
    pub fn publish_service(&self, sid: u16) {
        let Some(table) = self.sh.region.service(sid) else {
            return;
        };
        let live = self
            .services
            .get(&sid)
            .map(|s| s.instances.clone())
            .unwrap_or_default();
        table.publish(&bucket_map(&live), live.len() as u16);
        self.sh.region.bump_routes_epoch();
    }

    fn set_active(&self) {
        let mut v: Vec<u16> = vec![0];
        v.extend(self.nfs.keys().copied());
        self.sh.active.store(Arc::new(v));
    }

    /// The NF's connection ended (exit, crash or kill -9): unpublish it, repair any ring it
    /// left half-written, return every buffer it held to the pool, free its id.
    /// `final_info` is its last stats line, kept for `sluice nfs`.
    pub fn reap(&mut self, iid: u16, final_info: impl FnOnce(&Nf) -> NfInfo) {
        let Some(nf) = self.nfs.get(&iid).cloned() else {
            return;
        };
        self.leave_service(iid, nf.service);
        let region = &self.sh.region;
        let inst = region.instance(iid);
        inst.set_state(InstanceState::Dead);
        // Producers that picked this instance from the old map finish within the grace time.
        std::thread::sleep(GRACE);
        if let Some(r) =
            Ring::reservation_ring(&inst.reservation).and_then(|r| region.ring_by_id(r))
        {
            if r.repair_hole(&inst.reservation) {
                tracing::warn!(nf = %nf.name, instance = iid, ring = r.id(), "repaired a ring left half-written by a dead NF");
            }
        }
        // Its tx ring is drained by the TX thread while the id is still active.
        let deadline = Instant::now() + Duration::from_secs(1);
        while !region.tx_ring(iid).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut reclaimed = drain_ring(region, region.rx_ring(iid), iid);
        // Buffers still marked as held by it were in its hands when it went.
        let mut held = Vec::new();
        for s in 0..region.slots() {
            if region.owner_of(s) == iid {
                held.push(s);
            }
        }
        reclaimed += held.len() as u64;
        region.free(&held);
        reclaimed += drain_ring(region, region.rx_ring(iid), iid);
        self.sh.ctl_drops.add(drop_reason::NF_GONE, reclaimed);
        let mut info = final_info(&nf);
        info.state = "gone".into();
        self.nfs.remove(&iid);
        self.set_active();
        // The TX thread may still hold the old active list for one pass.
        std::thread::sleep(Duration::from_millis(2));
        let late = drain_ring(region, region.tx_ring(iid), owner::MANAGER);
        self.sh.ctl_drops.add(drop_reason::NF_GONE, late);
        inst.set_state(InstanceState::Free);
        tracing::info!(nf = %nf.name, instance = iid, reclaimed, "NF left; its buffers are back in the pool");
        self.gone.push_back(info);
        while self.gone.len() > GONE_KEPT {
            self.gone.pop_front();
        }
    }

    /// Chains as text steps, for the CLI.
    pub fn step_text(&self, s: &Step, port_names: &[String]) -> String {
        match s {
            Step::ToService(id) => match self.services.get(id) {
                Some(sv) => format!("service:{}", sv.name),
                None => format!("service:{id}"),
            },
            Step::Out(p) => format!(
                "port:{}",
                port_names
                    .get(*p as usize)
                    .cloned()
                    .unwrap_or_else(|| p.to_string())
            ),
        }
    }
}

/// Free what sits on a dead instance's ring: only buffers whose owner is `holder` (holes and
/// forged indices are left alone). Returns how many were freed.
fn drain_ring(region: &sluice_shm::Region, ring: Ring, holder: u16) -> u64 {
    let mut buf = [0u32; 64];
    let mut n_total = 0;
    loop {
        let n = ring.dequeue_sc(&mut buf);
        if n == 0 {
            return n_total;
        }
        let mine: Vec<u32> = buf[..n]
            .iter()
            .copied()
            .filter(|&s| region.valid_slot(s) && region.owner_of(s) == holder)
            .collect();
        n_total += mine.len() as u64;
        region.free(&mine);
    }
}
