//! Cluster configuration: the optional `[cluster]` table of sluiced's TOML.
//!
//! Without it Sluice stays single-host and needs no ZooKeeper. Example:
//!
//! ```toml
//! [cluster]
//! connect = "10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181"
//! root = "/sluice"
//! session_timeout_ms = 4000
//! host_id = "rack1-host3"
//! stats_interval_ms = 1000
//! next_hop_mac = "02:00:00:00:00:01"
//!
//! [cluster.tunnel]
//! port = "uplink0"
//! ip = "192.0.2.13"
//! udp_port = 4790
//! mode = "gpe"
//! vni = 0
//! ```

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Default ZooKeeper root path.
pub const DEFAULT_ROOT: &str = "/sluice";
/// Default session timeout (ms).
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 4000;
/// Default minimum interval between two NF-stats writes (ms).
pub const DEFAULT_STATS_INTERVAL_MS: u64 = 1000;
/// Smallest accepted session timeout (ms). ZooKeeper clamps to 2..20 ticks anyway.
pub const MIN_SESSION_TIMEOUT_MS: u64 = 1000;
/// Largest accepted session timeout (ms).
pub const MAX_SESSION_TIMEOUT_MS: u64 = 120_000;
/// Smallest accepted stats interval (ms): keeps ZooKeeper writes bounded.
pub const MIN_STATS_INTERVAL_MS: u64 = 100;

/// Errors in the `[cluster]` configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// `connect` is empty or an entry is not `host:port`.
    #[error("cluster.connect {0:?}: expected a comma-separated list of host:port (e.g. \"10.0.0.1:2181,10.0.0.2:2181\")")]
    Connect(String),
    /// `root` is not a valid absolute ZooKeeper path.
    #[error("cluster.root {0:?}: expected an absolute ZooKeeper path such as \"/sluice\" (no trailing '/', no empty, '.' or '..' components, not under /zookeeper)")]
    Root(String),
    /// `host_id` cannot be a znode name.
    #[error(
        "cluster.host_id {0:?}: use 1 to 64 characters from [A-Za-z0-9._-], not \".\" or \"..\""
    )]
    HostId(String),
    /// `session_timeout_ms` out of range.
    #[error("cluster.session_timeout_ms {0}: must be between {MIN_SESSION_TIMEOUT_MS} and {MAX_SESSION_TIMEOUT_MS}")]
    SessionTimeout(u64),
    /// `stats_interval_ms` too small.
    #[error("cluster.stats_interval_ms {0}: must be at least {MIN_STATS_INTERVAL_MS}")]
    StatsInterval(u64),
    /// `tunnel.port` is empty.
    #[error("cluster.tunnel.port is empty: name the underlay port the tunnel is sent on")]
    TunnelPort,
    /// `tunnel.udp_port` is 0.
    #[error("cluster.tunnel.udp_port must not be 0 (VXLAN uses 4789, VXLAN-GPE 4790)")]
    UdpPort,
    /// `tunnel.vni` does not fit in 24 bits.
    #[error("cluster.tunnel.vni {0}: must be below 16777216 (24 bits)")]
    Vni(u32),
    /// `tunnel.ip` is unspecified or multicast.
    #[error("cluster.tunnel.ip {0}: must be a unicast address of this host")]
    TunnelIp(IpAddr),
}

/// Tunnel encapsulation between hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TunnelMode {
    /// VXLAN-GPE + NSH (RFC 8300), carries the chain position across hosts. Default.
    #[default]
    Gpe,
    /// Plain VXLAN (RFC 7348).
    Vxlan,
}

impl TunnelMode {
    /// The IANA UDP port of this encapsulation (4790 for GPE, 4789 for VXLAN).
    pub fn default_udp_port(self) -> u16 {
        match self {
            TunnelMode::Gpe => 4790,
            TunnelMode::Vxlan => 4789,
        }
    }
}

/// This host's tunnel endpoint (`[cluster.tunnel]`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelConfig {
    /// Name of the underlay port (one of `[[ports]]`) the tunnel is sent and received on. Required.
    pub port: String,
    /// IP address of this host on the underlay; other hosts send their tunnel packets to it. Required.
    pub ip: IpAddr,
    /// UDP destination port of the tunnel. Default: 4790 for `gpe`, 4789 for `vxlan`.
    #[serde(default)]
    pub udp_port: Option<u16>,
    /// Encapsulation: `gpe` (VXLAN-GPE + NSH, default) or `vxlan`.
    #[serde(default)]
    pub mode: TunnelMode,
    /// VXLAN network identifier (24 bits). Default 0.
    #[serde(default)]
    pub vni: u32,
}

impl TunnelConfig {
    /// The UDP port in effect (configured, else the mode's default).
    pub fn effective_udp_port(&self) -> u16 {
        self.udp_port
            .unwrap_or_else(|| self.mode.default_udp_port())
    }
}

/// The `[cluster]` table. Every field is documented with its default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// ZooKeeper connect string: comma-separated `host:port` of the ensemble's servers. Required.
    pub connect: String,
    /// Root path of Sluice's znodes. Default `/sluice`. Several clusters can share an ensemble
    /// under different roots.
    #[serde(default = "default_root")]
    pub root: String,
    /// Requested ZooKeeper session timeout in ms (the server may clamp it to 2..20 ticks).
    /// A crashed or cut-off host leaves the other hosts' routes within about this time.
    /// Default 4000.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_ms: u64,
    /// This host's id in the cluster, unique among live hosts; also its znode name. Required.
    pub host_id: String,
    /// This host's tunnel endpoint. Required.
    pub tunnel: TunnelConfig,
    /// Optional static next-hop MAC (`aa:bb:cc:dd:ee:ff`) for tunnel packets, for underlays
    /// where ARP is not wanted. Default: none (resolve the peer address).
    #[serde(default)]
    pub next_hop_mac: Option<MacAddr>,
    /// Minimum interval in ms between two writes of this host's NF stats to ZooKeeper.
    /// Default 1000.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_ms: u64,
}

fn default_root() -> String {
    DEFAULT_ROOT.to_string()
}
fn default_session_timeout() -> u64 {
    DEFAULT_SESSION_TIMEOUT_MS
}
fn default_stats_interval() -> u64 {
    DEFAULT_STATS_INTERVAL_MS
}

impl ClusterConfig {
    /// A config with defaults for the optional fields (handy for tests and tools).
    pub fn new(connect: &str, host_id: &str, tunnel_ip: IpAddr) -> ClusterConfig {
        ClusterConfig {
            connect: connect.to_string(),
            root: default_root(),
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT_MS,
            host_id: host_id.to_string(),
            tunnel: TunnelConfig {
                port: "uplink".to_string(),
                ip: tunnel_ip,
                udp_port: None,
                mode: TunnelMode::Gpe,
                vni: 0,
            },
            next_hop_mac: None,
            stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
        }
    }

    /// Checks every field; the error names the field and says what is expected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_connect(&self.connect)?;
        validate_root(&self.root)?;
        if !valid_node_name(&self.host_id) {
            return Err(ConfigError::HostId(self.host_id.clone()));
        }
        if !(MIN_SESSION_TIMEOUT_MS..=MAX_SESSION_TIMEOUT_MS).contains(&self.session_timeout_ms) {
            return Err(ConfigError::SessionTimeout(self.session_timeout_ms));
        }
        if self.stats_interval_ms < MIN_STATS_INTERVAL_MS {
            return Err(ConfigError::StatsInterval(self.stats_interval_ms));
        }
        if self.tunnel.port.trim().is_empty() {
            return Err(ConfigError::TunnelPort);
        }
        if self.tunnel.udp_port == Some(0) {
            return Err(ConfigError::UdpPort);
        }
        if self.tunnel.vni >= 1 << 24 {
            return Err(ConfigError::Vni(self.tunnel.vni));
        }
        if self.tunnel.ip.is_unspecified() || self.tunnel.ip.is_multicast() {
            return Err(ConfigError::TunnelIp(self.tunnel.ip));
        }
        Ok(())
    }

    /// `<root>/hosts`.
    pub fn hosts_path(&self) -> String {
        format!("{}/hosts", self.root)
    }
    /// `<root>/services`.
    pub fn services_path(&self) -> String {
        format!("{}/services", self.root)
    }
    /// `<root>/stats`.
    pub fn stats_path(&self) -> String {
        format!("{}/stats", self.root)
    }
}

fn validate_connect(connect: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::Connect(connect.to_string());
    if connect.trim().is_empty() || connect.contains('/') {
        return Err(bad());
    }
    for entry in connect.split(',') {
        let entry = entry.trim();
        let (host, port) = entry.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(bad());
        }
    }
    Ok(())
}

fn validate_root(root: &str) -> Result<(), ConfigError> {
    let bad = || ConfigError::Root(root.to_string());
    if !root.starts_with('/') || root.len() < 2 || root.ends_with('/') {
        return Err(bad());
    }
    for comp in root[1..].split('/') {
        if comp.is_empty() || comp == "." || comp == ".." || comp.chars().any(|c| c.is_control()) {
            return Err(bad());
        }
    }
    if root == "/zookeeper" || root.starts_with("/zookeeper/") {
        return Err(bad());
    }
    Ok(())
}

/// Whether `name` is usable as a host id / znode name: 1..=64 of `[A-Za-z0-9._-]`, not `.`/`..`.
pub fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// An Ethernet MAC address; (de)serialized as `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

/// A string that is not `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a MAC address (expected six hex bytes like 02:00:00:00:00:01)")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(|| MacParseError(s.to_string()))?;
            if p.is_empty() || p.len() > 2 {
                return Err(MacParseError(s.to_string()));
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| MacParseError(s.to_string()))?;
        }
        if parts.next().is_some() {
            return Err(MacParseError(s.to_string()));
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ClusterConfig, String> {
        let cfg: ClusterConfig = toml::from_str(s).map_err(|e| e.to_string())?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    const MIN: &str = r#"
        connect = "127.0.0.1:2181"
        host_id = "h1"
        [tunnel]
        port = "uplink0"
        ip = "192.0.2.1"
    "#;

    #[test]
    fn defaults() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.root, "/sluice");
        assert_eq!(c.session_timeout_ms, 4000);
        assert_eq!(c.stats_interval_ms, 1000);
        assert_eq!(c.tunnel.mode, TunnelMode::Gpe);
        assert_eq!(c.tunnel.effective_udp_port(), 4790);
        assert_eq!(c.next_hop_mac, None);
        assert_eq!(c.hosts_path(), "/sluice/hosts");
    }

    #[test]
    fn full() {
        let c = parse(
            r#"
            connect = "a:1,b:2, c:3"
            root = "/x/y"
            session_timeout_ms = 2000
            host_id = "rack1-h_3.x"
            next_hop_mac = "02:00:00:00:00:0A"
            stats_interval_ms = 500
            [tunnel]
            port = "p"
            ip = "2001:db8::1"
            udp_port = 4789
            mode = "vxlan"
            vni = 42
        "#,
        )
        .unwrap();
        assert_eq!(c.next_hop_mac, Some(MacAddr([2, 0, 0, 0, 0, 10])));
        assert_eq!(c.tunnel.mode, TunnelMode::Vxlan);
        assert_eq!(c.tunnel.effective_udp_port(), 4789);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                MIN.replace("host_id = \"h1\"", "host_id = \"a/b\""),
                "cluster.host_id",
            ),
            (
                MIN.replace("127.0.0.1:2181", "nohostport"),
                "cluster.connect",
            ),
            (MIN.replace("127.0.0.1:2181", ""), "cluster.connect"),
            (format!("root = \"sluice\"\n{MIN}"), "cluster.root"),
            (format!("root = \"/a//b\"\n{MIN}"), "cluster.root"),
            (format!("root = \"/zookeeper\"\n{MIN}"), "cluster.root"),
            (
                format!("session_timeout_ms = 10\n{MIN}"),
                "session_timeout_ms",
            ),
            (format!("stats_interval_ms = 1\n{MIN}"), "stats_interval_ms"),
            (format!("{MIN}\nvni = 16777216"), "vni"),
            (format!("{MIN}\nudp_port = 0"), "udp_port"),
            (MIN.replace("192.0.2.1", "0.0.0.0"), "tunnel.ip"),
            (format!("{MIN}\nmode = \"gre\""), "unknown variant"),
            (format!("bogus = 1\n{MIN}"), "unknown field"),
            (format!("{MIN}\nbogus = 1"), "unknown field"),
            (format!("next_hop_mac = \"zz\"\n{MIN}"), "not a MAC"),
        ];
        for (text, want) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(want), "{text}\n=> {err}\n(wanted {want})");
        }
    }

    #[test]
    fn mac_roundtrip() {
        let m: MacAddr = "02:1b:00:ff:0a:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:1b:00:ff:0a:01");
        assert!("02:1b:00:ff:0a".parse::<MacAddr>().is_err());
        assert!("02:1b:00:ff:0a:01:02".parse::<MacAddr>().is_err());
    }
}
