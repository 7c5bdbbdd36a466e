//! sluiced's TOML configuration: every field, its meaning and default. Loading checks
//! everything up front and reports file, location and reason.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sluice_ctl::RunMode;
use sluice_port::PortConfig;
use sluice_shm::{HugePolicy, RegionConfig, Step, MAX_CHAINS, MAX_CHAIN_LEN, MAX_SERVICES};
use sluice_wire::FlowKey;

/// The whole file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[manager]`: the daemon itself.
    #[serde(default)]
    pub manager: ManagerConfig,
    /// `[pool]`: the shared packet pool and rings.
    #[serde(default)]
    pub pool: PoolConfig,
    /// `[[services]]`: the services NFs may join.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// `[[chains]]`: named chains of up to 8 steps.
    #[serde(default)]
    pub chains: Vec<ChainConfig>,
    /// `[[ports]]`: ports, numbered from 0 in file order.
    #[serde(default)]
    pub ports: Vec<PortConfig>,
    /// `[default_chains]`: port name → chain for packets that match no flow rule.
    /// Ports not listed use `manager.default_chain`.
    #[serde(default)]
    pub default_chains: BTreeMap<String, String>,
    /// `[[flows]]`: flow-director rules installed at start.
    #[serde(default)]
    pub flows: Vec<FlowConfig>,
    /// `[cluster]`: distributed mode (ZooKeeper registry, tunnel to other hosts); see
    /// [`crate::cluster::ClusterSection`]. Default: none (single host, no ZooKeeper).
    #[serde(default)]
    pub cluster: Option<crate::cluster::ClusterSection>,
    /// `[[vxlan]]`: plain-VXLAN overlay ports; see [`crate::cluster::VxlanSection`].
    /// They are numbered after the `[[ports]]`, in file order. Default: none.
    #[serde(default)]
    pub vxlan: Vec<crate::cluster::VxlanSection>,
    /// `[dpdk]`: DPDK's environment, used when a port has `kind = "dpdk"`.
    #[serde(default)]
    pub dpdk: DpdkSection,
    /// `[vfd]`: VF policy (VFd-compatible PFs and VFs over sluiced ports); see
    /// [`crate::vf::VfdSection`]. Default: none.
    pub vfd: Option<crate::vf::VfdSection>,
}

/// `[dpdk]`: arguments of DPDK's EAL, set up once for all `dpdk` ports (needs a build with
/// `--features dpdk`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DpdkSection {
    /// EAL arguments, e.g. `["--no-huge", "-m", "512", "--no-shconf", "--file-prefix",
    /// "sluiced", "-l", "0"]`. Default: no hugepage mount needed and nothing left behind: a
    /// per-process `--file-prefix sluice-<pid>`, `--no-telemetry`, `-l` the current core,
    /// `--in-memory` when 256 or more 2 MiB hugepages are free, else `--no-huge -m 512
    /// --no-shconf`, and `--no-pci` unless a device is a PCI address (then `-a ADDR` for
    /// each). Give each process its own `--file-prefix`.
    pub eal_args: Option<Vec<String>>,
}

/// `[manager]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManagerConfig {
    /// Control socket for NFs and the CLI. Default `/run/sluice/sluiced.sock`.
    pub socket: PathBuf,
    /// File mode of the socket, octal text. Default `"0600"` (owner only).
    pub socket_mode: String,
    /// `"poll"` (NFs and data-plane threads busy-poll) or `"shared-core"` (idle NFs sleep on
    /// an eventfd and data-plane threads back off). Default `"poll"`.
    pub run_mode: RunMode,
    /// Data-plane threads: 2 = one RX and one TX thread, 1 = one thread does both.
    /// Default 2.
    pub threads: u8,
    /// CPU cores to pin the data-plane threads to (RX first, then TX). Default: none.
    pub cores: Vec<usize>,
    /// Refuse NFs for services not listed in `[[services]]`. Default true. When false, an
    /// NF naming an unknown numeric service creates it.
    pub strict_services: bool,
    /// Most instances per service. Default 32.
    pub max_instances_per_service: u16,
    /// Chain used by ports not listed in `[default_chains]`. Default: none (such packets are
    /// dropped as `chain_end`), or the only chain when exactly one is defined.
    pub default_chain: Option<String>,
    /// Seconds between statistics updates. Default 1.0.
    pub stats_interval: f64,
    /// Print the statistics table on stdout every interval. Default true.
    pub console: bool,
    /// Stop after this many seconds. Default: run until stopped.
    pub ttl: Option<f64>,
    /// Hold receiving until every service named in any chain has a running instance (useful with generator and pcap ports, so the first packets are not dropped
    /// for want of an NF). Default false: ports receive from the start.
    pub wait_for_chains: bool,
    /// Stop once every receiving port is exhausted (e.g. a replayed pcap) and no packet is in
    /// flight any more. Default false.
    pub stop_when_drained: bool,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            socket: sluice_ctl::DEFAULT_SOCKET.into(),
            socket_mode: "0600".into(),
            run_mode: RunMode::Poll,
            threads: 2,
            cores: Vec::new(),
            strict_services: true,
            max_instances_per_service: 32,
            default_chain: None,
            stats_interval: 1.0,
            console: true,
            ttl: None,
            wait_for_chains: false,
            stop_when_drained: false,
        }
    }
}

/// `[pool]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Packet buffers. Default 32768.
    pub slots: u32,
    /// Bytes of each buffer for the frame. Default 2048.
    pub data_room: u32,
    /// Bytes in front of each frame for headers added later. Default 128.
    pub headroom: u32,
    /// Entries in each NF's rx and tx ring (a power of two). Default 4096.
    pub ring_size: u32,
    /// Highest NF instance id + 1. Default 128.
    pub max_nfs: u16,
    /// `"auto"` (2 MiB hugepages when available, else normal pages), `"require"` or
    /// `"never"`. Default `"auto"`.
    pub hugepages: HugeConfig,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let r = RegionConfig::default();
        PoolConfig {
            slots: r.slots,
            data_room: r.data_room,
            headroom: r.headroom,
            ring_size: r.ring_size,
            max_nfs: r.max_nfs,
            hugepages: HugeConfig::Auto,
        }
    }
}

/// Hugepage policy as written in the file.
#[derive(Debug, Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HugeConfig {
    /// See [`HugePolicy::Auto`].
    #[default]
    Auto,
    /// See [`HugePolicy::Require`].
    Require,
    /// See [`HugePolicy::Never`].
    Never,
}

impl From<HugeConfig> for HugePolicy {
    fn from(h: HugeConfig) -> HugePolicy {
        match h {
            HugeConfig::Auto => HugePolicy::Auto,
            HugeConfig::Require => HugePolicy::Require,
            HugeConfig::Never => HugePolicy::Never,
        }
    }
}

/// `[[services]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Service id, 1 to 64. Required.
    pub id: u16,
    /// Name used by chains, NFs and the CLI. Required, unique.
    pub name: String,
}

/// `[[chains]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// Chain name. Required, unique.
    pub name: String,
    /// 1 to 8 steps: a service name (or id), or `port:NAME` to leave through a port.
    pub steps: Vec<String>,
}

/// `[[flows]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// Exact 5-tuple, e.g. `"10.0.0.1:1024 -> 10.0.1.1:5001 udp"` or
    /// `"[2001:db8::1]:1024 -> [2001:db8::2]:80 tcp"`.
    #[serde(rename = "match")]
    pub flow: String,
    /// Chain name for the flow.
    pub chain: String,
}

/// A configuration that passed every check, with names resolved to ids.
#[derive(Debug)]
pub struct Resolved {
    /// The file as read.
    pub cfg: Config,
    /// Shared-region sizes.
    pub region: RegionConfig,
    /// Chain names and steps, chain id = index.
    pub chains: Vec<(String, Vec<Step>)>,
    /// Default chain id per port id.
    pub port_chain: Vec<Option<u16>>,
    /// Flow rules: key → chain id.
    pub flows: Vec<(FlowKey, u16)>,
    /// Socket file mode.
    pub socket_mode: u32,
    /// PFs of `[vfd]` with their ports resolved.
    pub vf_pfs: Vec<crate::vf::PfSetup>,
}

/// A configuration error, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {msg}")]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// Location and reason.
    pub msg: String,
}

impl Config {
    /// Read and check a file.
    pub fn load(path: &Path) -> Result<Resolved, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            msg: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &file)
    }

    /// Parse and check TOML text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Resolved, ConfigError> {
        let err = |msg: String| ConfigError {
            file: file.to_string(),
            msg,
        };
        let cfg: Config =
            toml::from_str(text).map_err(|e| err(e.to_string().trim().to_string()))?;
        cfg.resolve().map_err(err)
    }

    fn resolve(mut self) -> Result<Resolved, String> {
        let m = &self.manager;
        if !(1..=2).contains(&m.threads) {
            return Err(format!("[manager] threads = {}: use 1 or 2", m.threads));
        }
        if m.stats_interval.is_nan() || m.stats_interval < 0.05 {
            return Err(format!(
                "[manager] stats_interval = {}: must be >= 0.05 s",
                m.stats_interval
            ));
        }
        let socket_mode = u32::from_str_radix(m.socket_mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|v| *v <= 0o777)
            .ok_or_else(|| {
                format!(
                    "[manager] socket_mode = {:?}: use octal like \"0600\"",
                    m.socket_mode
                )
            })?;
        let p = &self.pool;
        let region = RegionConfig {
            slots: p.slots,
            data_room: p.data_room,
            headroom: p.headroom,
            max_nfs: p.max_nfs,
            ring_size: p.ring_size,
        };
        if !p.ring_size.is_power_of_two() || p.ring_size < 32 {
            return Err(format!(
                "[pool] ring_size = {}: must be a power of two >= 32",
                p.ring_size
            ));
        }
        if !(2..=254).contains(&p.max_nfs) {
            return Err(format!("[pool] max_nfs = {}: must be 2..=254", p.max_nfs));
        }
        if p.slots < 64 {
            return Err(format!(
                "[pool] slots = {}: at least 64 buffers are needed",
                p.slots
            ));
        }

        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for (i, s) in self.services.iter().enumerate() {
            let at = format!("[[services]] #{} (name = {:?})", i + 1, s.name);
            if s.id == 0 || s.id as usize > MAX_SERVICES {
                return Err(format!(
                    "{at}: id {} is out of range 1..={MAX_SERVICES}",
                    s.id
                ));
            }
            if !ids.insert(s.id) {
                return Err(format!("{at}: duplicate service id {}", s.id));
            }
            if s.name.is_empty() || s.name.parse::<u16>().is_ok() {
                return Err(format!(
                    "{at}: a service name must be non-empty and not a number"
                ));
            }
            if !names.insert(s.name.as_str()) {
                return Err(format!("{at}: duplicate service name {:?}", s.name));
            }
        }

        crate::cluster::add_overlay_ports(&mut self.ports, &self.vxlan);
        let mut port_ids = BTreeMap::new();
        for (i, pc) in self.ports.iter().enumerate() {
            if port_ids.insert(pc.name.as_str(), i as u16).is_some() {
                return Err(format!(
                    "[[ports]] #{}: duplicate port name {:?}",
                    i + 1,
                    pc.name
                ));
            }
        }
        crate::cluster::check(self.cluster.as_ref(), &self.vxlan, &self.ports)?;

        if self.chains.len() > MAX_CHAINS {
            return Err(format!(
                "{} chains defined; at most {MAX_CHAINS}",
                self.chains.len()
            ));
        }
        let mut chains = Vec::new();
        let mut chain_ids = BTreeMap::new();
        for (i, c) in self.chains.iter().enumerate() {
            let at = format!("[[chains]] #{} (name = {:?})", i + 1, c.name);
            if chain_ids.insert(c.name.as_str(), i as u16).is_some() {
                return Err(format!("{at}: duplicate chain name"));
            }
            if c.steps.is_empty() || c.steps.len() > MAX_CHAIN_LEN {
                return Err(format!(
                    "{at}: {} steps; a chain has 1 to {MAX_CHAIN_LEN}",
                    c.steps.len()
                ));
            }
            let mut steps = Vec::new();
            for (j, s) in c.steps.iter().enumerate() {
                let step = if let Some(port) = s.strip_prefix("port:") {
                    Step::Out(*port_ids.get(port).ok_or_else(|| {
                        format!(
                            "{at}: step {} sends to port {port:?}, which is not in [[ports]]",
                            j + 1
                        )
                    })?)
                } else {
                    Step::ToService(self.service_id(s).ok_or_else(|| {
                        format!(
                            "{at}: step {} names service {s:?}, which is not defined in [[services]]",
                            j + 1
                        )
                    })?)
                };
                steps.push(step);
            }
            chains.push((c.name.clone(), steps));
        }

        let chain_of = |name: &str, at: &str| {
            chain_ids
                .get(name)
                .copied()
                .ok_or_else(|| format!("{at}: chain {name:?} is not defined in [[chains]]"))
        };
        let fallback = match &m.default_chain {
            Some(c) => Some(chain_of(c, "[manager] default_chain")?),
            None if chains.len() == 1 => Some(0),
            None => None,
        };
        let mut port_chain = vec![fallback; self.ports.len()];
        for (port, chain) in &self.default_chains {
            let at = format!("[default_chains] {port}");
            let pid = port_ids
                .get(port.as_str())
                .ok_or_else(|| format!("{at}: no port named {port:?} in [[ports]]"))?;
            port_chain[*pid as usize] = Some(chain_of(chain, &at)?);
        }

        let mut flows = Vec::new();
        let mut seen = HashSet::new();
        for (i, f) in self.flows.iter().enumerate() {
            let at = format!("[[flows]] #{}", i + 1);
            let key: FlowKey = f
                .flow
                .parse()
                .map_err(|e| format!("{at}: match = {:?}: {e}", f.flow))?;
            if !seen.insert(key) {
                return Err(format!("{at}: duplicate rule for {key}"));
            }
            flows.push((key, chain_of(&f.chain, &at)?));
        }

        let vf_pfs = match &self.vfd {
            Some(v) => crate::vf::resolve(v, &port_ids)?,
            None => Vec::new(),
        };

        Ok(Resolved {
            vf_pfs,
            region,
            chains,
            port_chain,
            flows,
            socket_mode,
            cfg: self,
        })
    }

    /// Service id by name or number (numbers must be defined too).
    pub fn service_id(&self, s: &str) -> Option<u16> {
        if let Ok(id) = s.parse::<u16>() {
            return self.services.iter().find(|x| x.id == id).map(|x| x.id);
        }
        self.services.iter().find(|x| x.name == s).map(|x| x.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[manager]
run_mode = "shared-core"
console = false

[[services]]
id = 1
name = "fw"

[[services]]
id = 2
name = "mon"

[[ports]]
name = "gen0"
kind = "generator"

[[ports]]
name = "sink"
kind = "null"

[[chains]]
name = "main"
steps = ["fw", "mon", "port:sink"]

[[chains]]
name = "fast"
steps = ["2", "port:sink"]

[default_chains]
gen0 = "main"

[[flows]]
match = "10.0.0.1:1024 -> 10.0.1.1:5001 udp"
chain = "fast"
"#;

    #[test]
    fn a_good_file_resolves_names() {
        let r = Config::parse(GOOD, "good.toml").unwrap();
        assert_eq!(
            r.chains[0].1,
            vec![Step::ToService(1), Step::ToService(2), Step::Out(1)]
        );
        assert_eq!(r.chains[1].1, vec![Step::ToService(2), Step::Out(1)]);
        assert_eq!(r.port_chain, vec![Some(0), None]);
        assert_eq!(r.flows.len(), 1);
        assert_eq!(r.flows[0].1, 1);
        assert_eq!(r.socket_mode, 0o600);
        assert_eq!(r.cfg.manager.run_mode, RunMode::SharedCore);
    }

    #[test]
    fn dpdk_table() {
        let r = Config::parse(GOOD, "good.toml").unwrap();
        assert!(r.cfg.dpdk.eal_args.is_none());
        let text = format!("{GOOD}\n[dpdk]\neal_args = [\"--no-huge\", \"-m\", \"256\"]\n");
        let r = Config::parse(&text, "good.toml").unwrap();
        assert_eq!(
            r.cfg.dpdk.eal_args.as_deref(),
            Some(&["--no-huge".to_string(), "-m".into(), "256".into()][..])
        );
        let e = refused(&format!("{GOOD}\n[dpdk]\neal = []\n"));
        assert!(e.contains("unknown field `eal`"), "{e}");
    }

    fn refused(text: &str) -> String {
        Config::parse(text, "bad.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_file_place_and_reason() {
        let e = refused("[manager]\nthreadz = 2\n");
        assert!(
            e.starts_with("bad.toml: ") && e.contains("threadz") && e.contains("line 2"),
            "{e}"
        );
        let e = refused(&GOOD.replace("id = 2\nname = \"mon\"", "id = 1\nname = \"mon\""));
        assert!(
            e.contains("[[services]] #2") && e.contains("duplicate service id 1"),
            "{e}"
        );
        let e = refused(&GOOD.replace("\"fw\", \"mon\"", "\"fw\", \"nat\""));
        assert!(
            e.contains("[[chains]] #1") && e.contains("step 2 names service \"nat\""),
            "{e}"
        );
        let e = refused(&GOOD.replace(
            "port:sink\"]\n\n[[chains]]",
            "port:nowhere\"]\n\n[[chains]]",
        ));
        assert!(e.contains("port \"nowhere\""), "{e}");
        let e = refused(&GOOD.replace("chain = \"fast\"", "chain = \"slow\""));
        assert!(e.contains("[[flows]] #1") && e.contains("\"slow\""), "{e}");
        let e = refused(&GOOD.replace("udp\"", "udpx\""));
        assert!(e.contains("[[flows]] #1: match"), "{e}");
        let e = refused("[pool]\nring_size = 1000\n");
        assert!(e.contains("ring_size = 1000"), "{e}");
        let e = refused("this is not toml");
        assert!(e.starts_with("bad.toml: "), "{e}");
        let e = refused(&GOOD.replace(
            "name = \"fast\"\nsteps = [\"2\", \"port:sink\"]",
            "name = \"fast\"\nsteps = []",
        ));
        assert!(e.contains("0 steps"), "{e}");
    }
}
