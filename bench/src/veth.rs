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
    /// sluiced, `dpdk` ports on DPDK's net_af_xdp vdev (empty without DPDK in sluiced).
    pub dpdk_af_xdp: Vec<f64>,
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
        dpdk_af_xdp: Vec::new(),
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
        if let Some(r) = dpdk_af_xdp(&va, &vb, secs, &(&ns_a, &inner_a, &ns_b, &inner_b)) {
            v.dpdk_af_xdp.push(r);
        }
    }
    Some(v)
}

/// The same forwarding with sluiced's `dpdk` ports on DPDK's `net_af_xdp` vdev (copy mode on
/// veth); None (said once) when sluiced is built without DPDK ports.
fn dpdk_af_xdp(
    va: &str,
    vb: &str,
    secs: f64,
    ns: &(&String, &String, &String, &String),
) -> Option<f64> {
    let prefix = format!("sluice-bench-veth-{}", std::process::id());
    let dir = TestDir::new("bench-veth-dpdk");
    let d = Daemon::start_with(
        &dir,
        &format!(
            "[manager]\nsocket = \"{{socket}}\"\nrun_mode = \"poll\"\nthreads = 1\nconsole = false\n\n\
             [dpdk]\neal_args = [\"--no-huge\", \"-m\", \"512\", \"--no-shconf\", \"--no-pci\", \
             \"--no-telemetry\", \"--file-prefix\", \"{prefix}\", \"-l\", \"0\"]\n\n\
             [[ports]]\nname = \"a\"\nkind = \"dpdk\"\ndevice = \"net_af_xdp0,iface={va}\"\n\n\
             [[ports]]\nname = \"b\"\nkind = \"dpdk\"\ndevice = \"net_af_xdp1,iface={vb}\"\n\n\
             [[chains]]\nname = \"a-to-b\"\nsteps = [\"port:b\"]\n"
        ),
        "warn",
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = d.log();
    let r = if log.contains("ERROR") {
        println!(
            "sluiced, dpdk net_af_xdp: skipped ({})",
            log.lines()
                .find(|l| l.contains("ERROR"))
                .unwrap_or("")
                .trim()
        );
        None
    } else {
        Some(measure(ns.0, ns.1, ns.2, ns.3, secs))
    };
    // A clean stop closes the ports, which detaches DPDK's XDP programs.
    let _ = d.shutdown();
    for v in [va, vb] {
        let _ = std::process::Command::new("ip")
            .args(["link", "set", "dev", v, "xdp", "off"])
            .status();
    }
    for base in ["/var/run/dpdk", "/tmp/dpdk"] {
        let _ = std::fs::remove_dir_all(std::path::Path::new(base).join(&prefix));
    }
    r
}
