//! Forwarding between two network namespaces over veth: Sluice's kernel ports next to the
//! Linux bridge, same namespaces, same traffic, same run. A blaster (this program re-run
//! inside namespace A with `--blast IFACE`) sends 64-byte frames with `sendmmsg`; the rate is
//! what namespace B's interface counts.

use std::time::{Duration, Instant};

use sluice_tests::netns::{self, ip, Hosts};
use sluice_tests::{Daemon, TestDir};

const BATCH: usize = 64;

/// Send 64-byte broadcast test frames on `ifname` for `seconds` (runs inside namespace A).
pub fn blast(ifname: &str, seconds: f64) {
    let name = std::ffi::CString::new(ifname).expect("interface name");
    // SAFETY: plain syscalls on a socket we own; sockaddr_ll is plain data and all-zero is a
    // valid value; the mmsghdr/iovec arrays point into `frame` and outlive every sendmmsg call.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = libc::if_nametoindex(name.as_ptr()) as i32;
        let r = libc::bind(
            fd,
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(r, 0, "bind {ifname}: {}", std::io::Error::last_os_error());
        let mut frame = netns::frames(2, 0x77).remove(0);
        frame.truncate(64);
        let mut iov = libc::iovec {
            iov_base: frame.as_mut_ptr() as *mut _,
            iov_len: frame.len(),
        };
        let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
            .map(|_| {
                let mut m: libc::mmsghdr = std::mem::zeroed();
                m.msg_hdr.msg_iov = &mut iov;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        while Instant::now() < end {
            libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, 0);
        }
        libc::close(fd);
    }
}

fn rx_packets(ns: &str, ifname: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "cat",
            &format!("/sys/class/net/{ifname}/statistics/rx_packets"),
        ])
        .output()
        .expect("read counters");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Packets per second arriving in namespace B while namespace A blasts for `secs`.
fn measure(ns_a: &str, inner_a: &str, ns_b: &str, inner_b: &str, secs: f64) -> f64 {
    let me = std::env::current_exe().expect("own path");
    let before = rx_packets(ns_b, inner_b);
    let t0 = Instant::now();
    let st = std::process::Command::new("ip")
        .args(["netns", "exec", ns_a])
        .arg(me)
        .args(["--blast", inner_a, "--seconds", &secs.to_string()])
        .status()
        .expect("run blaster");
    assert!(st.success(), "blaster failed");
    // Let what is queued drain before reading the counter.
    std::thread::sleep(Duration::from_millis(200));
    (rx_packets(ns_b, inner_b) - before) as f64 / t0.elapsed().as_secs_f64()
}

/// Rates (pps) per run of the Linux bridge and of sluiced with `af-packet` and `af-xdp` ports,
/// alternated `runs` times.
pub struct Veth {
    /// Linux bridge.
    pub bridge: Vec<f64>,
    /// sluiced, AF_PACKET ports.
    pub af_packet: Vec<f64>,
    /// sluiced, AF_XDP ports.
    pub af_xdp: Vec<f64>,
}

/// Run the comparison (None when it cannot run here).
pub fn compare(secs: f64, runs: usize) -> Option<Veth> {
    if !netns::available("veth benchmark") {
        return None;
    }
    let pid = std::process::id();
    let mut hosts = Hosts::default();
    let (ns_a, ns_b) = (format!("sbna{pid}"), format!("sbnb{pid}"));
    let (va, vb, br) = (
        format!("sbva{pid}"),
        format!("sbvb{pid}"),
        format!("sbbr{pid}"),
    );
    let inner_a = hosts.add(&ns_a, &va);
    let inner_b = hosts.add(&ns_b, &vb);
    let mut v = Veth {
        bridge: Vec::new(),
        af_packet: Vec::new(),
        af_xdp: Vec::new(),
    };
    for _ in 0..runs {
        ip(&["link", "add", &br, "type", "bridge"]);
        ip(&["link", "set", &va, "master", &br]);
        ip(&["link", "set", &vb, "master", &br]);
        ip(&["link", "set", &br, "up"]);
        v.bridge
            .push(measure(&ns_a, &inner_a, &ns_b, &inner_b, secs));
        ip(&["link", "del", &br]);

        for (kind, out) in [("af-packet", &mut v.af_packet), ("af-xdp", &mut v.af_xdp)] {
            let dir = TestDir::new("bench-veth");
            let d = Daemon::start_with(
                &dir,
                &format!(
                    "[manager]\nsocket = \"{{socket}}\"\nrun_mode = \"poll\"\nthreads = 1\nconsole = false\n\n\
                     [[ports]]\nname = \"a\"\nkind = \"{kind}\"\ninterface = \"{va}\"\n\n\
                     [[ports]]\nname = \"b\"\nkind = \"{kind}\"\ninterface = \"{vb}\"\n\n\
                     [[chains]]\nname = \"a-to-b\"\nsteps = [\"port:b\"]\n"
                ),
                "warn",
            );
            out.push(measure(&ns_a, &inner_a, &ns_b, &inner_b, secs));
            drop(d);
        }
    }
    Some(v)
}
