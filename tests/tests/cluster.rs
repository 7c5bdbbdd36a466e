//! Distributed mode, end to end: three Sluice hosts in network namespaces joined by veth to an
//! underlay bridge, a real 3-node ZooKeeper ensemble (Debian's `zookeeper`) listening on a
//! management bridge the namespaces reach, NF processes; and a plain-VXLAN overlay port
//! exchanging frames with the Linux kernel's vxlan device. Needs root and ZooKeeper (and
//! tshark for the capture checks); prints SKIP otherwise.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use sluice_cluster::testing::{zookeeper_available, Ensemble, SKIP_MESSAGE};
use sluice_tests::cluster::{in_ns, spawn_host, start_host, wait_for, ClusterView, Net};
use sluice_tests::netns::{self, Capture, Hosts};
use sluice_tests::*;

const SESSION_MS: u64 = 2000;

/// `fields` of every frame in capture `pcap`, comma-separated, a line per frame (IP
/// checksums checked).
fn tshark_fields(pcap: &std::path::Path, fields: &[&str]) -> String {
    let mut c = Command::new("tshark");
    c.args([
        "-r",
        pcap.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=,",
    ])
    .args(["-E", "occurrence=f", "-o", "ip.check_checksum:TRUE"]);
    for f in fields {
        c.args(["-e", f]);
    }
    let out = c.output().expect("tshark -r");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tshark() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn host_config(
    zk: &str,
    id: &str,
    ul_if: &str,
    tunnel_ip: &str,
    generator: bool,
    extra: &str,
) -> String {
    let gen = if generator {
        r#"
[[ports]]
name = "gen"
kind = "generator"
rate_pps = 2000
flows = 64
"#
    } else {
        ""
    };
    format!(
        r#"
[manager]
socket = "{{socket}}"
run_mode = "shared-core"
threads = 1
console = false
stats_interval = 0.2

[pool]
slots = 4096
ring_size = 1024
max_nfs = 16
hugepages = "never"

[[services]]
id = 1
name = "fwd"

[[services]]
id = 2
name = "pre"

[[ports]]
name = "ul"
kind = "af-packet"
interface = "{ul_if}"
{gen}
[[ports]]
name = "out"
kind = "null"

[[chains]]
name = "main"
steps = ["pre", "fwd", "port:out"]

[cluster]
connect = "{zk}"
host_id = "{id}"
session_timeout_ms = {SESSION_MS}
stats_interval_ms = 200
tunnel = {{ port = "ul", ip = "{tunnel_ip}" }}
{extra}
"#
    )
}

fn peer_tx(info: &sluice_ctl::ClusterInfo, peer: &str) -> u64 {
    info.peers
        .iter()
        .find(|p| p.peer == peer)
        .map_or(0, |p| p.tx_packets)
}

fn nf_rx(s: &sluice_ctl::StatsSnapshot) -> u64 {
    s.nfs.iter().map(|n| n.rx).sum()
}

fn port_tx(s: &sluice_ctl::StatsSnapshot, name: &str) -> u64 {
    port(s, name).tx
}

fn hosts_of(info: &sluice_ctl::ClusterInfo) -> Vec<String> {
    info.hosts.iter().map(|h| h.host_id.clone()).collect()
}

/// The whole distributed scenario in one test (one ensemble, one set of namespaces):
/// remote routing A → B/C, tshark decoding of the GPE + NSH capture, a duplicate host id
/// refused, kill -9 of B (A stops sending to B within the bound, flows move to C), one
/// ZooKeeper server killed (nothing changes), all of ZooKeeper stopped (forwarding goes on
/// from the cache; hosts re-register when it returns), B back (rejoins by itself).
#[test]
fn cluster_remote_routing_failover_and_zookeeper_outages() {
    let test = "cluster_remote_routing_failover_and_zookeeper_outages";
    if !netns::available(test) {
        return;
    }
    if !zookeeper_available() {
        eprintln!("SKIP: {test}: {SKIP_MESSAGE}");
        return;
    }
    let pid = std::process::id();
    let dir = TestDir::new("cluster");
    let tag = format!("sc{}", pid % 100000);
    let mut net = Net::new(&tag, "10.213.0.1");
    let mut zk = Ensemble::start_on(3, &dir.0, "10.213.0.1".parse().unwrap())
        .expect("start a ZooKeeper ensemble");
    let connect = zk.connect_string();
    let (ns_a, ul_a) = net.host(0, "10.213.0.10");
    let (ns_b, ul_b) = net.host(1, "10.213.0.11");
    let (ns_c, ul_c) = net.host(2, "10.213.0.12");
    let cfg_b = host_config(&connect, "b", &ul_b, "10.214.0.11", false, "");
    let a = start_host(
        &dir,
        &ns_a,
        "a",
        &host_config(&connect, "a", &ul_a, "10.214.0.10", true, ""),
    );
    let mut b = start_host(&dir, &ns_b, "b", &cfg_b);
    let c = start_host(
        &dir,
        &ns_c,
        "c",
        &host_config(&connect, "c", &ul_c, "10.214.0.12", false, ""),
    );

    // Chain pre -> fwd -> out. A runs "pre" only: its NF hands each packet back to A's
    // sluiced (no local "fwd"), which tunnels it to B, the only host with "fwd"; B's NF sends
    // it on to step 3, B's port out.
    let _nf_pre = NfSock(a.sock.clone()).spawn_service(&dir, "nf-pre", "pre");
    let b_sock = NfSock(b.sock.clone());
    let mut nf_b = b_sock.spawn(&dir, "nf-b");
    let t_nf = Instant::now();
    wait_for(
        Duration::from_secs(20),
        "B's NF to receive remote packets",
        || nf_rx(&b.stats()) > 0,
    );
    let first_remote = t_nf.elapsed();
    eprintln!("time from B's NF start to its first remote packet: {first_remote:?}");
    wait_for(Duration::from_secs(10), "B's out port to send", || {
        port_tx(&b.stats(), "out") > 100
    });
    let ia = a.cluster();
    assert!(ia.enabled, "{ia:?}");
    assert_eq!(hosts_of(&ia), ["a", "b", "c"], "{ia:?}");
    let rb = ia.routes.iter().find(|r| r.service == 1).expect("route");
    assert_eq!(rb.route, "remote");
    assert!(peer_tx(&ia, "b") > 100, "{ia:?}");
    assert_eq!(peer_tx(&ia, "c"), 0, "C runs nothing yet: {ia:?}");
    // Nothing is lost on the way: what A tunnels, B's NF gets and B sends out its port.
    let sa = a.stats();
    assert_eq!(sa.nfs.len(), 1);
    assert!(
        sa.nfs[0].tx > 100,
        "A's NF handed packets on: {:?}",
        sa.nfs[0]
    );

    // The CLI shows it.
    let out = Command::new(bin("sluice"))
        .args(["--socket", a.sock.to_str().unwrap(), "cluster", "hosts"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("10.214.0.11:4790"),
        "{text}"
    );
    eprintln!("sluice cluster hosts (on A):\n{text}");
    let out = Command::new(bin("sluice"))
        .args(["--socket", a.sock.to_str().unwrap(), "cluster", "routes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("remote") && text.contains("b 10.214.0.11:4790 1"),
        "{text}"
    );

    // A capture of the tunnel decodes in tshark as VXLAN-GPE + NSH with the expected fields.
    if tshark() {
        let pcap = dir.path("gpe.pcap");
        let st = Command::new("timeout")
            .args([
                "10",
                "tshark",
                "-q",
                "-i",
                &format!("{tag}0u"),
                "-c",
                "20",
                "-f",
            ])
            .arg("udp port 4790")
            .args(["-w", pcap.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("tshark");
        assert!(st.success(), "tshark capture");
        let text = tshark_fields(
            &pcap,
            &[
                "ip.src",
                "ip.dst",
                "udp.dstport",
                "ip.checksum.status",
                "vxlan.next_proto",
                "nsh.spi",
                "nsh.si",
                "nsh.mdtype",
                "nsh.ttl",
                "nsh.nextproto",
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            20,
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for l in lines {
            let f: Vec<&str> = l.split(',').collect();
            // outer src/dst, port 4790, checksum good, next protocol NSH (4), SPI = chain 0,
            // SI = 255 - step 1 (fwd), MD type 1, TTL 63, NSH next protocol Ethernet (3).
            assert_eq!(
                f,
                [
                    "10.214.0.10",
                    "10.214.0.11",
                    "4790",
                    "1",
                    "4",
                    "0",
                    "254",
                    "1",
                    "0x003f",
                    "3"
                ],
                "{l}"
            );
        }
    } else {
        eprintln!("SKIP (part): tshark not installed, no capture check");
    }

    // Malformed tunnel frames from A's address into B: dropped and counted by reason.
    malformed_into(&b, &format!("{tag}1u"), &ia);

    // A second host claiming a live host id refuses to start, saying which.
    let mut dup = spawn_host(
        &dir,
        &ns_c,
        "dup",
        &host_config(&connect, "b", &ul_c, "10.214.0.99", false, ""),
    );
    let st = dup
        .wait_exit(Duration::from_secs(15))
        .expect("duplicate exits");
    assert!(!st.success());
    let log = dup.log();
    assert!(log.contains("host id b is already live"), "{log}");

    // C starts the service too: flows split between B and C.
    let c_sock = NfSock(c.sock.clone());
    let _nf_c = c_sock.spawn(&dir, "nf-c");
    wait_for(Duration::from_secs(10), "A to send to C as well", || {
        peer_tx(&a.cluster(), "c") > 50
    });

    // kill -9 B: A stops sending to B within session timeout + a bound; flows go to C.
    let before_c = nf_rx(&c.stats());
    let t_kill = Instant::now();
    b.kill9();
    nf_b.kill9();
    let mut last_tx = peer_tx(&a.cluster(), "b");
    let mut last_change = Duration::ZERO;
    while t_kill.elapsed() < Duration::from_millis(SESSION_MS * 3) {
        let tx = peer_tx(&a.cluster(), "b");
        if tx != last_tx {
            last_tx = tx;
            last_change = t_kill.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "kill -9 of B: last packet A sent to B {last_change:?} after the kill (session timeout {SESSION_MS} ms)"
    );
    assert!(
        last_change < Duration::from_millis(SESSION_MS * 2),
        "A kept sending to B for {last_change:?}"
    );
    assert_eq!(hosts_of(&a.cluster()), ["a", "c"]);
    let moved = nf_rx(&c.stats()) - before_c;
    assert!(moved > 1000, "C got only {moved} packets after B died");

    // Kill one ZooKeeper server (the leader): nothing changes.
    let leader = zk.leader().expect("a leader");
    zk.kill(leader);
    let c0 = nf_rx(&c.stats());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        nf_rx(&c.stats()) > c0 + 1000,
        "traffic stopped after one ZooKeeper server died"
    );
    wait_for(Duration::from_secs(10), "A connected again", || {
        a.cluster().status == "connected"
    });
    assert_eq!(hosts_of(&a.cluster()), ["a", "c"]);
    zk.restart(leader).expect("restart the server");

    // Stop all of ZooKeeper: forwarding goes on from the cache.
    zk.stop_all();
    let c1 = nf_rx(&c.stats());
    std::thread::sleep(Duration::from_millis(SESSION_MS * 2));
    assert!(
        nf_rx(&c.stats()) > c1 + 2000,
        "forwarding stopped without ZooKeeper"
    );
    assert_eq!(hosts_of(&a.cluster()), ["a", "c"], "the cache changed");
    assert_ne!(a.cluster().status, "connected");
    // ZooKeeper returns: both hosts re-register by themselves.
    zk.restart_all().expect("restart ZooKeeper");
    let t_back = Instant::now();
    wait_for(Duration::from_secs(20), "A and C registered again", || {
        let i = a.cluster();
        i.status == "connected" && hosts_of(&i) == ["a", "c"]
    });
    eprintln!(
        "re-registered {:?} after ZooKeeper served again",
        t_back.elapsed()
    );
    let c2 = nf_rx(&c.stats());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        nf_rx(&c.stats()) > c2,
        "forwarding after ZooKeeper returned"
    );

    // B comes back with nothing done by hand: A sends to it again.
    let b2 = start_host(&dir, &ns_b, "b2", &cfg_b);
    let _nf_b2 = NfSock(b2.sock.clone()).spawn(&dir, "nf-b2");
    wait_for(Duration::from_secs(20), "A to send to B again", || {
        peer_tx(&a.cluster(), "b") > last_tx + 50
    });
    wait_for(
        Duration::from_secs(10),
        "B's NF to get packets again",
        || nf_rx(&b2.stats()) > 50,
    );
    let drops: BTreeMap<String, u64> = a.stats().manager_drops;
    eprintln!("A's manager drops: {drops:?}");
    // Every packet is accounted for on a host at rest (C: tunnel in, NF, port out).
    drop(a);
    std::thread::sleep(Duration::from_millis(500));
    assert_conserved(&c.stats());
    drop(net.hosts);
}

/// Sends malformed GPE + NSH frames (from A's tunnel address) to B through `ifname` and
/// checks B counts each against peer a by reason and forwards none.
fn malformed_into(b: &Daemon, ifname: &str, ia: &sluice_ctl::ClusterInfo) {
    use sluice_tunnel::{encap_gpe_nsh, Endpoint, Metadata, Nsh, Peer};
    let mac = |h: &str| -> [u8; 6] {
        let m = &ia.hosts.iter().find(|x| x.host_id == h).unwrap().mac;
        let v: Vec<u8> = m
            .split(':')
            .map(|x| u8::from_str_radix(x, 16).unwrap())
            .collect();
        v.try_into().unwrap()
    };
    let local = Endpoint::new(1, mac("a"), "10.214.0.10".parse().unwrap());
    let peer =
        Peer::new(2, "10.214.0.11".parse::<std::net::Ipv4Addr>().unwrap()).with_mac(mac("b"));
    let frame = |service: u16| {
        let mut inner = vec![0u8; 60];
        inner[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        inner[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        inner[12..14].copy_from_slice(&[0x88, 0xb5]);
        let mut buf = vec![0u8; 128];
        buf.extend_from_slice(&inner);
        let nsh = Nsh::for_chain(
            0,
            0,
            Metadata {
                service,
                flow_hash: 7,
                ..Default::default()
            },
        );
        let r = encap_gpe_nsh(&mut buf, 128..188, &local, &peer, &nsh).unwrap();
        buf[r].to_vec()
    };
    let good = frame(1);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("too_short", good[..46].to_vec()));
    let mut f = good.clone();
    f[42] &= !0x04; // GPE P bit clear
    cases.push(("gpe_flags", f));
    let mut f = good.clone();
    f[45] = 0x7f; // GPE next protocol unknown
    cases.push(("gpe_next_proto", f));
    let mut f = good.clone();
    f[51] = (f[51] & 0xc0) | 5; // NSH length 5 words with MD type 1
    cases.push(("nsh_length", f));
    let mut f = good.clone();
    f[52] = 3; // MD type 3
    cases.push(("nsh_md_type", f));
    let mut f = good.clone();
    f[50] &= 0xf0; // TTL 0
    f[51] &= 0x3f;
    cases.push(("ttl_expired", f));
    cases.push(("unknown_service", frame(9)));
    let before = b.stats().manager_drops.get("tunnel").copied().unwrap_or(0);
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.1.clone()).collect();
    netns::send("", ifname, &frames);
    wait_for(
        Duration::from_secs(5),
        "B to count the malformed frames",
        || {
            b.stats().manager_drops.get("tunnel").copied().unwrap_or(0)
                >= before + cases.len() as u64
        },
    );
    let ib = b.cluster();
    let pa = ib
        .peers
        .iter()
        .find(|p| p.peer == "a")
        .expect("peer a on B");
    for (reason, _) in &cases {
        assert_eq!(pa.drops.get(*reason).copied(), Some(1), "{reason}: {pa:?}");
    }
    eprintln!("B's counters for peer a after malformed frames: {pa:?}");
}

/// Spawns NF processes against a daemon's socket.
struct NfSock(std::path::PathBuf);

impl NfSock {
    fn spawn(&self, dir: &TestDir, tag: &str) -> NfProc {
        self.spawn_service(dir, tag, "fwd")
    }

    fn spawn_service(&self, dir: &TestDir, tag: &str, service: &str) -> NfProc {
        let log = dir.path(&format!("{tag}.log"));
        let child = Command::new(bin("sluice-forward"))
            .args([
                "--socket",
                self.0.to_str().unwrap(),
                "--service",
                service,
                "--name",
                tag,
            ])
            .args(["--mode", "shared-core"])
            .env("RUST_LOG", "info")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn NF");
        NfProc { child, log }
    }
}

/// Plain VXLAN: a sluiced overlay port and the Linux kernel's vxlan device in another
/// namespace exchange frames in both directions, and the capture decodes as VXLAN in tshark.
#[test]
fn vxlan_overlay_interoperates_with_the_kernel_vxlan_device() {
    let test = "vxlan_overlay_interoperates_with_the_kernel_vxlan_device";
    if !netns::available(test) {
        return;
    }
    let pid = std::process::id() % 100000;
    let dir = TestDir::new("vxlan-overlay");
    let mut hosts = Hosts::default();
    let (ns_s, ns_k) = (format!("svs{pid}"), format!("svk{pid}"));
    // Root ↔ S: the sluiced port "io".
    let io = format!("svio{pid}");
    let io_in = hosts.add(&ns_s, &io);
    // S ↔ K: the underlay.
    netns::ip(&["netns", "add", &ns_k]);
    hosts.own_netns(&ns_k);
    let (su, ku) = (format!("svsu{pid}"), format!("svku{pid}"));
    netns::ip(&[
        "-n", &ns_s, "link", "add", &su, "type", "veth", "peer", "name", &ku, "netns", &ns_k,
    ]);
    for (ns, l) in [(&ns_s, &su), (&ns_k, &ku)] {
        in_ns(ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        in_ns(
            ns,
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        );
        in_ns(ns, &["ip", "link", "set", l, "up"]);
    }
    let kvx = format!("svkx{pid}");
    in_ns(&ns_k, &["ip", "addr", "add", "10.215.0.2/24", "dev", &ku]);
    in_ns(
        &ns_k,
        &[
            "ip",
            "link",
            "add",
            &kvx,
            "type",
            "vxlan",
            "id",
            "4242",
            "local",
            "10.215.0.2",
            "remote",
            "10.215.0.1",
            "dstport",
            "4789",
            "dev",
            &ku,
        ],
    );
    in_ns(&ns_k, &["ip", "link", "set", &kvx, "up"]);

    let d = start_host(
        &dir,
        &ns_s,
        "s",
        &format!(
            r#"
[manager]
socket = "{{socket}}"
run_mode = "shared-core"
threads = 1
console = false

[pool]
slots = 4096
ring_size = 1024
max_nfs = 8
hugepages = "never"

[[services]]
id = 1
name = "fwd"

[[ports]]
name = "io"
kind = "af-packet"
interface = "{io_in}"

[[ports]]
name = "ul"
kind = "af-packet"
interface = "{su}"

[[vxlan]]
name = "vx0"
underlay = "ul"
local_ip = "10.215.0.1"
remote = "10.215.0.2"
vni = 4242

[[chains]]
name = "to-overlay"
steps = ["fwd", "port:vx0"]

[[chains]]
name = "from-overlay"
steps = ["fwd", "port:io"]

[default_chains]
io = "to-overlay"
vx0 = "from-overlay"
"#
        ),
    );
    let _nf = NfSock(d.sock.clone()).spawn(&dir, "fwd");
    wait_for(Duration::from_secs(10), "the NF", || {
        d.stats().nfs.iter().any(|n| n.state == "running")
    });
    let ports = d.stats().ports;
    assert_eq!(
        ports
            .iter()
            .find(|p| p.name == "vx0")
            .map(|p| p.kind.as_str()),
        Some("vxlan")
    );
    let frames: Vec<Vec<u8>> = netns::frames(16, 7)
        .into_iter()
        .map(|mut f| {
            f.truncate(1400);
            f
        })
        .collect();

    // sluiced → kernel: frames into port io leave vx0 as VXLAN; the kernel decapsulates them.
    let pcap = dir.path("vxlan.pcap");
    let cap_tshark = tshark().then(|| {
        let c = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns_k,
                "timeout",
                "15",
                "tshark",
                "-q",
                "-i",
                &ku,
                "-f",
                "udp port 4789",
            ])
            .args(["-c", "16", "-w", pcap.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tshark");
        std::thread::sleep(Duration::from_millis(1500));
        c
    });
    // The first frames may go before ARP resolved the remote: send until all arrive.
    let cap = Capture::start(&ns_k, &kvx, frames.len());
    std::thread::sleep(Duration::from_millis(300));
    netns::send("", &io, &frames[..1]);
    std::thread::sleep(Duration::from_millis(500));
    let got_first = d.cluster().peers[0].tx_packets;
    if got_first == 0 {
        netns::send("", &io, &frames[..1]);
        std::thread::sleep(Duration::from_millis(500));
    }
    netns::send("", &io, &frames[1..]);
    let got = cap.frames();
    let want: Vec<String> = frames.iter().map(|f| netns::hex(f)).collect();
    assert!(
        got.len() >= frames.len() - 1,
        "kernel got {} of {} frames:\n{}",
        got.len(),
        frames.len(),
        d.log()
    );
    for g in &got {
        assert!(want.contains(g), "a frame changed on the way: {g}");
    }
    if let Some(mut c) = cap_tshark {
        let _ = c.wait();
        let text = tshark_fields(
            &pcap,
            &[
                "ip.src",
                "ip.dst",
                "udp.dstport",
                "vxlan.vni",
                "ip.checksum.status",
            ],
        );
        assert!(!text.is_empty(), "no VXLAN frames captured");
        for l in text.lines() {
            assert_eq!(l, "10.215.0.1,10.215.0.2,4789,4242,1");
        }
    }

    // kernel → sluiced: frames sent through the kernel's vxlan device arrive on vx0 and
    // leave port io unchanged.
    let cap = Capture::start("", &io, frames.len());
    netns::send(&ns_k, &kvx, &frames);
    let got = cap.frames();
    assert_eq!(got, want, "kernel → sluiced frames:\n{}", d.log());
    let info = d.cluster();
    let p = &info.peers[0];
    assert_eq!(p.peer, "overlay:vx0");
    assert!(
        p.rx_packets >= frames.len() as u64 && p.tx_packets >= frames.len() as u64 - 1,
        "{p:?}"
    );
    eprintln!("overlay peer counters: {p:?}");

    // A frame that would exceed the underlay MTU once encapsulated (1480 + 50 > 1500) is
    // dropped and counted as too_big, never cut.
    let too_big = |d: &Daemon| {
        let p = d.cluster().peers.remove(0);
        (p.drops.get("too_big").copied().unwrap_or(0), p.tx_packets)
    };
    let (big_before, tx_before) = too_big(&d);
    let mut big = netns::frames(1, 9).remove(0);
    big.resize(1480, 0x5a);
    netns::send("", &io, &[big]);
    wait_for(Duration::from_secs(5), "a too_big drop", || {
        too_big(&d).0 > big_before
    });
    assert_eq!(too_big(&d).1, tx_before, "the big frame was not sent");
    // Every frame is accounted for (ARP requests sluiced makes enter like NF allocations).
    std::thread::sleep(Duration::from_millis(300));
    assert_conserved(&d.stats());
}
