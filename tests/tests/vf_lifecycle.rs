//! VFd's file lifecycle through `iplex` against a running sluiced: add moves the file to
//! `<config_dir>_live`, a refused add leaves `NAME.json.error`, a restart re-applies `_live`
//! only, delete with the wrong name is refused; an OpenStack (nova) file is accepted; show,
//! ping, verbose, dump, mirror and clear answer as VFd does. No root needed: the PF and VFs
//! are null ports.

use std::path::Path;
use std::process::Command;

use sluice_tests::*;

/// A sluiced whose PF "0000:83:00.0" is the null port `up`, with four VFs on null ports.
fn config() -> String {
    format!(
        r#"{MANAGER}
[[ports]]
name = "up"
kind = "null"

[[ports]]
name = "vm0"
kind = "null"

[[ports]]
name = "vm1"
kind = "null"

[[ports]]
name = "vm2"
kind = "null"

[[ports]]
name = "vm3"
kind = "null"

[vfd]
config_dir = "{{dir}}/vfd/config"

[[vfd.pfs]]
id = "0000:83:00.0"
port = "up"
vf_ports = ["vm0", "vm1", "vm2", "vm3"]
enable_loopback = true
"#
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(format!("{name}.json")), text).expect("write VF file");
}

const NOVA: &str = r#"{"strip_stag": true, "macs": [], "name": "MO_TEST_VM53/86d1e0c8-0000-4a7e-9c7e-1b9f2f5c0a11", "link_status": "auto", "pciid": "0000:83:00.0", "allow_bcast": true, "vfid": 2, "mac_anti_spoof": true, "vlan_anti_spoof": true, "allow_mcast": true, "insert_stag": false, "vlans": [1000], "allow_un_ucast": true}"#;

#[test]
fn iplex_lifecycle_against_sluiced() {
    let dir = TestDir::new("vf-lifecycle");
    let cfg_dir = dir.path("vfd/config");
    let live = dir.path("vfd/config_live");
    let d = Daemon::start(&dir, &config());
    assert!(
        cfg_dir.is_dir() && live.is_dir(),
        "config_dir and _live are created"
    );

    // ping, verbose: VFd's answers and exit status 0.
    let (rc, out) = iplex(&d, &["ping"]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("\"state\": \"OK\"") && out.contains("pong"),
        "{out}"
    );
    let (rc, out) = iplex(&d, &["verbose", "--loglevel", "2"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("verbose level changed to: 2"), "{out}");

    // add: the file moves to _live.
    write(
        &cfg_dir,
        "vm0",
        r#"{ "name": "tenant-a", "pciid": "0000:83:00.0", "vfid": 0, "vlans": [10, 11],
             "macs": ["02:00:00:00:00:10"], "strip_stag": false, "comments": "test" }"#,
    );
    let (rc, out) = iplex(&d, &["add", "vm0"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("vf added successfully"), "{out}");
    assert!(live.join("vm0.json").is_file() && !cfg_dir.join("vm0.json").exists());

    // The OpenStack (nova) file of the reference, with insert_stag and macs: [].
    write(&cfg_dir, "nova", NOVA);
    let (rc, out) = iplex(&d, &["add", "nova"]);
    assert_eq!(rc, 0, "{out}");
    assert!(live.join("nova.json").is_file());

    // A refused add: nothing changes, the file becomes NAME.json.error, exit status 1, and
    // the message names the file and the field.
    write(
        &cfg_dir,
        "bad",
        r#"{ "name": "x", "pciid": "0000:83:00.0", "vfid": 1, "vlans": [10, 5000],
             "macs": ["02:00:00:00:00:11"] }"#,
    );
    let (rc, out) = iplex(&d, &["add", "bad"]);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("unable to add vf") && out.contains("vlans") && out.contains("5000"),
        "{out}"
    );
    assert!(cfg_dir.join("bad.json.error").is_file());
    assert!(!live.join("bad.json").exists());
    // A MAC already on another VF of the PF is a conflict.
    write(
        &cfg_dir,
        "dupmac",
        r#"{ "name": "y", "pciid": "0000:83:00.0", "vfid": 3, "vlans": [30],
             "macs": ["02:00:00:00:00:10"] }"#,
    );
    let (rc, out) = iplex(&d, &["add", "dupmac"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("02:00:00:00:00:10"), "{out}");
    // A missing file.
    let (rc, out) = iplex(&d, &["add", "nosuch"]);
    assert_eq!(rc, 1, "{out}");

    // show: VFd's table with the PF row and the configured VFs (0 and 2).
    let (rc, out) = iplex(&d, &["show", "all"]);
    assert_eq!(rc, 0, "{out}");
    for col in ["PF/VF", "PCIID", "RX pkts", "TX errors", "Spoofed"] {
        assert!(out.contains(col), "column {col}: {out}");
    }
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("\"pf") || l.starts_with("\"vf"))
        .collect();
    assert_eq!(rows.len(), 3, "one PF and two VFs: {out}");
    let (rc, out) = iplex(&d, &["--json", "show", "pfs"]);
    assert_eq!(rc, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(v["rows"][0]["pciid"], "0000:83:00.0");

    // mirror at run time: refused for an unknown target, accepted otherwise, shown.
    let (rc, out) = iplex(&d, &["mirror", "0", "0", "in", "9"]);
    assert_eq!(rc, 1, "{out}");
    let (rc, out) = iplex(&d, &["mirror", "0", "0", "in", "2"]);
    assert_eq!(rc, 0, "{out}");
    let (_, out) = iplex(&d, &["show", "mirrors"]);
    assert!(out.contains("vf 0 (in) ==> vf 2"), "{out}");
    let (rc, out) = iplex(&d, &["dump"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("dump captured in the log"), "{out}");
    let (rc, out) = iplex(&d, &["clear", "0", "2"]);
    assert_eq!(rc, 0, "{out}");

    // delete with the wrong name is refused and changes nothing.
    let live_vm0 = live.join("vm0.json");
    let text = std::fs::read_to_string(&live_vm0).unwrap();
    std::fs::write(&live_vm0, text.replace("tenant-a", "someone-else")).unwrap();
    let (rc, out) = iplex(&d, &["delete", "vm0"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("unable to delete"), "{out}");
    assert!(live_vm0.is_file());
    std::fs::write(&live_vm0, text).unwrap();

    // A file dropped into config_dir while sluiced runs is not applied by a restart; _live is.
    write(
        &cfg_dir,
        "pending",
        r#"{ "name": "p", "pciid": "0000:83:00.0", "vfid": 1, "vlans": [20],
             "macs": ["02:00:00:00:00:21"] }"#,
    );
    assert!(d.shutdown().success());
    let d = Daemon::start(&dir, &config());
    let (_, out) = iplex(&d, &["--json", "show", "all"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let vfs: Vec<u64> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "vf")
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(vfs, vec![0, 2], "restart re-applies _live only: {out}");
    assert!(cfg_dir.join("pending.json").is_file());
    assert!(d.log().contains("VF restored"), "{}", d.log());

    // delete with the right name removes the file and the VF.
    let (rc, out) = iplex(&d, &["delete", "vm0"]);
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("vf deleted successfully"), "{out}");
    assert!(!live_vm0.exists());
    assert!(d.shutdown().success());
}

#[test]
fn iplex_without_sluiced_is_a_clear_error() {
    let out = Command::new(bin("iplex"))
        .args(["--socket", "/nonexistent/sluiced.sock", "ping"])
        .output()
        .expect("run iplex");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not running") && err.contains("/nonexistent/sluiced.sock"),
        "{err}"
    );
    let out = Command::new(bin("iplex"))
        .args(["frobnicate"])
        .output()
        .expect("run iplex");
    assert_eq!(out.status.code(), Some(2), "a bad command line exits 2");
}
