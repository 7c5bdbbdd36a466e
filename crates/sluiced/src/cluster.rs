//! Distributed mode: the `[cluster]` table (ZooKeeper registry, remote routing over a
//! VXLAN-GPE + NSH tunnel) and `[[vxlan]]` overlay ports (plain VXLAN, like a kernel vxlan
//! device).
//!
//! Split of work:
//! - control plane (main loop, every 50 ms): starts the [`Registry`], rebuilds the tunnel
//!   peer table when the cluster view changes, publishes this host's services (from the
//!   service tables) and, on the stats tick, NF stats. Nothing here runs on a data-plane
//!   thread, and the data plane never waits on ZooKeeper.
//! - data plane ([`Remote`], one per RX / TX worker): loads the view and the peer table once
//!   per burst; on the underlay port answers and learns ARP and decapsulates tunnel frames;
//!   sends packets whose service has no local instance to the host chosen by rendezvous
//!   hashing of the flow ([`pick_remote`]); encapsulates overlay-port traffic in plain VXLAN.
//!
//! Host numbers: NSH metadata carries a 16-bit origin host; sluiced derives it from the host
//! id ([`host_number`], FNV-1a folded to 16 bits). It is informational (tables, captures):
//! receivers identify the sending host by its outer IP address, never by this number.
//!
//! Chains across hosts: the NSH service path id is the chain id (its index in `[[chains]]`)
//! and the service index is `255 - step`, so hosts of one cluster must define the same
//! `[[chains]]` in the same order (and the same service ids).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use serde::Deserialize;
use sluice_cluster::{
    pick_host_with, pick_remote, route_table, ClusterConfig, ClusterView, HostRecord,
    NfStatsRecord, Registry, SpreadPolicy, TunnelConfig, TunnelMode, ViewHandle,
};
use sluice_port::{PortConfig, PortKind, RxPort};
use sluice_shm::{drop_reason, owner, ActionCode, Buffers, LocalRing, PoolCache, SlotMeta, Step};
use sluice_tunnel::{
    arp_request, decap_ports, encap_gpe_nsh, encap_vxlan, handle_arp, ArpCache, DropReason,
    Endpoint, Metadata, Nsh, Peer, PeerCounters, TunnelKind, VXLAN_GPE_PORT, VXLAN_PORT,
};
use sluice_wire::{flow_hash, MacAddr};

use crate::dataplane::Shared;

/// `meta.reserved` bit: the packet came in through the tunnel (it is never sent into it
/// again: at most one hop).
pub const TUNNELLED: u16 = 1;

// ------------------------------------------------------------------------------------------
// Configuration
// ------------------------------------------------------------------------------------------

/// How to choose between local and remote instances.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyConfig {
    /// A local instance always wins; other hosts get a service's packets only when this host
    /// runs none (default).
    #[default]
    PreferLocal,
    /// Packets entering from this host's ports are hashed over every instance in the
    /// cluster, local ones included (spreads load across hosts; NFs still hand packets to a
    /// local next service directly).
    Spread,
}

/// `[cluster]`: distributed mode. Without it sluiced is single-host and needs no ZooKeeper.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// ZooKeeper connect string, `host:port[,host:port...]`. Required.
    pub connect: String,
    /// Root of Sluice's znodes. Default `/sluice`.
    #[serde(default = "default_root")]
    pub root: String,
    /// ZooKeeper session timeout in ms (1000..=120000). Another host stops sending to a
    /// crashed or cut-off host within about this time. Default 4000.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_ms: u64,
    /// This host's id (1..64 of `[A-Za-z0-9._-]`), unique among live hosts. Required. A
    /// second sluiced with an id that is live refuses to start.
    pub host_id: String,
    /// Tunnel endpoint: `port` (name of the underlay `[[ports]]` entry, af-packet or
    /// af-xdp), `ip` (this host's underlay IPv4 address; the kernel must not own it on that
    /// interface), `udp_port` (default 4790), `mode` (only `"gpe"`: VXLAN-GPE + NSH; plain
    /// VXLAN is the `[[vxlan]]` overlay), `vni` (default 0). Required.
    pub tunnel: TunnelConfig,
    /// Static MAC (`aa:bb:cc:dd:ee:ff`) of the underlay next hop, used for every peer
    /// instead of ARP. Default: none (ARP).
    #[serde(default)]
    pub next_hop_mac: Option<sluice_cluster::MacAddr>,
    /// Minimum interval in ms between two writes of this host's NF stats. Default 1000.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_ms: u64,
    /// `"prefer-local"` (default) or `"spread"`.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Underlay IP MTU: a tunnelled frame whose outer IP packet would be larger is dropped
    /// and counted (`too_big`), never cut. Default 1500.
    #[serde(default = "default_mtu")]
    pub underlay_mtu: u16,
    /// MAC of the underlay port. Default: read from the interface.
    #[serde(default)]
    pub underlay_mac: Option<sluice_cluster::MacAddr>,
}

fn default_root() -> String {
    sluice_cluster::config::DEFAULT_ROOT.to_string()
}
fn default_session_timeout() -> u64 {
    sluice_cluster::config::DEFAULT_SESSION_TIMEOUT_MS
}
fn default_stats_interval() -> u64 {
    sluice_cluster::config::DEFAULT_STATS_INTERVAL_MS
}
fn default_mtu() -> u16 {
    1500
}
fn default_vxlan_port() -> u16 {
    VXLAN_PORT
}

impl ClusterSection {
    /// The registry's config.
    pub fn registry_config(&self) -> ClusterConfig {
        ClusterConfig {
            connect: self.connect.clone(),
            root: self.root.clone(),
            session_timeout_ms: self.session_timeout_ms,
            host_id: self.host_id.clone(),
            tunnel: self.tunnel.clone(),
            next_hop_mac: self.next_hop_mac,
            stats_interval_ms: self.stats_interval_ms,
        }
    }
}

/// `[[vxlan]]`: a plain-VXLAN (RFC 7348) overlay port, like a kernel `vxlan` device: what is
/// sent to it leaves encapsulated to `remote` on the underlay port; VXLAN frames from
/// `remote` with its VNI arrive on it and follow its default chain. Needs no ZooKeeper.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct VxlanSection {
    /// Port name (chains say `port:NAME`, `[default_chains]` NAME = ...). Required, unique
    /// among ports; the port is numbered after the `[[ports]]`.
    pub name: String,
    /// Underlay port (af-packet or af-xdp `[[ports]]` entry). Required.
    pub underlay: String,
    /// Local VTEP IPv4 address (outer source; ARP for it is answered). Required.
    pub local_ip: Ipv4Addr,
    /// Remote VTEP IPv4 address. Required.
    pub remote: Ipv4Addr,
    /// VXLAN network identifier (< 2^24). Required.
    pub vni: u32,
    /// UDP destination port. Default 4789.
    #[serde(default = "default_vxlan_port")]
    pub udp_port: u16,
    /// Static MAC of the remote's next hop. Default: ARP.
    #[serde(default)]
    pub remote_mac: Option<sluice_cluster::MacAddr>,
    /// Underlay IP MTU. Default 1500.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    /// MAC of the underlay port. Default: read from the interface.
    #[serde(default)]
    pub underlay_mac: Option<sluice_cluster::MacAddr>,
}

/// Adds the `[[vxlan]]` overlay ports to the port list (kind `null`; sluiced gives them their
/// behaviour), so chains and `[default_chains]` can name them.
pub fn add_overlay_ports(ports: &mut Vec<PortConfig>, vxlan: &[VxlanSection]) {
    for v in vxlan {
        ports.push(PortConfig {
            name: v.name.clone(),
            kind: PortKind::Null,
        });
    }
}

fn interface_of(ports: &[PortConfig], name: &str) -> Option<String> {
    ports
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| match &p.kind {
            PortKind::AfPacket(c) => Some(c.interface.clone()),
            PortKind::AfXdp(c) => Some(c.interface.clone()),
            _ => None,
        })
}

/// Checks `[cluster]` and `[[vxlan]]` against the ports (called while resolving the config).
pub fn check(
    cluster: Option<&ClusterSection>,
    vxlan: &[VxlanSection],
    ports: &[PortConfig],
) -> Result<(), String> {
    let overlay = |n: &str| vxlan.iter().any(|v| v.name == n);
    let underlay_ok = |n: &str, at: &str| -> Result<(), String> {
        if overlay(n) || !ports.iter().any(|p| p.name == n) {
            return Err(format!("{at}: no port named {n:?} in [[ports]]"));
        }
        if interface_of(ports, n).is_none() {
            return Err(format!(
                "{at}: port {n:?} must be an af-packet or af-xdp port (the tunnel's underlay)"
            ));
        }
        Ok(())
    };
    if let Some(c) = cluster {
        c.registry_config()
            .validate()
            .map_err(|e| format!("[cluster]: {e}"))?;
        if c.tunnel.mode != TunnelMode::Gpe {
            return Err(
                "[cluster] tunnel.mode: sluiced routes between hosts with \"gpe\" \
                        (VXLAN-GPE + NSH carries the chain position); for a plain VXLAN L2 \
                        overlay use a [[vxlan]] port"
                    .into(),
            );
        }
        if !c.tunnel.ip.is_ipv4() {
            return Err("[cluster] tunnel.ip: the underlay is IPv4 (there is no NDP here)".into());
        }
        underlay_ok(&c.tunnel.port, "[cluster] tunnel.port")?;
        if c.underlay_mtu < 576 {
            return Err(format!(
                "[cluster] underlay_mtu = {}: at least 576",
                c.underlay_mtu
            ));
        }
    }
    for (i, v) in vxlan.iter().enumerate() {
        let at = format!("[[vxlan]] #{} (name = {:?})", i + 1, v.name);
        underlay_ok(&v.underlay, &at)?;
        if v.vni >= 1 << 24 {
            return Err(format!("{at}: vni {} must be < 2^24", v.vni));
        }
        if v.udp_port == 0 {
            return Err(format!("{at}: udp_port must not be 0"));
        }
        if v.mtu < 576 {
            return Err(format!("{at}: mtu = {}: at least 576", v.mtu));
        }
        if vxlan[..i]
            .iter()
            .any(|o| o.underlay == v.underlay && o.local_ip == v.local_ip && o.vni == v.vni)
        {
            return Err(format!(
                "{at}: another overlay has the same underlay, local_ip and vni"
            ));
        }
    }
    Ok(())
}

/// The 16-bit host number carried in NSH metadata: FNV-1a of the host id folded to 16 bits
/// (never 0). Informational only; see the module docs.
pub fn host_number(host_id: &str) -> u16 {
    let mut h: u32 = 0x811c_9dc5;
    for b in host_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    match (h ^ (h >> 16)) as u16 {
        0 => 1,
        n => n,
    }
}

fn read_mac(ifname: &str) -> Result<MacAddr, String> {
    let path = format!("/sys/class/net/{ifname}/address");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the underlay MAC from {path}: {e}"))?;
    text.trim()
        .parse::<sluice_cluster::MacAddr>()
        .map(|m| m.0)
        .map_err(|e| format!("{path}: {e}"))
}

// ------------------------------------------------------------------------------------------
// Shared state
// ------------------------------------------------------------------------------------------

fn now_ns() -> u64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

const MAC_VALID: u64 = 1 << 48;
/// Retry an unanswered ARP request after this long.
const ARP_RETRY_NS: u64 = 200_000_000;
/// Refresh a resolved next hop this often.
const ARP_REFRESH_NS: u64 = 20_000_000_000;

/// One tunnel peer: another host (GPE + NSH) or an overlay's remote (VXLAN).
pub struct PeerState {
    /// Host id, or `overlay:<name>`.
    pub name: String,
    /// Tunnel address.
    pub ip: Ipv4Addr,
    /// Next hop to resolve (the peer itself: the underlay is one L2 segment).
    pub next_hop: Ipv4Addr,
    /// Local endpoint as seen by this peer (its UDP ports).
    local: Endpoint,
    /// Underlay port id.
    pub underlay: u16,
    /// Next-hop MAC | MAC_VALID, or 0.
    mac: AtomicU64,
    static_mac: bool,
    /// When the last ARP request went out (ns, `now_ns`).
    arp_at: AtomicU64,
    /// Counters (packets, bytes, drops by reason).
    pub counters: PeerCounters,
    kind: &'static str,
}

impl PeerState {
    fn new(
        name: String,
        ip: Ipv4Addr,
        local: Endpoint,
        underlay: u16,
        static_mac: Option<MacAddr>,
        kind: &'static str,
    ) -> PeerState {
        PeerState {
            name,
            next_hop: local.next_hop(ip),
            ip,
            local,
            underlay,
            mac: AtomicU64::new(static_mac.map_or(0, mac_word)),
            static_mac: static_mac.is_some(),
            arp_at: AtomicU64::new(0),
            counters: PeerCounters::new(),
            kind,
        }
    }

    /// The next-hop MAC, when resolved.
    #[inline]
    pub fn mac(&self) -> Option<MacAddr> {
        let w = self.mac.load(Ordering::Relaxed);
        (w & MAC_VALID != 0).then(|| {
            let b = w.to_be_bytes();
            [b[2], b[3], b[4], b[5], b[6], b[7]]
        })
    }

    fn learn(&self, mac: MacAddr) {
        if !self.static_mac {
            self.mac.store(mac_word(mac), Ordering::Relaxed);
        }
    }

    #[inline]
    fn peer(&self, mac: MacAddr) -> Peer {
        Peer {
            host_id: 0,
            ip: IpAddr::V4(self.ip),
            mac: Some(mac),
            mtu: None,
        }
    }
}

fn mac_word(m: MacAddr) -> u64 {
    MAC_VALID | u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

/// The other hosts, rebuilt by the control plane when the cluster view changes.
#[derive(Default)]
pub struct PeerTable {
    generation: u64,
    /// Peers sorted by host id.
    pub peers: Vec<Arc<PeerState>>,
}

impl PeerTable {
    #[inline]
    fn by_host(&self, host: &str) -> Option<&Arc<PeerState>> {
        self.peers
            .binary_search_by(|p| p.name.as_str().cmp(host))
            .ok()
            .map(|i| &self.peers[i])
    }

    #[inline]
    fn by_ip(&self, ip: Ipv4Addr) -> Option<&Arc<PeerState>> {
        self.peers.iter().find(|p| p.ip == ip)
    }
}

/// A plain-VXLAN overlay port.
pub struct Overlay {
    /// Port name.
    pub name: String,
    /// Its port id.
    pub port: u16,
    /// Underlay port id.
    pub underlay: u16,
    /// VNI.
    pub vni: u32,
    /// The remote VTEP.
    pub peer: Arc<PeerState>,
    /// Decapsulated frames on their way from the RX thread's underlay pass to the overlay
    /// port's receive half (both run on the RX thread).
    rx: LocalRing,
}

/// The ZooKeeper side (control plane only).
struct Zk {
    registry: Mutex<Option<Registry>>,
    host_id: String,
    view: ViewHandle,
    local_services: Mutex<Vec<(u16, u32)>>,
    peer_gen: Mutex<u64>,
}

/// Distributed-mode state shared by the control plane and the data-plane workers.
pub struct Cluster {
    /// This host's number in NSH metadata.
    pub host_number: u16,
    /// Routing policy.
    pub policy: SpreadPolicy,
    /// The cluster tunnel's underlay port and local endpoint (None: overlays only).
    endpoint: Option<(u16, Endpoint)>,
    static_mac: Option<MacAddr>,
    /// Other hosts.
    pub peers: ArcSwap<PeerTable>,
    /// Overlay ports.
    pub overlays: Vec<Overlay>,
    /// Frames on an underlay port from unknown senders.
    pub stray: PeerCounters,
    zk: Option<Zk>,
    service_names: BTreeMap<u16, String>,
    /// UDP ports decapsulated on the underlay: (vxlan, gpe).
    udp_ports: (u16, u16),
}

impl Cluster {
    /// Sets up distributed mode from the resolved config after the ports opened: overlay
    /// ports get their receive half and kind, and with `[cluster]` the registry starts
    /// (blocking up to about twice the session timeout; fails when ZooKeeper is unreachable
    /// or the host id is live elsewhere). `None` without `[cluster]` and `[[vxlan]]`.
    pub fn start(
        cluster: Option<&ClusterSection>,
        vxlan: &[VxlanSection],
        port_cfgs: &[PortConfig],
        port_names: &[String],
        services: BTreeMap<u16, String>,
        rx_halves: &mut Vec<(u16, Box<dyn RxPort>)>,
        kinds: &mut [&'static str],
    ) -> anyhow::Result<Option<Arc<Cluster>>> {
        if cluster.is_none() && vxlan.is_empty() {
            return Ok(None);
        }
        let port_id = |n: &str| port_names.iter().position(|p| p == n).map(|i| i as u16);
        let mac_of =
            |port: &str, over: Option<sluice_cluster::MacAddr>| -> anyhow::Result<MacAddr> {
                if let Some(m) = over {
                    return Ok(m.0);
                }
                let ifname = interface_of(port_cfgs, port)
                    .ok_or_else(|| anyhow::anyhow!("port {port:?} has no interface"))?;
                read_mac(&ifname).map_err(|e| anyhow::anyhow!(e))
            };
        let mut overlays = Vec::new();
        for v in vxlan {
            let port = port_id(&v.name).expect("overlay ports were added to the ports");
            let underlay = port_id(&v.underlay).expect("checked");
            let mut local = Endpoint::new(0, mac_of(&v.underlay, v.underlay_mac)?, v.local_ip);
            local.mtu = v.mtu;
            local.vxlan_port = v.udp_port;
            let peer = Arc::new(PeerState::new(
                format!("overlay:{}", v.name),
                v.remote,
                local,
                underlay,
                v.remote_mac.map(|m| m.0),
                "vxlan",
            ));
            overlays.push(Overlay {
                name: v.name.clone(),
                port,
                underlay,
                vni: v.vni,
                peer,
                rx: LocalRing::new(1024),
            });
            kinds[port as usize] = "vxlan";
        }
        let udp_ports = (
            vxlan.first().map_or(VXLAN_PORT, |v| v.udp_port),
            cluster.map_or(VXLAN_GPE_PORT, |c| c.tunnel.effective_udp_port()),
        );
        let mut endpoint = None;
        let mut zk = None;
        let mut host_number = 0;
        let mut policy = SpreadPolicy::PreferLocal;
        let mut static_mac = None;
        if let Some(c) = cluster {
            let underlay = port_id(&c.tunnel.port).expect("checked");
            let mac = mac_of(&c.tunnel.port, c.underlay_mac)?;
            let IpAddr::V4(ip) = c.tunnel.ip else {
                anyhow::bail!("[cluster] tunnel.ip must be IPv4");
            };
            host_number = self::host_number(&c.host_id);
            let mut ep = Endpoint::new(host_number, mac, ip);
            ep.mtu = c.underlay_mtu;
            ep.gpe_port = c.tunnel.effective_udp_port();
            endpoint = Some((underlay, ep));
            policy = match c.policy {
                PolicyConfig::PreferLocal => SpreadPolicy::PreferLocal,
                PolicyConfig::Spread => SpreadPolicy::Spread,
            };
            static_mac = c.next_hop_mac.map(|m| m.0);
            let cfg = c.registry_config();
            let record = HostRecord::from_config(
                &cfg,
                sluice_cluster::MacAddr(mac),
                "",
                env!("CARGO_PKG_VERSION"),
                0,
            );
            tracing::info!(
                host = %c.host_id, number = host_number, zookeeper = %c.connect,
                "distributed mode: registering with ZooKeeper"
            );
            let registry = Registry::start(cfg, record)
                .map_err(|e| anyhow::anyhow!("distributed mode: host {:?}: {e}", c.host_id))?;
            tracing::info!(
                host = %c.host_id,
                session = format!("0x{:x}", registry.session_id()),
                "distributed mode: registered"
            );
            zk = Some(Zk {
                view: registry.view_handle(),
                registry: Mutex::new(Some(registry)),
                host_id: c.host_id.clone(),
                local_services: Mutex::new(Vec::new()),
                peer_gen: Mutex::new(u64::MAX),
            });
        }
        let cl = Arc::new(Cluster {
            host_number,
            policy,
            endpoint,
            static_mac,
            peers: ArcSwap::from_pointee(PeerTable::default()),
            overlays,
            stray: PeerCounters::new(),
            zk,
            service_names: services,
            udp_ports,
        });
        for (i, o) in cl.overlays.iter().enumerate() {
            rx_halves.retain(|(id, _)| *id != o.port);
            rx_halves.push((
                o.port,
                Box::new(OverlayRx {
                    cl: cl.clone(),
                    idx: i,
                }),
            ));
        }
        cl.refresh();
        Ok(Some(cl))
    }

    /// True when packets for services without a local instance go to other hosts (NFs are
    /// told so at registration).
    pub fn remote_routing(&self) -> bool {
        self.zk.is_some()
    }

    /// Control-plane tick (every 50 ms): rebuild the peer table when the view changed and
    /// publish this host's services when they changed. Non-blocking.
    pub fn refresh(&self) {
        let Some(zk) = &self.zk else {
            return;
        };
        let Some((underlay, ep)) = &self.endpoint else {
            return;
        };
        let view = zk.view.load_full();
        let mut gen = zk.peer_gen.lock().expect("lock");
        if *gen == view.generation {
            return;
        }
        *gen = view.generation;
        let old = self.peers.load_full();
        let mut peers = Vec::new();
        for (id, rec) in &view.hosts {
            if *id == zk.host_id {
                continue;
            }
            let IpAddr::V4(ip) = rec.tunnel_ip else {
                tracing::warn!(host = %id, "peer has an IPv6 tunnel address: not reachable from here (IPv4 underlay)");
                continue;
            };
            let port = rec.tunnel_udp_port;
            let keep = old
                .by_host(id)
                .filter(|p| p.ip == ip && p.local.gpe_port == port)
                .cloned();
            peers.push(keep.unwrap_or_else(|| {
                let mut local = ep.clone();
                local.gpe_port = port;
                tracing::info!(host = %id, %ip, port, "tunnel peer added");
                Arc::new(PeerState::new(
                    id.clone(),
                    ip,
                    local,
                    *underlay,
                    self.static_mac,
                    "gpe",
                ))
            }));
        }
        for p in &old.peers {
            if !peers.iter().any(|q| Arc::ptr_eq(p, q)) {
                tracing::info!(host = %p.name, "tunnel peer removed");
            }
        }
        peers.sort_by(|a, b| a.name.cmp(&b.name));
        self.peers.store(Arc::new(PeerTable {
            generation: view.generation,
            peers,
        }));
    }

    /// Publishes this host's running instances per service (from the service tables), when
    /// they changed. Non-blocking.
    pub fn sync_services(&self, sh: &Shared) {
        let Some(zk) = &self.zk else {
            return;
        };
        let now: Vec<(u16, u32)> = (1..=sluice_shm::MAX_SERVICES as u16)
            .filter_map(|s| {
                let n = sh.region.service(s)?.instances.load(Ordering::Acquire);
                (n > 0).then_some((s, u32::from(n)))
            })
            .collect();
        let mut last = zk.local_services.lock().expect("lock");
        if *last != now {
            tracing::info!(services = ?now, "publishing local services");
            if let Some(r) = zk.registry.lock().expect("lock").as_ref() {
                r.set_local_services(&now);
            }
            *last = now;
        }
    }

    /// Publishes NF stats (rate-limited by the registry). Non-blocking.
    pub fn publish_stats(&self, nfs: &[sluice_ctl::NfInfo], ring_size: u32) {
        let Some(zk) = &self.zk else {
            return;
        };
        let recs = nfs
            .iter()
            .filter(|n| n.state == "running")
            .map(|n| NfStatsRecord {
                v: 1,
                service: n.service,
                instance: n.instance,
                rx_pps: n.rx_pps,
                tx_pps: n.tx_pps,
                drop_pps: 0.0,
                rx_ring_use: f64::from(n.rx_queue) / f64::from(ring_size.max(1)),
                headroom: 0,
            })
            .collect();
        if let Some(r) = zk.registry.lock().expect("lock").as_ref() {
            r.publish_stats(recs);
        }
    }

    /// Withdraws this host from the cluster at once (clean stop: its records go, the other
    /// hosts stop sending here). Blocks briefly.
    pub fn stop(&self) {
        if let Some(zk) = &self.zk {
            if let Some(r) = zk.registry.lock().expect("lock").take() {
                r.stop();
            }
        }
    }

    /// The operator's view.
    pub fn info(&self) -> sluice_ctl::ClusterInfo {
        let mut out = sluice_ctl::ClusterInfo {
            enabled: self.zk.is_some(),
            host_number: self.host_number,
            policy: match self.policy {
                SpreadPolicy::PreferLocal => "prefer-local",
                SpreadPolicy::Spread => "spread",
            }
            .into(),
            ..Default::default()
        };
        let name = |s: u16| self.service_names.get(&s).cloned().unwrap_or_default();
        if let Some(zk) = &self.zk {
            let view = zk.view.load_full();
            out.host_id = zk.host_id.clone();
            match zk.registry.lock().expect("lock").as_ref() {
                Some(r) => {
                    out.status = r.status().as_str().into();
                    out.session = format!("0x{:x}", r.session_id());
                }
                None => out.status = "stopped".into(),
            }
            out.hosts = view
                .hosts
                .values()
                .map(|h| sluice_ctl::ClusterHostInfo {
                    host_id: h.host_id.clone(),
                    tunnel: std::net::SocketAddr::new(h.tunnel_ip, h.tunnel_udp_port).to_string(),
                    mode: match h.tunnel_mode {
                        TunnelMode::Gpe => "gpe",
                        TunnelMode::Vxlan => "vxlan",
                    }
                    .into(),
                    mac: h.mac.to_string(),
                    version: h.version.clone(),
                    headroom: h.headroom,
                    local: h.host_id == zk.host_id,
                })
                .collect();
            out.services = view
                .services
                .iter()
                .map(|(&s, e)| sluice_ctl::ClusterServiceInfo {
                    service: s,
                    name: name(s),
                    hosts: e
                        .hosts
                        .iter()
                        .map(|h| (h.host_id.clone(), h.instances))
                        .collect(),
                })
                .collect();
            out.routes = route_table(&view, &zk.host_id, self.policy)
                .into_iter()
                .map(|r| sluice_ctl::ClusterRouteInfo {
                    service: r.service,
                    name: name(r.service),
                    local_instances: r.local_instances,
                    route: r.route.into(),
                    remote: r.remote,
                })
                .collect();
            out.ignored = view.ignored.clone();
        }
        let peers = self.peers.load_full();
        let all = peers
            .peers
            .iter()
            .map(|p| (p.as_ref(), p.name.clone()))
            .chain(
                self.overlays
                    .iter()
                    .map(|o| (o.peer.as_ref(), o.peer.name.clone())),
            );
        for (p, name) in all {
            out.peers.push(peer_info(
                &p.counters,
                name,
                p.ip.to_string(),
                p.mac(),
                p.kind,
            ));
        }
        out.peers.push(peer_info(
            &self.stray,
            "(unknown senders)".into(),
            String::new(),
            None,
            "",
        ));
        out
    }
}

fn peer_info(
    c: &PeerCounters,
    peer: String,
    ip: String,
    mac: Option<MacAddr>,
    kind: &str,
) -> sluice_ctl::TunnelPeerInfo {
    let s = c.snapshot();
    sluice_ctl::TunnelPeerInfo {
        peer,
        ip,
        mac: mac
            .map(|m| sluice_cluster::MacAddr(m).to_string())
            .unwrap_or_default(),
        kind: kind.into(),
        tx_packets: s.tx_packets,
        tx_bytes: s.tx_bytes,
        rx_packets: s.rx_packets,
        rx_bytes: s.rx_bytes,
        drops: s
            .drops
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// Receive half of an overlay port: frames the RX thread decapsulated from its underlay.
struct OverlayRx {
    cl: Arc<Cluster>,
    idx: usize,
}

impl RxPort for OverlayRx {
    fn rx_burst(&mut self, _region: &mut Buffers<'_>, out: &mut [u32]) -> usize {
        self.cl.overlays[self.idx].rx.ring().dequeue_sc(out)
    }
}

// ------------------------------------------------------------------------------------------
// Data plane
// ------------------------------------------------------------------------------------------

/// A data-plane worker's handle on distributed mode (one per RX / TX worker).
pub struct Remote {
    cl: Arc<Cluster>,
    view: Option<Arc<ClusterView>>,
    peers: Arc<PeerTable>,
    host_id: String,
    arp: ArpCache,
    underlays: Vec<u16>,
    polls: u32,
}

impl Remote {
    /// A worker's handle.
    pub fn new(cl: Arc<Cluster>) -> Remote {
        let mut underlays: Vec<u16> = cl.overlays.iter().map(|o| o.underlay).collect();
        underlays.extend(cl.endpoint.as_ref().map(|e| e.0));
        underlays.sort_unstable();
        underlays.dedup();
        Remote {
            host_id: cl
                .zk
                .as_ref()
                .map(|z| z.host_id.clone())
                .unwrap_or_default(),
            peers: cl.peers.load_full(),
            view: None,
            arp: ArpCache::new(ArpCache::DEFAULT_TTL_NS),
            underlays,
            polls: 0,
            cl,
        }
    }

    /// Start of a poll: the view and peers are loaded again when first needed.
    #[inline]
    pub fn begin(&mut self) {
        self.view = None;
    }

    #[inline]
    fn load(&mut self) {
        if self.view.is_none() {
            if let Some(zk) = &self.cl.zk {
                self.view = Some(zk.view.load_full());
            }
            let p = self.cl.peers.load();
            if p.generation != self.peers.generation || !Arc::ptr_eq(&p, &self.peers) {
                self.peers = arc_swap::Guard::into_inner(p);
            }
        }
    }

    /// True for a port whose frames go through [`Remote::rx_underlay`].
    #[inline]
    pub fn is_underlay(&self, port: u16) -> bool {
        self.underlays.contains(&port)
    }

    /// Spread policy: the remote host this packet of `service` should go to although a local
    /// instance exists, if any. Only for packets entering from a port.
    #[inline]
    pub fn spread(&mut self, service: u16, flow: u32) -> bool {
        if self.cl.policy != SpreadPolicy::Spread {
            return false;
        }
        self.load();
        let Some(v) = &self.view else {
            return false;
        };
        pick_host_with(
            v,
            service,
            u64::from(flow),
            &self.host_id,
            SpreadPolicy::Spread,
        )
        .is_some_and(|h| h != self.host_id)
    }

    /// Sends a packet for `service` (no local instance) to the host chosen for its flow:
    /// encapsulates it in place (VXLAN-GPE + NSH) and sets it to leave through the underlay
    /// port, whose id is returned. `Err(reason)`: drop it and count `reason`.
    pub fn send_remote(
        &mut self,
        sh: &Shared,
        slot: u32,
        meta: &mut SlotMeta,
        service: u16,
    ) -> Result<u16, u8> {
        let Some((underlay, _)) = &self.cl.endpoint else {
            return Err(drop_reason::NO_INSTANCE);
        };
        let underlay = *underlay;
        if meta.reserved & TUNNELLED != 0 {
            // Came in through the tunnel: at most one hop.
            return Err(drop_reason::NO_INSTANCE);
        }
        self.load();
        let Some(view) = &self.view else {
            return Err(drop_reason::NO_INSTANCE);
        };
        let Some(host) = pick_remote(view, service, u64::from(meta.flow_hash), &self.host_id)
        else {
            return Err(drop_reason::NO_INSTANCE);
        };
        let Some(peer) = self.peers.by_host(host) else {
            return Err(drop_reason::NO_INSTANCE);
        };
        let Some(mac) = peer.mac() else {
            peer.counters.count_drop(DropReason::NoNextHopMac);
            return Err(drop_reason::TUNNEL);
        };
        let nsh = Nsh::for_chain(
            meta.chain,
            meta.chain_index,
            Metadata {
                origin_host: self.cl.host_number,
                service,
                flow_hash: meta.flow_hash,
                in_port: meta.in_port,
                flags: meta.flags,
                hops: 0,
                tag: 0,
            },
        );
        let inner = meta.data_off as usize..meta.data_off as usize + meta.len as usize;
        // SAFETY: the manager holds the slot; data_off + len was validated against the data
        // area by the caller (port RX or the TX thread's descriptor check).
        let buf = unsafe { sh.region.frame_mut(slot, 0, inner.end as u16) };
        match encap_gpe_nsh(buf, inner, &peer.local, &peer.peer(mac), &nsh) {
            Ok(r) => {
                peer.counters.count_tx(r.len());
                meta.data_off = r.start as u16;
                meta.len = r.len() as u16;
                meta.action = ActionCode::Out as u8;
                meta.destination = underlay;
                Ok(underlay)
            }
            Err(e) => {
                peer.counters.count_drop(e.drop_reason());
                Err(drop_reason::TUNNEL)
            }
        }
    }

    /// A packet sent to port `port`: if it is an overlay port, encapsulates it in plain
    /// VXLAN to the overlay's remote and returns the underlay port (or the drop reason).
    /// `None`: not an overlay port.
    #[inline]
    pub fn overlay_tx(
        &mut self,
        sh: &Shared,
        slot: u32,
        meta: &mut SlotMeta,
        port: u16,
    ) -> Option<Result<u16, u8>> {
        let o = self.cl.overlays.iter().find(|o| o.port == port)?;
        let p = &o.peer;
        let Some(mac) = p.mac() else {
            p.counters.count_drop(DropReason::NoNextHopMac);
            return Some(Err(drop_reason::TUNNEL));
        };
        let inner = meta.data_off as usize..meta.data_off as usize + meta.len as usize;
        // SAFETY: as in send_remote.
        let buf = unsafe { sh.region.frame_mut(slot, 0, inner.end as u16) };
        Some(
            match encap_vxlan(buf, inner, &p.local, &p.peer(mac), o.vni, meta.flow_hash) {
                Ok(r) => {
                    p.counters.count_tx(r.len());
                    meta.data_off = r.start as u16;
                    meta.len = r.len() as u16;
                    meta.destination = o.underlay;
                    Ok(o.underlay)
                }
                Err(e) => {
                    p.counters.count_drop(e.drop_reason());
                    Err(drop_reason::TUNNEL)
                }
            },
        )
    }

    /// Frames received on an underlay port: ARP is answered (the reply reuses the request's
    /// buffer and goes to `to_tx`) and learned; GPE + NSH frames are decapsulated and go to a
    /// LOCAL instance of their service (`deliver`: instance, slot) or out of a port
    /// (`to_tx`), never into the tunnel again; plain VXLAN frames go to their overlay port.
    /// Everything else is freed (`free`) and counted in `drops`.
    pub fn rx_underlay(
        &mut self,
        sh: &Shared,
        port: u16,
        slots: &[u32],
        deliver: &mut Vec<(u16, u32)>,
        to_tx: &mut Vec<u32>,
        free: &mut Vec<u32>,
    ) {
        self.load();
        let region = &sh.region;
        let drops = &sh.rx_drops;
        for &s in slots {
            // SAFETY: the port just filled this slot for us (owner = manager).
            let meta = unsafe { &mut *region.meta(s) };
            // SAFETY: the port set data_off/len within the slot.
            let frame = unsafe { region.frame_mut(s, meta.data_off, meta.len) };
            meta.in_port = port;
            meta.src = 0;
            meta.reserved = 0;
            if frame.len() >= 14 && frame[12..14] == [0x08, 0x06] {
                if let Some(len) = self.arp(port, frame) {
                    meta.len = len as u16;
                    meta.action = ActionCode::Out as u8;
                    meta.destination = port;
                    to_tx.push(s);
                } else {
                    drops.add(drop_reason::UNDERLAY, 1);
                    free.push(s);
                }
                continue;
            }
            match self.decap_one(sh, port, s, meta) {
                Ok(Rx::Nf(iid)) => deliver.push((iid, s)),
                Ok(Rx::Port) => to_tx.push(s),
                Ok(Rx::Overlay(i)) => {
                    if self.cl.overlays[i].rx.ring().enqueue_sp(&[s]) == 0 {
                        drops.add(drop_reason::RING_FULL, 1);
                        free.push(s);
                    }
                }
                Err(r) => {
                    drops.add(r, 1);
                    free.push(s);
                }
            }
        }
    }

    /// Handles an ARP frame on `port`; returns the reply length when `frame` now holds a
    /// reply to send back.
    fn arp(&mut self, port: u16, frame: &mut [u8]) -> Option<usize> {
        let now = now_ns();
        let mut out = [0u8; 64];
        let eps = self
            .cl
            .endpoint
            .iter()
            .filter(|(p, _)| *p == port)
            .map(|(_, e)| e)
            .chain(
                self.cl
                    .overlays
                    .iter()
                    .filter(|o| o.underlay == port)
                    .map(|o| &o.peer.local),
            );
        let mut reply = None;
        for ep in eps {
            let Ok(o) = handle_arp(frame, ep, &mut self.arp, now, &mut out) else {
                continue;
            };
            if let Some((ip, mac)) = o.learned {
                for p in self.peers.peers.iter().filter(|p| p.next_hop == ip) {
                    p.learn(mac);
                }
                for o in self.cl.overlays.iter().filter(|o| o.peer.next_hop == ip) {
                    o.peer.learn(mac);
                }
            }
            if let Some(n) = o.reply_len {
                reply = Some(n);
                break;
            }
        }
        let n = reply?;
        // Pad to the Ethernet minimum.
        let len = n.max(60).min(frame.len().max(n));
        if frame.len() < n {
            return None;
        }
        frame[..n].copy_from_slice(&out[..n]);
        for b in frame[n..len].iter_mut() {
            *b = 0;
        }
        Some(len)
    }

    fn decap_one(
        &mut self,
        sh: &Shared,
        port: u16,
        slot: u32,
        meta: &mut SlotMeta,
    ) -> Result<Rx, u8> {
        let region = &sh.region;
        // SAFETY: as in rx_underlay.
        let frame = unsafe { region.frame_mut(slot, meta.data_off, meta.len) };
        let src = if frame.len() >= 34 && frame[12..14] == [0x08, 0x00] {
            Some(Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]))
        } else {
            None
        };
        let (vx, gpe) = self.cl.udp_ports;
        let d = match decap_ports(frame, vx, gpe) {
            Ok(d) => d,
            Err(r) => {
                let c = src
                    .and_then(|ip| self.sender(port, ip))
                    .unwrap_or(&self.cl.stray);
                c.count_drop(r);
                return Err(if r == DropReason::NotTunnel {
                    drop_reason::UNDERLAY
                } else {
                    drop_reason::TUNNEL
                });
            }
        };
        let IpAddr::V4(dst) = d.outer_dst else {
            self.cl.stray.count_drop(DropReason::NotForUs);
            return Err(drop_reason::TUNNEL);
        };
        let IpAddr::V4(src) = d.outer_src else {
            self.cl.stray.count_drop(DropReason::UnknownPeer);
            return Err(drop_reason::TUNNEL);
        };
        match d.kind {
            TunnelKind::GpeEthernet => {
                // VXLAN-GPE without NSH carries no chain position: not Sluice's tunnel.
                let c = self.sender(port, src).unwrap_or(&self.cl.stray);
                c.count_drop(DropReason::GpeNextProtocol);
                Err(drop_reason::TUNNEL)
            }
            TunnelKind::GpeNsh => {
                let ours = self
                    .cl
                    .endpoint
                    .as_ref()
                    .filter(|(p, e)| *p == port && e.ip == dst && e.mac == d.outer_dst_mac);
                let Some(peer) = self.peers.by_ip(src).cloned() else {
                    self.cl.stray.count_drop(if ours.is_some() {
                        DropReason::UnknownPeer
                    } else {
                        DropReason::NotForUs
                    });
                    return Err(drop_reason::TUNNEL);
                };
                let c = &peer.counters;
                if ours.is_none() {
                    c.count_drop(DropReason::NotForUs);
                    return Err(drop_reason::TUNNEL);
                }
                // Chain position: SPI = chain, SI = 255 - step; the service from the
                // metadata, else the chain step's.
                let chain = u16::try_from(d.spi)
                    .ok()
                    .filter(|&c| (c as usize) < sluice_shm::MAX_CHAINS);
                let step_no = Nsh::step_of(d.si);
                let step = chain
                    .and_then(|c| region.chain(c))
                    .and_then(|c| c.step(step_no as usize));
                let target = match (d.meta.service, step) {
                    (0, Some(s)) => Some(s),
                    (0, None) => None,
                    (s, _) => Some(Step::ToService(s)),
                };
                let fail = |r: DropReason| {
                    c.count_drop(r);
                    Err(drop_reason::TUNNEL)
                };
                let Some(target) = target else {
                    return fail(DropReason::UnknownService);
                };
                let Some(chain) = chain.or((d.meta.service != 0).then_some(0)) else {
                    return fail(DropReason::UnknownService);
                };
                let dest = match target {
                    Step::ToService(s) => {
                        let Some(t) = region.service(s) else {
                            return fail(DropReason::UnknownService);
                        };
                        let iid = match t.sole() {
                            0 => t.pick(d.meta.flow_hash),
                            only => Some(only),
                        };
                        let Some(iid) = iid else {
                            // The service vanished from this host on the way.
                            return fail(DropReason::UnknownService);
                        };
                        meta.action = ActionCode::ToService as u8;
                        meta.destination = s;
                        meta.owner = iid;
                        Rx::Nf(iid)
                    }
                    Step::Out(p) => {
                        if p >= region.num_ports() {
                            return fail(DropReason::UnknownService);
                        }
                        meta.action = ActionCode::Out as u8;
                        meta.destination = p;
                        Rx::Port
                    }
                };
                c.count_rx(frame.len());
                meta.data_off += d.inner.start as u16;
                meta.len = d.inner.len() as u16;
                meta.chain = chain;
                meta.chain_index = step_no;
                meta.flow_hash = d.meta.flow_hash;
                meta.flags = d.meta.flags;
                meta.reserved = TUNNELLED;
                Ok(dest)
            }
            TunnelKind::Vxlan => {
                let mut found = None;
                for (i, o) in self.cl.overlays.iter().enumerate() {
                    if o.underlay == port && o.peer.local.ip == dst {
                        found = Some(i);
                        if o.peer.ip == src && o.vni == d.vni {
                            break;
                        }
                    }
                }
                let Some(i) = found else {
                    self.cl.stray.count_drop(DropReason::NotForUs);
                    return Err(drop_reason::TUNNEL);
                };
                let o = &self.cl.overlays[i];
                if d.outer_dst_mac != o.peer.local.mac {
                    o.peer.counters.count_drop(DropReason::NotForUs);
                    return Err(drop_reason::TUNNEL);
                }
                if o.peer.ip != src {
                    self.cl.stray.count_drop(DropReason::UnknownPeer);
                    return Err(drop_reason::TUNNEL);
                }
                if o.vni != d.vni {
                    o.peer.counters.count_drop(DropReason::WrongVni);
                    return Err(drop_reason::TUNNEL);
                }
                o.peer.counters.count_rx(frame.len());
                let inner = &frame[d.inner.clone()];
                meta.flow_hash = flow_hash(inner);
                meta.data_off += d.inner.start as u16;
                meta.len = d.inner.len() as u16;
                meta.in_port = o.port;
                Ok(Rx::Overlay(i))
            }
        }
    }

    fn sender(&self, port: u16, ip: Ipv4Addr) -> Option<&PeerCounters> {
        if let Some(p) = self.peers.by_ip(ip) {
            return Some(&p.counters);
        }
        self.cl
            .overlays
            .iter()
            .find(|o| o.underlay == port && o.peer.ip == ip)
            .map(|o| &o.peer.counters)
    }

    /// TX thread, once per poll: ARP requests for unresolved next hops (every 200 ms until
    /// answered) and refreshes (every 20 s). The request buffers enter the accounting like
    /// NF allocations. `ports_ok(p)`: the port can transmit.
    pub fn tick(&mut self, sh: &Shared, pool: &mut PoolCache, port_bufs: &mut [Vec<u32>]) -> usize {
        self.polls = self.polls.wrapping_add(1);
        if !self.polls.is_multiple_of(16) {
            return 0;
        }
        let mut sent = 0;
        self.load();
        let now = now_ns();
        let peers = self.peers.clone();
        let all = peers
            .peers
            .iter()
            .map(|p| (p.as_ref(), self.cl.endpoint.as_ref().map(|e| &e.1)))
            .chain(
                self.cl
                    .overlays
                    .iter()
                    .map(|o| (o.peer.as_ref(), Some(&o.peer.local))),
            );
        for (p, ep) in all {
            let Some(ep) = ep else { continue };
            if p.static_mac {
                continue;
            }
            let last = p.arp_at.load(Ordering::Relaxed);
            let due = match p.mac() {
                None => last == 0 || now.saturating_sub(last) >= ARP_RETRY_NS,
                Some(_) => now.saturating_sub(last) >= ARP_REFRESH_NS,
            };
            let ul = p.underlay as usize;
            if !due || !sh.ports.get(ul).is_some_and(|i| i.has_tx) || ul >= port_bufs.len() {
                continue;
            }
            p.arp_at.store(now, Ordering::Relaxed);
            let mut s = [0u32; 1];
            if Buffers::cached(&sh.region, pool).alloc(&mut s, owner::MANAGER) == 0 {
                continue;
            }
            let s = s[0];
            let off = sh.region.headroom() as u16;
            // SAFETY: a slot we just allocated; 60 bytes fit any data room.
            let frame = unsafe { sh.region.frame_mut(s, off, 60) };
            frame.fill(0);
            if arp_request(frame, ep, p.next_hop).is_err() {
                Buffers::cached(&sh.region, pool).free(&[s]);
                continue;
            }
            // SAFETY: as above.
            let meta = unsafe { &mut *sh.region.meta(s) };
            meta.data_off = off;
            meta.len = 60;
            meta.action = ActionCode::Out as u8;
            meta.destination = p.underlay;
            meta.flow_hash = 0;
            meta.reserved = 0;
            meta.in_port = p.underlay;
            sh.nf_alloc.fetch_add(1, Ordering::Relaxed);
            port_bufs[ul].push(s);
            sent += 1;
        }
        sent
    }
}

enum Rx {
    Nf(u16),
    Port,
    Overlay(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const BASE: &str = r#"
[[services]]
id = 1
name = "fwd"

[[ports]]
name = "ul"
kind = "af-packet"
interface = "veth0"

[[ports]]
name = "out"
kind = "null"
"#;

    fn parse(extra: &str) -> Result<crate::config::Resolved, String> {
        Config::parse(&format!("{BASE}\n{extra}"), "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn cluster_table() {
        let r = parse(
            r#"
[[chains]]
name = "main"
steps = ["fwd", "port:out"]

[cluster]
connect = "10.0.0.1:2181,10.0.0.2:2181"
host_id = "h1"
policy = "spread"
tunnel = { port = "ul", ip = "10.1.0.1" }
"#,
        )
        .unwrap();
        let c = r.cfg.cluster.unwrap();
        assert_eq!(c.policy, PolicyConfig::Spread);
        assert_eq!(c.root, "/sluice");
        assert_eq!(c.session_timeout_ms, 4000);
        assert_eq!(c.tunnel.effective_udp_port(), 4790);
        assert_eq!(c.underlay_mtu, 1500);
        // No [cluster]: single host.
        let r = parse("").unwrap();
        assert!(r.cfg.cluster.is_none());
    }

    #[test]
    fn cluster_errors_name_the_field() {
        let e = parse(
            "[cluster]\nconnect = \"x:1\"\nhost_id = \"h\"\ntunnel = { port = \"nope\", ip = \"10.1.0.1\" }\n",
        )
        .unwrap_err();
        assert!(
            e.contains("[cluster] tunnel.port: no port named \"nope\""),
            "{e}"
        );
        let e = parse(
            "[cluster]\nconnect = \"x:1\"\nhost_id = \"h\"\ntunnel = { port = \"out\", ip = \"10.1.0.1\" }\n",
        )
        .unwrap_err();
        assert!(e.contains("must be an af-packet or af-xdp port"), "{e}");
        let e = parse(
            "[cluster]\nconnect = \"x:1\"\nhost_id = \"h\"\ntunnel = { port = \"ul\", ip = \"10.1.0.1\", mode = \"vxlan\" }\n",
        )
        .unwrap_err();
        assert!(e.contains("[[vxlan]]"), "{e}");
        let e = parse(
            "[cluster]\nconnect = \"x:1\"\nhost_id = \"bad id\"\ntunnel = { port = \"ul\", ip = \"10.1.0.1\" }\n",
        )
        .unwrap_err();
        assert!(e.contains("[cluster]"), "{e}");
        let e = parse("[cluster]\nconnect = \"x:1\"\nhost_id = \"h\"\nzk = 1\n").unwrap_err();
        assert!(e.contains("unknown field `zk`"), "{e}");
    }

    #[test]
    fn vxlan_overlay_is_a_port() {
        let r = parse(
            r#"
[[vxlan]]
name = "vx0"
underlay = "ul"
local_ip = "10.2.0.1"
remote = "10.2.0.2"
vni = 42

[[chains]]
name = "in"
steps = ["fwd", "port:vx0"]

[default_chains]
vx0 = "in"
"#,
        )
        .unwrap();
        assert_eq!(r.cfg.ports.len(), 3);
        assert_eq!(r.cfg.ports[2].name, "vx0");
        assert_eq!(r.chains[0].1[1], Step::Out(2));
        assert_eq!(r.port_chain[2], Some(0));
        assert_eq!(r.cfg.vxlan[0].udp_port, 4789);
        let e = parse(
            "[[vxlan]]\nname = \"vx0\"\nunderlay = \"ul\"\nlocal_ip = \"10.2.0.1\"\nremote = \"10.2.0.2\"\nvni = 16777216\n",
        )
        .unwrap_err();
        assert!(e.contains("vni 16777216 must be < 2^24"), "{e}");
    }

    #[test]
    fn host_numbers_are_stable_and_nonzero() {
        assert_eq!(host_number("h1"), host_number("h1"));
        assert_ne!(host_number("h1"), host_number("h2"));
        assert_ne!(host_number(""), 0);
    }

    #[test]
    fn mac_words() {
        let m = [2, 0, 0xaa, 0xbb, 0xcc, 0xdd];
        let p = PeerState::new(
            "x".into(),
            Ipv4Addr::new(10, 0, 0, 2),
            Endpoint::new(1, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 1)),
            0,
            None,
            "gpe",
        );
        assert_eq!(p.mac(), None);
        p.learn(m);
        assert_eq!(p.mac(), Some(m));
    }
}
