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
    /// Full statistics snapshot.
    Stats,
    /// Ask sluiced to stop.
    Shutdown,
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
