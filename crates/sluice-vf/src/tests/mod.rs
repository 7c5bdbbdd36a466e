//! Unit tests: config rules (§3.2, one test each), registry conflicts, the switch (§3.7 BUM
//! matrix, VLAN filter, strip / insert, QinQ, anti-spoof, rate, mirroring, link, counters)
//! and the file lifecycle with callbacks.

mod config_tests;
mod lifecycle_tests;
mod switch_tests;

use serde_json::{json, Value};

use crate::config::{PfConfig, Registry, VfConfig};
use crate::ConfigError;

/// PF 0000:07:00.0 (32 VFs) and 0000:07:00.1 (8 VFs, loopback).
pub(crate) fn registry() -> Registry {
    let mut b = PfConfig::new("0000:07:00.1");
    b.vfs_count = 8;
    b.enable_loopback = true;
    Registry::new(vec![PfConfig::new("0000:07:00.0"), b])
}

/// A valid VF file for PF 0000:07:00.0.
pub(crate) fn base(vfid: u32, vlan: u16, mac: &str) -> Value {
    json!({
        "name": format!("vf{vfid}"),
        "pciid": "0000:07:00.0",
        "vfid": vfid,
        "vlans": [vlan],
        "macs": [mac],
    })
}

/// `v` with `key` set (or removed when `val` is null).
pub(crate) fn with(mut v: Value, key: &str, val: Value) -> Value {
    let m = v.as_object_mut().expect("object");
    if val.is_null() {
        m.remove(key);
    } else {
        m.insert(key.to_string(), val);
    }
    v
}

/// Parses and adds `v` as `file`.
pub(crate) fn add(reg: &mut Registry, file: &str, v: &Value) -> Result<(), ConfigError> {
    let (cfg, _) = VfConfig::parse(file, &v.to_string())?;
    reg.add(file, &cfg, None).map(|_| ())
}
