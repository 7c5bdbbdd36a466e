//! Versioned JSON payloads stored in znodes.
//!
//! Every payload is a JSON object with a numeric `"v"` field. Version 1 is the only one this
//! build understands; a reader rejects any other version (and any garbage) with an error that
//! names the znode, and the registry then ignores that node with a warning. Within a version,
//! new fields may be added (readers ignore unknown fields); removing or changing the meaning of
//! a field needs a new version.

use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{valid_node_name, ClusterConfig, MacAddr, TunnelMode};

/// The payload version written by this build.
pub const RECORD_VERSION: u32 = 1;

/// Largest payload this crate writes or reads (bytes); ZooKeeper's own limit is 1 MiB.
pub const MAX_RECORD_BYTES: usize = 256 * 1024;

/// A znode payload that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("znode {path}: {reason}")]
pub struct RecordError {
    /// The znode's full path.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl RecordError {
    fn new(path: &str, reason: impl Into<String>) -> RecordError {
        RecordError {
            path: path.to_string(),
            reason: reason.into(),
        }
    }
}

/// `<root>/hosts/<host_id>` (ephemeral): one live Sluice host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Payload version, [`RECORD_VERSION`].
    pub v: u32,
    /// The host id (equals the znode name).
    pub host_id: String,
    /// Underlay IP address other hosts send tunnel packets to.
    pub tunnel_ip: IpAddr,
    /// UDP destination port of the tunnel.
    pub tunnel_udp_port: u16,
    /// Encapsulation spoken by this host.
    #[serde(default)]
    pub tunnel_mode: TunnelMode,
    /// VXLAN network identifier.
    #[serde(default)]
    pub vni: u32,
    /// MAC address of the host's underlay port (destination MAC for a peer on the same L2).
    pub mac: MacAddr,
    /// Address of the host's HTTP/control API, e.g. `10.0.0.1:8080` (empty when none).
    #[serde(default)]
    pub api: String,
    /// Sluice version running on the host.
    #[serde(default)]
    pub version: String,
    /// Spare capacity: how many more NF instances the host could start.
    #[serde(default)]
    pub headroom: u32,
}

impl HostRecord {
    /// The record for this host from its cluster config and what the manager knows.
    pub fn from_config(
        cfg: &ClusterConfig,
        mac: MacAddr,
        api: &str,
        version: &str,
        headroom: u32,
    ) -> HostRecord {
        HostRecord {
            v: RECORD_VERSION,
            host_id: cfg.host_id.clone(),
            tunnel_ip: cfg.tunnel.ip,
            tunnel_udp_port: cfg.tunnel.effective_udp_port(),
            tunnel_mode: cfg.tunnel.mode,
            vni: cfg.tunnel.vni,
            mac,
            api: api.to_string(),
            version: version.to_string(),
            headroom,
        }
    }
}

/// `<root>/services/<service>/<host_id>` (ephemeral): instances of one service on one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Payload version, [`RECORD_VERSION`].
    pub v: u32,
    /// The host running the instances (equals the znode name).
    pub host_id: String,
    /// Service id (equals the parent znode name).
    pub service: u16,
    /// Number of ready instances (> 0; a host with none deletes its node).
    pub instances: u32,
}

/// Statistics of one NF instance, as published by its host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NfStatsRecord {
    /// Payload version, [`RECORD_VERSION`].
    pub v: u32,
    /// Service id of the NF.
    pub service: u16,
    /// Instance id of the NF on its host.
    pub instance: u16,
    /// Received packets per second over the last interval.
    pub rx_pps: f64,
    /// Transmitted packets per second over the last interval.
    pub tx_pps: f64,
    /// Packets dropped per second over the last interval.
    #[serde(default)]
    pub drop_pps: f64,
    /// RX ring fill level, 0.0..=1.0.
    pub rx_ring_use: f64,
    /// How many more instances this NF could start (free cores), openNetVM's "Free Cores".
    #[serde(default)]
    pub headroom: u32,
}

/// `<root>/stats/<host_id>` (ephemeral): all NF stats of one host, written at a bounded rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostStatsRecord {
    /// Payload version, [`RECORD_VERSION`].
    pub v: u32,
    /// The publishing host.
    pub host_id: String,
    /// Unix time of the sample, in milliseconds.
    pub ts_ms: u64,
    /// One entry per NF instance.
    pub nfs: Vec<NfStatsRecord>,
}

/// Serializes a record to JSON bytes (the payload written to ZooKeeper).
pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (string keys, finite values or null).
    serde_json::to_vec(record).unwrap_or_default()
}

/// Decodes a payload from `path`: must be JSON with `"v": 1` and the record's fields.
pub fn decode<T: DeserializeOwned>(path: &str, data: &[u8]) -> Result<T, RecordError> {
    if data.is_empty() {
        return Err(RecordError::new(path, "empty payload"));
    }
    if data.len() > MAX_RECORD_BYTES {
        return Err(RecordError::new(
            path,
            format!("payload of {} bytes is too large", data.len()),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(data)
        .map_err(|e| RecordError::new(path, format!("not JSON ({e})")))?;
    let Some(obj) = value.as_object() else {
        return Err(RecordError::new(path, "payload is not a JSON object"));
    };
    match obj.get("v") {
        None => return Err(RecordError::new(path, "no payload version field \"v\"")),
        Some(v) if v.as_u64() == Some(u64::from(RECORD_VERSION)) => {}
        Some(v) => {
            return Err(RecordError::new(
                path,
                format!("unknown payload version {v} (this build reads version {RECORD_VERSION})"),
            ))
        }
    }
    serde_json::from_value(value).map_err(|e| RecordError::new(path, format!("bad record ({e})")))
}

/// Decodes `<root>/hosts/<name>`; the record's `host_id` must equal the znode name.
pub fn decode_host(path: &str, name: &str, data: &[u8]) -> Result<HostRecord, RecordError> {
    let rec: HostRecord = decode(path, data)?;
    if rec.host_id != name || !valid_node_name(name) {
        return Err(RecordError::new(
            path,
            format!("host_id {:?} does not match the node name", rec.host_id),
        ));
    }
    Ok(rec)
}

/// Decodes `<root>/services/<service>/<host>`; ids must match the path.
pub fn decode_service(
    path: &str,
    service: u16,
    host: &str,
    data: &[u8],
) -> Result<ServiceRecord, RecordError> {
    let rec: ServiceRecord = decode(path, data)?;
    if rec.host_id != host || rec.service != service {
        return Err(RecordError::new(
            path,
            format!(
                "record names host {:?} service {}, which does not match the path",
                rec.host_id, rec.service
            ),
        ));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostRecord {
        let cfg = ClusterConfig::new("127.0.0.1:2181", "h1", "192.0.2.1".parse().unwrap());
        HostRecord::from_config(
            &cfg,
            MacAddr([2, 0, 0, 0, 0, 1]),
            "192.0.2.1:8080",
            "0.1.0",
            3,
        )
    }

    #[test]
    fn host_roundtrip() {
        let h = host();
        let bytes = encode(&h);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"v\":1"), "{text}");
        assert!(text.contains("\"mac\":\"02:00:00:00:00:01\""), "{text}");
        assert_eq!(decode_host("/s/hosts/h1", "h1", &bytes).unwrap(), h);
    }

    #[test]
    fn rejects_with_path() {
        let p = "/s/hosts/h1";
        for (data, want) in [
            (&b""[..], "empty"),
            (b"{not json", "not JSON"),
            (b"[1,2]", "not a JSON object"),
            (b"{\"host_id\":\"h1\"}", "no payload version"),
            (b"{\"v\":2,\"host_id\":\"h1\"}", "unknown payload version 2"),
            (b"{\"v\":\"1\"}", "unknown payload version"),
            (b"{\"v\":1,\"host_id\":\"h1\"}", "bad record"),
        ] {
            let e = decode_host(p, "h1", data).unwrap_err();
            assert_eq!(e.path, p);
            assert!(e.to_string().starts_with("znode /s/hosts/h1: "), "{e}");
            assert!(e.reason.contains(want), "{e} (wanted {want})");
        }
        let other = encode(&host());
        let e = decode_host("/s/hosts/h2", "h2", &other).unwrap_err();
        assert!(e.reason.contains("does not match"), "{e}");
    }

    #[test]
    fn unknown_fields_within_version_are_accepted() {
        let mut v: serde_json::Value = serde_json::from_slice(&encode(&host())).unwrap();
        v["future_field"] = serde_json::json!([1, 2]);
        let bytes = serde_json::to_vec(&v).unwrap();
        assert!(decode_host("/s/hosts/h1", "h1", &bytes).is_ok());
    }

    #[test]
    fn service_record() {
        let r = ServiceRecord {
            v: 1,
            host_id: "h1".into(),
            service: 7,
            instances: 2,
        };
        let b = encode(&r);
        assert_eq!(decode_service("/s/services/7/h1", 7, "h1", &b).unwrap(), r);
        assert!(decode_service("/s/services/8/h1", 8, "h1", &b).is_err());
    }
}
