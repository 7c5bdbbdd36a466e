//! VF policy in the manager: the software back end of VFd (`sluice-vf`).
//!
//! A PF is an uplink port of sluiced and each VF is a tenant port. Frames received on those
//! ports skip the chains: the RX thread runs them through the PF's embedded switch (VLAN
//! filter, broadcast / multicast / unknown-unicast policy, anti-spoof, tag strip and insert,
//! rate limit, mirroring) and queues them for the ports the switch chose. Broadcasts are
//! copied per destination, since strip and insert differ per VF.
//!
//! The control plane ([`VfPlane`]) keeps VFd's registry and file lifecycle and answers the
//! `iplex` requests; after every change it publishes a new immutable policy per PF, which
//! the RX thread picks up at its next burst ([`VfPath`]).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Deserialize;
use sluice_ctl::{VfReply, VfRow};
use sluice_pcap::{Format, PcapWriter};
use sluice_shm::{drop_reason, now_ns, owner, ActionCode, Buffers, Region, SlotMeta};
use sluice_vf::{
    mask_iter, run_callback, run_callbacks, CallbackKind, CounterSnapshot, DropReason, FrameBuf,
    Lifecycle, MirrorConfig, MirrorDirection, MirrorTarget, MirrorTo, PfConfig, PfPolicy, PfShared,
    PfSwitch, Registry,
};

use crate::dataplane::Shared;

/// `[vfd]`: VF policy, VFd-compatible.
///
/// ```toml
/// [vfd]
/// config_dir = "/var/lib/sluice/vfd/config"
///
/// [[vfd.pfs]]
/// id = "0000:07:00.0"          # what VF files name in "pciid"
/// port = "uplink"              # the sluiced port that is the PF
/// vf_ports = ["vm1", "vm2"]    # vfid 0, 1, ...: the sluiced port of each VF
/// enable_loopback = true
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VfdSection {
    /// Directory of submitted VF files: `iplex add NAME` reads `<config_dir>/NAME.json`.
    /// Accepted files move to `<config_dir>_live` (re-applied at start, the only state kept
    /// across restarts); refused ones become `NAME.json.error`. Both directories are created
    /// if missing. Default `/var/lib/sluice/vfd/config`.
    pub config_dir: PathBuf,
    /// On delete, keep the file as `<config_dir>/NAME.json-` instead of removing it.
    /// Default false.
    pub delete_keep: bool,
    /// Seconds a VF's `start_cb` / `stop_cb` may run before it is killed. Default 30.
    pub callback_timeout: f64,
    /// `[[vfd.pfs]]`: the PFs. Each table takes VFd's PF keys (`id`, `mtu`,
    /// `enable_loopback`, `promiscuous`, `vf_oversubscription`, `vfs_count`, `tclasses`,
    /// `bw_grps`, and `link_speed_mbps`, which VF rates are fractions of, default 10000)
    /// plus, for a software PF, `port` (the uplink port's name) and `vf_ports` (the port of
    /// each vfid, in order; `vfs_count` defaults to its length), or, for a real SR-IOV NIC,
    /// `sriov` (the PF's interface name: VF files are applied to its VFs through rtnetlink,
    /// and what the NIC cannot take is reported by `iplex add`).
    pub pfs: Vec<toml::Table>,
}

impl Default for VfdSection {
    fn default() -> Self {
        VfdSection {
            config_dir: "/var/lib/sluice/vfd/config".into(),
            delete_keep: false,
            callback_timeout: 30.0,
            pfs: Vec::new(),
        }
    }
}

/// A PF as resolved from the config: VFd's settings and the ports that carry it.
#[derive(Debug)]
pub struct PfSetup {
    /// VFd's PF settings.
    pub config: PfConfig,
    /// Port id of the uplink (software PFs).
    pub uplink: u16,
    /// Port id of each vfid (software PFs; empty for SR-IOV PFs).
    pub vf_ports: Vec<u16>,
    /// The PF netdev of an SR-IOV PF, whose VFs are the NIC's (`sriov` key).
    pub sriov: Option<String>,
}

/// Check `[vfd]` against the ports (`port name → id`).
pub fn resolve(s: &VfdSection, port_ids: &BTreeMap<&str, u16>) -> Result<Vec<PfSetup>, String> {
    if s.callback_timeout.is_nan() || s.callback_timeout <= 0.0 {
        return Err(format!(
            "[vfd] callback_timeout = {}: must be > 0 seconds",
            s.callback_timeout
        ));
    }
    let mut used: BTreeMap<u16, String> = BTreeMap::new();
    let mut ids = std::collections::HashSet::new();
    let mut pfs = Vec::new();
    for (i, t) in s.pfs.iter().enumerate() {
        let at = format!("[[vfd.pfs]] #{}", i + 1);
        let mut t = t.clone();
        let port_of = |v: Option<toml::Value>, key: &str| -> Result<u16, String> {
            let name = match v {
                Some(toml::Value::String(n)) => n,
                Some(other) => {
                    return Err(format!(
                        "{at}: {key} must be a port name, not {}",
                        other.type_str()
                    ))
                }
                None => return Err(format!("{at}: {key} is required (a port name)")),
            };
            port_ids
                .get(name.as_str())
                .copied()
                .ok_or_else(|| format!("{at}: {key} = {name:?} is not in [[ports]]"))
        };
        let (uplink, vf_ports, sriov) = if let Some(v) = t.remove("sriov") {
            let toml::Value::String(netdev) = v else {
                return Err(format!("{at}: sriov must be the PF's interface name"));
            };
            if t.contains_key("port") || t.contains_key("vf_ports") {
                return Err(format!(
                    "{at}: an SR-IOV PF (sriov = {netdev:?}) has the NIC's VFs: remove port and \
                     vf_ports"
                ));
            }
            (0, Vec::new(), Some(netdev))
        } else {
            let uplink = port_of(t.remove("port"), "port")?;
            let vf_ports = match t.remove("vf_ports") {
                Some(toml::Value::Array(a)) => a
                    .into_iter()
                    .enumerate()
                    .map(|(k, v)| port_of(Some(v), &format!("vf_ports[{k}]")))
                    .collect::<Result<Vec<_>, _>>()?,
                Some(other) => {
                    return Err(format!(
                        "{at}: vf_ports must be an array of port names, not {}",
                        other.type_str()
                    ))
                }
                None => return Err(format!("{at}: vf_ports is required (one port per vfid)")),
            };
            if vf_ports.len() > 32 {
                return Err(format!(
                    "{at}: {} vf_ports; a PF has at most 32 VFs",
                    vf_ports.len()
                ));
            }
            for (k, &p) in std::iter::once(&uplink).chain(&vf_ports).enumerate() {
                let role = if k == 0 {
                    format!("{at} port")
                } else {
                    format!("{at} vf_ports[{}]", k - 1)
                };
                if let Some(prev) = used.insert(p, role.clone()) {
                    return Err(format!(
                        "{role}: the port is already used as {prev}; a port has one role"
                    ));
                }
            }
            if !t.contains_key("vfs_count") {
                t.insert(
                    "vfs_count".into(),
                    toml::Value::Integer(vf_ports.len() as i64),
                );
            }
            (uplink, vf_ports, None)
        };
        let json = serde_json::to_value(&t).map_err(|e| format!("{at}: {e}"))?;
        let mut warnings = Vec::new();
        let config = PfConfig::from_value("[vfd]", &at, &json, 9420, &mut warnings)
            .map_err(|e| e.to_string())?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        if !ids.insert(config.id.clone()) {
            return Err(format!("{at}: duplicate PF id {:?}", config.id));
        }
        pfs.push(PfSetup {
            config,
            uplink,
            vf_ports,
            sriov,
        });
    }
    Ok(pfs)
}

/// What a port is to the VF switch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An ordinary port: its frames go to chains.
    Chain,
    /// The uplink of PF number `.0`.
    Pf(u8),
    /// VF `.1` of PF number `.0`.
    Vf(u8, u8),
}

/// One PF as the data plane and the control plane share it.
pub struct PfLink {
    /// VFd id (PCI address or name).
    pub id: String,
    /// Uplink port id (software PFs).
    pub uplink: u16,
    /// The netdev of an SR-IOV PF: VF files are applied to the NIC through rtnetlink.
    pub sriov: Option<String>,
    /// Port id of each vfid.
    pub vf_ports: Vec<u16>,
    /// The current policy (replaced on every add, delete and mirror change).
    pub policy: ArcSwap<PfPolicy>,
    /// Counters and PF link state.
    pub counters: Arc<PfShared>,
    /// Link speed in Mbps (for `show`).
    pub speed: u32,
}

/// What the RX thread needs: port roles and each PF's published policy.
pub struct VfShared {
    /// Role of every port, by port id.
    pub roles: Vec<Role>,
    /// The PFs, by number.
    pub pfs: Vec<PfLink>,
    /// Bumped after a new policy is published.
    pub epoch: AtomicU64,
}

// ---- control plane --------------------------------------------------------------------

/// VFd's state in the manager: the registry of accepted VFs and the file lifecycle.
pub struct VfPlane {
    inner: Mutex<Inner>,
    /// Shared with the RX thread.
    pub shared: Arc<VfShared>,
    timeout: Duration,
}

struct Inner {
    registry: Registry,
    lifecycle: Lifecycle,
}

impl VfPlane {
    /// Set up from the resolved config (`nports` ports in all), re-apply `<config_dir>_live`
    /// and run the restored VFs' start callbacks.
    pub fn start(s: &VfdSection, pfs: Vec<PfSetup>, nports: usize) -> anyhow::Result<VfPlane> {
        let lifecycle = Lifecycle::new(&s.config_dir, s.delete_keep);
        lifecycle.ensure_dirs().map_err(|e| {
            anyhow::anyhow!(
                "[vfd] config_dir {}: cannot create it or its _live directory: {e}",
                s.config_dir.display()
            )
        })?;
        let mut registry = Registry::new(pfs.iter().map(|p| p.config.clone()).collect());
        let restored = lifecycle.restore(&mut registry)?;
        for a in &restored.added {
            tracing::info!(file = %a.live_file.display(), pf = %a.pciid, vfid = a.vfid, "VF restored");
        }
        for (f, e) in &restored.failed {
            tracing::error!(file = %f.display(), "VF not restored (file moved back with a '-' suffix): {e}");
        }
        let mut roles = vec![Role::Chain; nports];
        let links = pfs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if p.sriov.is_none() {
                    roles[p.uplink as usize] = Role::Pf(i as u8);
                }
                for (vf, &port) in p.vf_ports.iter().enumerate() {
                    roles[port as usize] = Role::Vf(i as u8, vf as u8);
                }
                PfLink {
                    id: p.config.id.clone(),
                    uplink: p.uplink,
                    sriov: p.sriov.clone(),
                    vf_ports: p.vf_ports.clone(),
                    policy: ArcSwap::from_pointee(PfPolicy::build(&registry.pfs()[i])),
                    counters: PfShared::new(),
                    speed: p.config.link_speed_mbps,
                }
            })
            .collect();
        let timeout = Duration::from_secs_f64(s.callback_timeout);
        for run in run_callbacks(&registry, CallbackKind::Start, timeout) {
            tracing::debug!(?run, "start callback");
        }
        Ok(VfPlane {
            inner: Mutex::new(Inner {
                registry,
                lifecycle,
            }),
            shared: Arc::new(VfShared {
                roles,
                pfs: links,
                epoch: AtomicU64::new(0),
            }),
            timeout,
        })
    }

    /// Publish the policy of PF number `pf` after a change.
    fn publish(&self, inner: &Inner, pf: usize) {
        let policy = PfPolicy::build(&inner.registry.pfs()[pf]);
        self.shared.pfs[pf].policy.store(Arc::new(policy));
        self.shared.epoch.fetch_add(1, Ordering::Release);
    }

    /// Program VF `live_file` (just added to the registry) into SR-IOV PF `netdev` through
    /// rtnetlink. Returns what the NIC cannot take (not applied); on a refusal the add is
    /// undone as a failed add (the file becomes `NAME.json.error`) and the error returned.
    fn apply_sriov(
        &self,
        inner: &mut Inner,
        netdev: &str,
        pf: usize,
        live_file: &std::path::Path,
    ) -> Result<Vec<String>, String> {
        let speed = inner.registry.pfs()[pf].config.link_speed_mbps;
        let applied = std::fs::read_to_string(live_file)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<sluice_sriov::VfFile>(&text).map_err(|e| e.to_string())
            })
            .and_then(|file| {
                let opts = sluice_sriov::MapOptions {
                    link_speed_mbps: sluice_sriov::link_speed_mbps(netdev).or(Some(speed)),
                    ..Default::default()
                };
                sluice_sriov::map_vf_file(&file, &opts).map_err(|e| e.to_string())
            })
            .and_then(|m| {
                sluice_sriov::apply(netdev, &m.settings)
                    .map(|_| m)
                    .map_err(|e| e.to_string())
            });
        match applied {
            Ok(m) => Ok(m
                .unsupported
                .iter()
                .map(|u| format!("not applied by the NIC: {}: {}", u.field, u.reason))
                .collect()),
            Err(e) => {
                // Undo: out of the registry, and the file goes where a failed add leaves it.
                let text = std::fs::read_to_string(live_file).unwrap_or_default();
                if let Ok((cfg, _)) =
                    sluice_vf::VfConfig::parse(&live_file.display().to_string(), &text)
                {
                    let file = inner.registry.pfs()[pf]
                        .vf(cfg.vfid)
                        .map(|v| v.file.clone())
                        .unwrap_or_default();
                    let _ = inner.registry.delete(&file, &cfg);
                }
                let name = live_file.file_name().unwrap_or_default().to_string_lossy();
                let error = inner.lifecycle.config_dir().join(format!("{name}.error"));
                let _ = std::fs::rename(live_file, &error);
                let _ = std::fs::write(error.with_extension("error.reason"), format!("{e}\n"));
                Err(e)
            }
        }
    }

    /// Run the stop callbacks (at shutdown, as VFd does).
    pub fn stop(&self) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for run in run_callbacks(&inner.registry, CallbackKind::Stop, self.timeout) {
            tracing::debug!(?run, "stop callback");
        }
    }

    /// Answer one VFd request, with VFd's texts.
    pub fn request(&self, sh: &Shared, action: &str, resource: &str) -> VfReply {
        let ok = |msg: String| VfReply {
            ok: true,
            msg: msg.lines().map(str::to_string).collect(),
            rows: Vec::new(),
        };
        let err = |msg: String| VfReply {
            ok: false,
            msg: msg.lines().map(str::to_string).collect(),
            rows: Vec::new(),
        };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *inner;
        match action {
            "add" => {
                if resource.is_empty() {
                    return err("unable to add vf: no file name given".into());
                }
                match inner.lifecycle.add(&mut inner.registry, resource) {
                    Ok(a) => {
                        for w in &a.warnings {
                            tracing::warn!("{w}");
                        }
                        let pf = inner.registry.pf_index(&a.pciid).expect("added to a PF");
                        let mut notes = Vec::new();
                        if let Some(netdev) = &self.shared.pfs[pf].sriov {
                            match self.apply_sriov(inner, netdev, pf, &a.live_file) {
                                Ok(n) => notes = n,
                                Err(e) => {
                                    tracing::warn!("VF add refused by the NIC: {resource}: {e}");
                                    return err(format!("unable to add vf: {resource}: {e}"));
                                }
                            }
                        }
                        self.publish(inner, pf);
                        let vf = inner.registry.pfs()[pf].vf(a.vfid).expect("just added");
                        if let (Some(cb), Some(owner)) = (&vf.config.start_cb, vf.owner) {
                            let run = run_callback(cb, owner, self.timeout);
                            tracing::debug!(?run, "start callback");
                        }
                        tracing::info!(file = %a.live_file.display(), pf = %a.pciid, vfid = a.vfid, "VF added");
                        let mut reply =
                            ok(format!("vf added successfully: {}", a.live_file.display()));
                        reply.msg.extend(notes);
                        reply
                    }
                    Err(e) => {
                        tracing::warn!("VF add refused: {resource}: {e}");
                        err(format!("unable to add vf: {resource}: {e}"))
                    }
                }
            }
            "delete" => {
                if resource.is_empty() {
                    return err("unable to delete vf: no file name given".into());
                }
                match inner.lifecycle.delete(&mut inner.registry, resource) {
                    Ok(vf) => {
                        if let Some(pf) = inner.registry.pf_index(&vf.config.pciid) {
                            self.publish(inner, pf);
                            self.shared.pfs[pf].counters.clear_vf(vf.vfid());
                        }
                        tracing::info!(pf = %vf.config.pciid, vfid = vf.vfid(), "VF deleted");
                        ok(format!("vf deleted successfully: {resource}"))
                    }
                    Err(e) => err(format!(
                        "unable to delete internal config for vf: {resource}: {e}"
                    )),
                }
            }
            "show" => self.show(sh, inner, resource),
            "ping" => ok(format!(
                "pong: sluiced {}    build: {}",
                env!("CARGO_PKG_VERSION"),
                option_env!("SLUICE_BUILD").unwrap_or("release")
            )),
            "dump" => {
                for pf in inner.registry.pfs() {
                    for vf in pf.vfs() {
                        tracing::info!(
                            pf = %pf.config.id,
                            vfid = vf.vfid(),
                            name = %vf.config.name,
                            vlans = ?vf.vlans,
                            macs = ?vf.macs.iter().map(sluice_vf::config::fmt_mac).collect::<Vec<_>>(),
                            strip = vf.config.strip_stag,
                            insert = vf.config.insert_stag,
                            mirror = ?vf.config.mirror,
                            rate = vf.config.rate,
                            "dump"
                        );
                    }
                }
                ok("dump captured in the log".into())
            }
            "mirror" => match self.mirror(inner, resource) {
                Ok(m) => ok(format!("mirror update successful: {m}")),
                Err(e) => err(format!("unable to update mirror: {resource}: {e}")),
            },
            "clear" => match self.clear(resource) {
                Ok(m) => ok(m),
                Err(e) => err(format!("unable to clear counters: {resource}: {e}")),
            },
            other => err(format!("unrecognised request: {other}")),
        }
    }

    /// `show all|pfs|N|mirrors`: VFd's table (§2.3) and the rows behind it.
    fn show(&self, sh: &Shared, inner: &Inner, what: &str) -> VfReply {
        let what = what.trim();
        let (pfs_only, only): (bool, Option<usize>) = match what {
            "" | "all" => (false, None),
            "pfs" => (true, None),
            "mirrors" | "mirror" => return self.show_mirrors(inner),
            n => match n.parse::<usize>() {
                Ok(i) if i < self.shared.pfs.len() => (false, Some(i)),
                _ => {
                    return VfReply {
                        ok: false,
                        msg: vec![format!(
                            "unable to show: {what:?}: use all, pfs, mirrors or a PF number 0..{}",
                            self.shared.pfs.len()
                        )],
                        rows: Vec::new(),
                    }
                }
            },
        };
        let mut rows = Vec::new();
        for (i, pf) in self.shared.pfs.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            if let Some(netdev) = &pf.sriov {
                rows.extend(sriov_rows(i as u32, pf, netdev, pfs_only));
                continue;
            }
            let port = &sh.ports[pf.uplink as usize];
            let up = port.stats.link_up.load(Ordering::Relaxed);
            rows.push(row(
                "pf",
                i as u32,
                &pf.id,
                &port.name,
                up,
                pf.speed,
                &pf.counters.pf_snapshot(),
            ));
            if pfs_only {
                continue;
            }
            let policy = pf.policy.load();
            for vf in mask_iter(policy.configured()) {
                let Some(&p) = pf.vf_ports.get(usize::from(vf)) else {
                    continue;
                };
                let port = &sh.ports[p as usize];
                let up = port.stats.link_up.load(Ordering::Relaxed)
                    && pf.counters.pf_link_up()
                    && self.vf_link_on(inner, i, vf);
                let c = pf.counters.vf_snapshot(u32::from(vf)).unwrap_or_default();
                rows.push(row("vf", u32::from(vf), &pf.id, &port.name, up, 0, &c));
            }
        }
        VfReply {
            ok: true,
            msg: show_table(&rows),
            rows,
        }
    }

    /// VF link as configured (`link_status` off means down).
    fn vf_link_on(&self, inner: &Inner, pf: usize, vf: u8) -> bool {
        inner.registry.pfs()[pf]
            .vf(u32::from(vf))
            .is_none_or(|v| v.config.link_status != sluice_vf::LinkStatus::Off)
    }

    fn show_mirrors(&self, inner: &Inner) -> VfReply {
        let mut msg = Vec::new();
        for (i, pf) in inner.registry.pfs().iter().enumerate() {
            let mirrors: Vec<String> = pf
                .vfs()
                .filter_map(|vf| {
                    let m = vf.config.mirror.as_ref()?;
                    let dir = match m.direction {
                        MirrorDirection::Off => return None,
                        MirrorDirection::In => "in",
                        MirrorDirection::Out => "out",
                        MirrorDirection::All => "all",
                    };
                    let target = match m.target.as_ref()? {
                        MirrorTarget::Vf(t) => format!("vf {t}"),
                        MirrorTarget::Pcap(p) => format!("pcap {p}"),
                    };
                    Some(format!("  vf {} ({dir}) ==> {target}", vf.vfid()))
                })
                .collect();
            msg.push(format!("port {i} has {} mirrors:", mirrors.len()));
            msg.extend(mirrors);
        }
        VfReply {
            ok: true,
            msg,
            rows: Vec::new(),
        }
    }

    /// `mirror PF VF DIR [TARGET]`: change a VF's mirror at run time (re-validated like a
    /// file; on refusal the VF keeps its old settings).
    fn mirror(&self, inner: &mut Inner, resource: &str) -> Result<String, String> {
        let w: Vec<&str> = resource.split_whitespace().collect();
        if w.len() < 3 {
            return Err("usage: mirror <pf> <vf> <in|out|all|off> [<target vf>]".into());
        }
        let pf: usize = w[0]
            .parse()
            .ok()
            .filter(|&p| p < inner.registry.pfs().len())
            .ok_or_else(|| format!("pf {:?} is not a PF number", w[0]))?;
        let vfid: u32 = w[1]
            .parse()
            .map_err(|_| format!("vf {:?} is not a number", w[1]))?;
        let direction = match w[2] {
            "in" => MirrorDirection::In,
            "out" => MirrorDirection::Out,
            "all" | "on" | "both" => MirrorDirection::All,
            _ => MirrorDirection::Off,
        };
        let target = match (direction, w.get(3)) {
            (MirrorDirection::Off, _) => None,
            (_, Some(t)) => Some(MirrorTarget::Vf(
                t.parse()
                    .map_err(|_| format!("target {t:?} is not a VF number"))?,
            )),
            (_, None) => return Err("a target VF is needed to turn mirroring on".into()),
        };
        let old = inner.registry.pfs()[pf]
            .vf(vfid)
            .cloned()
            .ok_or_else(|| format!("vf {vfid} is not configured on pf {pf}"))?;
        let mut cfg = old.config.clone();
        cfg.mirror = Some(MirrorConfig::new(direction, target));
        inner
            .registry
            .delete(&old.file, &old.config)
            .map_err(|e| e.to_string())?;
        if let Err(e) = inner.registry.add(&old.file, &cfg, old.owner) {
            inner
                .registry
                .commit(old)
                .expect("the old config fitted a moment ago");
            return Err(e.to_string());
        }
        self.publish(inner, pf);
        Ok(resource.to_string())
    }

    /// `clear PF [VF]` (Sluice extension, VFd issue #81): zero counters.
    fn clear(&self, resource: &str) -> Result<String, String> {
        let w: Vec<&str> = resource.split_whitespace().collect();
        let pfs: Vec<usize> = match w.first() {
            None | Some(&"all") => (0..self.shared.pfs.len()).collect(),
            Some(p) => vec![p
                .parse()
                .ok()
                .filter(|&p| p < self.shared.pfs.len())
                .ok_or_else(|| format!("pf {p:?} is not a PF number"))?],
        };
        match w.get(1) {
            Some(v) => {
                let vf: u32 = v.parse().map_err(|_| format!("vf {v:?} is not a number"))?;
                self.shared.pfs[pfs[0]].counters.clear_vf(vf);
                Ok(format!("counters cleared: pf {} vf {vf}", pfs[0]))
            }
            None => {
                for &p in &pfs {
                    self.shared.pfs[p].counters.clear_all();
                }
                Ok(format!("counters cleared: {}", resource.trim()))
            }
        }
    }
}

fn row(
    kind: &str,
    id: u32,
    pciid: &str,
    port: &str,
    up: bool,
    speed: u32,
    c: &CounterSnapshot,
) -> VfRow {
    VfRow {
        kind: kind.into(),
        id,
        pciid: pciid.into(),
        port: port.into(),
        link: if up { "UP" } else { "DOWN" }.into(),
        speed,
        rx_packets: c.rx_packets,
        rx_bytes: c.rx_bytes,
        rx_errors: c.rx_errors,
        rx_dropped: c.rx_dropped,
        tx_packets: c.tx_packets,
        tx_bytes: c.tx_bytes,
        tx_errors: c.tx_errors,
        tx_dropped: c.tx_dropped,
        spoofed: c.spoofed,
        mirrored: c.mirrored,
    }
}

/// `show` rows of an SR-IOV PF: the netdev's own counters (sysfs) and, per configured VF,
/// what the NIC reports through rtnetlink (`IFLA_VF_STATS`).
fn sriov_rows(n: u32, pf: &PfLink, netdev: &str, pfs_only: bool) -> Vec<VfRow> {
    let sys = |f: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{netdev}/{f}"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let stat = |f: &str| sys(&format!("statistics/{f}")).parse().unwrap_or(0);
    let mut rows = vec![VfRow {
        kind: "pf".into(),
        id: n,
        pciid: pf.id.clone(),
        port: netdev.into(),
        link: if sys("operstate") == "up" {
            "UP"
        } else {
            "DOWN"
        }
        .into(),
        speed: sys("speed").parse().unwrap_or(pf.speed),
        rx_packets: stat("rx_packets"),
        rx_bytes: stat("rx_bytes"),
        rx_errors: stat("rx_errors"),
        rx_dropped: stat("rx_dropped"),
        tx_packets: stat("tx_packets"),
        tx_bytes: stat("tx_bytes"),
        tx_errors: stat("tx_errors"),
        tx_dropped: stat("tx_dropped"),
        ..VfRow::default()
    }];
    if pfs_only {
        return rows;
    }
    let vfs = sluice_sriov::read_vfs(netdev).unwrap_or_default();
    for vf in mask_iter(pf.policy.load().configured()) {
        let info = vfs.iter().find(|v| v.vf == u32::from(vf));
        let s = info.and_then(|v| v.stats).unwrap_or_default();
        rows.push(VfRow {
            kind: "vf".into(),
            id: u32::from(vf),
            pciid: pf.id.clone(),
            port: netdev.into(),
            link: match info.and_then(|v| v.link_state) {
                Some(sluice_sriov::LinkState::Disable) => "DOWN",
                Some(_) => "UP",
                None => "DOWN",
            }
            .into(),
            rx_packets: s.rx_packets,
            rx_bytes: s.rx_bytes,
            rx_dropped: s.rx_dropped.unwrap_or(0),
            tx_packets: s.tx_packets,
            tx_bytes: s.tx_bytes,
            tx_dropped: s.tx_dropped.unwrap_or(0),
            ..VfRow::default()
        });
    }
    rows
}

/// VFd's `show` layout: the header, a row per PF then its VFs, a blank line after each PF
/// group; numeric columns right-aligned in 15 characters.
pub fn show_table(rows: &[VfRow]) -> Vec<String> {
    let mut out = vec![format!(
        "{:<6} {:>3} {:>14} {:>6} {:>7} {:>6} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15}",
        "PF/VF", "ID", "PCIID", "Link", "Speed", "Duplex", "RX pkts", "RX bytes", "RX errors",
        "RX dropped", "TX pkts", "TX bytes", "TX errors", "Spoofed"
    )];
    for (i, r) in rows.iter().enumerate() {
        if r.kind == "pf" && i > 0 {
            out.push(String::new());
        }
        let (speed, duplex) = if r.kind == "pf" {
            (r.speed.to_string(), "1".to_string())
        } else {
            (String::new(), String::new())
        };
        out.push(format!(
            "{:<6} {:>3} {:>14} {:>6} {:>7} {:>6} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15}",
            r.kind, r.id, r.pciid, r.link, speed, duplex, r.rx_packets, r.rx_bytes, r.rx_errors,
            r.rx_dropped + r.tx_dropped, r.tx_packets, r.tx_bytes, r.tx_errors, r.spoofed
        ));
    }
    out
}

// ---- data plane -----------------------------------------------------------------------

/// A slot seen as a frame with headroom, for the switch to edit in place.
struct SlotFrame<'a> {
    meta: &'a mut SlotMeta,
    data: &'a mut [u8],
}

impl SlotFrame<'_> {
    /// # Safety
    /// The caller holds slot `s` (owner manager) and nobody else touches it meanwhile.
    unsafe fn of(region: &Region, s: u32) -> SlotFrame<'_> {
        // SAFETY: per this function's contract the slot is ours; meta and data area are
        // disjoint parts of it.
        unsafe {
            SlotFrame {
                meta: &mut *region.meta(s),
                data: std::slice::from_raw_parts_mut(region.data(s), region.data_area()),
            }
        }
    }
}

impl FrameBuf for SlotFrame<'_> {
    fn frame(&self) -> &[u8] {
        let off = self.meta.data_off as usize;
        &self.data[off..off + self.meta.len as usize]
    }
    fn frame_mut(&mut self) -> &mut [u8] {
        let off = self.meta.data_off as usize;
        &mut self.data[off..off + self.meta.len as usize]
    }
    fn headroom(&self) -> usize {
        self.meta.data_off as usize
    }
    fn push_head(&mut self, n: usize) {
        self.meta.data_off -= n as u16;
        self.meta.len += n as u16;
    }
    fn pull_head(&mut self, n: usize) {
        self.meta.data_off += n as u16;
        self.meta.len -= n as u16;
    }
}

fn reason(d: DropReason) -> u8 {
    match d {
        DropReason::Spoofed => drop_reason::VF_SPOOFED,
        DropReason::RateLimited => drop_reason::VF_RATE,
        DropReason::Malformed | DropReason::Oversize | DropReason::NoHeadroom => {
            drop_reason::VF_ERROR
        }
        DropReason::NoDestination | DropReason::LinkDown | DropReason::NotConfigured => {
            drop_reason::VF_FILTERED
        }
    }
}

/// The RX thread's side: one switch per PF and the open mirror files.
pub struct VfPath {
    shared: Arc<VfShared>,
    switches: Vec<PfSwitch>,
    epoch: u64,
    pcaps: HashMap<String, Option<PcapWriter<BufWriter<File>>>>,
    dirty: bool,
}

/// Where a burst's frames go: the caller's TX queue and free list.
pub struct Out<'a> {
    /// Slots for the TX thread (metadata says which port).
    pub tx: &'a mut Vec<u32>,
    /// Slots to free.
    pub free: &'a mut Vec<u32>,
}

impl VfPath {
    /// The RX thread's view of `shared`.
    pub fn new(shared: Arc<VfShared>) -> VfPath {
        let switches = shared
            .pfs
            .iter()
            .map(|p| PfSwitch::new(p.policy.load_full(), p.counters.clone()))
            .collect();
        VfPath {
            epoch: shared.epoch.load(Ordering::Acquire),
            shared,
            switches,
            pcaps: HashMap::new(),
            dirty: false,
        }
    }

    /// Role of port `port`.
    #[inline]
    pub fn role(&self, port: u16) -> Role {
        self.shared.roles[port as usize]
    }

    /// Take up a newly published policy, if any.
    fn refresh(&mut self) {
        let e = self.shared.epoch.load(Ordering::Acquire);
        if e != self.epoch {
            self.epoch = e;
            for (sw, p) in self.switches.iter_mut().zip(&self.shared.pfs) {
                sw.set_policy(p.policy.load_full());
            }
            self.flush();
        }
    }

    /// Write out buffered mirror captures (when idle and on policy changes).
    pub fn flush(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        for w in self.pcaps.values_mut().flatten() {
            if let Err(e) = w.flush() {
                tracing::warn!("mirror capture: {e}");
            }
        }
    }

    /// Run a burst received on port `port` (a PF uplink or a VF port) through its switch.
    pub fn burst(
        &mut self,
        sh: &Shared,
        buf: &mut Buffers<'_>,
        port: u16,
        slots: &[u32],
        out: Out<'_>,
    ) {
        self.refresh();
        match self.role(port) {
            Role::Chain => unreachable!("only PF and VF ports come here"),
            Role::Pf(p) => {
                let link = &sh.ports[port as usize].stats.link_up;
                self.shared.pfs[p as usize]
                    .counters
                    .set_pf_link(link.load(Ordering::Relaxed));
                for &s in slots {
                    self.wire_frame(sh, buf, p as usize, s, out.tx, out.free);
                }
            }
            Role::Vf(p, vf) => {
                let now = now_ns();
                for &s in slots {
                    self.vf_frame(sh, buf, p as usize, vf, s, now, out.tx, out.free);
                }
            }
        }
    }

    fn drop(sh: &Shared, free: &mut Vec<u32>, s: u32, r: u8) {
        sh.rx_drops.add(r, 1);
        free.push(s);
    }

    /// A copy of slot `s` in a fresh slot (counted as a packet entering), or None (counted
    /// as entered and dropped for want of a buffer).
    fn copy(sh: &Shared, buf: &mut Buffers<'_>, s: u32) -> Option<u32> {
        sh.copies.fetch_add(1, Ordering::Relaxed);
        let mut c = [0u32];
        if buf.alloc(&mut c, owner::MANAGER) == 0 {
            sh.rx_drops.add(drop_reason::NO_BUFFER, 1);
            return None;
        }
        let region = &sh.region;
        // SAFETY: we hold both slots; they are distinct.
        unsafe {
            let m = *region.meta(s);
            let (off, len) = (m.data_off as usize, m.len as usize);
            std::ptr::copy_nonoverlapping(region.data(s).add(off), region.data(c[0]).add(off), len);
            region.meta(c[0]).write(m);
        }
        Some(c[0])
    }

    /// Queue slot `s` for port `port`.
    fn send(region: &Region, tx: &mut Vec<u32>, s: u32, port: u16) {
        // SAFETY: we hold the slot.
        let m = unsafe { &mut *region.meta(s) };
        m.action = ActionCode::Out as u8;
        m.destination = port;
        tx.push(s);
    }

    /// Deliver slot `s` to VF `vf` of PF `p` (receive policy: strip, count, "in" mirror).
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        sh: &Shared,
        buf: &mut Buffers<'_>,
        p: usize,
        vf: u8,
        s: u32,
        tx: &mut Vec<u32>,
        free: &mut Vec<u32>,
    ) {
        let Some(&port) = self.shared.pfs[p].vf_ports.get(usize::from(vf)) else {
            return Self::drop(sh, free, s, drop_reason::VF_FILTERED);
        };
        // SAFETY: the RX thread holds `s`.
        let r = self.switches[p].to_vf(vf, &mut unsafe { SlotFrame::of(&sh.region, s) });
        match r {
            Ok(mirror) => {
                if let Some(m) = mirror {
                    self.mirror(sh, buf, p, m, s, tx);
                }
                Self::send(&sh.region, tx, s, port);
            }
            Err(r) => Self::drop(sh, free, s, reason(r)),
        }
    }

    /// A mirrored copy of `s`: unchanged to another VF's port, or into a capture file.
    fn mirror(
        &mut self,
        sh: &Shared,
        buf: &mut Buffers<'_>,
        p: usize,
        m: MirrorTo,
        s: u32,
        tx: &mut Vec<u32>,
    ) {
        match m {
            MirrorTo::Vf(t) => {
                let Some(&port) = self.shared.pfs[p].vf_ports.get(usize::from(t)) else {
                    return;
                };
                if let Some(c) = Self::copy(sh, buf, s) {
                    Self::send(&sh.region, tx, c, port);
                }
            }
            MirrorTo::Pcap { source_vf } => {
                let policy = self.switches[p].policy().clone();
                let Some(path) = policy.mirror_pcap(source_vf) else {
                    return;
                };
                let w = self.pcaps.entry(path.to_string()).or_insert_with(|| {
                    File::create(path)
                        .map_err(|e| e.to_string())
                        .and_then(|f| {
                            PcapWriter::new(
                                BufWriter::new(f),
                                Format::from_path(path.as_ref()),
                                65535,
                            )
                            .map_err(|e| e.to_string())
                        })
                        .map_err(|e| {
                            tracing::error!("mirror capture {path}: {e}; not mirroring there")
                        })
                        .ok()
                });
                if let Some(w) = w {
                    // SAFETY: we hold the slot; data_off/len lie in its data area.
                    let f = unsafe { SlotFrame::of(&sh.region, s) };
                    let _ = w.write_packet(f.meta.timestamp, f.frame());
                    self.dirty = true;
                }
            }
        }
    }

    fn wire_frame(
        &mut self,
        sh: &Shared,
        buf: &mut Buffers<'_>,
        p: usize,
        s: u32,
        tx: &mut Vec<u32>,
        free: &mut Vec<u32>,
    ) {
        // SAFETY: the port just filled `s` for us.
        let d = self.switches[p].from_wire(unsafe { SlotFrame::of(&sh.region, s) }.frame());
        if d.vfs == 0 {
            return Self::drop(
                sh,
                free,
                s,
                reason(d.drop.unwrap_or(DropReason::NoDestination)),
            );
        }
        let mut targets = mask_iter(d.vfs).peekable();
        while let Some(vf) = targets.next() {
            let slot = if targets.peek().is_some() {
                match Self::copy(sh, buf, s) {
                    Some(c) => c,
                    None => continue,
                }
            } else {
                s
            };
            self.deliver(sh, buf, p, vf, slot, tx, free);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn vf_frame(
        &mut self,
        sh: &Shared,
        buf: &mut Buffers<'_>,
        p: usize,
        vf: u8,
        s: u32,
        now: u64,
        tx: &mut Vec<u32>,
        free: &mut Vec<u32>,
    ) {
        // SAFETY: the port just filled `s` for us.
        let mut frame = unsafe { SlotFrame::of(&sh.region, s) };
        let d = self.switches[p].from_vf(vf, &mut frame, None, now);
        if d.wire && d.vfs == 0 && d.mirror.is_none() {
            // The common case: out of the uplink, nothing to copy.
            frame.meta.action = ActionCode::Out as u8;
            frame.meta.destination = self.shared.pfs[p].uplink;
            tx.push(s);
            return;
        }
        if let Some(m) = d.mirror {
            self.mirror(sh, buf, p, m, s, tx);
        }
        let mut targets = mask_iter(d.vfs).peekable();
        while let Some(t) = targets.next() {
            let slot = if d.wire || targets.peek().is_some() {
                match Self::copy(sh, buf, s) {
                    Some(c) => c,
                    None => continue,
                }
            } else {
                s
            };
            self.deliver(sh, buf, p, t, slot, tx, free);
        }
        if d.wire {
            Self::send(&sh.region, tx, s, self.shared.pfs[p].uplink);
        } else if d.vfs == 0 {
            Self::drop(
                sh,
                free,
                s,
                reason(d.drop.unwrap_or(DropReason::NoDestination)),
            );
        }
    }
}

impl Drop for VfPath {
    fn drop(&mut self) {
        self.flush();
    }
}
