//! A VFd VF file (reference §1.1) mapped onto what rtnetlink can express (§4.1), with a
//! per-field account of the rest (§4.3).

use serde::{Deserialize, Serialize};

use crate::settings::{LinkState, MacAddr, TxRate, VfSettings, VfVlan, VlanProto};

/// `queues[]` entry: a share of one traffic class.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueueShare {
    /// Traffic class 0..=7.
    pub priority: u8,
    /// Share as VFd writes it, e.g. `"10%"`.
    pub share: String,
}

/// `mirror` object.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mirror {
    /// Target VF on the same PF.
    pub target: i64,
    /// `in`, `out`, `all`, `both` or `off`.
    #[serde(default)]
    pub direction: String,
}

/// A VFd VF configuration file (one JSON object per VF), with VFd's defaults. Unknown keys
/// are ignored as VFd does (`"comments"` is conventional). The caller converts its own config
/// type into this one; this crate depends on no other Sluice crate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VfFile {
    /// Not used for NIC configuration.
    pub name: String,
    /// PF PCI address (see [`crate::pf_for_pciid`]).
    pub pciid: String,
    /// VF index on the PF.
    pub vfid: u32,
    /// Strip the outer tag on Rx and insert it on Tx.
    pub strip_stag: bool,
    /// Strip an 802.1Q C-tag (VFd: mlx5 only).
    pub strip_ctag: bool,
    /// Not read by VFd (insert follows strip); checked for contradiction only.
    pub insert_stag: Option<bool>,
    /// Accept broadcast (default true).
    pub allow_bcast: bool,
    /// Multicast promiscuous (default true).
    pub allow_mcast: bool,
    /// Unknown-unicast promiscuous (default false).
    pub allow_un_ucast: bool,
    /// Parsed but forced off by VFd.
    pub allow_untagged: bool,
    /// Parsed but forced on by VFd.
    pub vlan_anti_spoof: bool,
    /// MAC anti-spoof; VFd overrode it per NIC, Sluice applies it (default on).
    pub mac_anti_spoof: Option<bool>,
    /// VLAN ids, 1..=4095, at least one.
    pub vlans: Vec<u32>,
    /// MACs: the first is the VF's MAC, the rest a whitelist.
    pub macs: Vec<String>,
    /// Single MAC, used when `macs` is empty.
    pub mac: Option<String>,
    /// Max Tx rate as a fraction of link speed (0 = unlimited).
    pub rate: f64,
    /// Guaranteed Tx rate as a fraction of link speed.
    pub min_rate: f64,
    /// Per-TC shares.
    pub queues: Vec<QueueShare>,
    /// Mirror to another VF.
    pub mirror: Option<Mirror>,
    /// `on`, `off` or `auto` (case-insensitive).
    pub link_status: String,
    /// Command run after the VF is configured.
    pub start_cb: Option<String>,
    /// Command run before shutdown.
    pub stop_cb: Option<String>,
}

impl Default for VfFile {
    /// VFd's defaults [code config.c].
    fn default() -> Self {
        VfFile {
            name: "unnamed".into(),
            pciid: String::new(),
            vfid: 0,
            strip_stag: false,
            strip_ctag: false,
            insert_stag: None,
            allow_bcast: true,
            allow_mcast: true,
            allow_un_ucast: false,
            allow_untagged: false,
            vlan_anti_spoof: true,
            mac_anti_spoof: None,
            vlans: Vec::new(),
            macs: Vec::new(),
            mac: None,
            rate: 0.0,
            min_rate: 0.0,
            queues: Vec::new(),
            mirror: None,
            link_status: "auto".into(),
            start_cb: None,
            stop_cb: None,
        }
    }
}

/// Choices the VF file leaves to the NIC or the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MapOptions {
    /// PF link speed in Mbps, to turn `rate`/`min_rate` fractions into Mbps
    /// (see [`crate::link_speed_mbps`]). `None` with a non-zero rate: rate not applied.
    pub link_speed_mbps: Option<u32>,
    /// Tag protocol for `strip_stag`. VFd's S-tag on ixgbe/i40e/bnxt is the 802.1Q tag its
    /// filter matched (the default here); on mlx5 it is a true 802.1ad S-tag.
    pub stag_proto: VlanProto,
    /// Grant `IFLA_VF_TRUST` when `allow_mcast` or `allow_un_ucast` is set (what VFd does on
    /// mlx5). Off by default: trust also lets the guest change its MAC, which VFd forbids.
    pub trust_grants_promisc: bool,
}

/// A VF file field the kernel interface cannot express; it is not applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsupported {
    /// The VF file key (e.g. `vlans`, `macs[1..]`).
    pub field: String,
    /// Why, and what would be needed.
    pub reason: String,
}

/// A field that is applied, but whose effect depends on the driver or differs from VFd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caveat {
    /// The VF file key.
    pub field: String,
    /// How it differs.
    pub reason: String,
}

/// The result of [`map_vf_file`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfMapping {
    /// What to send with [`crate::apply`]. It states the whole VF (VLAN, rate, spoof check,
    /// trust and link state are always set) so stale state from a previous tenant is cleared.
    pub settings: VfSettings,
    /// Fields not applied.
    pub unsupported: Vec<Unsupported>,
    /// Fields applied with driver-dependent or different semantics.
    pub caveats: Vec<Caveat>,
}

impl VfMapping {
    /// True when the kernel expresses the whole VF file (nothing unsupported).
    pub fn is_complete(&self) -> bool {
        self.unsupported.is_empty()
    }
}

/// A VF file value that is wrong in itself (VFd would refuse the file too).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("VF file field {field}: {reason}")]
pub struct MapError {
    /// The key.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

fn invalid<T>(field: &str, reason: impl Into<String>) -> Result<T, MapError> {
    Err(MapError {
        field: field.into(),
        reason: reason.into(),
    })
}

struct Out {
    unsupported: Vec<Unsupported>,
    caveats: Vec<Caveat>,
}

impl Out {
    fn no(&mut self, field: &str, reason: impl Into<String>) {
        self.unsupported.push(Unsupported {
            field: field.into(),
            reason: reason.into(),
        });
    }
    fn caveat(&mut self, field: &str, reason: impl Into<String>) {
        self.caveats.push(Caveat {
            field: field.into(),
            reason: reason.into(),
        });
    }
}

const NO_VLAN_LIST: &str = "rtnetlink sets one port VLAN per VF (IFLA_VF_VLAN_LIST takes MAX_VLAN_LIST_LEN = 1 entry) and has no per-VF VLAN allow-list; needs a vendor back end (OFED trunk sysfs, DPDK rte_pmd_*_set_vf_vlan_filter) or switchdev flow rules";

/// Maps a VFd VF file onto rtnetlink VF settings, listing per field what cannot be applied.
///
/// VLANs: exactly one VLAN with `strip_stag` (or `strip_ctag`) becomes a port VLAN (the NIC
/// inserts and strips the tag: VFd's single-VLAN strip mode, exact). Any other VLAN setup
/// (one VLAN left tagged, several VLANs) has no kernel attribute: the port VLAN is cleared
/// and `vlans`, `allow_untagged` and `vlan_anti_spoof` are reported, because the VF then
/// sees and may send every VLAN — check [`VfMapping::is_complete`] before trusting it.
pub fn map_vf_file(f: &VfFile, opts: &MapOptions) -> Result<VfMapping, MapError> {
    let mut out = Out {
        unsupported: Vec::new(),
        caveats: Vec::new(),
    };
    let mut s = VfSettings::new(f.vfid);

    // --- MACs: the first is the VF's MAC, the rest a whitelist.
    let macs: Vec<&str> = if f.macs.is_empty() {
        f.mac.iter().map(String::as_str).collect()
    } else {
        f.macs.iter().map(String::as_str).collect()
    };
    let field = if f.macs.is_empty() { "mac" } else { "macs" };
    let mut parsed = Vec::new();
    let key = |i: usize| {
        if f.macs.is_empty() {
            field.to_string()
        } else {
            format!("{field}[{i}]")
        }
    };
    for (i, m) in macs.iter().enumerate() {
        match m.parse::<MacAddr>() {
            Ok(mac) => parsed.push(mac),
            Err(e) => return invalid(&key(i), e.to_string()),
        }
    }
    if let Some(first) = parsed.first() {
        if first.is_multicast() {
            return invalid(
                &key(0),
                format!("{first} is a group address; a VF MAC must be unicast"),
            );
        }
        s.mac = Some(*first);
    }
    if parsed.len() > 1 {
        out.no(
            "macs[1..]",
            format!(
                "{} extra MAC(s) as a whitelist: rtnetlink sets one administrative MAC per VF (IFLA_VF_MAC); extra filters come only from the guest, and only with trust; needs a vendor back end (ixgbe/i40e PF via DPDK, OFED mac_list)",
                parsed.len() - 1
            ),
        );
    }

    // --- VLANs.
    if f.vlans.is_empty() {
        return invalid("vlans", "VFd requires at least one VLAN");
    }
    for (i, &v) in f.vlans.iter().enumerate() {
        if !(1..=4095).contains(&v) {
            return invalid(&format!("vlans[{i}]"), format!("{v} is not in 1..=4095"));
        }
        if f.vlans[..i].contains(&v) {
            return invalid(&format!("vlans[{i}]"), format!("VLAN {v} is listed twice"));
        }
    }
    let strip = f.strip_stag || f.strip_ctag;
    if f.strip_stag && f.strip_ctag {
        out.no(
            "strip_ctag",
            "both strip_stag and strip_ctag: a port VLAN pushes and pops one tag, so stripping two tags (QinQ) has no attribute; strip_stag applied",
        );
    }
    if let Some(ins) = f.insert_stag {
        if ins != strip {
            out.no(
                "insert_stag",
                format!(
                    "insert_stag={ins} with strip={strip}: a port VLAN inserts exactly when it strips (VFd also ignores insert_stag); no attribute for one without the other"
                ),
            );
        }
    }
    let proto = if f.strip_stag {
        opts.stag_proto
    } else {
        VlanProto::Dot1Q
    };
    let port_vlan = f.vlans.len() == 1 && strip;
    if port_vlan {
        s.vlan = Some(VfVlan {
            id: f.vlans[0] as u16,
            qos: 0,
            proto,
        });
        if proto == VlanProto::Dot1Ad {
            out.caveat(
                "strip_stag",
                "802.1ad port VLAN (QinQ S-tag push/pop) is driver-dependent (mlx5/ice yes, X710 no): expect EPROTONOSUPPORT from other NICs",
            );
        }
    } else {
        s.vlan = Some(VfVlan::NONE);
        match (f.vlans.len(), strip) {
            (1, _) => out.no(
                "vlans",
                format!(
                    "VLAN {} as a filter with the tag left in the frame (guest tags it): rtnetlink's only VLAN attribute is a port VLAN that the NIC inserts and strips; the port VLAN is cleared and the VF sees every VLAN",
                    f.vlans[0]
                ),
            ),
            (n, _) => out.no(
                "vlans",
                format!("{n} VLANs per VF: {NO_VLAN_LIST}; the port VLAN is cleared and the VF sees every VLAN"),
            ),
        }
        if strip {
            out.no(
                if f.strip_stag { "strip_stag" } else { "strip_ctag" },
                "strip with several VLANs (outer tag stripped on Rx, inserted from the Tx descriptor, QinQ inner tag kept) needs the PF driver (ixgbe/i40e stripq + insert 0); not applied",
            );
        }
        out.no(
            "allow_untagged",
            "VFd never delivers untagged frames; without a port VLAN the VF receives them and no attribute filters them",
        );
        out.no(
            "vlan_anti_spoof",
            "VFd drops guest frames tagged with an unlisted VLAN; without a port VLAN there is no VLAN anti-spoof attribute (IFLA_VF_SPOOFCHK is source-MAC only on most drivers)",
        );
    }

    // --- Rates: fractions of link speed → Mbps.
    for (name, v) in [("rate", f.rate), ("min_rate", f.min_rate)] {
        if !(0.0..=1.0).contains(&v) {
            return invalid(
                name,
                format!("{v} is not a fraction of link speed in 0..=1"),
            );
        }
    }
    if f.rate == 0.0 && f.min_rate == 0.0 {
        s.rate = Some(TxRate::default());
    } else if let Some(speed) = opts.link_speed_mbps {
        // VFd casts to uint16 (wrong above 65 Gb/s); u32 Mbps here.
        let mbps = |frac: f64| (frac * f64::from(speed)).round() as u32;
        let r = TxRate {
            min_mbps: mbps(f.min_rate),
            max_mbps: mbps(f.rate),
        };
        if r.max_mbps != 0 && r.min_mbps > r.max_mbps {
            return invalid("min_rate", "min_rate is above rate");
        }
        if r.min_mbps > 0 {
            out.caveat(
                "min_rate",
                "min_tx_rate is driver-dependent (ixgbe and i40e refuse a non-zero min); keeping the sum of guarantees within the link is the caller's job (VFd refused a sum above 1)",
            );
        }
        s.rate = Some(r);
    } else {
        out.no(
            "rate",
            "rate/min_rate are fractions of link speed and the PF link speed is unknown (link down?); rates left as they are",
        );
    }

    // --- Rx modes.
    if !f.allow_bcast {
        out.no(
            "allow_bcast",
            "no attribute to stop broadcast delivery to a VF (IFLA_VF_BROADCAST is a read-only address); needs the PF driver or switchdev",
        );
    }
    let promisc = f.allow_mcast || f.allow_un_ucast;
    s.trust = Some(opts.trust_grants_promisc && promisc);
    for (name, on, what) in [
        ("allow_mcast", f.allow_mcast, "multicast promiscuous"),
        (
            "allow_un_ucast",
            f.allow_un_ucast,
            "unknown-unicast promiscuous",
        ),
    ] {
        if !on {
            continue;
        }
        if opts.trust_grants_promisc {
            out.caveat(
                name,
                format!("mapped to IFLA_VF_TRUST: the guest may turn on {what} itself, but may also change its MAC and add filters; not forced on"),
            );
        } else {
            out.no(
                name,
                format!("no attribute puts a VF in {what} mode; the kernel only lets a trusted VF (IFLA_VF_TRUST) ask for it, and trust also lets it change its MAC; set MapOptions::trust_grants_promisc to use trust"),
            );
        }
    }

    // --- Spoof check: VFd ignored the key (on for ixgbe only); the configured value is used.
    s.spoofchk = Some(f.mac_anti_spoof.unwrap_or(true));

    // --- Link state.
    s.link_state = Some(match f.link_status.to_ascii_lowercase().as_str() {
        "on" => LinkState::Enable,
        "off" => LinkState::Disable,
        "auto" => LinkState::Auto,
        other => {
            out.caveat(
                "link_status",
                format!("{other:?} is not on/off/auto; auto used, as VFd does"),
            );
            LinkState::Auto
        }
    });

    // --- The rest has no kernel counterpart.
    if !f.queues.is_empty() {
        out.no(
            "queues",
            "per-traffic-class shares for a VF have no attribute (dcbnl is PF-wide); needs DPDK ixgbe registers or mlnx_qos / OFED min_tx_tc_rate",
        );
    }
    if let Some(m) = &f.mirror {
        if !m.direction.eq_ignore_ascii_case("off") {
            out.no(
                "mirror",
                "VF mirroring has no rtnetlink attribute; needs OFED ingress_mirr/egress_mirr or tc mirred on switchdev representors",
            );
        }
    }
    for (name, cb) in [("start_cb", &f.start_cb), ("stop_cb", &f.stop_cb)] {
        if cb.is_some() {
            out.no(
                name,
                "management-plane hook: not run by the SR-IOV back end (the daemon runs it)",
            );
        }
    }

    Ok(VfMapping {
        settings: s,
        unsupported: out.unsupported,
        caveats: out.caveats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(m: &VfMapping) -> Vec<&str> {
        m.unsupported.iter().map(|u| u.field.as_str()).collect()
    }

    fn base() -> VfFile {
        VfFile {
            vfid: 3,
            vlans: vec![100],
            strip_stag: true,
            macs: vec!["fa:ce:ed:09:01:01".into()],
            allow_mcast: false,
            ..Default::default()
        }
    }

    #[test]
    fn single_vlan_strip_maps_exactly() {
        let m = map_vf_file(&base(), &MapOptions::default()).unwrap();
        assert!(m.is_complete(), "{:?}", m.unsupported);
        assert!(m.caveats.is_empty(), "{:?}", m.caveats);
        let s = &m.settings;
        assert_eq!(s.vf, 3);
        assert_eq!(s.mac, Some("fa:ce:ed:09:01:01".parse().unwrap()));
        assert_eq!(
            s.vlan,
            Some(VfVlan {
                id: 100,
                qos: 0,
                proto: VlanProto::Dot1Q
            })
        );
        assert_eq!(s.rate, Some(TxRate::default()));
        assert_eq!(s.spoofchk, Some(true));
        assert_eq!(s.trust, Some(false));
        assert_eq!(s.link_state, Some(LinkState::Auto));
        assert_eq!(s.rss_query_en, None);
    }

    #[test]
    fn stag_as_8021ad_is_a_caveat() {
        let opts = MapOptions {
            stag_proto: VlanProto::Dot1Ad,
            ..Default::default()
        };
        let m = map_vf_file(&base(), &opts).unwrap();
        assert_eq!(m.settings.vlan.unwrap().proto, VlanProto::Dot1Ad);
        assert_eq!(m.caveats[0].field, "strip_stag");
        // strip_ctag alone is always 802.1Q.
        let f = VfFile {
            strip_stag: false,
            strip_ctag: true,
            ..base()
        };
        assert_eq!(
            map_vf_file(&f, &opts).unwrap().settings.vlan.unwrap().proto,
            VlanProto::Dot1Q
        );
    }

    #[test]
    fn vlan_lists_and_tagged_vlans_are_unsupported() {
        // The quick-start example: two VLANs with strip.
        let f = VfFile {
            vlans: vec![22, 21],
            ..base()
        };
        let m = map_vf_file(&f, &MapOptions::default()).unwrap();
        assert_eq!(m.settings.vlan, Some(VfVlan::NONE));
        assert_eq!(
            fields(&m),
            ["vlans", "strip_stag", "allow_untagged", "vlan_anti_spoof"]
        );
        assert!(m.unsupported[0].reason.contains("MAX_VLAN_LIST_LEN = 1"));
        // One VLAN, no strip: a filter, not a port VLAN.
        let f = VfFile {
            strip_stag: false,
            ..base()
        };
        let m = map_vf_file(&f, &MapOptions::default()).unwrap();
        assert_eq!(m.settings.vlan, Some(VfVlan::NONE));
        assert_eq!(fields(&m), ["vlans", "allow_untagged", "vlan_anti_spoof"]);
    }

    #[test]
    fn qinq_and_insert_contradictions() {
        let f = VfFile {
            strip_ctag: true,
            insert_stag: Some(false),
            ..base()
        };
        let m = map_vf_file(&f, &MapOptions::default()).unwrap();
        assert_eq!(fields(&m), ["strip_ctag", "insert_stag"]);
        // insert_stag equal to strip is what VFd does anyway: fine.
        let f = VfFile {
            insert_stag: Some(true),
            ..base()
        };
        assert!(map_vf_file(&f, &MapOptions::default())
            .unwrap()
            .is_complete());
    }

    #[test]
    fn bum_mirror_queues_whitelist_callbacks() {
        // The nova-generated file from issue #308 plus extras.
        let f = VfFile {
            vfid: 28,
            strip_stag: true,
            insert_stag: Some(false),
            allow_bcast: false,
            allow_mcast: true,
            allow_un_ucast: true,
            vlans: vec![1000],
            macs: vec!["02:00:00:00:00:01".into(), "02:00:00:00:00:02".into()],
            queues: vec![QueueShare {
                priority: 0,
                share: "10%".into(),
            }],
            mirror: Some(Mirror {
                target: 3,
                direction: "all".into(),
            }),
            start_cb: Some("/bin/true".into()),
            ..Default::default()
        };
        let m = map_vf_file(&f, &MapOptions::default()).unwrap();
        assert_eq!(
            fields(&m),
            [
                "macs[1..]",
                "insert_stag",
                "allow_bcast",
                "allow_mcast",
                "allow_un_ucast",
                "queues",
                "mirror",
                "start_cb"
            ]
        );
        assert_eq!(m.settings.trust, Some(false));
        // With trust allowed, promisc becomes a caveat and trust is granted.
        let opts = MapOptions {
            trust_grants_promisc: true,
            ..Default::default()
        };
        let m = map_vf_file(&f, &opts).unwrap();
        assert_eq!(m.settings.trust, Some(true));
        assert!(!fields(&m).contains(&"allow_mcast"));
        let cav: Vec<&str> = m.caveats.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(cav, ["allow_mcast", "allow_un_ucast"]);
        // A mirror turned off is nothing to report.
        let f = VfFile {
            mirror: Some(Mirror {
                target: 1,
                direction: "OFF".into(),
            }),
            ..base()
        };
        assert!(map_vf_file(&f, &MapOptions::default())
            .unwrap()
            .is_complete());
    }

    #[test]
    fn rates_need_link_speed() {
        let f = VfFile {
            rate: 0.1,
            min_rate: 0.05,
            ..base()
        };
        let m = map_vf_file(&f, &MapOptions::default()).unwrap();
        assert_eq!(m.settings.rate, None);
        assert_eq!(fields(&m), ["rate"]);
        let opts = MapOptions {
            link_speed_mbps: Some(25_000),
            ..Default::default()
        };
        let m = map_vf_file(&f, &opts).unwrap();
        assert_eq!(
            m.settings.rate,
            Some(TxRate {
                min_mbps: 1250,
                max_mbps: 2500
            })
        );
        assert_eq!(m.caveats[0].field, "min_rate");
        // 100G: VFd's uint16 cast would wrap; u32 does not.
        let f = VfFile {
            rate: 1.0,
            ..base()
        };
        let opts = MapOptions {
            link_speed_mbps: Some(100_000),
            ..Default::default()
        };
        assert_eq!(
            map_vf_file(&f, &opts)
                .unwrap()
                .settings
                .rate
                .unwrap()
                .max_mbps,
            100_000
        );
    }

    #[test]
    fn link_status_and_spoofchk() {
        for (v, want) in [
            ("ON", LinkState::Enable),
            ("off", LinkState::Disable),
            ("Auto", LinkState::Auto),
        ] {
            let f = VfFile {
                link_status: v.into(),
                ..base()
            };
            let m = map_vf_file(&f, &MapOptions::default()).unwrap();
            assert_eq!(m.settings.link_state, Some(want));
            assert!(m.caveats.is_empty());
        }
        let f = VfFile {
            link_status: "sometimes".into(),
            mac_anti_spoof: Some(false),
            ..base()
        };
        let m = map_vf_file(&f, &MapOptions::default()).unwrap();
        assert_eq!(m.settings.link_state, Some(LinkState::Auto));
        assert_eq!(m.caveats[0].field, "link_status");
        assert_eq!(m.settings.spoofchk, Some(false));
    }

    #[test]
    fn invalid_values_are_errors() {
        let cases: Vec<(VfFile, &str)> = vec![
            (
                VfFile {
                    vlans: vec![],
                    ..base()
                },
                "vlans",
            ),
            (
                VfFile {
                    vlans: vec![10, 4096],
                    ..base()
                },
                "vlans[1]",
            ),
            (
                VfFile {
                    vlans: vec![10, 0],
                    ..base()
                },
                "vlans[1]",
            ),
            (
                VfFile {
                    vlans: vec![10, 10],
                    ..base()
                },
                "vlans[1]",
            ),
            (
                VfFile {
                    macs: vec!["nope".into()],
                    ..base()
                },
                "macs[0]",
            ),
            (
                VfFile {
                    macs: vec!["01:00:5e:00:00:30".into()],
                    ..base()
                },
                "macs[0]",
            ),
            (
                VfFile {
                    macs: vec![],
                    mac: Some("ff:ff:ff:ff:ff:ff".into()),
                    ..base()
                },
                "mac",
            ),
            (
                VfFile {
                    rate: 1.5,
                    ..base()
                },
                "rate",
            ),
            (
                VfFile {
                    rate: -0.1,
                    ..base()
                },
                "rate",
            ),
        ];
        for (f, field) in cases {
            let e = map_vf_file(&f, &MapOptions::default()).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
        let f = VfFile {
            rate: 0.1,
            min_rate: 0.2,
            ..base()
        };
        let opts = MapOptions {
            link_speed_mbps: Some(10_000),
            ..Default::default()
        };
        assert_eq!(map_vf_file(&f, &opts).unwrap_err().field, "min_rate");
    }

    #[test]
    fn single_mac_key_and_no_mac() {
        let f = VfFile {
            macs: vec![],
            mac: Some("02:aa:bb:cc:dd:ee".into()),
            ..base()
        };
        let m = map_vf_file(&f, &MapOptions::default()).unwrap();
        assert_eq!(m.settings.mac.unwrap().to_string(), "02:aa:bb:cc:dd:ee");
        let f = VfFile {
            macs: vec![],
            ..base()
        };
        assert_eq!(
            map_vf_file(&f, &MapOptions::default())
                .unwrap()
                .settings
                .mac,
            None
        );
    }
}
