//! The SR-IOV back end through sluiced and iplex: a `[[vfd.pfs]]` with `sriov = NETDEV` has
//! its VF files programmed into the NIC through rtnetlink. There is no SR-IOV NIC here, so the
//! "PF" is a veth: the add reaches the kernel, which refuses it (a veth has no VFs); iplex
//! reports the kernel's refusal naming the PF and the attribute, and the add is undone as a
//! failed add. On a real PF (`crates/sluice-sriov/README.md`) the same add programs the VF.
//! Needs root; prints SKIP otherwise.

use sluice_tests::netns::{self, Hosts};
use sluice_tests::*;

#[test]
fn sriov_pf_add_reaches_the_kernel() {
    if !netns::available("sriov_pf_add_reaches_the_kernel") {
        return;
    }
    let pid = std::process::id();
    let dir = TestDir::new("vf-sriov");
    let mut hosts = Hosts::default();
    let pf = format!("sr{pid}");
    hosts.add(&format!("ssr{pid}"), &pf);
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}
[[ports]]
name = "sink"
kind = "null"

[vfd]
config_dir = "{{dir}}/vfd"

[[vfd.pfs]]
id = "0000:01:00.0"
sriov = "{pf}"
vfs_count = 8
"#
        ),
    );
    let cfg_dir = dir.path("vfd");
    std::fs::write(
        cfg_dir.join("vm0.json"),
        r#"{ "name": "vm0", "pciid": "0000:01:00.0", "vfid": 0, "vlans": [100],
             "strip_stag": true, "macs": ["02:00:00:00:01:00"] }"#,
    )
    .unwrap();
    let (rc, out) = iplex(&d, &["add", "vm0"]);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("unable to add vf")
            && out.contains(&pf)
            && out.contains("refused IFLA_VF_MAC for VF 0"),
        "the kernel's refusal, naming the PF and the attribute: {out}"
    );
    assert!(
        cfg_dir.join("vm0.json.error").is_file(),
        "a failed add leaves .error"
    );
    assert!(!dir.path("vfd_live/vm0.json").exists());

    // Nothing was added: the same vfid is free, and show lists the PF (from its netdev).
    let (rc, out) = iplex(&d, &["--json", "show", "all"]);
    assert_eq!(rc, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "the PF row only: {out}");
    assert_eq!(rows[0]["port"], pf.as_str());
    assert_eq!(rows[0]["link"], "UP");
    assert!(d.shutdown().success());
}

#[test]
fn sriov_pf_config_errors() {
    let dir = TestDir::new("vf-sriov-config");
    let cfg = dir.path("bad.toml");
    std::fs::write(
        &cfg,
        "[[ports]]\nname = \"p\"\nkind = \"null\"\n\n[vfd]\n\n[[vfd.pfs]]\nid = \"x\"\nsriov = \"eth9\"\nport = \"p\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin("sluiced"))
        .args(["--check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("[[vfd.pfs]] #1") && err.contains("remove port"),
        "{err}"
    );
}
