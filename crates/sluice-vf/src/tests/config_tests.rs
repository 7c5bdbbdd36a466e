use serde_json::{json, Value};

use super::{add, base, registry, with};
use crate::config::*;

const F: &str = "/var/lib/vfd/config/tenant-a.json";

/// Adds `v` to `reg` expecting refusal by `rule` on `field`; checks the message names the
/// file and the field, contains `words`, and that the registry did not change.
fn refused(reg: &mut Registry, v: &Value, rule: Rule, field: &str, words: &str) -> ConfigError {
    let before = reg.clone();
    let e = add(reg, F, v).expect_err("must be refused");
    assert_eq!(e.rule, rule, "{e}");
    assert_eq!(e.field, field, "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("{F}: {field}: ")), "{shown}");
    assert!(e.message.contains(words), "{shown} lacks {words:?}");
    assert_eq!(*reg, before, "a refused config changed the registry");
    e
}

fn fresh_refused(v: &Value, rule: Rule, field: &str, words: &str) -> ConfigError {
    refused(&mut registry(), v, rule, field, words)
}

fn macs(n: usize, seed: u8) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                json!(format!(
                    "02:{seed:02x}:00:00:{:02x}:{:02x}",
                    i / 256,
                    i % 256
                ))
            })
            .collect(),
    )
}

// ---- Step 1: readable, JSON, types -----------------------------------------------------

#[test]
fn rule01_malformed_json_refused() {
    let mut reg = registry();
    let e = VfConfig::parse(F, r#"{"pciid": "0000:07:00.0", "vfid": 1,"#).unwrap_err();
    assert_eq!(e.rule, Rule::Json);
    assert!(e.to_string().starts_with(F));
    assert!(e.message.contains("unable to read or parse config file"));
    // The qstart example's trailing comma before `]` is not JSON either.
    let e = VfConfig::parse(
        F,
        r#"{"pciid": "0000:07:00.0", "vfid": 1, "vlans": [22, 21,]}"#,
    )
    .unwrap_err();
    assert_eq!(e.rule, Rule::Json);
    // Top level must be an object.
    let e = VfConfig::parse(F, "[1, 2]").unwrap_err();
    assert_eq!(e.rule, Rule::Json);
    assert!(e.message.contains("top level must be an object"));
    assert_eq!(reg, registry());
    assert!(add(&mut reg, F, &base(1, 10, "02:00:00:00:00:01")).is_ok());
}

#[test]
fn rule01_type_errors_name_the_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(
                base(1, 10, "02:00:00:00:00:01"),
                "strip_stag",
                json!("true"),
            ),
            "strip_stag",
            "true or false",
        ),
        (
            with(base(1, 10, "02:00:00:00:00:01"), "vfid", json!("1")),
            "vfid",
            "an integer",
        ),
        (
            with(base(1, 10, "02:00:00:00:00:01"), "vfid", json!(1.5)),
            "vfid",
            "an integer",
        ),
        (
            with(base(1, 10, "02:00:00:00:00:01"), "vlans", json!(10)),
            "vlans",
            "an array",
        ),
        (
            with(base(1, 10, "02:00:00:00:00:01"), "vlans", json!([10, "11"])),
            "vlans[1]",
            "integer VLAN id",
        ),
        (
            with(base(1, 10, "02:00:00:00:00:01"), "macs", json!([1])),
            "macs[0]",
            "a string",
        ),
        (
            with(base(1, 10, "02:00:00:00:00:01"), "rate", json!("10%")),
            "rate",
            "a number",
        ),
        (
            with(base(1, 10, "02:00:00:00:00:01"), "link_status", json!(true)),
            "link_status",
            "a string",
        ),
        (
            with(base(1, 10, "02:00:00:00:00:01"), "mirror", json!(3)),
            "mirror",
            "an object",
        ),
        (
            with(
                base(1, 10, "02:00:00:00:00:01"),
                "mirror",
                json!({"target": "3"}),
            ),
            "mirror.target",
            "an integer",
        ),
        (
            with(
                base(1, 10, "02:00:00:00:00:01"),
                "queues",
                json!([{"priority": 0, "share": 10}]),
            ),
            "queues[0].share",
            "a string like",
        ),
        (
            with(
                base(1, 10, "02:00:00:00:00:01"),
                "queues",
                json!([{"priority": 9, "share": "10%"}]),
            ),
            "queues[0].priority",
            "0..7",
        ),
        (
            with(
                base(1, 10, "02:00:00:00:00:01"),
                "start_cb",
                json!(["/bin/true"]),
            ),
            "start_cb",
            "a string",
        ),
        (
            with(
                base(1, 10, "02:00:00:00:00:01"),
                "vlan_proto",
                json!("802.1x"),
            ),
            "vlan_proto",
            "802.1ad",
        ),
    ];
    for (v, field, words) in cases {
        let e = fresh_refused(&v, Rule::Type, field, words);
        assert_eq!(e.rule.step(), 1);
    }
}

#[test]
fn rule01_unknown_fields_are_warnings() {
    let v = with(base(1, 10, "02:00:00:00:00:01"), "colour", json!("blue"));
    let v = with(v, "comments", json!("known, no warning"));
    let (cfg, warnings) = VfConfig::parse(F, &v.to_string()).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].field, "colour");
    assert!(warnings[0]
        .to_string()
        .starts_with(&format!("{F}: colour: unknown field")));
    assert!(registry().add(F, &cfg, None).is_ok());
}

// ---- Step 2: pciid present, vfid >= 0 ---------------------------------------------------

#[test]
fn rule02_pciid_missing() {
    let v = with(base(1, 10, "02:00:00:00:00:01"), "pciid", Value::Null);
    fresh_refused(
        &v,
        Rule::Required,
        "pciid",
        "unable to read or parse config file",
    );
}

#[test]
fn rule02_vfid_missing_or_negative() {
    let v = with(base(1, 10, "02:00:00:00:00:01"), "vfid", Value::Null);
    fresh_refused(&v, Rule::Required, "vfid", "vfid is missing");
    let v = with(base(1, 10, "02:00:00:00:00:01"), "vfid", json!(-1));
    fresh_refused(&v, Rule::Required, "vfid", "negative");
}

// ---- Step 3..6: PF, vfid ---------------------------------------------------------------

#[test]
fn rule03_pf_not_in_config() {
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "pciid",
        json!("0000:99:00.0"),
    );
    fresh_refused(
        &v,
        Rule::PfUnknown,
        "pciid",
        "vf1: could not find port 0000:99:00.0 in the config",
    );
}

#[test]
fn rule04_vfid_already_configured() {
    let mut reg = registry();
    add(&mut reg, "/a.json", &base(1, 10, "02:00:00:00:00:01")).unwrap();
    refused(
        &mut reg,
        &base(1, 11, "02:00:00:00:00:02"),
        Rule::VfidTaken,
        "vfid",
        "vfid 1 already exists on port 0000:07:00.0",
    );
}

#[test]
fn rule05_vfid_out_of_range() {
    fresh_refused(
        &base(32, 10, "02:00:00:00:00:01"),
        Rule::VfidRange,
        "vfid",
        "max VFs already defined or vfid 32 is out of range",
    );
}

#[test]
fn rule06_vfid_not_created_on_pf() {
    let v = with(
        base(8, 10, "02:00:00:00:00:01"),
        "pciid",
        json!("0000:07:00.1"),
    );
    fresh_refused(
        &v,
        Rule::VfidNotCreated,
        "vfid",
        "vf 8 is out of range; only 8 VFs are configured on port 0000:07:00.1",
    );
}

// ---- Step 7: min rate -------------------------------------------------------------------

#[test]
fn rule07_min_rate_total_over_link() {
    let mut reg = registry();
    let a = with(base(1, 10, "02:00:00:00:00:01"), "min_rate", json!(0.6));
    add(&mut reg, "/a.json", &a).unwrap();
    let b = with(base(2, 10, "02:00:00:00:00:02"), "min_rate", json!(0.5));
    refused(
        &mut reg,
        &b,
        Rule::MinRateTotal,
        "min_rate",
        "total guaranteed rate exceeds link speed",
    );
    // Exactly the link is fine.
    let b = with(base(2, 10, "02:00:00:00:00:02"), "min_rate", json!(0.4));
    add(&mut reg, "/b.json", &b).unwrap();
}

// ---- Steps 8..11: VLANs -----------------------------------------------------------------

#[test]
fn rule08_too_many_vlans_on_vf() {
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "vlans",
        json!((1..=65).collect::<Vec<u16>>()),
    );
    fresh_refused(
        &v,
        Rule::VlanCount,
        "vlans",
        "number of vlans supplied (65) exceeds the maximum (64)",
    );
}

#[test]
fn rule09_too_many_vlans_on_pf() {
    let mut reg = registry();
    let a = with(
        base(1, 10, "02:00:00:00:00:01"),
        "vlans",
        json!((1..=60).collect::<Vec<u16>>()),
    );
    add(&mut reg, "/a.json", &a).unwrap();
    // Duplicates across VFs count (same VLAN on two VFs is allowed but counted).
    let b = with(
        base(2, 10, "02:00:00:00:00:02"),
        "vlans",
        json!([1, 2, 3, 4, 5]),
    );
    refused(
        &mut reg,
        &b,
        Rule::PfVlanTotal,
        "vlans",
        "causes total for PF to exceed the maximum (64)",
    );
    let b = with(
        base(2, 10, "02:00:00:00:00:02"),
        "vlans",
        json!([1, 2, 3, 4]),
    );
    add(&mut reg, "/b.json", &b).unwrap();
}

#[test]
fn rule10_vlan_list_empty() {
    let v = with(base(1, 10, "02:00:00:00:00:01"), "vlans", json!([]));
    fresh_refused(
        &v,
        Rule::VlanEmpty,
        "vlans",
        "vlan id list is empty; it must contain at least one id",
    );
    let v = with(base(1, 10, "02:00:00:00:00:01"), "vlans", Value::Null);
    fresh_refused(&v, Rule::VlanEmpty, "vlans", "must contain at least one id");
}

#[test]
fn rule11_vlan_out_of_range() {
    let v = with(base(1, 10, "02:00:00:00:00:01"), "vlans", json!([0]));
    fresh_refused(&v, Rule::VlanRange, "vlans[0]", "invalid vlan id: 0");
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "vlans",
        json!([10, 4096, 12]),
    );
    fresh_refused(&v, Rule::VlanRange, "vlans[1]", "invalid vlan id: 4096");
}

#[test]
fn rule11_last_vlan_is_range_checked_too() {
    // VFd's loop stopped at nvlans-1 and let this through.
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "vlans",
        json!([10, 11, 5000]),
    );
    fresh_refused(&v, Rule::VlanRange, "vlans[2]", "invalid vlan id: 5000");
}

#[test]
fn rule11_duplicate_vlan() {
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "vlans",
        json!([10, 11, 10]),
    );
    fresh_refused(
        &v,
        Rule::VlanDuplicate,
        "vlans[2]",
        "duplicate vlan in list: 10",
    );
}

// ---- Steps 12..13: MACs -----------------------------------------------------------------

#[test]
fn rule12_too_many_macs_on_vf() {
    let v = with(base(1, 10, "02:00:00:00:00:01"), "macs", macs(65, 1));
    fresh_refused(
        &v,
        Rule::MacCount,
        "macs",
        "too many mac addresses given: 65 > limit of 64",
    );
}

#[test]
fn rule13_invalid_mac() {
    for bad in [
        "fa:ce:ed:09:01",
        "fa:ce:ed:09:01:0g",
        "fa-ce-ed-09-01-01",
        "face:ed:09:01:01:1",
    ] {
        let v = with(
            base(1, 10, "02:00:00:00:00:01"),
            "macs",
            json!(["02:00:00:00:00:09", bad]),
        );
        fresh_refused(
            &v,
            Rule::MacInvalid,
            "macs[1]",
            "mac cannot be added to this port (invalid)",
        );
    }
}

#[test]
fn rule13_mac_on_another_vf() {
    let mut reg = registry();
    add(&mut reg, "/a.json", &base(1, 10, "02:00:00:00:00:01")).unwrap();
    let e = refused(
        &mut reg,
        &base(2, 10, "02:00:00:00:00:01"),
        Rule::MacInUse,
        "macs[0]",
        "in use by vf 1",
    );
    assert!(e.message.contains("mac=(02:00:00:00:00:01)"));
    // The same MAC on another PF is fine (VFd: no cross-PF check).
    let other = with(
        base(2, 10, "02:00:00:00:00:01"),
        "pciid",
        json!("0000:07:00.1"),
    );
    add(&mut reg, "/b.json", &other).unwrap();
    // Listed twice in one file.
    let v = with(
        base(3, 10, "02:00:00:00:00:03"),
        "macs",
        json!(["02:00:00:00:00:03", "02:00:00:00:00:03"]),
    );
    refused(&mut reg, &v, Rule::MacInUse, "macs[1]", "listed twice");
}

#[test]
fn rule13_pf_mac_total() {
    let mut reg = registry();
    add(
        &mut reg,
        "/a.json",
        &with(base(1, 10, "x"), "macs", macs(64, 1)),
    )
    .unwrap();
    add(
        &mut reg,
        "/b.json",
        &with(base(2, 10, "x"), "macs", macs(63, 2)),
    )
    .unwrap();
    // 127 + 2: the second new MAC busts 128 (VFd checked each against the old total only).
    let v = with(base(3, 10, "x"), "macs", macs(2, 3));
    refused(
        &mut reg,
        &v,
        Rule::PfMacTotal,
        "macs[1]",
        "max of 128 exceeded for PF",
    );
}

// ---- Steps 14..15: queue shares --------------------------------------------------------

#[test]
fn rule14_strict_tc_total_over_100() {
    let mut reg = registry();
    let q = |s: &str| json!([{"priority": 0, "share": s}]);
    add(
        &mut reg,
        "/a.json",
        &with(base(1, 10, "02:00:00:00:00:01"), "queues", q("60%")),
    )
    .unwrap();
    let v = with(base(2, 10, "02:00:00:00:00:02"), "queues", q("50%"));
    refused(
        &mut reg,
        &v,
        Rule::QosTotal,
        "queues",
        "TC percentages cause one or more total allocation to exceed 100%",
    );
    // Oversubscription allowed on the PF: accepted.
    let mut pf = PfConfig::new("0000:07:00.0");
    pf.vf_oversubscription = true;
    let mut reg = Registry::new(vec![pf]);
    add(
        &mut reg,
        "/a.json",
        &with(base(1, 10, "02:00:00:00:00:01"), "queues", q("60%")),
    )
    .unwrap();
    add(
        &mut reg,
        "/b.json",
        &with(base(2, 10, "02:00:00:00:00:02"), "queues", q("50%")),
    )
    .unwrap();
}

#[test]
fn rule15_tc_share_spread_over_10x() {
    let mut reg = registry();
    add(&mut reg, "/a.json", &base(1, 10, "02:00:00:00:00:01")).unwrap(); // 3 % everywhere
    let v = with(
        base(2, 10, "02:00:00:00:00:02"),
        "queues",
        json!([{"priority": 1, "share": "40%"}]),
    );
    refused(
        &mut reg,
        &v,
        Rule::QosSpread,
        "queues",
        "min-max spread for one or more TCs would exceed 10x",
    );
    let v = with(
        base(2, 10, "02:00:00:00:00:02"),
        "queues",
        json!([{"priority": 1, "share": "30%"}]),
    );
    add(&mut reg, "/b.json", &v).unwrap();
}

// ---- Steps 16..17 -----------------------------------------------------------------------

#[test]
fn rule16_semicolon_in_callbacks() {
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "start_cb",
        json!("/bin/true; rm -rf /"),
    );
    fresh_refused(
        &v,
        Rule::Callback,
        "start_cb",
        "start_cb command contains invalid character: ;",
    );
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "stop_cb",
        json!("/bin/true;"),
    );
    fresh_refused(
        &v,
        Rule::Callback,
        "stop_cb",
        "stop_cb command contains invalid character: ;",
    );
}

#[test]
fn rule17_mirror_target() {
    let m = |t: Value| {
        with(
            base(1, 10, "02:00:00:00:00:01"),
            "mirror",
            json!({"target": t, "direction": "all"}),
        )
    };
    fresh_refused(
        &m(json!(1)),
        Rule::Mirror,
        "mirror.target",
        "mirror target is out of range or is the same as this VF (1): target=1 range=0-31",
    );
    fresh_refused(&m(json!(-2)), Rule::Mirror, "mirror.target", "out of range");
    // VFd allowed target == nvfs_config (one past the last VF).
    fresh_refused(
        &m(json!(32)),
        Rule::Mirror,
        "mirror.target",
        "target=32 range=0-31",
    );
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "mirror",
        json!({"direction": "in"}),
    );
    fresh_refused(&v, Rule::Mirror, "mirror.target", "not supplied");
    let v = with(
        base(1, 10, "02:00:00:00:00:01"),
        "mirror",
        json!({"target": 2, "direction": "sideways"}),
    );
    fresh_refused(&v, Rule::Mirror, "mirror.direction", "sideways");
    assert!(add(&mut registry(), F, &m(json!(31))).is_ok());
}

#[test]
fn rule18_rate_fractions() {
    let v = with(base(1, 10, "02:00:00:00:00:01"), "rate", json!(1.5));
    fresh_refused(&v, Rule::Value, "rate", "fraction of the link speed");
    let v = with(base(1, 10, "02:00:00:00:00:01"), "min_rate", json!(-0.1));
    fresh_refused(&v, Rule::Value, "min_rate", "fraction");
}

#[test]
fn first_failing_step_wins() {
    let mut reg = registry();
    add(&mut reg, "/a.json", &base(1, 10, "02:00:00:00:00:01")).unwrap();
    // Fails 4 (vfid), 11 (vlan), 13 (mac), 16 (callback): 4 is reported.
    let v = json!({"pciid": "0000:07:00.0", "vfid": 1, "vlans": [0], "macs": ["zz"], "start_cb": "a;b"});
    refused(&mut reg, &v, Rule::VfidTaken, "vfid", "already exists");
    // Fails 7 and 8: 7 is reported.
    let v = json!({"pciid": "0000:07:00.0", "vfid": 2, "min_rate": 1.0, "vlans": (1..=65).collect::<Vec<u16>>()});
    let mut r2 = registry();
    add(
        &mut r2,
        "/x.json",
        &with(base(3, 10, "02:00:00:00:00:03"), "min_rate", json!(0.5)),
    )
    .unwrap();
    refused(
        &mut r2,
        &v,
        Rule::MinRateTotal,
        "min_rate",
        "total guaranteed rate",
    );
}

// ---- Whole files --------------------------------------------------------------------------

#[test]
fn openstack_nova_file_accepted() {
    // Issue #308's nova-generated file (name shortened as in the reference).
    let text = r#"{"strip_stag": true, "macs": [], "name": "MO_TEST_VM53/86d1", "link_status": "auto", "pciid": "0000:83:00.0", "allow_bcast": true, "vfid": 28, "mac_anti_spoof": true, "vlan_anti_spoof": true, "allow_mcast": true, "insert_stag": false, "vlans": [1000], "allow_un_ucast": true}"#;
    let file = "/var/lib/vfd/config/86d1.json";
    let (cfg, warnings) = VfConfig::parse(file, text).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(cfg.strip_stag);
    assert!(!cfg.insert_stag, "insert_stag is honoured separately");
    assert_eq!(cfg.link_status, LinkStatus::Auto);
    let mut reg = Registry::new(vec![PfConfig::new("0000:83:00.0")]);
    let vf = reg.add(file, &cfg, None).unwrap().clone();
    assert_eq!(vf.vfid(), 28);
    assert_eq!(vf.vlans, vec![1000]);
    assert!(vf.macs.is_empty());
    // No MAC given: a locally administered unicast default, as a NIC's random MAC.
    assert_eq!(vf.default_mac[0] & 0x03, 0x02);
    assert_eq!(vf.default_mac[5], 28);
}

#[test]
fn qstart_style_file_accepted_and_defaults() {
    let text = r#"{
        "comments": "VF test config for PF 0, VF 1 ",
        "name": "kad_0_1", "pciid": "0000:07:00.0", "vfid": 1,
        "strip_stag": true, "allow_bcast": true, "allow_mcast": true, "allow_un_ucast": false,
        "vlan_anti_spoof": true, "mac_anti_spoof": true,
        "vlans": [ 22, 21 ], "macs": [ "fa:ce:ed:09:01:01" ],
        "queues": [ { "priority": 0, "share": "10%" }, { "priority": 1, "share": "10%" } ]
    }"#;
    let (cfg, w) = VfConfig::parse("/c/kad_0_1.json", text).unwrap();
    assert!(w.is_empty());
    assert!(cfg.insert_stag, "insert follows strip when absent (VFd)");
    assert_eq!(cfg.qshares(), [10, 10, 3, 3, 3, 3, 3, 3]);
    let vf = registry()
        .add("/c/kad_0_1.json", &cfg, None)
        .unwrap()
        .clone();
    assert_eq!(vf.default_mac, [0xfa, 0xce, 0xed, 0x09, 0x01, 0x01]);

    let (d, _) = VfConfig::parse(F, r#"{"pciid": "p", "vfid": 0}"#).unwrap();
    assert_eq!(d.name, "unnamed");
    assert!(!d.strip_stag && !d.insert_stag && d.allow_bcast && d.allow_mcast);
    assert!(!d.allow_un_ucast && !d.allow_untagged && d.mac_anti_spoof);
    assert_eq!(d.vlan_proto, VlanProto::Dot1Q);
    assert_eq!(d.rate, 0.0);
    assert!(d.mirror.is_none());
}

#[test]
fn single_mac_field_and_extensions() {
    let v = json!({"pciid": "0000:07:00.0", "vfid": 2, "vlans": [5], "mac": "02:00:00:00:00:05",
        "vlan_proto": "802.1ad", "link_status": "OFF", "mirror": {"pcap": "/tmp/m.pcap"}});
    let (cfg, w) = VfConfig::parse(F, &v.to_string()).unwrap();
    assert!(w.is_empty());
    assert_eq!(cfg.macs, vec!["02:00:00:00:00:05".to_string()]);
    assert_eq!(cfg.vlan_proto, VlanProto::Dot1Ad);
    assert_eq!(cfg.link_status, LinkStatus::Off);
    let m = cfg.mirror.clone().unwrap();
    assert_eq!(m.direction, MirrorDirection::All);
    assert_eq!(m.target, Some(MirrorTarget::Pcap("/tmp/m.pcap".into())));
    let (_, w) =
        VfConfig::parse(F, &with(v, "link_status", json!("sometimes")).to_string()).unwrap();
    assert_eq!(w[0].field, "link_status");
}

// ---- Registry: conflicts and delete ------------------------------------------------------

#[test]
fn conflicts_refused_and_nothing_changes() {
    let mut reg = registry();
    add(&mut reg, "/a.json", &base(1, 10, "02:00:00:00:00:01")).unwrap();
    add(
        &mut reg,
        "/b.json",
        &with(base(2, 10, "02:00:00:00:00:02"), "min_rate", json!(0.9)),
    )
    .unwrap();
    let snapshot = reg.clone();
    for (v, rule) in [
        (base(1, 12, "02:00:00:00:00:09"), Rule::VfidTaken),
        (base(3, 12, "02:00:00:00:00:02"), Rule::MacInUse),
        (
            with(base(3, 12, "02:00:00:00:00:09"), "min_rate", json!(0.2)),
            Rule::MinRateTotal,
        ),
        (
            with(
                base(3, 12, "02:00:00:00:00:09"),
                "vlans",
                json!((100..163).collect::<Vec<u16>>()),
            ),
            Rule::PfVlanTotal,
        ),
    ] {
        let e = add(&mut reg, F, &v).unwrap_err();
        assert_eq!(e.rule, rule, "{e}");
        assert_eq!(reg, snapshot);
    }
}

#[test]
fn delete_checks_the_name() {
    let mut reg = registry();
    add(&mut reg, "/a.json", &base(1, 10, "02:00:00:00:00:01")).unwrap();
    let snapshot = reg.clone();
    let (wrong, _) = VfConfig::parse(
        "/a.json",
        &with(base(1, 10, "02:00:00:00:00:01"), "name", json!("other")).to_string(),
    )
    .unwrap();
    let e = reg.delete("/a.json", &wrong).unwrap_err();
    assert_eq!(e.rule, Rule::DeleteNameMismatch);
    assert_eq!(e.field, "name");
    assert!(e.message.contains(
        "name in config did not match name given when VF was added: expected vf1, found other"
    ));
    assert_eq!(reg, snapshot);
    let (unknown, _) =
        VfConfig::parse("/a.json", &base(5, 10, "02:00:00:00:00:01").to_string()).unwrap();
    assert_eq!(
        reg.delete("/a.json", &unknown).unwrap_err().rule,
        Rule::DeleteNotConfigured
    );
    let (right, _) =
        VfConfig::parse("/a.json", &base(1, 10, "02:00:00:00:00:01").to_string()).unwrap();
    assert_eq!(reg.delete("/a.json", &right).unwrap().vfid(), 1);
    // Its MAC and vfid are free again.
    add(&mut reg, "/c.json", &base(1, 10, "02:00:00:00:00:01")).unwrap();
}

// ---- Main config ----------------------------------------------------------------------

#[test]
fn main_config_doc_example() {
    let text = r#"{
        "log_dir": "/var/log/vfd", "log_keep": 30, "log_level": 1, "init_log_level": 2,
        "config_dir": "/var/lib/vfd/config", "fifo": "/var/lib/vfd/request", "cpu_mask": "0x01",
        "dpdk_log_level": 2, "dpdk_init_log_level": 8, "default_mtu": 9000,
        "pciids": [
            { "id": "0000:07:00.0", "mtu": 1500, "enable_loopback": true },
            { "id":  "0000:07:00.1", "mtu": 9000 },
            "0000:08:00.0",
            { "id": "0000:09:00.0", "promiscuous": false, "mtu": 9999, "hw_strip_crc": true,
              "enable_loopback": true, "pf_driver": "igb-uio", "vf_driver": "vfio-pci", "vf_oversubscription": true,
              "tclasses": [ { "name": "best effort", "pri": 0, "llatency": false, "lsp": false, "bsp": false,
                              "max_bw": 100, "min_bw": 10 }, {"pri": 5} ],
              "bw_grps": { "bwg0": [0], "bwg1": [1, 2], "bwg2": [3] }, "wibble": 1 }
        ]
    }"#;
    let (m, w) = MainConfig::parse("/etc/vfd/vfd.cfg", text).unwrap();
    assert_eq!(m.config_dir, "/var/lib/vfd/config");
    assert_eq!(m.live_dir(), "/var/lib/vfd/config_live");
    assert_eq!(m.pfs.len(), 4);
    assert_eq!(
        (m.pfs[0].mtu, m.pfs[0].enable_loopback, m.pfs[0].promiscuous),
        (1500, true, false)
    );
    assert_eq!(m.pfs[1].mtu, 9000);
    assert_eq!(
        (m.pfs[2].id.as_str(), m.pfs[2].mtu, m.pfs[2].promiscuous),
        ("0000:08:00.0", 9000, true)
    );
    assert_eq!(
        (m.pfs[3].mtu, m.pfs[3].ntcs, m.pfs[3].vf_oversubscription),
        (MAX_MTU, 8, true)
    );
    let fields: Vec<_> = w.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(fields, ["pciids[3].wibble", "pciids[3].mtu"]);

    let e = MainConfig::parse("/etc/vfd/vfd.cfg", "{}").unwrap_err();
    assert!(e
        .to_string()
        .contains("pciids: abort: no pciids were defined"));
    let e = MainConfig::parse("/f", r#"{"pciids": ["a", "a"]}"#).unwrap_err();
    assert!(e.message.contains("listed twice"));
    let e = MainConfig::parse(
        "/f",
        r#"{"pciids": [{"id": "a", "enable_loopback": "yes"}]}"#,
    )
    .unwrap_err();
    assert_eq!(e.field, "pciids[0].enable_loopback");
}
