//! VF and PF configuration: VFd's JSON, parsed strictly, validated in VFd's order.
//!
//! Parsing goes through [`serde_json::Value`] first so that every problem can name the file
//! and the field: unknown fields become [`ConfigWarning`]s, wrong types become
//! [`ConfigError`]s (VFd silently used the default instead). The checks that need the PF's
//! current state (vfid taken, totals, MACs on other VFs) live in [`Registry`], which applies
//! an add or a delete all or nothing.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};
use sluice_wire::{MacAddr, MacFmt};
use thiserror::Error;

/// Highest vfid VFd accepts plus one: VF ids are 0..=31 on every PF (§1.3).
pub const MAX_VFS: usize = 32;
/// PFs one main config may list (`MAX_PORTS`).
pub const MAX_PFS: usize = 16;
/// VLAN ids one VF may list (`MAX_VF_VLANS`).
pub const MAX_VF_VLANS: usize = 64;
/// VLAN ids all VFs of one PF may list together, duplicates counted (`MAX_PF_VLANS`).
pub const MAX_PF_VLANS: usize = 64;
/// MAC addresses one VF may list (`MAX_VF_MACS`).
pub const MAX_VF_MACS: usize = 64;
/// MAC addresses all VFs of one PF may list together (`MAX_PF_MACS`).
pub const MAX_PF_MACS: usize = 128;
/// Largest PF MTU; bigger values are capped (Niantic issue with > 9.5K and loopback).
pub const MAX_MTU: u32 = 9420;
/// Traffic classes a VF may name in `queues` (priorities 0..=7).
pub const MAX_TCS: usize = 8;
/// Queue share VFd gives every TC a VF does not list, in percent.
pub const DEFAULT_QSHARE: u8 = 3;
/// Largest max/min ratio of queue shares on one TC across the VFs of a PF.
pub const MAX_QSHARE_SPREAD: u32 = 10;
/// Default `config_dir` of the main config.
pub const DEFAULT_CONFIG_DIR: &str = "/var/lib/vfd/config";
/// Default link speed of a software PF, in Mbit/s (the rate fractions are of this).
pub const DEFAULT_LINK_SPEED_MBPS: u32 = 10_000;

// ------------------------------------------------------------------------------------------
// Errors and warnings
// ------------------------------------------------------------------------------------------

/// Which check refused a config. The number in each doc line is the step of VFd's add-time
/// validation (§3.2); the first failing step wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// 1: the file could not be read.
    Read,
    /// 1: the file is not a JSON object.
    Json,
    /// 1: a field has the wrong JSON type or an unusable value (VFd used the default).
    Type,
    /// 2: `pciid` missing or `vfid` missing / negative.
    Required,
    /// 3: `pciid` names no PF of the main config.
    PfUnknown,
    /// 4: the vfid is already configured on that PF.
    VfidTaken,
    /// 5: vfid outside 0..=31.
    VfidRange,
    /// 6: vfid not below the number of VFs the PF has.
    VfidNotCreated,
    /// 7: Σ `min_rate` over the PF would exceed 1 (the link).
    MinRateTotal,
    /// 8: more than 64 VLANs on the VF.
    VlanCount,
    /// 9: more than 64 VLANs on the PF.
    PfVlanTotal,
    /// 10: empty VLAN list.
    VlanEmpty,
    /// 11: VLAN id outside 1..=4095.
    VlanRange,
    /// 11: VLAN id listed twice.
    VlanDuplicate,
    /// 12: more than 64 MACs on the VF.
    MacCount,
    /// 13: MAC not written `hh:hh:hh:hh:hh:hh`.
    MacInvalid,
    /// 13: MAC already used by another VF of this PF (or listed twice).
    MacInUse,
    /// 13: more than 128 MACs on the PF.
    PfMacTotal,
    /// 14: strict QoS: a TC's share total would exceed 100 %.
    QosTotal,
    /// 15: a TC's max/min share across the PF's VFs would exceed 10x.
    QosSpread,
    /// 16: `;` in `start_cb` / `stop_cb`.
    Callback,
    /// 17: mirror target invalid (own vfid, out of range) or direction unknown.
    Mirror,
    /// After 17 (Sluice): `rate` / `min_rate` outside 0..=1 and similar value checks.
    Value,
    /// Delete: the file lacks `pciid` / `vfid`.
    DeleteInvalid,
    /// Delete: the VF is not configured on that PF.
    DeleteNotConfigured,
    /// Delete: the `name` differs from the one given at add time.
    DeleteNameMismatch,
    /// Main config: PF list or main-level field invalid.
    MainConfig,
    /// Lifecycle: a file of the same name is already live (another VF's accepted config).
    LiveFileExists,
}

impl Rule {
    /// The step of VFd's validation order (§3.2) this rule belongs to; 18 for Sluice's own
    /// value checks after VFd's, 0 for delete and main-config rules.
    pub fn step(self) -> u8 {
        use Rule::*;
        match self {
            Read | Json | Type => 1,
            Required => 2,
            PfUnknown => 3,
            VfidTaken => 4,
            VfidRange => 5,
            VfidNotCreated => 6,
            MinRateTotal => 7,
            VlanCount => 8,
            PfVlanTotal => 9,
            VlanEmpty => 10,
            VlanRange | VlanDuplicate => 11,
            MacCount => 12,
            MacInvalid | MacInUse | PfMacTotal => 13,
            QosTotal => 14,
            QosSpread => 15,
            Callback => 16,
            Mirror => 17,
            Value => 18,
            DeleteInvalid | DeleteNotConfigured | DeleteNameMismatch | MainConfig
            | LiveFileExists => 0,
        }
    }
}

/// A refused config: which file, which field, which rule, and VFd's message.
///
/// Displays as `<file>: <field>: <message>`; iplex prints it after `unable to add vf: `.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}: {field}: {message}")]
pub struct ConfigError {
    /// The config file (as given to add / delete / parse).
    pub file: String,
    /// The JSON field at fault, e.g. `vlans[2]`, `mirror.target`; `-` for the whole file.
    pub field: String,
    /// The check that failed.
    pub rule: Rule,
    /// What is wrong, in VFd's words where VFd had a message.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(
        file: &str,
        field: impl Into<String>,
        rule: Rule,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_string(),
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

/// Something accepted but worth telling the operator (unknown field, ignored value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The config file.
    pub file: String,
    /// The field concerned.
    pub field: String,
    /// What was ignored or changed.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file, self.field, self.message)
    }
}

// ------------------------------------------------------------------------------------------
// JSON helpers: typed getters that name file and field
// ------------------------------------------------------------------------------------------

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A JSON object being read: remembers the file and the path prefix for messages.
struct Obj<'a> {
    file: &'a str,
    prefix: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn field(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.prefix, key)
        }
    }

    fn type_err(&self, key: &str, want: &str, got: &Value) -> ConfigError {
        ConfigError::new(
            self.file,
            self.field(key),
            Rule::Type,
            format!("must be {want}, found {}", type_name(got)),
        )
    }

    /// The value of `key`, treating `null` as absent.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.type_err(key, "true or false", v)),
        }
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.type_err(key, "true or false", v)),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.type_err(key, "a string", v)),
        }
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(v) => Err(self.type_err(key, "a number", v)),
        }
    }

    fn opt_int(&self, key: &str) -> Result<Option<i64>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => as_int(v)
                .map(Some)
                .ok_or_else(|| self.type_err(key, "an integer", v)),
        }
    }

    fn warn_unknown(&self, known: &[&str], warnings: &mut Vec<ConfigWarning>) {
        for (k, v) in self.map {
            if !known.contains(&k.as_str()) {
                warnings.push(ConfigWarning {
                    file: self.file.to_string(),
                    field: self.field(k),
                    message: format!("unknown field ignored ({})", type_name(v)),
                });
            }
        }
    }
}

/// An integral JSON number (3 and 3.0 both count; 3.5 does not).
fn as_int(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let f = v.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

fn parse_object(file: &str, text: &str) -> Result<Map<String, Value>, ConfigError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ConfigError::new(
            file,
            "-",
            Rule::Json,
            format!("unable to read or parse config file: {e}"),
        )
    })?;
    match value {
        Value::Object(m) => Ok(m),
        other => Err(ConfigError::new(
            file,
            "-",
            Rule::Json,
            format!(
                "unable to read or parse config file: top level must be an object, found {}",
                type_name(&other)
            ),
        )),
    }
}

/// Parses `hh:hh:hh:hh:hh:hh` strictly (17 characters, 5 colons, hex), as VFd's
/// `is_valid_mac_str`.
pub fn parse_mac_strict(s: &str) -> Option<MacAddr> {
    let b = s.as_bytes();
    if b.len() != 17 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        let p = &s[i * 3..i * 3 + 2];
        if i < 5 && b[i * 3 + 2] != b':' {
            return None;
        }
        if !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

// ------------------------------------------------------------------------------------------
// VF config
// ------------------------------------------------------------------------------------------

/// TPID of the outer (service) tag a VF's VLAN list refers to. Sluice extension
/// `"vlan_proto"`; VFd only had 802.1Q except on mlx5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VlanProto {
    /// IEEE 802.1Q, TPID 0x8100 (default, VFd's behaviour).
    #[default]
    Dot1Q,
    /// IEEE 802.1ad, TPID 0x88a8 (QinQ S-tag).
    Dot1Ad,
}

impl VlanProto {
    /// The tag protocol identifier written in the frame.
    pub fn tpid(self) -> u16 {
        match self {
            VlanProto::Dot1Q => sluice_wire::ETHERTYPE_VLAN,
            VlanProto::Dot1Ad => sluice_wire::ETHERTYPE_QINQ,
        }
    }
}

/// `link_status`: what link state the VF sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LinkStatus {
    /// Always up.
    On,
    /// Always down: the switch drops every frame to and from the VF (counted).
    Off,
    /// Follows the PF's link (default).
    #[default]
    Auto,
}

/// Mirror direction of a VF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MirrorDirection {
    /// No mirroring.
    #[default]
    Off,
    /// Frames delivered to the VF ("inbound to the guest").
    In,
    /// Frames sent by the VF.
    Out,
    /// Both (`"all"` or `"both"`).
    All,
}

impl MirrorDirection {
    /// True for `In` and `All`.
    pub fn covers_in(self) -> bool {
        matches!(self, MirrorDirection::In | MirrorDirection::All)
    }
    /// True for `Out` and `All`.
    pub fn covers_out(self) -> bool {
        matches!(self, MirrorDirection::Out | MirrorDirection::All)
    }
}

/// Where mirrored frames go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MirrorTarget {
    /// Another VF of the same PF (VFd's `"target"`).
    Vf(u32),
    /// A pcap file the manager writes (Sluice extension `"pcap"`).
    Pcap(String),
}

/// `mirror`: `{ "target": vf | "pcap": "/path", "direction": "in|out|all|both|off" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorConfig {
    /// Direction (default `all` when a target is given, as VFd).
    pub direction: MirrorDirection,
    /// Target; `None` only when `direction` is `Off`.
    pub target: Option<MirrorTarget>,
    /// Raw target number as written (checked at step 17).
    raw_target: Option<i64>,
    /// Raw direction string if it was not recognised (refused at step 17).
    bad_direction: Option<String>,
}

impl MirrorConfig {
    /// A mirror set at run time (`iplex mirror PF VF DIR TARGET`); checked like a file's at
    /// step 17 when the VF is re-added with it.
    pub fn new(direction: MirrorDirection, target: Option<MirrorTarget>) -> Self {
        let raw_target = match &target {
            Some(MirrorTarget::Vf(v)) => Some(i64::from(*v)),
            _ => None,
        };
        MirrorConfig {
            direction,
            target,
            raw_target,
            bad_direction: None,
        }
    }
}

/// One `queues[]` entry: a VF's share of a traffic class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueShare {
    /// Traffic class, 0..=7.
    pub priority: u8,
    /// Percent of the TC, 1..=100 (written `"NN%"`).
    pub share: u8,
}

/// One VF config file as written (`<config_dir>/<name>.json`), typed but not yet validated
/// against the PF: VLAN ids and MACs stay as written until [`Registry::check_add`].
#[derive(Debug, Clone, PartialEq)]
pub struct VfConfig {
    /// `name`: free text (nova writes `"<vm>/<port-uuid>"`); delete must give the same one.
    /// Default `"unnamed"`.
    pub name: String,
    /// `pciid`: PCI address of the PF (not the VF), e.g. `0000:07:00.1`. Required.
    pub pciid: String,
    /// `vfid`: VF number on the PF, 0..=31 and below the PF's VF count. Required.
    pub vfid: u32,
    /// `strip_stag`: strip the outer tag on RX. Default false.
    pub strip_stag: bool,
    /// `strip_ctag`: VFd honoured it on mlx5 only; parsed and kept, the software switch
    /// ignores it (the outer tag is governed by `strip_stag` / `vlan_proto`). Default false.
    pub strip_ctag: bool,
    /// `insert_stag`: insert the outer tag on TX. Sluice honours it separately (VFd used
    /// `strip_stag` for both); when absent it follows `strip_stag`, as in VFd.
    pub insert_stag: bool,
    /// `vlan_proto` (Sluice extension): `"802.1Q"` (default) or `"802.1ad"`: the TPID of
    /// the outer tag the VLAN list, strip and insert refer to.
    pub vlan_proto: VlanProto,
    /// `allow_bcast`: deliver broadcast frames (of the VF's VLANs). Default true.
    pub allow_bcast: bool,
    /// `allow_mcast`: deliver multicast frames (of the VF's VLANs). Default true.
    pub allow_mcast: bool,
    /// `allow_un_ucast`: deliver unicast frames for MACs no VF owns. Default false (VFd's
    /// code; its doc said true).
    pub allow_un_ucast: bool,
    /// `allow_untagged`: deliver untagged frames and let the VF send untagged frames when it
    /// does not insert. VFd forced it off; Sluice honours it. Default false.
    pub allow_untagged: bool,
    /// `vlan_anti_spoof`: parsed; VLAN anti-spoof is always on (VFd forced it), a `false`
    /// gives a warning.
    pub vlan_anti_spoof: bool,
    /// `mac_anti_spoof` (old name `antispoof_mac`): drop frames whose source MAC is not one of
    /// the VF's MACs. Default true (what VFd forced on ixgbe).
    pub mac_anti_spoof: bool,
    /// `vlans`: VLAN ids, 1..=64 entries, each 1..=4095, no duplicates. Required.
    pub vlans: Vec<i64>,
    /// `macs` (or the single `mac`): first = default MAC, rest = whitelist; ≤ 64.
    pub macs: Vec<String>,
    /// `rate`: max TX rate as a fraction of the PF link speed (0.1 = 10 %); 0 = unlimited.
    pub rate: f64,
    /// `min_rate`: guaranteed rate, same unit; Σ over the PF ≤ 1.
    pub min_rate: f64,
    /// `queues`: per-TC shares; TCs not listed get 3 %.
    pub queues: Vec<QueueShare>,
    /// `mirror`: mirroring of this VF's traffic; `None` = off.
    pub mirror: Option<MirrorConfig>,
    /// `link_status`: `on` / `off` / `auto` (case-insensitive; unknown → auto + warning).
    pub link_status: LinkStatus,
    /// `start_cb`: command run (as the file's owner, no shell) after start-up.
    pub start_cb: Option<String>,
    /// `stop_cb`: command run (as the file's owner, no shell) before shutdown.
    pub stop_cb: Option<String>,
    /// `vm_mac`: parsed, unused (as in VFd).
    pub vm_mac: Option<String>,
}

const VF_KEYS: &[&str] = &[
    "comments",
    "name",
    "pciid",
    "vfid",
    "strip_stag",
    "strip_ctag",
    "insert_stag",
    "vlan_proto",
    "allow_bcast",
    "allow_mcast",
    "allow_un_ucast",
    "allow_untagged",
    "vlan_anti_spoof",
    "mac_anti_spoof",
    "antispoof_mac",
    "vlans",
    "macs",
    "mac",
    "vm_mac",
    "rate",
    "min_rate",
    "queues",
    "mirror",
    "link_status",
    "start_cb",
    "stop_cb",
];

impl VfConfig {
    /// Parses one VF file's text. `file` names it in messages. Steps 1 (JSON, types) and 2
    /// (`pciid` present, `vfid ≥ 0`) of §3.2 happen here; the rest in [`Registry`].
    pub fn parse(file: &str, text: &str) -> Result<(VfConfig, Vec<ConfigWarning>), ConfigError> {
        let map = parse_object(file, text)?;
        let o = Obj {
            file,
            prefix: "",
            map: &map,
        };
        let mut warnings = Vec::new();
        o.warn_unknown(VF_KEYS, &mut warnings);
        let warn = |warnings: &mut Vec<ConfigWarning>, field: &str, message: String| {
            warnings.push(ConfigWarning {
                file: file.to_string(),
                field: field.to_string(),
                message,
            })
        };

        // Types first (all of step 1), then the step-2 presence checks.
        let name = o.opt_str("name")?.unwrap_or("unnamed").to_string();
        let pciid = o.opt_str("pciid")?.map(|s| s.trim_start().to_string());
        let vfid = o.opt_int("vfid")?;
        let strip_stag = o.bool("strip_stag", false)?;
        let strip_ctag = o.bool("strip_ctag", false)?;
        let insert_stag = o.opt_bool("insert_stag")?.unwrap_or(strip_stag);
        let vlan_proto = match o.opt_str("vlan_proto")? {
            None => VlanProto::Dot1Q,
            Some(s) if s.eq_ignore_ascii_case("802.1q") => VlanProto::Dot1Q,
            Some(s) if s.eq_ignore_ascii_case("802.1ad") => VlanProto::Dot1Ad,
            Some(s) => {
                return Err(ConfigError::new(
                    file,
                    "vlan_proto",
                    Rule::Type,
                    format!("must be \"802.1Q\" or \"802.1ad\", found \"{s}\""),
                ))
            }
        };
        let allow_bcast = o.bool("allow_bcast", true)?;
        let allow_mcast = o.bool("allow_mcast", true)?;
        let allow_un_ucast = o.bool("allow_un_ucast", false)?;
        let allow_untagged = o.bool("allow_untagged", false)?;
        let vlan_anti_spoof = o.bool("vlan_anti_spoof", true)?;
        if !vlan_anti_spoof {
            warn(
                &mut warnings,
                "vlan_anti_spoof",
                "false ignored: VLAN anti-spoof is always on".into(),
            );
        }
        let mac_anti_spoof = match (o.opt_bool("mac_anti_spoof")?, o.opt_bool("antispoof_mac")?) {
            (Some(b), _) => b,
            (None, Some(b)) => {
                warn(
                    &mut warnings,
                    "antispoof_mac",
                    "old name; use mac_anti_spoof".into(),
                );
                b
            }
            (None, None) => true,
        };

        let vlans = match o.get("vlans") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    as_int(v).ok_or_else(|| {
                        ConfigError::new(
                            file,
                            format!("vlans[{i}]"),
                            Rule::Type,
                            format!("must be an integer VLAN id, found {}", type_name(v)),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(v) => return Err(o.type_err("vlans", "an array of VLAN ids", v)),
        };

        let macs = match (o.get("macs"), o.opt_str("mac")?) {
            (Some(Value::Array(a)), _) => a
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ConfigError::new(
                        file,
                        format!("macs[{i}]"),
                        Rule::Type,
                        format!(
                            "must be a string like \"aa:bb:cc:dd:ee:ff\", found {}",
                            type_name(other)
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?,
            (Some(v), _) => return Err(o.type_err("macs", "an array of MAC strings", v)),
            (None, Some(m)) => vec![m.to_string()],
            (None, None) => Vec::new(),
        };
        let vm_mac = o.opt_str("vm_mac")?.map(str::to_string);

        let rate = o.opt_f64("rate")?.unwrap_or(0.0);
        let min_rate = o.opt_f64("min_rate")?.unwrap_or(0.0);
        let queues = parse_queues(&o)?;
        let mirror = parse_mirror(&o)?;

        let link_status = match o.opt_str("link_status")? {
            None => LinkStatus::Auto,
            Some(s) if s.eq_ignore_ascii_case("on") => LinkStatus::On,
            Some(s) if s.eq_ignore_ascii_case("off") => LinkStatus::Off,
            Some(s) if s.eq_ignore_ascii_case("auto") => LinkStatus::Auto,
            Some(s) => {
                warn(
                    &mut warnings,
                    "link_status",
                    format!("link_status not recognised in config: {s}; defaulting to auto"),
                );
                LinkStatus::Auto
            }
        };
        let start_cb = o.opt_str("start_cb")?.map(str::to_string);
        let stop_cb = o.opt_str("stop_cb")?.map(str::to_string);

        // Step 2: VFd's parse check ("this is a parse check so <0 is right").
        let pciid = pciid.filter(|p| !p.is_empty()).ok_or_else(|| {
            ConfigError::new(
                file,
                "pciid",
                Rule::Required,
                format!("unable to read or parse config file: {file}: pciid is missing"),
            )
        })?;
        let vfid = match vfid {
            Some(v) if v >= 0 => u32::try_from(v).unwrap_or(u32::MAX),
            Some(v) => {
                return Err(ConfigError::new(
                    file,
                    "vfid",
                    Rule::Required,
                    format!("unable to read or parse config file: {file}: vfid {v} is negative"),
                ))
            }
            None => {
                return Err(ConfigError::new(
                    file,
                    "vfid",
                    Rule::Required,
                    format!("unable to read or parse config file: {file}: vfid is missing"),
                ))
            }
        };

        Ok((
            VfConfig {
                name,
                pciid,
                vfid,
                strip_stag,
                strip_ctag,
                insert_stag,
                vlan_proto,
                allow_bcast,
                allow_mcast,
                allow_un_ucast,
                allow_untagged,
                vlan_anti_spoof,
                mac_anti_spoof,
                vlans,
                macs,
                rate,
                min_rate,
                queues,
                mirror,
                link_status,
                start_cb,
                stop_cb,
                vm_mac,
            },
            warnings,
        ))
    }

    /// Queue shares per TC (3 % for TCs not listed), as VFd's `qshare[]`.
    pub fn qshares(&self) -> [u8; MAX_TCS] {
        let mut q = [DEFAULT_QSHARE; MAX_TCS];
        for s in &self.queues {
            q[usize::from(s.priority)] = s.share;
        }
        q
    }
}

fn parse_queues(o: &Obj<'_>) -> Result<Vec<QueueShare>, ConfigError> {
    let arr = match o.get("queues") {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(v) => return Err(o.type_err("queues", "an array of {priority, share}", v)),
    };
    let mut out = Vec::with_capacity(arr.len());
    for (i, q) in arr.iter().enumerate() {
        let field = format!("queues[{i}]");
        let Value::Object(m) = q else {
            return Err(ConfigError::new(
                o.file,
                field,
                Rule::Type,
                format!(
                    "must be an object {{\"priority\": n, \"share\": \"NN%\"}}, found {}",
                    type_name(q)
                ),
            ));
        };
        let qo = Obj {
            file: o.file,
            prefix: &field,
            map: m,
        };
        let priority = qo.opt_int("priority")?.unwrap_or(0);
        if !(0..MAX_TCS as i64).contains(&priority) {
            return Err(ConfigError::new(
                o.file,
                qo.field("priority"),
                Rule::Type,
                format!("must be 0..7, found {priority}"),
            ));
        }
        // VFd requires a string ("10%"); a number was silently ignored, here it is an error.
        let share = match qo.get("share") {
            Some(Value::String(s)) => {
                let digits = s.trim().trim_end_matches('%').trim();
                digits.parse::<u32>().ok().filter(|v| (1..=100).contains(v))
            }
            Some(v) => return Err(qo.type_err("share", "a string like \"10%\"", v)),
            None => None,
        };
        let Some(share) = share else {
            return Err(ConfigError::new(
                o.file,
                qo.field("share"),
                Rule::Type,
                "must be a percentage string \"1%\"..\"100%\"",
            ));
        };
        out.push(QueueShare {
            priority: priority as u8,
            share: share as u8,
        });
    }
    Ok(out)
}

fn parse_mirror(o: &Obj<'_>) -> Result<Option<MirrorConfig>, ConfigError> {
    let m = match o.get("mirror") {
        None => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(v) => {
            return Err(o.type_err(
                "mirror",
                "an object {\"target\": vf, \"direction\": \"in|out|all|off\"}",
                v,
            ))
        }
    };
    let mo = Obj {
        file: o.file,
        prefix: "mirror",
        map: m,
    };
    let raw_target = mo.opt_int("target")?;
    let pcap = mo.opt_str("pcap")?;
    if raw_target.is_some() && pcap.is_some() {
        return Err(ConfigError::new(
            o.file,
            "mirror",
            Rule::Type,
            "give either target (a VF) or pcap (a file), not both",
        ));
    }
    let has_target = raw_target.is_some() || pcap.is_some();
    let mut bad_direction = None;
    let direction = match mo.opt_str("direction")? {
        None if has_target => MirrorDirection::All,
        None => MirrorDirection::Off,
        Some(s) => match s.to_ascii_lowercase().as_str() {
            "in" => MirrorDirection::In,
            "out" => MirrorDirection::Out,
            "all" | "both" | "on" => MirrorDirection::All,
            "off" => MirrorDirection::Off,
            _ => {
                bad_direction = Some(s.to_string());
                MirrorDirection::Off
            }
        },
    };
    let target = match (raw_target, pcap) {
        (Some(t), _) => Some(MirrorTarget::Vf(u32::try_from(t).unwrap_or(u32::MAX))),
        (None, Some(p)) => Some(MirrorTarget::Pcap(p.to_string())),
        (None, None) => None,
    };
    Ok(Some(MirrorConfig {
        direction,
        target,
        raw_target,
        bad_direction,
    }))
}

// ------------------------------------------------------------------------------------------
// Main config: the PF list
// ------------------------------------------------------------------------------------------

/// One PF (`pciids[]` entry) as Sluice's software back end uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct PfConfig {
    /// `id`: the PF's PCI address; VF files name it in `pciid`.
    pub id: String,
    /// `mtu`: largest frame payload the PF carries (default `default_mtu`, capped at 9420).
    pub mtu: u32,
    /// `hw_strip_crc`: parsed (NIC CRC strip); no effect in software. Default true.
    pub hw_strip_crc: bool,
    /// `promiscuous`: PF promiscuous mode. Default false in the object form, true in the
    /// string form (as VFd). Parsed; the software switch has no PF host stack to feed, so it
    /// has no effect there (the manager may apply it to the uplink port).
    pub promiscuous: bool,
    /// `enable_loopback`: switch VF-to-VF frames locally (VEB); when false every VF frame
    /// goes to the wire. Default false.
    pub enable_loopback: bool,
    /// `vf_oversubscription`: queue shares may exceed 100 % per TC. Default false (strict).
    pub vf_oversubscription: bool,
    /// Number of traffic classes: 4, or 8 if any `tclasses[].pri` > 3.
    pub ntcs: u8,
    /// `vfs_count`: VFs the PF has (VFd's `nvfs_config`); vfids must be below it.
    /// Default 32, limited to 1..=32.
    pub vfs_count: u32,
    /// `link_speed_mbps` (Sluice extension): link speed rates are fractions of.
    /// Default 10000.
    pub link_speed_mbps: u32,
    /// `port` (Sluice extension): name of the Sluice port that is this PF's uplink.
    pub port: Option<String>,
}

impl PfConfig {
    /// A PF with every default (object form), for `id`.
    pub fn new(id: &str) -> Self {
        PfConfig {
            id: id.to_string(),
            mtu: MAX_MTU,
            hw_strip_crc: true,
            promiscuous: false,
            enable_loopback: false,
            vf_oversubscription: false,
            ntcs: 4,
            vfs_count: MAX_VFS as u32,
            link_speed_mbps: DEFAULT_LINK_SPEED_MBPS,
            port: None,
        }
    }

    /// Parses one `pciids[]` entry (string or object). Also the way to read PFs from
    /// Sluice's own TOML: convert the table to a `serde_json::Value` and call this.
    pub fn from_value(
        file: &str,
        field: &str,
        v: &Value,
        default_mtu: u32,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<PfConfig, ConfigError> {
        let cap_mtu = |mtu: i64, f: String, warnings: &mut Vec<ConfigWarning>| -> u32 {
            if mtu > i64::from(MAX_MTU) {
                warnings.push(ConfigWarning {
                    file: file.to_string(),
                    field: f,
                    message: format!("mtu {mtu} capped at {MAX_MTU}"),
                });
                MAX_MTU
            } else {
                mtu.max(68) as u32
            }
        };
        match v {
            Value::String(s) => {
                let mut pf = PfConfig::new(s.trim());
                pf.mtu = cap_mtu(default_mtu.into(), format!("{field}.mtu"), warnings);
                pf.promiscuous = true;
                Ok(pf)
            }
            Value::Object(m) => {
                let o = Obj {
                    file,
                    prefix: field,
                    map: m,
                };
                o.warn_unknown(
                    &[
                        "id",
                        "mtu",
                        "hw_strip_crc",
                        "promiscuous",
                        "enable_loopback",
                        "vf_oversubscription",
                        "tclasses",
                        "bw_grps",
                        "pf_driver",
                        "vf_driver",
                        "vfs_count",
                        "link_speed_mbps",
                        "port",
                    ],
                    warnings,
                );
                let id = o.opt_str("id")?.map(str::trim).unwrap_or("");
                if id.is_empty() {
                    return Err(ConfigError::new(
                        file,
                        o.field("id"),
                        Rule::MainConfig,
                        "PF id (PCI address) is missing",
                    ));
                }
                let mut pf = PfConfig::new(id);
                let mtu = o.opt_int("mtu")?.unwrap_or(default_mtu.into());
                pf.mtu = cap_mtu(mtu, o.field("mtu"), warnings);
                pf.hw_strip_crc = o.bool("hw_strip_crc", true)?;
                pf.promiscuous = o.bool("promiscuous", false)?;
                pf.enable_loopback = o.bool("enable_loopback", false)?;
                pf.vf_oversubscription = o.bool("vf_oversubscription", false)?;
                o.opt_str("pf_driver")?;
                o.opt_str("vf_driver")?;
                if let Some(n) = o.opt_int("vfs_count")? {
                    if !(1..=MAX_VFS as i64).contains(&n) {
                        return Err(ConfigError::new(
                            file,
                            o.field("vfs_count"),
                            Rule::MainConfig,
                            format!("must be 1..{MAX_VFS}, found {n}"),
                        ));
                    }
                    pf.vfs_count = n as u32;
                }
                if let Some(n) = o.opt_int("link_speed_mbps")? {
                    if !(1..=u32::MAX as i64).contains(&n) {
                        return Err(ConfigError::new(
                            file,
                            o.field("link_speed_mbps"),
                            Rule::MainConfig,
                            format!("must be a positive number of Mbit/s, found {n}"),
                        ));
                    }
                    pf.link_speed_mbps = n as u32;
                }
                pf.port = o.opt_str("port")?.map(str::to_string);
                match o.get("tclasses") {
                    None => {}
                    Some(Value::Array(tcs)) => {
                        for (i, tc) in tcs.iter().enumerate() {
                            let pri = tc.get("pri").and_then(as_int).unwrap_or(i as i64);
                            if !(0..MAX_TCS as i64).contains(&pri) {
                                return Err(ConfigError::new(
                                    file,
                                    format!("{}[{i}].pri", o.field("tclasses")),
                                    Rule::MainConfig,
                                    format!("must be 0..7, found {pri}"),
                                ));
                            }
                            if pri > 3 {
                                pf.ntcs = 8;
                            }
                        }
                    }
                    Some(v) => return Err(o.type_err("tclasses", "an array", v)),
                }
                if let Some(v) = o.get("bw_grps") {
                    if !v.is_object() {
                        return Err(o.type_err("bw_grps", "an object", v));
                    }
                }
                Ok(pf)
            }
            other => Err(ConfigError::new(
                file,
                field,
                Rule::Type,
                format!(
                    "must be a PCI address string or an object, found {}",
                    type_name(other)
                ),
            )),
        }
    }
}

/// The parts of VFd's main config (`/etc/vfd/vfd.cfg`) the VF policy needs.
#[derive(Debug, Clone, PartialEq)]
pub struct MainConfig {
    /// `config_dir`: where VF files are submitted; `<config_dir>_live` holds accepted ones.
    pub config_dir: String,
    /// `delete_keep`: on delete, keep the file as `<config_dir>/<name>-`. Default false.
    pub delete_keep: bool,
    /// `default_mtu` (or deprecated `mtu`): MTU of PFs that do not give one. Default 9420.
    pub default_mtu: u32,
    /// `pciids`: the PFs (1..=16, unique ids).
    pub pfs: Vec<PfConfig>,
}

const MAIN_KEYS: &[&str] = &[
    "comments",
    "log_dir",
    "log_keep",
    "log_level",
    "init_log_level",
    "dpdk_log_level",
    "dpdk_init_log_level",
    "config_dir",
    "fifo",
    "cpu_mask",
    "numa_mem",
    "huge_pages",
    "enable_qos",
    "enable_flowcontrol",
    "default_mtu",
    "mtu",
    "delete_keep",
    "cpu_alarm",
    "cpu_alarm_type",
    "pid_fname",
    "stats_path",
    "pciids",
];

impl MainConfig {
    /// Parses VFd's main config JSON. Unlike VFd, an empty or missing `pciids` is an error
    /// here too (VFd aborted at start: "no pciids were defined").
    pub fn parse(file: &str, text: &str) -> Result<(MainConfig, Vec<ConfigWarning>), ConfigError> {
        let map = if text.trim().is_empty() {
            Map::new()
        } else {
            parse_object(file, text)?
        };
        let o = Obj {
            file,
            prefix: "",
            map: &map,
        };
        let mut warnings = Vec::new();
        o.warn_unknown(MAIN_KEYS, &mut warnings);
        let config_dir = o
            .opt_str("config_dir")?
            .unwrap_or(DEFAULT_CONFIG_DIR)
            .trim_end_matches('/')
            .to_string();
        let delete_keep = o.bool("delete_keep", false)?;
        let default_mtu = match (o.opt_int("default_mtu")?, o.opt_int("mtu")?) {
            (Some(m), _) | (None, Some(m)) => m.clamp(68, i64::from(u32::MAX)) as u32,
            (None, None) => MAX_MTU,
        };
        let list = match o.get("pciids") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(v) => return Err(o.type_err("pciids", "an array", v)),
        };
        let mut pfs: Vec<PfConfig> = Vec::new();
        for (i, v) in list.iter().enumerate() {
            let field = format!("pciids[{i}]");
            let pf = PfConfig::from_value(file, &field, v, default_mtu, &mut warnings)?;
            if pfs.iter().any(|p| p.id == pf.id) {
                return Err(ConfigError::new(
                    file,
                    field,
                    Rule::MainConfig,
                    format!("PF {} is listed twice", pf.id),
                ));
            }
            pfs.push(pf);
        }
        if pfs.is_empty() {
            return Err(ConfigError::new(
                file,
                "pciids",
                Rule::MainConfig,
                "abort: no pciids were defined",
            ));
        }
        if pfs.len() > MAX_PFS {
            return Err(ConfigError::new(
                file,
                "pciids",
                Rule::MainConfig,
                format!("{} PFs listed; at most {MAX_PFS} are supported", pfs.len()),
            ));
        }
        Ok((
            MainConfig {
                config_dir,
                delete_keep,
                default_mtu,
                pfs,
            },
            warnings,
        ))
    }

    /// `<config_dir>_live`.
    pub fn live_dir(&self) -> String {
        format!("{}_live", self.config_dir)
    }
}

// ------------------------------------------------------------------------------------------
// Registry: the accepted VFs of every PF, conflict checks, all-or-nothing add / delete
// ------------------------------------------------------------------------------------------

/// Uid and gid of a VF file's owner (callbacks run as them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// An accepted VF: the config as written plus the values validation produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Vf {
    /// The file it came from (as given to add).
    pub file: String,
    /// Owner of that file, if known (callbacks run as this user).
    pub owner: Option<Owner>,
    /// The config as parsed.
    pub config: VfConfig,
    /// Validated VLAN ids, in file order.
    pub vlans: Vec<u16>,
    /// Validated MACs, in file order (first = default).
    pub macs: Vec<MacAddr>,
    /// The MAC the VF uses: `macs[0]`, or a locally administered address derived from the
    /// PF and vfid when the list is empty (what a NIC's random MAC was in VFd).
    pub default_mac: MacAddr,
    /// Per-TC queue shares.
    pub qshares: [u8; MAX_TCS],
}

impl Vf {
    /// The vfid.
    pub fn vfid(&self) -> u32 {
        self.config.vfid
    }
    /// MACs the VF owns on the PF: the configured ones, or the generated default.
    pub fn effective_macs(&self) -> Vec<MacAddr> {
        if self.macs.is_empty() {
            vec![self.default_mac]
        } else {
            self.macs.clone()
        }
    }
}

/// One PF and the VFs accepted on it.
#[derive(Debug, Clone, PartialEq)]
pub struct PfState {
    /// The PF's config.
    pub config: PfConfig,
    vfs: BTreeMap<u32, Vf>,
}

impl PfState {
    /// A PF with no VFs.
    pub fn new(config: PfConfig) -> Self {
        PfState {
            config,
            vfs: BTreeMap::new(),
        }
    }
    /// The accepted VFs, by vfid.
    pub fn vfs(&self) -> impl Iterator<Item = &Vf> {
        self.vfs.values()
    }
    /// The VF with this vfid.
    pub fn vf(&self, vfid: u32) -> Option<&Vf> {
        self.vfs.get(&vfid)
    }
    /// Σ VLAN list lengths (duplicates across VFs counted, as VFd).
    pub fn vlan_total(&self) -> usize {
        self.vfs.values().map(|v| v.vlans.len()).sum()
    }
    /// Σ configured MACs.
    pub fn mac_total(&self) -> usize {
        self.vfs.values().map(|v| v.macs.len()).sum()
    }
    /// Σ `min_rate`.
    pub fn min_rate_total(&self) -> f64 {
        self.vfs.values().map(|v| v.config.min_rate).sum()
    }
    /// The VF owning `mac` (configured or generated), if any.
    pub fn mac_owner(&self, mac: &MacAddr) -> Option<u32> {
        self.vfs
            .values()
            .find(|v| v.effective_macs().contains(mac))
            .map(Vf::vfid)
    }
}

/// Every PF and its accepted VFs: the authority for add and delete.
///
/// Checks never mutate; [`Registry::add`] and [`Registry::delete`] change the state only
/// after every check passed, so a refused request changes nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Registry {
    pfs: Vec<PfState>,
}

impl Registry {
    /// A registry over these PFs (no VFs yet).
    pub fn new(pfs: Vec<PfConfig>) -> Self {
        Registry {
            pfs: pfs.into_iter().map(PfState::new).collect(),
        }
    }

    /// All PFs, in config order (the index is VFd's port number).
    pub fn pfs(&self) -> &[PfState] {
        &self.pfs
    }

    /// The PF with this PCI address.
    pub fn pf(&self, pciid: &str) -> Option<&PfState> {
        self.pfs.iter().find(|p| p.config.id == pciid)
    }

    /// Index of the PF with this PCI address.
    pub fn pf_index(&self, pciid: &str) -> Option<usize> {
        self.pfs.iter().position(|p| p.config.id == pciid)
    }

    /// Runs steps 3..=17 of §3.2 (plus Sluice's value checks) for `cfg` read from `file`
    /// against the current state, and returns the VF that [`Registry::commit`] would add.
    pub fn check_add(
        &self,
        file: &str,
        cfg: &VfConfig,
        owner: Option<Owner>,
    ) -> Result<Vf, ConfigError> {
        let err = |field: &str, rule: Rule, msg: String| ConfigError::new(file, field, rule, msg);

        // 3: the PF.
        let pf = self.pf(&cfg.pciid).ok_or_else(|| {
            err(
                "pciid",
                Rule::PfUnknown,
                format!(
                    "{}: could not find port {} in the config",
                    cfg.name, cfg.pciid
                ),
            )
        })?;
        // 4: vfid free.
        if pf.vfs.contains_key(&cfg.vfid) {
            return Err(err(
                "vfid",
                Rule::VfidTaken,
                format!("vfid {} already exists on port {}", cfg.vfid, cfg.pciid),
            ));
        }
        // 5: table slot and hard range.
        if pf.vfs.len() >= MAX_VFS || cfg.vfid as usize >= MAX_VFS {
            return Err(err(
                "vfid",
                Rule::VfidRange,
                format!(
                    "max VFs already defined or vfid {} is out of range",
                    cfg.vfid
                ),
            ));
        }
        // 6: below the number of VFs the PF has.
        if cfg.vfid >= pf.config.vfs_count {
            return Err(err(
                "vfid",
                Rule::VfidNotCreated,
                format!(
                    "vf {} is out of range; only {} VFs are configured on port {}",
                    cfg.vfid, pf.config.vfs_count, pf.config.id
                ),
            ));
        }
        // 7: guaranteed rates fit the link (small epsilon: 0.1 + 0.2 + 0.7 is 1).
        if cfg.min_rate + pf.min_rate_total() > 1.0 + 1e-9 {
            return Err(err(
                "min_rate",
                Rule::MinRateTotal,
                "total guaranteed rate exceeds link speed".into(),
            ));
        }
        // 8: VLANs per VF.
        if cfg.vlans.len() > MAX_VF_VLANS {
            return Err(err(
                "vlans",
                Rule::VlanCount,
                format!(
                    "number of vlans supplied ({}) exceeds the maximum ({MAX_VF_VLANS})",
                    cfg.vlans.len()
                ),
            ));
        }
        // 9: VLANs per PF.
        if cfg.vlans.len() + pf.vlan_total() > MAX_PF_VLANS {
            return Err(err(
                "vlans",
                Rule::PfVlanTotal,
                format!(
                    "number of vlans supplied ({}) causes total for PF to exceed the maximum ({MAX_PF_VLANS})",
                    cfg.vlans.len()
                ),
            ));
        }
        // 10: at least one.
        if cfg.vlans.is_empty() {
            return Err(err(
                "vlans",
                Rule::VlanEmpty,
                "vlan id list is empty; it must contain at least one id".into(),
            ));
        }
        // 11: range and duplicates; every entry, the last one included (VFd skipped it).
        let mut vlans = Vec::with_capacity(cfg.vlans.len());
        for (i, &v) in cfg.vlans.iter().enumerate() {
            if !(1..=4095).contains(&v) {
                return Err(err(
                    &format!("vlans[{i}]"),
                    Rule::VlanRange,
                    format!("invalid vlan id: {v}"),
                ));
            }
            if cfg.vlans[..i].contains(&v) {
                return Err(err(
                    &format!("vlans[{i}]"),
                    Rule::VlanDuplicate,
                    format!("duplicate vlan in list: {v}"),
                ));
            }
            vlans.push(v as u16);
        }
        // 12: MACs per VF.
        if cfg.macs.len() > MAX_VF_MACS {
            return Err(err(
                "macs",
                Rule::MacCount,
                format!(
                    "too many mac addresses given: {} > limit of {MAX_VF_MACS}",
                    cfg.macs.len()
                ),
            ));
        }
        // 13: each MAC valid, not on another VF, PF total within limit (new MACs counted
        // together, not each against the old total only).
        let mut macs: Vec<MacAddr> = Vec::with_capacity(cfg.macs.len());
        let pf_macs = pf.mac_total();
        for (i, s) in cfg.macs.iter().enumerate() {
            let field = format!("macs[{i}]");
            let cannot =
                |why: String| format!("mac cannot be added to this port ({why}): mac=({s})");
            let Some(mac) = parse_mac_strict(s) else {
                return Err(err(&field, Rule::MacInvalid, cannot("invalid".into())));
            };
            if let Some(other) = pf.mac_owner(&mac) {
                return Err(err(
                    &field,
                    Rule::MacInUse,
                    cannot(format!("in use by vf {other}")),
                ));
            }
            if macs.contains(&mac) {
                return Err(err(&field, Rule::MacInUse, cannot("listed twice".into())));
            }
            if pf_macs + macs.len() + 1 > MAX_PF_MACS {
                return Err(err(
                    &field,
                    Rule::PfMacTotal,
                    cannot(format!("max of {MAX_PF_MACS} exceeded for PF")),
                ));
            }
            macs.push(mac);
        }
        // 14 / 15: queue shares per TC.
        let qshares = cfg.qshares();
        let ntcs = usize::from(pf.config.ntcs);
        if !pf.config.vf_oversubscription {
            for (tc, &share) in qshares.iter().enumerate().take(ntcs) {
                let total: u32 = pf
                    .vfs
                    .values()
                    .map(|v| u32::from(v.qshares[tc]))
                    .sum::<u32>()
                    + u32::from(share);
                if total > 100 {
                    return Err(err(
                        "queues",
                        Rule::QosTotal,
                        format!(
                            "TC percentages cause one or more total allocation to exceed 100% (tc {tc}: {total}%)"
                        ),
                    ));
                }
            }
        }
        for (tc, &share) in qshares.iter().enumerate().take(ntcs) {
            let shares = pf
                .vfs
                .values()
                .map(|v| u32::from(v.qshares[tc]))
                .chain(std::iter::once(u32::from(share)));
            let (min, max) = shares.fold((u32::MAX, 0), |(lo, hi), s| (lo.min(s), hi.max(s)));
            if max > min.max(1) * MAX_QSHARE_SPREAD {
                return Err(err(
                    "queues",
                    Rule::QosSpread,
                    format!(
                        "min-max spread for one or more TCs would exceed 10x (tc {tc}: {min}%..{max}%)"
                    ),
                ));
            }
        }
        // 16: callbacks.
        for (field, cb) in [("start_cb", &cfg.start_cb), ("stop_cb", &cfg.stop_cb)] {
            if cb.as_deref().is_some_and(|c| c.contains(';')) {
                return Err(err(
                    field,
                    Rule::Callback,
                    format!("{field} command contains invalid character: ;"),
                ));
            }
        }
        // 17: mirror (target < vfs_count: VFd's "<= nvfs_config" let one past the end in).
        if let Some(m) = &cfg.mirror {
            if let Some(d) = &m.bad_direction {
                return Err(err(
                    "mirror.direction",
                    Rule::Mirror,
                    format!("mirror direction must be in, out, all, both or off, found \"{d}\""),
                ));
            }
            if m.direction != MirrorDirection::Off {
                match (&m.target, m.raw_target) {
                    (None, _) => {
                        return Err(err(
                            "mirror.target",
                            Rule::Mirror,
                            "mirror target VF number not supplied".into(),
                        ))
                    }
                    (Some(MirrorTarget::Vf(_)), Some(t))
                        if t == i64::from(cfg.vfid)
                            || t < 0
                            || t >= i64::from(pf.config.vfs_count) =>
                    {
                        return Err(err(
                            "mirror.target",
                            Rule::Mirror,
                            format!(
                                "mirror target is out of range or is the same as this VF ({}): target={t} range=0-{}",
                                cfg.vfid,
                                pf.config.vfs_count - 1
                            ),
                        ))
                    }
                    (Some(MirrorTarget::Pcap(p)), _) if p.is_empty() => {
                        return Err(err(
                            "mirror.pcap",
                            Rule::Mirror,
                            "mirror pcap file name is empty".into(),
                        ))
                    }
                    _ => {}
                }
            }
        }
        // Sluice's value checks, after all of VFd's.
        for (field, v) in [("rate", cfg.rate), ("min_rate", cfg.min_rate)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(err(
                    field,
                    Rule::Value,
                    format!("{field} {v} must be a fraction of the link speed, 0 to 1"),
                ));
            }
        }
        if cfg.rate > 0.0 && cfg.min_rate > cfg.rate {
            return Err(err(
                "min_rate",
                Rule::Value,
                format!("min_rate {} is above rate {}", cfg.min_rate, cfg.rate),
            ));
        }
        let default_mac = match macs.first() {
            Some(m) => *m,
            None => generated_mac(pf, cfg.vfid),
        };
        Ok(Vf {
            file: file.to_string(),
            owner,
            config: cfg.clone(),
            vlans,
            macs,
            default_mac,
            qshares,
        })
    }

    /// Adds a VF that passed [`Registry::check_add`]. Runs the checks again against the
    /// current state, so a `Vf` checked before another change cannot slip a conflict in.
    pub fn commit(&mut self, vf: Vf) -> Result<&Vf, ConfigError> {
        let vf = self.check_add(&vf.file, &vf.config, vf.owner)?;
        let Some(idx) = self.pf_index(&vf.config.pciid) else {
            // Unreachable: check_add found the PF.
            return Err(ConfigError::new(
                &vf.file,
                "pciid",
                Rule::PfUnknown,
                "PF vanished",
            ));
        };
        let vfid = vf.vfid();
        Ok(self.pfs[idx].vfs.entry(vfid).or_insert(vf))
    }

    /// Checks and adds in one step; on error nothing changed.
    pub fn add(
        &mut self,
        file: &str,
        cfg: &VfConfig,
        owner: Option<Owner>,
    ) -> Result<&Vf, ConfigError> {
        let vf = self.check_add(file, cfg, owner)?;
        self.commit(vf)
    }

    /// Checks a delete request (VFd's `vfd_del_vf`): PF known, VF configured, and the
    /// `name` equal to the add-time name. Returns the PF index and vfid to remove.
    pub fn check_delete(&self, file: &str, cfg: &VfConfig) -> Result<(usize, u32), ConfigError> {
        let idx = self.pf_index(&cfg.pciid).ok_or_else(|| {
            ConfigError::new(
                file,
                "pciid",
                Rule::PfUnknown,
                format!(
                    "{}: could not find port {} in the config",
                    cfg.name, cfg.pciid
                ),
            )
        })?;
        let pf = &self.pfs[idx];
        let Some(cur) = pf.vfs.get(&cfg.vfid) else {
            return Err(ConfigError::new(
                file,
                "vfid",
                Rule::DeleteNotConfigured,
                format!(
                    "{}: vf {} not configured on port {}",
                    cfg.name, cfg.vfid, cfg.pciid
                ),
            ));
        };
        if cur.config.name != cfg.name {
            return Err(ConfigError::new(
                file,
                "name",
                Rule::DeleteNameMismatch,
                format!(
                    "{}: name in config did not match name given when VF was added: expected {}, found {}",
                    cfg.name, cur.config.name, cfg.name
                ),
            ));
        }
        Ok((idx, cfg.vfid))
    }

    /// Checks and removes; returns the removed VF. On error nothing changed.
    pub fn delete(&mut self, file: &str, cfg: &VfConfig) -> Result<Vf, ConfigError> {
        let (idx, vfid) = self.check_delete(file, cfg)?;
        self.pfs[idx]
            .vfs
            .remove(&vfid)
            .ok_or_else(|| ConfigError::new(file, "vfid", Rule::DeleteNotConfigured, "vanished"))
    }
}

/// A locally administered unicast MAC for a VF with no `macs`: 02:<pf hash>:<vfid>.
fn generated_mac(pf: &PfState, vfid: u32) -> MacAddr {
    // FNV-1a of the PCI address: stable across restarts, distinct per PF in practice.
    let mut h: u32 = 0x811c_9dc5;
    for b in pf.config.id.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let [a, b, c, _] = h.to_be_bytes();
    let mut mac = [0x02, a, b, c, 0x00, vfid as u8];
    // Step past a MAC someone configured by hand (rare); the vfid byte keeps VFs apart.
    while pf.mac_owner(&mac).is_some() {
        mac[4] = mac[4].wrapping_add(1);
    }
    mac
}

/// Formats a MAC for messages.
pub fn fmt_mac(mac: &MacAddr) -> String {
    MacFmt(*mac).to_string()
}
