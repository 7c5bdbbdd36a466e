//! DPDK ports in the real sluiced: frames sent from a raw socket in network namespace A cross
//! a veth pair into a `dpdk` port (`net_af_packet` vdev), a forward NF, another `dpdk` port and
//! a second veth pair into namespace B, where every frame must arrive unchanged and in order.
//!
//! `cargo test -p sluice-tests --features dpdk --test dpdk` (builds sluiced with
//! `--features dpdk` first). Needs root and DPDK (libdpdk-dev); prints SKIP without root. The
//! EAL runs without hugepages or shared files under a file prefix of its own, whose runtime
//! directory a guard removes even when the test fails.
#![cfg(feature = "dpdk")]

use std::process::Command;
use std::time::Duration;

use sluice_tests::netns::{self, Capture, Hosts};
use sluice_tests::*;

/// Build sluiced with DPDK ports and the forward NF (this test binary's build does not);
/// once per test process.
fn build_sluiced() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(build);
}

fn build() {
    let release = std::env::current_exe()
        .map(|p| p.components().any(|c| c.as_os_str() == "release"))
        .unwrap_or(false);
    let mut c = Command::new(env!("CARGO"));
    c.args([
        "build",
        "-p",
        "sluiced",
        "-p",
        "sluice-nf-forward",
        "--features",
        "sluiced/dpdk",
    ]);
    if release {
        c.arg("--release");
    }
    let st = c.status().expect("run cargo");
    assert!(
        st.success(),
        "cargo build -p sluiced -p sluice-nf-forward --features sluiced/dpdk failed"
    );
}

/// Removes the EAL runtime directory of `prefix` when dropped (also on panic).
struct DpdkFiles(String);

impl Drop for DpdkFiles {
    fn drop(&mut self) {
        for base in ["/var/run/dpdk", "/tmp/dpdk"] {
            let _ = std::fs::remove_dir_all(std::path::Path::new(base).join(&self.0));
        }
    }
}

#[test]
fn dpdk_af_packet_between_namespaces_through_sluiced() {
    let test = "dpdk_af_packet_between_namespaces_through_sluiced";
    if !netns::available(test) {
        return;
    }
    build_sluiced();
    let pid = std::process::id();
    let prefix = format!("sluice-systest-{pid}");
    let _files = DpdkFiles(prefix.clone());
    let dir = TestDir::new("dpdk-af-packet");
    let mut hosts = Hosts::default();
    let (ns_a, ns_b) = (format!("slda{pid}"), format!("sldb{pid}"));
    let (va, vb) = (format!("kda{pid}"), format!("kdb{pid}"));
    let inner_a = hosts.add(&ns_a, &va);
    let inner_b = hosts.add(&ns_b, &vb);
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}
wait_for_chains = true

[dpdk]
eal_args = ["--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--no-telemetry",
            "--file-prefix", "{prefix}", "-l", "0"]

[[services]]
id = 1
name = "fwd"

[[ports]]
name = "a"
kind = "dpdk"
device = "net_af_packet0,iface={va}"

[[ports]]
name = "b"
kind = "dpdk"
device = "net_af_packet1,iface={vb}"

[[ports]]
name = "gone"
kind = "dpdk"
device = "net_af_packet2,iface=kdm{pid}"

[[ports]]
name = "sink"
kind = "null"

[[chains]]
name = "a-to-b"
steps = ["fwd", "port:b"]

[[chains]]
name = "drop"
steps = ["port:sink"]

[default_chains]
a = "a-to-b"
b = "drop"
"#
        ),
    );
    let _fwd = NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "fwd", &[]);
    d.wait_running(1);
    let sent = netns::frames(50, 0xd5);
    let capture = Capture::start(&ns_b, &inner_b, sent.len());
    netns::send(&ns_a, &inner_a, &sent);
    netns::assert_frames(
        &capture.frames(),
        &sent,
        "namespace A -> dpdk port a -> NF -> dpdk port b -> namespace B",
    );
    let s = d.wait_until("counters", Duration::from_secs(10), |s| {
        port(s, "b").tx >= 50 && port(s, "a").rx >= 50
    });
    assert_eq!(port(&s, "a").kind, "dpdk");
    assert_eq!(port(&s, "b").link, "up");
    // A port whose device cannot be probed stays down, with an error naming it and what to
    // do; the other ports carry on.
    assert_eq!(port(&s, "gone").link, "down");
    let log = d.log();
    assert!(
        log.contains("port gone") && log.contains("cannot probe") && log.contains("check"),
        "{log}"
    );
    assert!(d.shutdown().success());
    // sluiced removed its runtime directory on the way out.
    assert!(
        !std::path::Path::new("/var/run/dpdk").join(&prefix).exists(),
        "sluiced left /var/run/dpdk/{prefix} behind"
    );
}

/// An EAL that cannot start (bad arguments) leaves the `dpdk` ports down with an error that
/// names the port and says what to fix; sluiced and its other ports carry on. No root needed.
#[test]
fn eal_failure_leaves_dpdk_ports_down_and_the_rest_working() {
    build_sluiced();
    let prefix = format!("sluice-systest-bad-{}", std::process::id());
    let _files = DpdkFiles(prefix.clone());
    let dir = TestDir::new("dpdk-bad-eal");
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}

[dpdk]
eal_args = ["--no-such-eal-option", "--file-prefix", "{prefix}"]

[[ports]]
name = "gen"
kind = "generator"
count = 100

[[ports]]
name = "sink"
kind = "null"

[[ports]]
name = "d0"
kind = "dpdk"
device = "net_null0"

[[chains]]
name = "out"
steps = ["port:sink"]
"#
        ),
    );
    let s = d.wait_until("the generator's frames", Duration::from_secs(10), |s| {
        port(s, "sink").tx >= 100
    });
    assert_eq!(port(&s, "d0").link, "down");
    assert_eq!(port(&s, "d0").kind, "dpdk");
    let log = d.log();
    assert!(
        log.contains("port d0")
            && log.contains("EAL initialisation failed")
            && log.contains("eal_args"),
        "{log}"
    );
    assert!(d.shutdown().success());
}
