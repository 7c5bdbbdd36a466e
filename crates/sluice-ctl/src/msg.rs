//! Message types. Every message is a JSON object; unknown fields are refused so that a
//! mismatched peer fails loudly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How an NF waits for packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    /// Busy-poll the rx ring on a dedicated core.
    #[default]
    Poll,
    /// Sleep on an eventfd when idle; producers wake it.
    SharedCore,
}

impl std::fmt::Display for RunMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunMode::Poll => "poll",
            RunMode::SharedCore => "shared-core",
        })
    }
}

/// Client → sluiced.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// An NF asks to join `service`. Answered by `Registered` (with the region fd and the
    /// eventfds of all instance slots) or `Refused`.
    Register {
        /// Human-readable tag.
        name: String,
        /// Service id (1..=64) or name.
        service: String,
        /// Requested instance id, or None to let the manager choose.
        instance: Option<u16>,
        /// The NF's run mode, or None for the manager's default.
        mode: Option<RunMode>,
        /// The NF's process id (for `sluice nfs`).
        pid: u32,
    },
    /// The NF mapped the region and is about to poll its ring.
    Ready,
    /// The NF asks for fresh buffers (e.g. a packet generator NF).
    Alloc {
        /// How many.
        count: u32,
    },
    /// The NF is leaving on its own (TTL, packet limit, signal).
    Stopping,
    /// List NF instances.
    Nfs,
    /// List services.
    Services,
    /// List chains.
    Chains,
    /// List ports.
    Ports,
    /// Add a flow-director rule.
    FlowAdd {
        /// 5-tuple, e.g. `10.0.0.1:1000 -> 10.0.0.2:80 udp`.
        flow: String,
        /// Chain name.
        chain: String,
    },
    /// Delete a flow-director rule.
    FlowDel {
        /// 5-tuple as for `FlowAdd`.
        flow: String,
    },
    /// List flow-director rules.
    FlowList,
    /// Distributed mode: hosts, services, routes and tunnel peers as this host sees them.
    /// Answered by `Cluster`.
    Cluster,
    /// Full statistics snapshot.
    Stats,
    /// Ask sluiced to stop.
    Shutdown,
    /// A VFd request (what `iplex` and `sluice vf` send): `action` is one of add, delete,
    /// show, ping, verbose, dump, mirror, clear; `resource` its argument (a file name, what
    /// to show, `"pf vf dir [target]"` for mirror).
    Vf {
        /// The action.
        action: String,
        /// Its argument ("" when none).
        resource: String,
        /// Log level for `verbose`.
        loglevel: Option<u32>,
    },
}

/// sluiced → client.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// Registration accepted. Fds: [region memfd, eventfd of instance 0, 1, ... max_nfs-1].
    Registered {
        /// The instance id assigned.
        instance: u16,
        /// The resolved service id.
        service: u16,
        /// Bytes of the region to map.
        region_size: u64,
        /// Run mode to use.
        mode: RunMode,
        /// Distributed mode: packets for a service with no local instance go to the manager
        /// (action ToService on the tx ring), which sends them to another host, instead of
        /// being dropped as `no_instance` by the NF. False on a single host.
        #[serde(default)]
        remote: bool,
    },
    /// Registration refused.
    Refused {
        /// Why, for the operator.
        reason: String,
    },
    /// Buffers granted by `Alloc` (owned by the NF now).
    Allocated {
        /// Slot indices.
        slots: Vec<u32>,
    },
    /// The manager asks the NF to stop.
    Stop,
    /// Generic success.
    Ok,
    /// A request failed.
    Error {
        /// What went wrong.
        message: String,
    },
    /// Answer to `Nfs`.
    Nfs(Vec<NfInfo>),
    /// Answer to `Services`.
    Services(Vec<ServiceInfo>),
    /// Answer to `Chains`.
    Chains(Vec<ChainInfo>),
    /// Answer to `Ports`.
    Ports(Vec<PortInfo>),
    /// Answer to `FlowList`.
    Flows(Vec<FlowInfo>),
    /// Answer to `Vf`, as VFd answers iplex: a state and message lines, plus structured data
    /// (counters for `show`) for `--json`.
    Vf(VfReply),
    /// Answer to `Cluster`.
    Cluster(Box<ClusterInfo>),
    /// Answer to `Stats`.
    Stats(Box<StatsSnapshot>),
}

/// One NF instance.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NfInfo {
    /// Instance id.
    pub instance: u16,
    /// Service id.
    pub service: u16,
    /// Service name.
    pub service_name: String,
    /// NF tag.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// starting / running / stopping.
    pub state: String,
    /// Run mode.
    pub mode: RunMode,
    /// Packets received.
    pub rx: u64,
    /// Packets sent on (to NFs and to the manager).
    pub tx: u64,
    /// Receive rate over the last stats period.
    pub rx_pps: f64,
    /// Transmit rate over the last stats period.
    pub tx_pps: f64,
    /// Actions returned: drop, next, tonf, out.
    pub actions: BTreeMap<String, u64>,
    /// Drops by reason.
    pub drops: BTreeMap<String, u64>,
    /// Times it slept / was woken (shared-core mode).
    pub sleeps: u64,
    /// See `sleeps`.
    pub wakeups: u64,
    /// Packets waiting in its rx ring.
    pub rx_queue: u32,
}

/// One service.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ServiceInfo {
    /// Service id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Running instance ids.
    pub instances: Vec<u16>,
    /// Buckets of the flow map each instance owns (same order as `instances`).
    pub buckets: Vec<u32>,
}

/// One chain.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ChainInfo {
    /// Chain id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Steps as text (`service:firewall`, `port:out0`).
    pub steps: Vec<String>,
    /// Ports whose default chain this is.
    pub default_for: Vec<String>,
}

/// One port.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PortInfo {
    /// Port id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Kind (generator, null, pcap, ...).
    pub kind: String,
    /// Packets received.
    pub rx: u64,
    /// Packets transmitted.
    pub tx: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Receive rate over the last stats period.
    pub rx_pps: f64,
    /// Transmit rate over the last stats period.
    pub tx_pps: f64,
    /// Drops by reason (rx_no_buffer, tx_full, ...).
    pub drops: BTreeMap<String, u64>,
    /// Receive errors (malformed input, I/O errors).
    pub errors: u64,
    /// Link state: "up" or "down".
    pub link: String,
}

/// One flow-director rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FlowInfo {
    /// The 5-tuple.
    pub flow: String,
    /// Chain name.
    pub chain: String,
}

/// Everything `sluice stats` shows.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StatsSnapshot {
    /// Seconds since sluiced started.
    pub uptime_s: f64,
    /// Buffers in the pool.
    pub pool_size: u32,
    /// Buffers free now.
    pub pool_free: u32,
    /// Hugepages or normal pages.
    pub memory: String,
    /// Ports.
    pub ports: Vec<PortInfo>,
    /// NF instances, running and gone (the gone ones keep their final counters).
    pub nfs: Vec<NfInfo>,
    /// Drops by reason counted by the manager itself.
    pub manager_drops: BTreeMap<String, u64>,
    /// Packet accounting: packets that entered (port rx + NF allocations), left (port tx),
    /// were dropped (all reasons, all places) and are in flight (buffers not in the pool).
    pub accounting: Accounting,
}

/// Packet conservation: `entered = left + dropped + in_flight`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Accounting {
    /// Packets received on ports plus buffers granted to NFs.
    pub entered: u64,
    /// Packets transmitted on ports.
    pub left: u64,
    /// Packets dropped, every reason.
    pub dropped: u64,
    /// Buffers not in the pool right now.
    pub in_flight: u64,
}

/// sluiced's answer to a VFd request.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VfReply {
    /// True for VFd's `"OK"`, false for `"ERROR"`.
    pub ok: bool,
    /// Message lines (VFd splits its text on newlines).
    pub msg: Vec<String>,
    /// Counter rows of `show` (PFs and their configured VFs), empty otherwise.
    pub rows: Vec<VfRow>,
}

/// One row of `iplex show`: a PF or one of its VFs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VfRow {
    /// `"pf"` or `"vf"`.
    pub kind: String,
    /// PF number (index in the PF list) or vfid.
    pub id: u32,
    /// The PF's id (PCI address or name); for a VF, its PF's.
    pub pciid: String,
    /// Sluice port carrying it.
    pub port: String,
    /// `"UP"` or `"DOWN"`.
    pub link: String,
    /// Link speed in Mbps (PF rows).
    pub speed: u32,
    /// Frames received (delivered to the VF / from the wire).
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Frames dropped on receive (filters, link down).
    pub rx_dropped: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Frames dropped on transmit (rate limit, link down).
    pub tx_dropped: u64,
    /// Spoofed frames dropped (source MAC or VLAN not allowed).
    pub spoofed: u64,
    /// Frames mirrored.
    pub mirrored: u64,
}

/// Distributed mode as one host sees it (`sluice cluster hosts|services|routes`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterInfo {
    /// False when sluiced runs without a `[cluster]` table (single host); the lists then
    /// hold only the plain-VXLAN overlay peers, if any.
    pub enabled: bool,
    /// This host's id.
    pub host_id: String,
    /// This host's 16-bit number in NSH metadata (derived from the host id).
    pub host_number: u16,
    /// ZooKeeper session state: connected, suspended, expired, conflict, stopped.
    pub status: String,
    /// ZooKeeper session id (hex).
    pub session: String,
    /// Routing policy: prefer-local or spread.
    pub policy: String,
    /// Live hosts (from the local cache of ZooKeeper).
    pub hosts: Vec<ClusterHostInfo>,
    /// Services and the hosts that run them.
    pub services: Vec<ClusterServiceInfo>,
    /// Where this host sends each service's packets.
    pub routes: Vec<ClusterRouteInfo>,
    /// Tunnel peers with their counters.
    pub peers: Vec<TunnelPeerInfo>,
    /// Znodes ignored because their payload is garbage, with the reason.
    pub ignored: Vec<String>,
}

/// One live host of the cluster.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterHostInfo {
    /// Host id.
    pub host_id: String,
    /// Tunnel endpoint `ip:port`.
    pub tunnel: String,
    /// Tunnel mode (gpe or vxlan).
    pub mode: String,
    /// Underlay MAC.
    pub mac: String,
    /// Sluice version.
    pub version: String,
    /// Spare capacity (NF instances).
    pub headroom: u32,
    /// True for this host.
    pub local: bool,
}

/// One service across the cluster.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterServiceInfo {
    /// Service id.
    pub service: u16,
    /// Service name on this host ("" when not configured here).
    pub name: String,
    /// (host id, instances) of every host that runs it.
    pub hosts: Vec<(String, u32)>,
}

/// This host's route for one service.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ClusterRouteInfo {
    /// Service id.
    pub service: u16,
    /// Service name on this host.
    pub name: String,
    /// Local instances.
    pub local_instances: u32,
    /// local, remote or none.
    pub route: String,
    /// Remote hosts that get flows: (host id, tunnel endpoint, instances).
    pub remote: Vec<(String, String, u32)>,
}

/// One tunnel peer (another host, or the remote end of a plain-VXLAN overlay port).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TunnelPeerInfo {
    /// Host id, or `overlay:<port name>` for a plain-VXLAN overlay's remote.
    pub peer: String,
    /// Tunnel address.
    pub ip: String,
    /// Underlay next-hop MAC ("" until resolved by ARP).
    pub mac: String,
    /// gpe (VXLAN-GPE + NSH) or vxlan.
    pub kind: String,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent (outer headers included).
    pub tx_bytes: u64,
    /// Frames received and accepted.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Drops by reason (non-zero only).
    pub drops: BTreeMap<String, u64>,
}
