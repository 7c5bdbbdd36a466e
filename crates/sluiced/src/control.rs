//! The control socket: NF registration and lifecycle, and the CLI's requests. One thread per
//! connection (NFs and CLI calls are few); the data plane never waits on any of this.

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use sluice_ctl::{ChainInfo, Conn, CtlError, FlowInfo, Request, Response, ServiceInfo, VfReply};
use sluice_shm::BUCKETS;
use sluice_wire::FlowKey;

use crate::dataplane::Shared;
use crate::registry::Registry;
use crate::stats::Stats;

/// Everything a connection handler needs.
pub struct Control {
    /// Data-plane state.
    pub sh: Arc<Shared>,
    /// NFs and services.
    pub reg: Mutex<Registry>,
    /// Chain names, by id.
    pub chain_names: Vec<String>,
    /// Statistics.
    pub stats: Stats,
    /// Connections of running NFs, to send them Stop.
    pub nf_conns: Mutex<Vec<(u16, Conn)>>,
    /// Set by a Shutdown request.
    pub shutdown: std::sync::atomic::AtomicBool,
    /// VF policy, when `[vfd]` is configured.
    pub vf: Option<crate::vf::VfPlane>,
    /// Change the log level (VFd's 0..=4), for `iplex verbose`.
    pub set_log_level: Box<dyn Fn(u32) -> Result<(), String> + Send + Sync>,
}

impl Control {
    /// Serve one connection until it closes.
    pub fn serve(self: &Arc<Self>, mut conn: Conn) {
        let mut me: Option<u16> = None;
        loop {
            let req = match conn.recv::<Request>() {
                Ok((r, _)) => r,
                Err(CtlError::Closed) => break,
                Err(CtlError::Decode(e)) => {
                    tracing::warn!("refusing a malformed control message: {e}");
                    let _ = conn.send(&Response::Error { message: e }, &[]);
                    continue;
                }
                Err(e) => {
                    tracing::warn!("control connection failed: {e}");
                    break;
                }
            };
            if let Some((resp, fds)) = self.handle(req, &mut me, &conn) {
                if conn.send(&resp, &fds).is_err() {
                    break;
                }
            }
        }
        if let Some(iid) = me {
            self.nf_conns
                .lock()
                .expect("lock")
                .retain(|(i, _)| *i != iid);
            let stats = &self.stats;
            let sh = &self.sh;
            self.reg
                .lock()
                .expect("lock")
                .reap(iid, |nf| stats.nf_info(sh, nf));
        }
    }

    /// Handle one request; `None` = no reply. `me` is the NF this connection registered.
    fn handle(
        &self,
        req: Request,
        me: &mut Option<u16>,
        conn: &Conn,
    ) -> Option<(Response, Vec<RawFd>)> {
        let plain = |r: Response| Some((r, Vec::new()));
        let err = |m: String| plain(Response::Error { message: m });
        match req {
            Request::Register {
                name,
                service,
                instance,
                mode,
                pid,
            } => {
                if me.is_some() {
                    return err("this connection already registered an NF".into());
                }
                let mut reg = self.reg.lock().expect("lock");
                match reg.register(&name, &service, instance, mode, pid) {
                    Ok((iid, sid, mode)) => {
                        *me = Some(iid);
                        if let Ok(c) = conn.try_clone() {
                            self.nf_conns.lock().expect("lock").push((iid, c));
                        }
                        tracing::info!(nf = %name, instance = iid, service = sid, pid, "NF registered");
                        let mut fds = vec![self.sh.region.fd()];
                        fds.extend(self.sh.wakers.iter().map(|w| w.raw()));
                        Some((
                            Response::Registered {
                                instance: iid,
                                service: sid,
                                region_size: self.sh.region.size() as u64,
                                mode,
                                remote: self
                                    .sh
                                    .cluster
                                    .as_ref()
                                    .is_some_and(|c| c.remote_routing()),
                            },
                            fds,
                        ))
                    }
                    Err(reason) => {
                        tracing::warn!(nf = %name, %service, "registration refused: {reason}");
                        plain(Response::Refused { reason })
                    }
                }
            }
            Request::Ready => match *me {
                Some(iid) => {
                    self.reg.lock().expect("lock").ready(iid);
                    plain(Response::Ok)
                }
                None => err("Ready before Register".into()),
            },
            Request::Alloc { count } => match *me {
                Some(iid) => {
                    let want = count.min(self.sh.region.slots() / 4) as usize;
                    let mut slots = vec![0u32; want];
                    let n = self.sh.region.alloc(&mut slots, iid);
                    for &s in &slots[..n] {
                        // SAFETY: slots just allocated for this NF; it has not seen them yet.
                        // A fresh buffer has not crossed a tunnel (see cluster::TUNNELLED).
                        unsafe { (*self.sh.region.meta(s)).reserved = 0 };
                    }
                    slots.truncate(n);
                    self.sh.nf_alloc.fetch_add(n as u64, Ordering::Relaxed);
                    plain(Response::Allocated { slots })
                }
                None => err("Alloc before Register".into()),
            },
            Request::Stopping => {
                if let Some(iid) = *me {
                    self.reg.lock().expect("lock").stopping(iid);
                }
                None
            }
            Request::Nfs => {
                let reg = self.reg.lock().expect("lock");
                plain(Response::Nfs(
                    reg.nfs
                        .values()
                        .map(|n| self.stats.nf_info(&self.sh, n))
                        .collect(),
                ))
            }
            Request::Services => {
                let reg = self.reg.lock().expect("lock");
                let out = reg
                    .services
                    .iter()
                    .map(|(id, s)| {
                        let table = self.sh.region.service(*id);
                        let buckets = s
                            .instances
                            .iter()
                            .map(|&iid| {
                                (0..BUCKETS as u32)
                                    .filter(|b| table.and_then(|t| t.pick(*b)) == Some(iid))
                                    .count() as u32
                            })
                            .collect();
                        ServiceInfo {
                            id: *id,
                            name: s.name.clone(),
                            instances: s.instances.clone(),
                            buckets,
                        }
                    })
                    .collect();
                plain(Response::Services(out))
            }
            Request::Chains => {
                let reg = self.reg.lock().expect("lock");
                let port_names: Vec<String> =
                    self.sh.ports.iter().map(|p| p.name.clone()).collect();
                let out = self
                    .chain_names
                    .iter()
                    .enumerate()
                    .map(|(id, name)| {
                        let t = self.sh.region.chain(id as u16);
                        let steps = (0..t.map_or(0, |t| t.len()))
                            .filter_map(|i| t.and_then(|t| t.step(i)))
                            .map(|s| reg.step_text(&s, &port_names))
                            .collect();
                        let default_for = self
                            .sh
                            .port_chain
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| **c == Some(id as u16))
                            .map(|(p, _)| port_names[p].clone())
                            .collect();
                        ChainInfo {
                            id: id as u16,
                            name: name.clone(),
                            steps,
                            default_for,
                        }
                    })
                    .collect();
                plain(Response::Chains(out))
            }
            Request::Ports => plain(Response::Ports(self.stats.ports(&self.sh))),
            Request::FlowAdd { flow, chain } => {
                let key: FlowKey = match flow.parse() {
                    Ok(k) => k,
                    Err(e) => return err(format!("flow {flow:?}: {e}")),
                };
                let Some(cid) = self.chain_names.iter().position(|c| *c == chain) else {
                    return err(format!(
                        "no chain named {chain:?}; chains: {}",
                        self.chain_names.join(", ")
                    ));
                };
                let mut t = (**self.sh.flows.load()).clone();
                t.insert(key, cid as u16);
                self.sh.flows.store(Arc::new(t));
                tracing::info!(%key, chain, "flow rule added");
                plain(Response::Ok)
            }
            Request::FlowDel { flow } => {
                let key: FlowKey = match flow.parse() {
                    Ok(k) => k,
                    Err(e) => return err(format!("flow {flow:?}: {e}")),
                };
                let mut t = (**self.sh.flows.load()).clone();
                if t.remove(&key).is_none() {
                    return err(format!("no rule for {key}"));
                }
                self.sh.flows.store(Arc::new(t));
                plain(Response::Ok)
            }
            Request::FlowList => {
                let t = self.sh.flows.load();
                let mut out: Vec<FlowInfo> = t
                    .iter()
                    .map(|(k, c)| FlowInfo {
                        flow: k.to_string(),
                        chain: self.chain_names[*c as usize].clone(),
                    })
                    .collect();
                out.sort_by(|a, b| a.flow.cmp(&b.flow));
                plain(Response::Flows(out))
            }
            Request::Cluster => plain(Response::Cluster(Box::new(
                self.sh
                    .cluster
                    .as_ref()
                    .map(|c| c.info())
                    .unwrap_or_default(),
            ))),
            Request::Stats => {
                let reg = self.reg.lock().expect("lock");
                plain(Response::Stats(Box::new(
                    self.stats.snapshot(&self.sh, &reg),
                )))
            }
            Request::Shutdown => {
                self.shutdown.store(true, Ordering::Relaxed);
                plain(Response::Ok)
            }
            Request::Vf {
                action,
                resource,
                loglevel,
            } => plain(Response::Vf(self.vf_request(&action, &resource, loglevel))),
        }
    }

    /// A VFd request. `ping` and `verbose` work without `[vfd]`; the rest need it.
    fn vf_request(&self, action: &str, resource: &str, loglevel: Option<u32>) -> VfReply {
        let reply = |ok: bool, msg: String| VfReply {
            ok,
            msg: vec![msg],
            rows: Vec::new(),
        };
        match (action, &self.vf) {
            ("verbose", _) => {
                let level = loglevel.unwrap_or(1);
                match (self.set_log_level)(level) {
                    Ok(()) => reply(true, format!("verbose level changed to: {level}")),
                    Err(e) => reply(false, format!("unable to change verbose level: {e}")),
                }
            }
            (_, Some(vf)) => vf.request(&self.sh, action, resource),
            ("ping", None) => reply(
                true,
                format!(
                    "pong: sluiced {} (no [vfd] configured)",
                    env!("CARGO_PKG_VERSION")
                ),
            ),
            (_, None) => reply(
                false,
                "VF policy is not configured: add a [vfd] table to sluiced's config".into(),
            ),
        }
    }

    /// Ask every NF to stop.
    pub fn stop_all_nfs(&self) {
        for (_, c) in self.nf_conns.lock().expect("lock").iter() {
            let _ = c.send(&Response::Stop, &[]);
        }
    }

    /// Registered NFs right now.
    pub fn nf_count(&self) -> usize {
        self.reg.lock().expect("lock").nfs.len()
    }
}
