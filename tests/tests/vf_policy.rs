//! VF policy with real frames: sluiced switches between a PF uplink (af-packet on a veth into
//! a "wire" namespace) and five VFs (af-packet on veths into one namespace each), as VFd's
//! own packet tests do: a reflector in each VF namespace sends every frame it receives back
//! (destination := source), and the wire side checks which frames come back with which tags.
//! Covers the broadcast / multicast / unknown-unicast matrix of VFd's tests with strip off
//! and on, the VLAN filter, strip and insert, QinQ (802.1ad outer tag, inner tag kept), MAC
//! and VLAN anti-spoof with the spoofed counter, mirroring, and a rate limit measured at the
//! receiver. Needs root; prints SKIP otherwise.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sluice_tests::netns::{self, Hosts, PYTHON};
use sluice_tests::*;

/// Raw socket helpers for the scripts: receive with the outer tag put back (the kernel takes
/// it off and reports it in PACKET_AUXDATA) and skip our own transmissions.
const COMMON_PY: &str = r#"
import socket, struct, sys, time
ETH_P_ALL, SOL_PACKET, PACKET_AUXDATA = 3, 263, 8
def open_sock(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((ifname, 0))
    return s
def recv(s):
    while True:
        data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(64))
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        for level, kind, a in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                st, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", a[:20])
                if st & 0x10:
                    tpid = tpid if (st & 0x40 and tpid) else 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        return data
def ours(f):
    i = 12
    while len(f) >= i + 2 and f[i:i+2] in (b"\x81\x00", b"\x88\xa8"):
        i += 4
    return f[i:i+2] == b"\x88\xb5"
"#;

/// In a VF namespace: print every test frame received ("rx HEX") and send it back with
/// destination := source and source := the VF's MAC (argv[2]) or, with "swap", the frame's
/// destination.
const REFLECT_PY: &str = r#"
s = open_sock(sys.argv[1])
mac = bytes.fromhex(sys.argv[2]) if sys.argv[2] != "swap" else None
print("READY", flush=True)
while True:
    f = recv(s)
    if not ours(f):
        continue
    print("rx", f.hex(), flush=True)
    src = mac if mac else f[0:6]
    s.send(f[6:12] + src + f[12:])
"#;

/// On the wire: send the frames of stdin, then print every test frame that comes back
/// ("HEX TIME") until `argv[2]` seconds pass without one.
const WIRE_PY: &str = r#"
s = open_sock(sys.argv[1])
frames = [bytes.fromhex(l.strip()) for l in sys.stdin if l.strip()]
for f in frames:
    s.send(f)
    time.sleep(0.002)
s.settimeout(float(sys.argv[2]))
try:
    while True:
        f = recv(s)
        if ours(f) and f[6:12] != bytes.fromhex("0200000000f1"):
            print(f.hex(), time.monotonic(), flush=True)
except socket.timeout:
    pass
"#;

/// In a VF namespace: send frame argv[2] (hex) for argv[3] seconds at about 5000 frames/s.
const BLAST_PY: &str = r#"
s = open_sock(sys.argv[1])
f = bytes.fromhex(sys.argv[2])
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    for _ in range(10):
        s.send(f)
    time.sleep(0.002)
"#;

fn py(ns: &str, script: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, PYTHON, "-c"])
        .arg(format!("{COMMON_PY}{script}"));
    c
}

const WIRE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xf1];
const TPID_Q: u16 = 0x8100;
const TPID_AD: u16 = 0x88a8;

/// A test frame: `tags` outermost first, ethertype 0x88b5, then the case number.
fn frame(dst: [u8; 6], src: [u8; 6], tags: &[(u16, u16)], case: u16, size: usize) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    for &(tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&netns::ETHERTYPE.to_be_bytes());
    f.extend_from_slice(&case.to_be_bytes());
    f.resize(size.max(f.len()), 0x5a);
    f
}

/// Outer tags of a frame, outermost first: (TPID, VLAN id).
type Tags = Vec<(u16, u16)>;

/// A frame that came back to the wire: case number, tags, length, arrival time (s).
type Reply = (u16, Tags, usize, f64);

/// Tags (outermost first) and case number of a captured frame.
fn parse(hex: &str) -> (Tags, u16, Vec<u8>) {
    let f: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut tags = Vec::new();
    let mut i = 12;
    loop {
        let t = u16::from_be_bytes([f[i], f[i + 1]]);
        if t == TPID_Q || t == TPID_AD {
            tags.push((t, u16::from_be_bytes([f[i + 2], f[i + 3]]) & 0x0fff));
            i += 4;
        } else {
            break;
        }
    }
    (tags, u16::from_be_bytes([f[i + 2], f[i + 3]]), f)
}

fn mac(last: u8) -> [u8; 6] {
    [2, 0, 0, 0, 0, last]
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A reflector in a VF namespace, killed on drop.
struct Reflector {
    child: Child,
}

impl Reflector {
    fn start(ns: &str, ifname: &str, own: Option<[u8; 6]>) -> Reflector {
        let m = own.map_or("swap".to_string(), |m| netns::hex(&m));
        let mut child = py(ns, REFLECT_PY)
            .args([ifname, &m])
            .stdout(Stdio::piped())
            .spawn()
            .expect("reflector");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "READY");
        Reflector { child }
    }

    /// Case numbers and tags of what it received so far (stops it).
    fn received(mut self) -> Vec<(u16, Tags)> {
        let _ = self.child.kill();
        let out = self.child.stdout.take().unwrap();
        let _ = self.child.wait();
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("rx ").map(parse))
            .map(|(tags, case, _)| (case, tags))
            .collect()
    }
}

impl Drop for Reflector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send `frames` from the wire namespace and collect what comes back: (case, tags, time).
fn exchange(ns: &str, ifname: &str, frames: &[Vec<u8>], quiet: f64) -> Vec<Reply> {
    let mut child = py(ns, WIRE_PY)
        .args([ifname, &quiet.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("wire script");
    {
        let mut stdin = child.stdin.take().unwrap();
        for f in frames {
            writeln!(stdin, "{}", netns::hex(f)).unwrap();
        }
    }
    let out = child.wait_with_output().expect("wire script");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (h, t) = l.split_once(' ').unwrap();
            let (tags, case, f) = parse(h);
            (case, tags, f.len(), t.parse().unwrap())
        })
        .collect()
}

/// One VF of the test: vfid, its MAC, and the frames the wire sends it with the expected
/// outcome.
struct Vf {
    vfid: u8,
    mac: [u8; 6],
    vlans: Vec<u16>,
    bum: (bool, bool, bool),
}

const MCAST: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x30];
const BCAST: [u8; 6] = [0xff; 6];

fn vf_json(v: &Vf, strip: bool, extra: &str) -> String {
    format!(
        r#"{{ "name": "vf{id}", "pciid": "pf0", "vfid": {id}, "strip_stag": {strip},
             "allow_bcast": {b}, "allow_mcast": {m}, "allow_un_ucast": {u},
             "vlans": {vlans:?}, "macs": ["{mac}"]{extra} }}"#,
        id = v.vfid,
        b = v.bum.0,
        m = v.bum.1,
        u = v.bum.2,
        vlans = v.vlans,
        mac = mac_str(v.mac),
    )
}

/// `iplex ARGS`, which must succeed; what it printed.
fn iplex_ok(d: &Daemon, args: &[&str]) -> String {
    let (rc, out) = iplex(d, args);
    assert_eq!(rc, 0, "iplex {args:?}: {out}");
    out
}

/// Counters of VF `vfid` (or the PF with None) from `iplex --json show`.
fn counters(d: &Daemon, vfid: Option<u8>) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&iplex_ok(d, &["--json", "show", "all"])).unwrap();
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| match vfid {
            None => r["kind"] == "pf",
            Some(id) => r["kind"] == "vf" && r["id"] == u64::from(id),
        })
        .cloned()
        .unwrap_or_else(|| panic!("no row for {vfid:?}: {v}"))
}

#[test]
fn vf_policy_between_namespaces() {
    if !netns::available("vf_policy_between_namespaces") {
        return;
    }
    let pid = std::process::id();
    let dir = TestDir::new("vf-policy");
    let mut hosts = Hosts::default();
    let wire_ns = format!("svw{pid}");
    let wire_root = format!("vw{pid}");
    let wire_if = hosts.add(&wire_ns, &wire_root);
    let mut vf_ns = Vec::new();
    let mut ports = String::new();
    let mut vf_ports = Vec::new();
    for i in 0..5 {
        let (ns, root) = (format!("sv{i}{pid}"), format!("v{i}{pid}"));
        let inner = hosts.add(&ns, &root);
        ports += &format!("\n[[ports]]\nname = \"vm{i}\"\nkind = \"af-packet\"\ninterface = \"{root}\"\nblock_size = 65536\nblock_count = 8\n");
        vf_ports.push(format!("\"vm{i}\""));
        vf_ns.push((ns, inner));
    }
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}
[[ports]]
name = "pf"
kind = "af-packet"
interface = "{wire_root}"
block_size = 65536
block_count = 8
{ports}
[vfd]
config_dir = "{{dir}}/vfd"

[[vfd.pfs]]
id = "pf0"
port = "pf"
vf_ports = [{}]
enable_loopback = true
link_speed_mbps = 100
"#,
            vf_ports.join(", ")
        ),
    );
    let cfg_dir = dir.path("vfd");

    // VFd's test VFs (§3.7): bcast/mcast/un-ucast and VLANs; VF4 is the QinQ VF.
    let vfs = [
        Vf {
            vfid: 0,
            mac: mac(0x10),
            vlans: vec![100, 101, 102, 103, 104],
            bum: (true, true, false),
        },
        Vf {
            vfid: 1,
            mac: mac(0x20),
            vlans: vec![200, 201, 202],
            bum: (false, true, false),
        },
        Vf {
            vfid: 2,
            mac: mac(0x30),
            vlans: vec![300],
            bum: (false, false, false),
        },
        Vf {
            vfid: 3,
            mac: mac(0x40),
            vlans: vec![400, 401],
            bum: (true, true, true),
        },
    ];
    let qinq = Vf {
        vfid: 4,
        mac: mac(0x50),
        vlans: vec![500],
        bum: (true, true, false),
    };
    std::fs::write(
        cfg_dir.join("vf4.json"),
        vf_json(&qinq, true, r#", "vlan_proto": "802.1ad""#),
    )
    .unwrap();
    iplex_ok(&d, &["add", "vf4"]);

    for strip in [false, true] {
        let pass = if strip { "strip on" } else { "strip off" };
        for v in &vfs {
            let mut v2 = Vf {
                vlans: v.vlans.clone(),
                ..*v
            };
            if strip {
                // strip + insert needs one VLAN (VFd's stripT data files).
                v2.vlans = vec![*v.vlans.last().unwrap()];
                iplex_ok(&d, &["delete", &format!("vf{}", v.vfid)]);
            }
            std::fs::write(
                cfg_dir.join(format!("vf{}.json", v.vfid)),
                vf_json(&v2, strip, ""),
            )
            .unwrap();
            iplex_ok(&d, &["add", &format!("vf{}", v.vfid)]);
        }
        let valid = |v: &Vf| {
            if strip {
                *v.vlans.last().unwrap()
            } else {
                v.vlans[0]
            }
        };
        let reflectors: Vec<Reflector> = vf_ns
            .iter()
            .enumerate()
            .map(|(i, (ns, ifname))| {
                // VF3 reflects with the frame's destination as source (VFd's promiscuous
                // VF4 case): an unknown unicast comes back spoofed.
                let own = if i == 3 {
                    None
                } else {
                    Some(mac(0x10 * (i as u8 + 1)))
                };
                Reflector::start(ns, ifname, own)
            })
            .collect();
        let spoofed_before = counters(&d, Some(3))["spoofed"].as_u64().unwrap();

        // (case, frame, the VLAN the reply must carry or None for no reply)
        let mut cases: Vec<(Vec<u8>, Option<u16>)> = Vec::new();
        let unknown = mac(0x99);
        let q = |vid| vec![(TPID_Q, vid)];
        let mut add = |dst, vid: u16, expect: bool| {
            let n = cases.len() as u16;
            cases.push((frame(dst, WIRE_MAC, &q(vid), n, 60), expect.then_some(vid)));
        };
        let (v0, v1, v2, v3) = (&vfs[0], &vfs[1], &vfs[2], &vfs[3]);
        add(unknown, valid(v0), false); // unknown unicast blocked
        for &vid in if strip { &v0.vlans[4..] } else { &v0.vlans[..] } {
            add(v0.mac, vid, true); // configured MAC x each valid VLAN
        }
        add(v0.mac, 99, false); // VLAN filter
        add(BCAST, valid(v0), true);
        add(BCAST, 999, false);
        add(MCAST, valid(v0), true);
        add(MCAST, 999, false);
        add(BCAST, valid(v1), false); // VF1: broadcast blocked
        add(MCAST, valid(v1), true); // VF1: multicast allowed
        add(MCAST, valid(v2), false); // VF2: multicast blocked
        add(BCAST, valid(v2), false);
        add(unknown, valid(v3), false); // VF3 takes it, its reply is spoofed
        add(unknown, 888, false);
        let qinq_case = cases.len() as u16;
        cases.push((
            frame(
                qinq.mac,
                WIRE_MAC,
                &[(TPID_AD, 500), (TPID_Q, 7)],
                qinq_case,
                64,
            ),
            Some(500),
        ));

        let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.0.clone()).collect();
        let replies = exchange(&wire_ns, &wire_if, &frames, 1.5);
        let mut got: BTreeMap<u16, Vec<Tags>> = BTreeMap::new();
        for (case, tags, _, _) in &replies {
            got.entry(*case).or_default().push(tags.clone());
        }
        for (n, (_, expect)) in cases.iter().enumerate() {
            let r = got.get(&(n as u16));
            match expect {
                None => assert!(
                    r.is_none(),
                    "{pass}: case {n}: no reply expected, got {r:?}"
                ),
                Some(vid) => {
                    let r =
                        r.unwrap_or_else(|| panic!("{pass}: case {n}: no reply (want VLAN {vid})"));
                    assert_eq!(r.len(), 1, "{pass}: case {n}: {r:?}");
                    assert_eq!(r[0][0].1, *vid, "{pass}: case {n}: reply VLAN");
                }
            }
        }
        // QinQ: outer 802.1ad 500 inserted on the way out, the guest's inner tag kept.
        assert_eq!(
            got[&qinq_case][0],
            vec![(TPID_AD, 500), (TPID_Q, 7)],
            "{pass}: QinQ reply tags"
        );
        let spoofed = counters(&d, Some(3))["spoofed"].as_u64().unwrap();
        assert!(
            spoofed > spoofed_before,
            "{pass}: VF3's spoofed reply is counted"
        );

        // What the guests saw: tags stripped with strip on, kept with it off; the QinQ VF
        // sees the inner tag only.
        let seen: Vec<Vec<(u16, Tags)>> = reflectors.into_iter().map(Reflector::received).collect();
        for (case, tags) in &seen[0] {
            let want = if strip {
                vec![]
            } else {
                cases[*case as usize]
                    .0
                    .get(12..16)
                    .map(|t| vec![(TPID_Q, u16::from_be_bytes([t[2], t[3]]))])
                    .unwrap()
            };
            assert_eq!(
                *tags, want,
                "{pass}: VF0 received case {case} with tags {tags:?}"
            );
        }
        assert!(!seen[0].is_empty());
        assert_eq!(seen[4].len(), 1, "{pass}: QinQ VF: {:?}", seen[4]);
        assert_eq!(seen[4][0].1, vec![(TPID_Q, 7)], "{pass}: inner tag kept");
        assert!(
            seen[2].is_empty(),
            "{pass}: VF2 takes nothing: {:?}",
            seen[2]
        );
        if strip {
            continue;
        }
        // Anti-spoof from a guest (strip off: the guest tags): a foreign source MAC and an
        // unlisted VLAN are dropped and counted; its own MAC and a listed VLAN pass.
        let (ns0, if0) = &vf_ns[0];
        let before = counters(&d, Some(0));
        let wire = Reflector::start(&wire_ns, &wire_if, Some(WIRE_MAC));
        let bad_mac = frame(WIRE_MAC, mac(0x77), &[], 900, 60);
        let bad_vlan = frame(WIRE_MAC, mac(0x10), &[(TPID_Q, 999)], 901, 60);
        let good = frame(WIRE_MAC, mac(0x10), &[(TPID_Q, 101)], 902, 60);
        netns::send(ns0, if0, &[bad_mac, bad_vlan, good]);
        std::thread::sleep(Duration::from_millis(500));
        let after = counters(&d, Some(0));
        let at_wire = wire.received();
        assert_eq!(
            after["spoofed"].as_u64().unwrap() - before["spoofed"].as_u64().unwrap(),
            2,
            "MAC and VLAN spoofs counted: {after}"
        );
        let cases: Vec<u16> = at_wire.iter().map(|c| c.0).collect();
        assert!(
            cases.contains(&902) && !cases.contains(&900) && !cases.contains(&901),
            "{at_wire:?}"
        );
        assert_eq!(
            at_wire.iter().find(|c| c.0 == 902).unwrap().1,
            vec![(TPID_Q, 101)]
        );
        let s = d.stats();
        assert!(manager_drop(&s, "vf_spoofed") >= 2, "{:?}", s.manager_drops);
    }

    // Mirroring: what VF0 receives is copied to VF2 as well.
    let (ns0, if0) = &vf_ns[0];
    iplex_ok(&d, &["mirror", "0", "0", "in", "2"]);
    let r2 = Reflector::start(&vf_ns[2].0, &vf_ns[2].1, None);
    let r0 = Reflector::start(ns0, if0, Some(mac(0x10)));
    exchange(
        &wire_ns,
        &wire_if,
        &[frame(mac(0x10), WIRE_MAC, &[(TPID_Q, 104)], 950, 60)],
        0.5,
    );
    assert!(r0.received().iter().any(|c| c.0 == 950));
    assert!(
        r2.received().iter().any(|c| c.0 == 950),
        "the mirror copy reaches VF2"
    );
    assert!(counters(&d, Some(0))["mirrored"].as_u64().unwrap() >= 1);
    iplex_ok(&d, &["mirror", "0", "0", "off"]);

    // Rate limit: VF1 at 1 % of 100 Mbit/s = 125 000 bytes/s; the guest offers ~5 MB/s.
    iplex_ok(&d, &["delete", "vf1"]);
    let v1 = Vf {
        vlans: vec![202],
        ..vfs[1]
    };
    std::fs::write(
        cfg_dir.join("vf1.json"),
        vf_json(&v1, true, r#", "rate": 0.01"#),
    )
    .unwrap();
    iplex_ok(&d, &["add", "vf1"]);
    let blast = frame(WIRE_MAC, mac(0x20), &[], 990, 1000);
    let mut sender = py(&vf_ns[1].0, BLAST_PY)
        .args([&vf_ns[1].1, &netns::hex(&blast), "3"])
        .spawn()
        .expect("blast");
    let seen = exchange(&wire_ns, &wire_if, &[], 1.0);
    let _ = sender.wait();
    let arrivals: Vec<(usize, f64)> = seen
        .iter()
        .filter(|c| c.0 == 990)
        .map(|c| (c.2, c.3))
        .collect();
    assert!(arrivals.len() > 100, "{} frames arrived", arrivals.len());
    let bytes: usize = arrivals[1..].iter().map(|a| a.0).sum();
    let secs = arrivals.last().unwrap().1 - arrivals[0].1;
    let rate = bytes as f64 / secs;
    eprintln!(
        "rate limit 125000 B/s: measured {rate:.0} B/s over {secs:.2} s ({} frames)",
        arrivals.len()
    );
    assert!(
        (rate - 125_000.0).abs() <= 12_500.0,
        "measured {rate:.0} B/s, want 125000 ± 10 %"
    );
    assert!(manager_drop(&d.stats(), "vf_rate_limited") > 0);

    assert!(d.shutdown().success());
}
