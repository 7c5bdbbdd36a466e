//! The `af-packet`, `af-xdp` and `tap` ports against real interfaces: veth pairs into network
//! namespaces and a TAP device. These need root (CAP_NET_ADMIN, CAP_BPF) and `ip`; without
//! them they print SKIP and pass. Every namespace and link is removed by a guard, even on
//! failure; an XDP program goes with its port.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sluice_port::{
    open, AfPacketConfig, AfXdpConfig, Port, PortConfig, PortKind, TapConfig, XdpMode,
};
use sluice_shm::{Buffers, HugePolicy, Region, RegionConfig};
use sluice_tests::netns::{self, ip, Capture, Hosts};

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

fn af_packet(name: &str, id: u16, interface: &str, r: &Region) -> Port {
    let cfg = PortConfig {
        name: name.into(),
        kind: PortKind::AfPacket(AfPacketConfig {
            interface: interface.into(),
            block_size: 1 << 16,
            block_count: 8,
            ..Default::default()
        }),
    };
    open(id, &cfg, r).unwrap_or_else(|e| panic!("open {name}: {e}"))
}

fn ours(f: &[u8]) -> bool {
    f.len() >= 14 && f[12..14] == netns::ETHERTYPE.to_be_bytes()
}

/// Receive `sent.len()` frames on `port` and check they are `sent`, in order; their slots.
fn receive_all(r: &Region, port: &mut Port, sent: &[Vec<u8>]) -> Vec<u32> {
    let slots = receive(r, port, sent.len());
    assert_eq!(
        slots.len(),
        sent.len(),
        "port {} received too few",
        port.name
    );
    for (i, (&idx, s)) in slots.iter().zip(sent).enumerate() {
        assert_eq!(&frame_of(r, idx), s, "frame {i} changed on receive");
    }
    slots
}

fn frame_of(r: &Region, idx: u32) -> Vec<u8> {
    // SAFETY: the test holds the slot; ports write data_off/len inside the data area.
    unsafe {
        let m = *r.meta(idx);
        assert!(m.data_off as usize + m.len as usize <= r.data_area());
        std::slice::from_raw_parts(r.data(idx).add(m.data_off as usize), m.len as usize).to_vec()
    }
}

/// Put `f` into a fresh slot.
fn slot_with(r: &Region, f: &[u8]) -> u32 {
    let mut b = Buffers::direct(r);
    let mut idx = [0u32];
    assert_eq!(
        b.alloc(&mut idx, sluice_shm::owner::MANAGER),
        1,
        "pool empty"
    );
    // SAFETY: the slot is ours; the frame fits the data room.
    unsafe {
        let mut m = *r.meta(idx[0]);
        m.data_off = r.headroom() as u16;
        m.len = f.len() as u16;
        *r.meta(idx[0]) = m;
        std::ptr::copy_nonoverlapping(f.as_ptr(), r.data(idx[0]).add(m.data_off as usize), f.len());
    }
    idx[0]
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

/// Poll the port's receive half until its link state is `want` (at most 3 s).
fn poll_link_until(r: &Region, port: &mut Port, want: bool) {
    let mut b = Buffers::direct(r);
    let mut out = [0u32; 8];
    let deadline = Instant::now() + Duration::from_secs(3);
    while port.stats.link_up.load(Ordering::Relaxed) != want {
        assert!(Instant::now() < deadline, "link_up never became {want}");
        let n = port.rx.as_mut().unwrap().rx_burst(&mut b, &mut out);
        b.free(&out[..n]);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A raw AF_PACKET socket on `ifname` in this namespace, receiving our ethertype only.
struct Raw(OwnedFd);

impl Raw {
    fn new(ifname: &str) -> Raw {
        // SAFETY: plain socket(2).
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(netns::ETHERTYPE.to_be()),
            )
        };
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(ifname).unwrap();
        // SAFETY: valid C string.
        let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
        assert!(ifindex != 0, "no interface {ifname}");
        // SAFETY: all-zero sockaddr_ll is valid.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = netns::ETHERTYPE.to_be();
        sa.sll_ifindex = ifindex as i32;
        // SAFETY: `sa` is a valid sockaddr_ll.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 5,
            tv_usec: 0,
        };
        // SAFETY: `tv` is a valid timeval.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        Raw(fd)
    }

    fn send(&self, f: &[u8]) {
        // SAFETY: `f` is a live buffer of its length.
        let n = unsafe { libc::send(self.0.as_raw_fd(), f.as_ptr() as *const _, f.len(), 0) };
        assert_eq!(
            n,
            f.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 65536];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len(), 0) };
        (n >= 0).then(|| {
            buf.truncate(n as usize);
            buf
        })
    }
}

/// Frames sent by a raw socket in namespace A arrive at the af-packet port on A's veth,
/// are transmitted by the port on B's veth, and a raw socket in namespace B sees every one
/// unchanged and in order.
#[test]
fn af_packet_forwards_between_namespaces() {
    if !netns::available("af_packet_forwards_between_namespaces") {
        return;
    }
    let pid = std::process::id();
    let mut guard = Hosts::default();
    let (ns_a, ns_b) = (format!("sl-a-{pid}"), format!("sl-b-{pid}"));
    let (va, vb) = (format!("fa{pid}"), format!("fb{pid}"));
    let peer_a = guard.add(&ns_a, &va);
    let peer_b = guard.add(&ns_b, &vb);

    let r = region();
    let mut pa = af_packet("pa", 0, &va, &r);
    let mut pb = af_packet("pb", 1, &vb, &r);
    assert!(pa.rx.as_ref().unwrap().provides_flow_hash());
    assert_eq!(promiscuity(&va), 1, "the port turns promiscuous mode on");

    let sent = netns::frames(50, 0xa5);
    let capture = Capture::start(&ns_b, &peer_b, sent.len());
    netns::send(&ns_a, &peer_a, &sent);

    let slots = receive_all(&r, &mut pa, &sent);
    for &i in &slots {
        // SAFETY: the test holds the slot.
        let m = unsafe { *r.meta(i) };
        assert_eq!(m.in_port, 0);
        assert_eq!(m.flow_hash, sluice_wire::flow_hash(&frame_of(&r, i)));
    }
    transmit(&r, &mut pb, &slots);

    let captured = capture.frames();
    assert_eq!(
        captured.len(),
        sent.len(),
        "namespace B captured {} of {} frames",
        captured.len(),
        sent.len()
    );
    for (i, (c, s)) in captured.iter().zip(&sent).enumerate() {
        assert_eq!(*c, netns::hex(s), "frame {i} changed on the way");
    }
    let st = &pa.stats;
    assert_eq!(st.rx_malformed.load(Ordering::Relaxed), 0);
    assert!(st.rx_packets.load(Ordering::Relaxed) >= sent.len() as u64);
    assert_eq!(
        pb.stats.tx_packets.load(Ordering::Relaxed),
        sent.len() as u64
    );
    let bytes: usize = sent.iter().map(Vec::len).sum();
    assert_eq!(pb.stats.tx_bytes.load(Ordering::Relaxed), bytes as u64);
    assert_eq!(pb.stats.tx_errors.load(Ordering::Relaxed), 0);
    // All slots went back to the pool.
    assert_eq!(r.pool_available(), r.slots());
    drop(pa);
    assert_eq!(promiscuity(&va), 0, "and off again when it closes");
}

/// Frames written by the tap port reach a raw socket on the interface, and frames sent by
/// a raw socket on the interface come out of the tap port, unchanged and in order.
#[test]
fn tap_both_directions() {
    if !netns::available("tap_both_directions") {
        return;
    }
    let pid = std::process::id();
    let ifname = format!("tp{pid}");
    let mut guard = Hosts::default();
    guard.own_link(&ifname);
    let r = region();
    let cfg = PortConfig {
        name: "tap0".into(),
        kind: PortKind::Tap(TapConfig {
            interface: ifname.clone(),
            mac: Some("02:00:00:00:01:01".into()),
            mtu: Some(1500),
            up: true,
        }),
    };
    let mut port = open(2, &cfg, &r).unwrap_or_else(|e| panic!("open tap: {e}"));
    let show = Command::new("ip")
        .args(["link", "show", &ifname])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("02:00:00:00:01:01"), "{show}");
    assert!(show.contains("mtu 1500"), "{show}");
    assert!(show.contains("UP"), "{show}");
    assert!(port.stats.link_up.load(Ordering::Relaxed));

    let raw = Raw::new(&ifname);

    // Port -> kernel.
    let out = netns::frames(50, 0x3c);
    let slots: Vec<u32> = out.iter().map(|f| slot_with(&r, f)).collect();
    transmit(&r, &mut port, &slots);
    for (i, f) in out.iter().enumerate() {
        let g = raw
            .recv()
            .unwrap_or_else(|| panic!("frame {i} not seen on {ifname}"));
        assert_eq!(&g, f, "frame {i} changed (port -> kernel)");
    }
    assert_eq!(port.stats.tx_packets.load(Ordering::Relaxed), 50);

    // Kernel -> port.
    let back = netns::frames(50, 0x5a);
    for f in &back {
        raw.send(f);
    }
    let slots = receive(&r, &mut port, back.len());
    assert_eq!(slots.len(), back.len(), "tap port received too few");
    for (i, (&idx, f)) in slots.iter().zip(&back).enumerate() {
        assert_eq!(&frame_of(&r, idx), f, "frame {i} changed (kernel -> port)");
        // SAFETY: the test holds the slot.
        assert_eq!(unsafe { (*r.meta(idx)).in_port }, 2);
    }
    Buffers::direct(&r).free(&slots);
    assert_eq!(port.stats.rx_malformed.load(Ordering::Relaxed), 0);

    // Link state follows the interface.
    ip(&["link", "set", &ifname, "down"]);
    poll_link_until(&r, &mut port, false);
    let slot = slot_with(&r, &out[0]);
    let taken = port
        .tx
        .as_mut()
        .unwrap()
        .tx_burst(&mut Buffers::direct(&r), &[slot]);
    assert_eq!(taken, 0, "a down port must not take frames");
    ip(&["link", "set", &ifname, "up"]);
    poll_link_until(&r, &mut port, true);
    // (The old raw socket holds a pending ENETDOWN error from the down: use a new one.)
    let raw = Raw::new(&ifname);
    transmit(&r, &mut port, &[slot]);
    assert_eq!(raw.recv().as_ref(), Some(&out[0]));
    assert_eq!(r.pool_available(), r.slots());
    drop(port);
    // A TAP interface we created goes away with the port.
    std::thread::sleep(Duration::from_millis(50));
    let gone = Command::new("ip")
        .args(["link", "show", &ifname])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(
        !gone.success(),
        "{ifname} still exists after the port closed"
    );
}

/// Setting the interface down at run time shows in `link_up` after a poll, transmit then
/// takes nothing (the manager counts it as dropped), and both recover when it comes back.
#[test]
fn af_packet_link_state_follows_the_interface() {
    if !netns::available("af_packet_link_state_follows_the_interface") {
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("lk{pid}"), format!("lk{pid}p"));
    let mut guard = Hosts::default();
    ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
    guard.own_link(&a);
    ip(&["link", "set", &a, "up"]);
    ip(&["link", "set", &b, "up"]);
    let r = region();
    let mut port = af_packet("lk", 0, &a, &r);
    let poll_until = |port: &mut Port, want: bool| poll_link_until(&r, port, want);
    poll_until(&mut port, true);

    ip(&["link", "set", &a, "down"]);
    poll_until(&mut port, false);
    let f = netns::frames(2, 1);
    let slots: Vec<u32> = f.iter().map(|f| slot_with(&r, f)).collect();
    let taken = port
        .tx
        .as_mut()
        .unwrap()
        .tx_burst(&mut Buffers::direct(&r), &slots);
    assert_eq!(taken, 0, "a down port must not take frames");

    ip(&["link", "set", &a, "up"]);
    poll_until(&mut port, true);
    let raw = Raw::new(&b);
    transmit(&r, &mut port, &slots);
    assert_eq!(port.stats.tx_packets.load(Ordering::Relaxed), 2);
    for (i, f) in f.iter().enumerate() {
        assert_eq!(raw.recv().as_ref(), Some(f), "frame {i} after link up");
    }
    // Receive resumes too.
    raw.send(&f[1]);
    let got = receive(&r, &mut port, 1);
    assert_eq!(got.len(), 1, "nothing received after link up");
    assert_eq!(frame_of(&r, got[0]), f[1]);
    Buffers::direct(&r).free(&got);
    assert_eq!(r.pool_available(), r.slots());
}

#[test]
fn af_packet_missing_interface_is_a_clear_error() {
    let r = region();
    let cfg = PortConfig {
        name: "p0".into(),
        kind: PortKind::AfPacket(AfPacketConfig {
            interface: "veth9nosuch".into(),
            ..Default::default()
        }),
    };
    let e = open(0, &cfg, &r).err().expect("must fail").to_string();
    assert_eq!(
        e,
        "port p0: interface veth9nosuch does not exist (ip link show)"
    );
    let cfg = PortConfig {
        name: "p1".into(),
        kind: PortKind::AfPacket(AfPacketConfig::default()),
    };
    let e = open(0, &cfg, &r).err().expect("must fail").to_string();
    assert!(e.starts_with("port p1: `interface` is required"), "{e}");
    let cfg = PortConfig {
        name: "p2".into(),
        kind: PortKind::AfPacket(AfPacketConfig {
            interface: "lo".into(),
            block_size: 1000,
            ..Default::default()
        }),
    };
    let e = open(0, &cfg, &r).err().expect("must fail").to_string();
    assert!(e.contains("block_size 1000"), "{e}");
}

#[test]
fn tap_bad_settings_are_refused() {
    let r = region();
    let tap = |mac: Option<&str>, mtu: Option<u32>, interface: &str| PortConfig {
        name: "t0".into(),
        kind: PortKind::Tap(TapConfig {
            interface: interface.into(),
            mac: mac.map(Into::into),
            mtu,
            up: true,
        }),
    };
    let e = open(0, &tap(Some("02:00:zz"), None, "sluice0"), &r)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is not a MAC address"), "{e}");
    let e = open(0, &tap(None, Some(20), "sluice0"), &r)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("mtu 20"), "{e}");
    let e = open(0, &tap(None, None, "a-name-far-too-long"), &r)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not valid"), "{e}");
}

/// Attaching a tap port to an interface that exists but is not a TAP device says so.
#[test]
fn tap_on_a_non_tap_interface_is_refused() {
    if !netns::available("tap_on_a_non_tap_interface_is_refused") {
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("nt{pid}"), format!("nt{pid}p"));
    let mut guard = Hosts::default();
    ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
    guard.own_link(&a);
    let r = region();
    let cfg = PortConfig {
        name: "t1".into(),
        kind: PortKind::Tap(TapConfig {
            interface: a.clone(),
            ..Default::default()
        }),
    };
    let e = open(0, &cfg, &r).err().expect("must fail").to_string();
    assert!(e.contains("is not a TAP device"), "{e}");
}

/// Frames longer than the data room count as `rx_malformed` and are not delivered; two
/// ports in one fanout group share an interface's traffic without losing or duplicating any.
#[test]
fn af_packet_oversized_frames_and_fanout() {
    if !netns::available("af_packet_oversized_frames_and_fanout") {
        return;
    }
    let pid = std::process::id();
    let (a, b) = (format!("fo{pid}"), format!("fo{pid}p"));
    let mut guard = Hosts::default();
    ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
    guard.own_link(&a);
    ip(&["link", "set", &a, "up"]);
    ip(&["link", "set", &b, "up"]);
    let r = Region::create(
        &RegionConfig {
            slots: 1024,
            data_room: 1024,
            headroom: 128,
            max_nfs: 4,
            ring_size: 64,
        },
        HugePolicy::Never,
    )
    .expect("region");
    let group = Some((pid & 0xffff) as u16);
    let fanout = |name: &str| PortConfig {
        name: name.into(),
        kind: PortKind::AfPacket(AfPacketConfig {
            interface: a.clone(),
            fanout_group: group,
            block_size: 1 << 16,
            block_count: 4,
            ..Default::default()
        }),
    };
    let mut p1 = open(0, &fanout("f1"), &r).unwrap_or_else(|e| panic!("open f1: {e}"));
    let mut p2 = open(1, &fanout("f2"), &r).unwrap_or_else(|e| panic!("open f2: {e}"));

    let raw = Raw::new(&b);
    let all = netns::frames(40, 0x77);
    let fits: Vec<&Vec<u8>> = all.iter().filter(|f| f.len() <= 1024).collect();
    let too_big = all.len() - fits.len();
    assert!(too_big > 0 && !fits.is_empty());
    for f in &all {
        raw.send(f);
    }
    // Collect from both members until every fitting frame arrived.
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let malformed = |p1: &Port, p2: &Port| {
        p1.stats.rx_malformed.load(Ordering::Relaxed)
            + p2.stats.rx_malformed.load(Ordering::Relaxed)
    };
    // The oversized frames are the last ones sent: keep polling until they are counted too.
    while (got.len() < fits.len() || malformed(&p1, &p2) < too_big as u64)
        && Instant::now() < deadline
    {
        for p in [&mut p1, &mut p2] {
            let mut b = Buffers::direct(&r);
            let mut out = [0u32; 32];
            let n = p.rx.as_mut().unwrap().rx_burst(&mut b, &mut out);
            for &idx in &out[..n] {
                let f = frame_of(&r, idx);
                if ours(&f) {
                    got.push(f);
                }
            }
            b.free(&out[..n]);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    // Each member keeps the order of what it got; across members compare as sets.
    let mut want: Vec<Vec<u8>> = fits.into_iter().cloned().collect();
    want.sort();
    got.sort();
    assert_eq!(got, want, "fanout lost or duplicated frames");
    assert_eq!(malformed(&p1, &p2), too_big as u64);
    assert_eq!(r.pool_available(), r.slots());
}

/// Without CAP_NET_RAW / CAP_NET_ADMIN the ports say what is missing. Capabilities are per
/// thread, so a thread drops its effective set and opens the ports (works as root and not).
#[test]
fn missing_privileges_are_a_clear_error() {
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const CAP_V3: u32 = 0x2008_0522;
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let errors = std::thread::spawn(move || {
        let mut hdr = CapHeader {
            version: CAP_V3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget/capset with a v3 header and two data elements, as the ABI wants;
        // pid 0 = this thread only.
        unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()),
                0
            );
            data[0].effective = 0;
            data[1].effective = 0;
            assert_eq!(libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()), 0);
        }
        let r = region();
        let ap = PortConfig {
            name: "p0".into(),
            kind: PortKind::AfPacket(AfPacketConfig {
                interface: "lo".into(),
                ..Default::default()
            }),
        };
        let tap = PortConfig {
            name: "t0".into(),
            kind: PortKind::Tap(TapConfig {
                interface: format!("np{}", std::process::id()),
                ..Default::default()
            }),
        };
        (
            open(0, &ap, &r).err().map(|e| e.to_string()),
            open(1, &tap, &r).err().map(|e| e.to_string()),
        )
    })
    .join()
    .expect("thread");
    let ap = errors.0.expect("af-packet must fail without CAP_NET_RAW");
    assert!(
        ap.starts_with("port p0: cannot create an AF_PACKET socket"),
        "{ap}"
    );
    assert!(
        ap.contains("needs CAP_NET_RAW/CAP_NET_ADMIN: run as root"),
        "{ap}"
    );
    if root {
        let t = errors.1.expect("tap must fail without CAP_NET_ADMIN");
        assert!(t.starts_with("port t0: "), "{t}");
        assert!(
            t.contains("needs CAP_NET_RAW/CAP_NET_ADMIN: run as root"),
            "{t}"
        );
    }
}

// ---- af-xdp ----------------------------------------------------------------------------

/// Ring size of the AF_XDP test ports.
const RING: u32 = 256;

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

/// The interface's promiscuity count (`ip -d link`): socket memberships do not show as the
/// PROMISC flag, only in this count.
fn promiscuity(dev: &str) -> u32 {
    let out = Command::new("ip")
        .args(["-d", "link", "show", dev])
        .output()
        .expect("run ip");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "promiscuity" {
            return words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        }
    }
    panic!("no promiscuity in `ip -d link show {dev}`: {text}");
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
    if !netns::available("af_xdp_forwards_between_namespaces") {
        return;
    }
    let pid = std::process::id();
    let mut guard = Hosts::default();
    let (ns_a, ns_b) = (format!("sx-a-{pid}"), format!("sx-b-{pid}"));
    let (va, vb) = (format!("xa{pid}"), format!("xb{pid}"));
    let peer_a = guard.add(&ns_a, &va);
    let peer_b = guard.add(&ns_b, &vb);

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

    let sent = netns::frames(50, 0x5a);
    let capture = Capture::start(&ns_b, &peer_b, sent.len());
    netns::send(&ns_a, &peer_a, &sent);

    let slots = receive_all(&r, &mut pa, &sent);
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
    let captured = capture.frames();
    assert_eq!(
        captured.len(),
        sent.len(),
        "namespace B captured {} of {} frames",
        captured.len(),
        sent.len()
    );
    for (i, (c, s)) in captured.iter().zip(&sent).enumerate() {
        assert_eq!(*c, netns::hex(s), "frame {i} changed on the way");
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
    if !netns::available("af_xdp_bad_settings_are_clear_errors") {
        return;
    }
    let r = region();
    let e = af_xdp("nx", 0, "sl-no-such0", XdpMode::Auto, &r)
        .err()
        .unwrap();
    assert!(e.contains("port nx") && e.contains("does not exist"), "{e}");

    let pid = std::process::id();
    let mut guard = Hosts::default();
    let ns = format!("sx-z-{pid}");
    let v = format!("xz{pid}");
    guard.add(&ns, &v);
    let e = af_xdp("zc", 0, &v, XdpMode::ZeroCopy, &r).err().unwrap();
    assert!(
        e.contains("port zc") && e.contains("does not support") && e.contains("copy"),
        "{e}"
    );
    assert!(!link_show(&v).contains("xdp"), "{}", link_show(&v));
    assert_eq!(r.pool_available(), r.slots());
}

/// One port over all four queues of a multi-queue veth: one socket per queue, every frame
/// arrives whichever queue the kernel picks, the interface is promiscuous while the port is
/// open, and the program and the promiscuous membership go with the port.
#[test]
fn af_xdp_several_queues_and_promiscuous() {
    if !netns::available("af_xdp_several_queues_and_promiscuous") {
        return;
    }
    let pid = std::process::id();
    let mut guard = Hosts::default();
    let ns = format!("sx-q-{pid}");
    let (v, peer) = (format!("xq{pid}"), format!("xq{pid}p"));
    ip(&["netns", "add", &ns]);
    guard.own_netns(&ns);
    ip(&[
        "link",
        "add",
        &v,
        "numtxqueues",
        "4",
        "numrxqueues",
        "4",
        "type",
        "veth",
        "peer",
        "name",
        &peer,
        "numtxqueues",
        "4",
        "numrxqueues",
        "4",
        "netns",
        &ns,
    ]);
    guard.own_link(&v);
    ip(&["link", "set", &v, "up"]);
    ip(&["-n", &ns, "link", "set", &peer, "up"]);

    let r = region();
    let cfg = |queues| PortConfig {
        name: "mq".into(),
        kind: PortKind::AfXdp(AfXdpConfig {
            interface: v.clone(),
            queues,
            ring_size: 64,
            ..Default::default()
        }),
    };
    let e = open(0, &cfg(65), &r).err().unwrap().to_string();
    assert!(e.contains("port mq") && e.contains("queues 65"), "{e}");
    let e = open(0, &cfg(5), &r).err().unwrap().to_string();
    assert!(e.contains("queue 4"), "binding a queue the veth lacks: {e}");
    assert_eq!(promiscuity(&v), 0);

    let mut port = open(0, &cfg(4), &r).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(promiscuity(&v), 1, "the port turns promiscuous mode on");
    // The first receive call stocks every queue's fill ring.
    let mut out = [0u32; 32];
    assert_eq!(
        port.rx
            .as_mut()
            .unwrap()
            .rx_burst(&mut Buffers::direct(&r), &mut out),
        0
    );
    assert_eq!(r.pool_available(), r.slots() - 4 * 64);
    assert_eq!(port.stats.rx_held.load(Ordering::Relaxed), 4 * 64);
    let sent = netns::frames(64, 0x3c);
    netns::send(&ns, &peer, &sent);
    let slots = receive(&r, &mut port, sent.len());
    let mut got: Vec<String> = slots
        .iter()
        .map(|&i| netns::hex(&frame_of(&r, i)))
        .collect();
    let mut want: Vec<String> = sent.iter().map(|f| netns::hex(f)).collect();
    // Queues are drained in turn, so frames of different queues may interleave.
    got.sort();
    want.sort();
    assert!(
        got == want,
        "{} of {} frames arrived unchanged",
        got.len(),
        want.len()
    );
    Buffers::direct(&r).free(&slots);
    drop(port);
    assert_eq!(promiscuity(&v), 0, "and off again when it closes");
    assert!(!link_show(&v).contains("xdp"), "{}", link_show(&v));
    // The fill rings' slots stay with the closed sockets' UMEM (reported as rx_held while
    // the port was open); everything received came back.
    assert_eq!(r.pool_available(), r.slots() - 4 * 64);
}
