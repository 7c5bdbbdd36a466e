//! Cross-host forwarding through the tunnel: frames blasted into host A (a namespace) for a
//! service that runs only on host B (another namespace) cross A's VXLAN-GPE + NSH tunnel to
//! B's NF and leave B's port; next to the Linux kernel's vxlan device (a bridge in A and in B
//! joined by `vxlan` devices) carrying the same frames between the same namespaces over the
//! same veths, alternated in one run. Needs root and Debian's `zookeeper` (a standalone server
//! on the management bridge).

use std::process::Command;
use std::time::{Duration, Instant};

use sluice_cluster::testing::{zookeeper_available, Ensemble};
use sluice_tests::cluster::{in_ns, start_host, wait_for, ClusterView, Net};
use sluice_tests::netns::{self, ip};
use sluice_tests::{bin, NfProc, TestDir};

fn rx_packets(ifname: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/statistics/rx_packets"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// pps arriving on `sink` (this namespace) while the blaster sends on `src` for `secs`.
fn measure(src: &str, sink: &str, secs: f64) -> f64 {
    let me = std::env::current_exe().expect("own path");
    let before = rx_packets(sink);
    let t0 = Instant::now();
    let st = Command::new(me)
        .args(["--blast", src, "--seconds", &secs.to_string()])
        .status()
        .expect("run blaster");
    assert!(st.success(), "blaster failed");
    std::thread::sleep(Duration::from_millis(200));
    (rx_packets(sink) - before) as f64 / t0.elapsed().as_secs_f64()
}

fn config(zk: &str, id: &str, ul: &str, ip: &str, io: &str) -> String {
    format!(
        r#"
[manager]
socket = "{{socket}}"
run_mode = "shared-core"
threads = 1
console = false

[pool]
slots = 8192
ring_size = 2048
max_nfs = 8
hugepages = "never"

[[services]]
id = 1
name = "fwd"

[[ports]]
name = "ul"
kind = "af-packet"
interface = "{ul}"

[[ports]]
name = "io"
kind = "af-packet"
interface = "{io}"

[[chains]]
name = "main"
steps = ["fwd", "port:io"]

[cluster]
connect = "{zk}"
host_id = "{id}"
session_timeout_ms = 2000
tunnel = {{ port = "ul", ip = "{ip}" }}
"#
    )
}

/// Medians (and every run) in pps: (kernel vxlan, sluiced GPE + NSH).
pub fn compare(secs: f64, runs: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    if !netns::available("cluster benchmark") {
        return None;
    }
    if !zookeeper_available() {
        eprintln!("SKIP: cluster benchmark needs Debian's zookeeper (apt-get install zookeeper)");
        return None;
    }
    let pid = std::process::id() % 100000;
    let dir = TestDir::new("bench-cluster");
    let tag = format!("bc{pid}");
    let mut net = Net::new(&tag, "10.216.0.1");
    let zk = Ensemble::start_on(1, &dir.0, "10.216.0.1".parse().unwrap()).ok()?;
    let (ns_a, ul_a) = net.host(0, "10.216.0.10");
    let (ns_b, ul_b) = net.host(1, "10.216.0.11");
    // Traffic in (this namespace → A) and out (B → this namespace).
    let (src, sink) = (format!("{tag}in"), format!("{tag}out"));
    let (src_in, sink_in) = (format!("{src}p"), format!("{sink}p"));
    for (root, peer, ns) in [(&src, &src_in, &ns_a), (&sink, &sink_in, &ns_b)] {
        ip(&[
            "link", "add", root, "type", "veth", "peer", "name", peer, "netns", ns,
        ]);
        net.hosts.own_link(root);
        ip(&["link", "set", root, "up"]);
        in_ns(ns, &["ip", "link", "set", peer, "up"]);
    }
    // The kernel's underlay addresses (sluiced uses others, which the kernel does not own).
    in_ns(
        &ns_a,
        &["ip", "addr", "add", "10.217.0.10/24", "dev", &ul_a],
    );
    in_ns(
        &ns_b,
        &["ip", "addr", "add", "10.217.0.11/24", "dev", &ul_b],
    );
    let mut kernel = Vec::new();
    let mut sluiced = Vec::new();
    for _ in 0..runs {
        // Kernel: bridge(in, vxlan) in A, bridge(vxlan, out) in B.
        for (ns, local, remote, port) in [
            (&ns_a, "10.217.0.10", "10.217.0.11", &src_in),
            (&ns_b, "10.217.0.11", "10.217.0.10", &sink_in),
        ] {
            let ul = if ns == &ns_a { &ul_a } else { &ul_b };
            in_ns(
                ns,
                &[
                    "ip", "link", "add", "kvx", "type", "vxlan", "id", "42", "local", local,
                    "remote", remote, "dstport", "4789", "dev", ul,
                ],
            );
            in_ns(ns, &["ip", "link", "add", "kbr", "type", "bridge"]);
            for l in ["kvx", port.as_str()] {
                in_ns(ns, &["ip", "link", "set", l, "master", "kbr"]);
            }
            for l in ["kvx", "kbr"] {
                in_ns(ns, &["ip", "link", "set", l, "up"]);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        measure(&src, &sink, 0.3);
        kernel.push(measure(&src, &sink, secs));
        for ns in [&ns_a, &ns_b] {
            in_ns(ns, &["ip", "link", "del", "kbr"]);
            in_ns(ns, &["ip", "link", "del", "kvx"]);
        }
        // Sluice: A has no NF for "fwd"; B runs it.
        let connect = zk.connect_string();
        let a = start_host(
            &dir,
            &ns_a,
            "a",
            &config(&connect, "a", &ul_a, "10.216.1.10", &src_in),
        );
        let b = start_host(
            &dir,
            &ns_b,
            "b",
            &config(&connect, "b", &ul_b, "10.216.1.11", &sink_in),
        );
        let log = dir.path("nf.log");
        let child = Command::new(bin("sluice-forward"))
            .args([
                "--socket",
                b.sock.to_str()?,
                "--service",
                "fwd",
                "--mode",
                "shared-core",
            ])
            .stdout(std::fs::File::create(&log).ok()?)
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let _nf = NfProc { child, log };
        wait_for(Duration::from_secs(20), "A to route to B", || {
            a.cluster()
                .routes
                .iter()
                .any(|r| r.service == 1 && r.route == "remote")
        });
        measure(&src, &sink, 0.3);
        sluiced.push(measure(&src, &sink, secs));
        drop(a);
        drop(b);
    }
    drop(zk);
    Some((kernel, sluiced))
}
