//! The `af-xdp` port against veth pairs into network namespaces. Needs root (CAP_NET_ADMIN,
//! CAP_BPF) and `ip`; without them it prints SKIP and passes. Every namespace and link is
//! removed by a guard, even on failure; the XDP program goes with the port.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sluice_port::{open, AfXdpConfig, Port, PortConfig, PortKind, XdpMode};
use sluice_shm::{Buffers, HugePolicy, Region, RegionConfig};

const RING: u32 = 256;

const ETHERTYPE: u16 = 0x88b5;
const PYTHON: &str = "/usr/bin/python3";

fn region() -> Region {
    let cfg = RegionConfig {
        slots: 1024,
        data_room: 2048,
        headroom: 128,
        max_nfs: 4,
        ring_size: 64,
    };
    Region::create(&cfg, HugePolicy::Never).expect("region")
}

fn have_ip() -> bool {
    Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True if the test can run; otherwise says why.
fn privileged(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: {test} needs root (CAP_NET_ADMIN) for network namespaces");
        return false;
    }
    if !have_ip() {
        eprintln!("SKIP: {test} needs the `ip` command (iproute2)");
        return false;
    }
    true
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes the namespaces and links it names when dropped (also on panic).
#[derive(Default)]
struct Cleanup {
    links: Vec<String>,
    netns: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = Command::new("ip")
                .args(["link", "del", l])
                .stderr(Stdio::null())
                .status();
        }
        for n in &self.netns {
            let _ = Command::new("ip")
                .args(["netns", "del", n])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Kills and reaps a helper process when dropped (an assertion failed before it finished).
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        // After a successful wait() std no longer signals the (possibly reused) pid.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `n` frames of sizes 60..=1514 with distinct payloads, broadcast, of our ethertype.
fn frames(n: usize, seed: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let size = 60 + i * (1514 - 60) / (n - 1);
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[0x02, 0, 0, 0, seed, 1]);
            f.extend_from_slice(&ETHERTYPE.to_be_bytes());
            f.extend_from_slice(&(i as u16).to_be_bytes());
            while f.len() < size {
                f.push((f.len() * 7 + i * 13) as u8 ^ seed);
            }
            f
        })
        .collect()
}

fn ours(f: &[u8]) -> bool {
    f.len() >= 14 && f[12..14] == ETHERTYPE.to_be_bytes()
}

fn frame_of(r: &Region, idx: u32) -> Vec<u8> {
    // SAFETY: the test holds the slot; ports write data_off/len inside the data area.
    unsafe {
        let m = *r.meta(idx);
        assert!(m.data_off as usize + m.len as usize <= r.data_area());
        std::slice::from_raw_parts(r.data(idx).add(m.data_off as usize), m.len as usize).to_vec()
    }
}

/// Receive from `port` until `want` frames of ours arrived or 10 s passed; others are freed.
fn receive(r: &Region, port: &mut Port, want: usize) -> Vec<u32> {
    let rx = port.rx.as_mut().expect("rx half");
    let mut b = Buffers::direct(r);
    let mut got = Vec::new();
    let mut burst = [0u32; 32];
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < want && Instant::now() < deadline {
        let n = rx.rx_burst(&mut b, &mut burst);
        for &idx in &burst[..n] {
            if ours(&frame_of(r, idx)) {
                got.push(idx);
            } else {
                b.free(&[idx]);
            }
        }
        if n == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    got
}

/// Transmit all of `slots` through `port`, retrying what the kernel does not take yet.
fn transmit(r: &Region, port: &mut Port, slots: &[u32]) {
    let tx = port.tx.as_mut().expect("tx half");
    let mut b = Buffers::direct(r);
    let mut done = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while done < slots.len() {
        assert!(Instant::now() < deadline, "transmit stalled at {done}");
        done += tx.tx_burst(&mut b, &slots[done..]);
    }
}

const CAPTURE_PY: &str = r#"
import socket, sys
ifname, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
s.bind((ifname, 0x88b5))
s.settimeout(10)
print("READY", flush=True)
for _ in range(n):
    print(s.recv(65536).hex(), flush=True)
"#;

const SEND_PY: &str = r#"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for line in sys.stdin:
    line = line.strip()
    if line:
        s.send(bytes.fromhex(line))
"#;

fn hex(f: &[u8]) -> String {
    f.iter().map(|b| format!("{b:02x}")).collect()
}

/// A veth pair with `root` in this namespace and `root`p in namespace `ns`, both up.
fn veth_into(guard: &mut Cleanup, ns: &str, root: &str) -> String {
    let peer = format!("{root}p");
    ip(&["netns", "add", ns]);
    guard.netns.push(ns.to_string());
    ip(&[
        "link", "add", root, "type", "veth", "peer", "name", &peer, "netns", ns,
    ]);
    guard.links.push(root.to_string());
    ip(&["link", "set", root, "up"]);
    ip(&["-n", ns, "link", "set", &peer, "up"]);
    ip(&["-n", ns, "link", "set", "lo", "up"]);
    peer
}

fn af_xdp(name: &str, id: u16, interface: &str, mode: XdpMode, r: &Region) -> Result<Port, String> {
    let cfg = PortConfig {
        name: name.into(),
        kind: PortKind::AfXdp(AfXdpConfig {
            interface: interface.into(),
            mode,
            ring_size: RING,
            ..Default::default()
        }),
    };
    open(id, &cfg, r).map_err(|e| e.to_string())
}

fn link_show(dev: &str) -> String {
    let out = Command::new("ip")
        .args(["link", "show", dev])
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Frames sent by a raw socket in namespace A arrive at the af-xdp port on A's veth, are
/// transmitted by the af-xdp port on B's veth, and namespace B sees every one unchanged and
/// in order; every slot is back afterwards and the XDP programs are gone.
#[test]
fn af_xdp_forwards_between_namespaces() {
    if !privileged("af_xdp_forwards_between_namespaces") {
        return;
    }
    if !std::path::Path::new(PYTHON).exists() {
        eprintln!("SKIP: af_xdp_forwards_between_namespaces needs {PYTHON}");
        return;
    }
    let pid = std::process::id();
    let mut guard = Cleanup::default();
    let (ns_a, ns_b) = (format!("sx-a-{pid}"), format!("sx-b-{pid}"));
    let (va, vb) = (format!("xa{pid}"), format!("xb{pid}"));
    let peer_a = veth_into(&mut guard, &ns_a, &va);
    let peer_b = veth_into(&mut guard, &ns_b, &vb);

    let r = region();
    let mut pa = af_xdp("pa", 0, &va, XdpMode::Auto, &r).unwrap();
    let mut pb = af_xdp("pb", 1, &vb, XdpMode::Copy, &r).unwrap();
    assert!(pa.rx.as_ref().unwrap().provides_flow_hash());
    let shown = link_show(&va);
    assert!(shown.contains("xdp"), "{shown}");
    eprintln!(
        "XDP attached in {} mode",
        if shown.contains("xdpgeneric") {
            "generic"
        } else {
            "native"
        }
    );
    // Both fill rings are stocked on the first receive call.
    {
        let mut b = Buffers::direct(&r);
        let mut out = [0u32; 32];
        for p in [&mut pa, &mut pb] {
            let n = p.rx.as_mut().unwrap().rx_burst(&mut b, &mut out);
            b.free(&out[..n]);
        }
    }
    let stocked = r.slots() - 2 * RING;
    assert_eq!(r.pool_available(), stocked);

    let sent = frames(50, 0x5a);
    let capture = Command::new("ip")
        .args(["netns", "exec", &ns_b, PYTHON, "-c", CAPTURE_PY, &peer_b])
        .arg(sent.len().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("capture in namespace B");
    let mut capture = Reap(capture);
    let mut lines = BufReader::new(capture.0.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().expect("capture ready").unwrap(), "READY");

    let sender = Command::new("ip")
        .args(["netns", "exec", &ns_a, PYTHON, "-c", SEND_PY, &peer_a])
        .stdin(Stdio::piped())
        .spawn()
        .expect("sender in namespace A");
    let mut sender = Reap(sender);
    {
        let mut stdin = sender.0.stdin.take().unwrap();
        for f in &sent {
            writeln!(stdin, "{}", hex(f)).unwrap();
        }
    }
    assert!(sender.0.wait().unwrap().success(), "sender failed");

    let slots = receive(&r, &mut pa, sent.len());
    let got: Vec<Vec<u8>> = slots.iter().map(|&i| frame_of(&r, i)).collect();
    assert_eq!(got.len(), sent.len(), "af-xdp port A received too few");
    for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
        assert_eq!(g, s, "frame {i} changed on receive");
    }
    for &i in &slots {
        // SAFETY: the test holds the slot.
        let m = unsafe { *r.meta(i) };
        assert_eq!(m.in_port, 0);
        assert_eq!(m.owner, sluice_shm::owner::MANAGER);
        assert!(m.timestamp > 0);
        assert_eq!(m.flow_hash, sluice_wire::flow_hash(&frame_of(&r, i)));
    }
    transmit(&r, &mut pb, &slots);

    // Kick what is left and reap the completions (an empty burst does both): every slot
    // but the fill rings' comes back.
    let mut b = Buffers::direct(&r);
    let deadline = Instant::now() + Duration::from_secs(5);
    while r.pool_available() != stocked {
        assert!(
            Instant::now() < deadline,
            "slots missing: {} free, want {stocked}",
            r.pool_available()
        );
        pb.tx.as_mut().unwrap().tx_burst(&mut b, &[]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let captured: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = capture.0.wait().unwrap();
    assert_eq!(
        captured.len(),
        sent.len(),
        "namespace B captured {} of {} frames ({status})",
        captured.len(),
        sent.len()
    );
    for (i, (c, s)) in captured.iter().zip(&sent).enumerate() {
        assert_eq!(*c, hex(s), "frame {i} changed on the way");
    }
    assert_eq!(pa.stats.rx_malformed.load(Ordering::Relaxed), 0);
    assert_eq!(
        pb.stats.tx_packets.load(Ordering::Relaxed),
        sent.len() as u64
    );
    let bytes: usize = sent.iter().map(Vec::len).sum();
    assert_eq!(pb.stats.tx_bytes.load(Ordering::Relaxed), bytes as u64);
    assert_eq!(pb.stats.tx_errors.load(Ordering::Relaxed), 0);

    drop((pa, pb));
    for v in [&va, &vb] {
        assert!(
            !link_show(v).contains("xdp"),
            "XDP left on {v}: {}",
            link_show(v)
        );
    }
}

/// Zero-copy on veth is refused with advice; a missing interface is a clear error.
#[test]
fn af_xdp_bad_settings_are_clear_errors() {
    if !privileged("af_xdp_bad_settings_are_clear_errors") {
        return;
    }
    let r = region();
    let e = af_xdp("nx", 0, "sl-no-such0", XdpMode::Auto, &r)
        .err()
        .unwrap();
    assert!(e.contains("port nx") && e.contains("does not exist"), "{e}");

    let pid = std::process::id();
    let mut guard = Cleanup::default();
    let ns = format!("sx-z-{pid}");
    let v = format!("xz{pid}");
    veth_into(&mut guard, &ns, &v);
    let e = af_xdp("zc", 0, &v, XdpMode::ZeroCopy, &r).err().unwrap();
    assert!(
        e.contains("port zc") && e.contains("does not support") && e.contains("copy"),
        "{e}"
    );
    assert!(!link_show(&v).contains("xdp"), "{}", link_show(&v));
    assert_eq!(r.pool_available(), r.slots());
}
