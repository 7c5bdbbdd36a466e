//! Interop with the Linux kernel's vxlan device, both directions.
//!
//! A network namespace of our own holds one end of a veth pair and a kernel `vxlan` device
//! (VNI 4242, dstport 4789, remote = our tunnel address). From the root side, on the other
//! veth end, an AF_PACKET socket sends frames this crate encapsulated (an ARP request, then
//! an ICMP echo request, to the vxlan device's address) and receives and decapsulates the
//! kernel's answers (ARP reply, echo reply). Over an IPv4 underlay, underlay ARP in both
//! directions is handled by this crate too; over an IPv6 underlay (where the kernel insists
//! on a valid UDP checksum) the neighbours are static. Needs root; prints a SKIP line
//! otherwise.

mod common;

use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use sluice_tests::netns::{self, Hosts};
use sluice_tunnel::{
    arp_request, handle_arp, ArpCache, Endpoint, Peer, PeerId, Tunnel, TunnelKind,
};
use sluice_wire::{ArpPacket, IcmpPacket, ETHERTYPE_ARP, ETHERTYPE_IPV4};

const VNI: u32 = 4242;
const HEADROOM: usize = 128;
const ROOT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x77, 0x01, 0x01];
const NS_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x77, 0x01, 0x02];
const VX_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x77, 0x00, 0x02];
const INNER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x77, 0x00, 0x01];
const UNDERLAY_ROOT: Ipv4Addr = Ipv4Addr::new(10, 211, 0, 1);
const UNDERLAY_NS: Ipv4Addr = Ipv4Addr::new(10, 211, 0, 2);
const INNER_OURS: Ipv4Addr = Ipv4Addr::new(192, 168, 211, 1);
const INNER_KERNEL: Ipv4Addr = Ipv4Addr::new(192, 168, 211, 2);
const UNDERLAY6_ROOT: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x211, 0, 0, 0, 0, 0, 1);
const UNDERLAY6_NS: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x211, 0, 0, 0, 0, 0, 2);

/// A raw AF_PACKET socket bound to one interface, closed on drop.
struct RawSocket {
    fd: libc::c_int,
}

impl RawSocket {
    fn open(ifname: &str) -> RawSocket {
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call with constant arguments; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(proto)) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let sock = RawSocket { fd };
        let name = CString::new(ifname).unwrap();
        // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert!(ifindex != 0, "no interface {ifname}");
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: `tv` is a valid timeval and the length passed is its size.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_RCVTIMEO: {}", std::io::Error::last_os_error());
        sock
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: the pointer and length describe `frame`, which outlives the call.
        let n = unsafe { libc::send(self.fd, frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// One received (not outgoing) frame, or None after the receive timeout.
    fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` is writable for its length; `sll`/`len` are a valid address buffer
        // and its size, all outliving the call.
        let n = unsafe {
            libc::recvfrom(
                self.fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 || sll.sll_pkttype == libc::PACKET_OUTGOING {
            return None;
        }
        Some(n as usize)
    }
}

impl Drop for RawSocket {
    fn drop(&mut self) {
        // SAFETY: `fd` is a socket this struct opened and nobody else closes.
        unsafe { libc::close(self.fd) };
    }
}

fn now_ns(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64
}

/// A namespace with a veth pair to here and a kernel vxlan device `vx0` (192.168.211.2/24)
/// whose underlay is `local_ip` -> `remote_ip` on the veth. Returns the guard and the root
/// side's interface name.
fn setup(tag: &str, local_ip: &str, remote_ip: &str, ns_addr: &str, v6: bool) -> (Hosts, String) {
    let pid = std::process::id();
    let ns = format!("sluice-tun{tag}-{pid}");
    let root_if = format!("sltv{tag}{}", pid % 1_000_000);
    let mut hosts = Hosts::default();
    let ns_if = hosts.add(&ns, &root_if);
    let n = |args: &[&str]| {
        let mut a = vec!["-n", ns.as_str()];
        a.extend_from_slice(args);
        netns::ip(&a);
    };
    netns::ip(&["link", "set", &root_if, "address", "02:00:00:77:01:01"]);
    n(&["link", "set", &ns_if, "address", "02:00:00:77:01:02"]);
    if v6 {
        n(&["addr", "add", ns_addr, "dev", &ns_if, "nodad"]);
        n(&[
            "neigh",
            "replace",
            remote_ip,
            "lladdr",
            "02:00:00:77:01:01",
            "dev",
            &ns_if,
            "nud",
            "permanent",
        ]);
    } else {
        n(&["addr", "add", ns_addr, "dev", &ns_if]);
    }
    let vni = VNI.to_string();
    n(&[
        "link",
        "add",
        "vx0",
        "address",
        "02:00:00:77:00:02",
        "type",
        "vxlan",
        "id",
        &vni,
        "dstport",
        "4789",
        "remote",
        remote_ip,
        "local",
        local_ip,
        "dev",
        &ns_if,
    ]);
    n(&["addr", "add", "192.168.211.2/24", "dev", "vx0"]);
    n(&["link", "set", "vx0", "up"]);
    (hosts, root_if)
}

/// Sends the inner frame written by `write` into the tunnel (again every second), and
/// returns the first inner frame from the kernel that `want` accepts, answering underlay
/// ARP meanwhile.
fn exchange(
    sock: &RawSocket,
    tunnel: &Tunnel,
    peer: PeerId,
    cache: &mut ArpCache,
    start: Instant,
    write: &dyn Fn(&mut [u8]) -> usize,
    want: &dyn Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut buf = vec![0u8; HEADROOM + 256];
    let len = write(&mut buf[HEADROOM..]);
    let inner = HEADROOM..HEADROOM + len;
    let hash = sluice_wire::flow_hash(&buf[inner.clone()]);
    let r = tunnel.tx_vxlan(peer, &mut buf, inner, hash).unwrap();
    let frame = buf[r].to_vec();
    let mut rx = vec![0u8; 2048];
    let mut out = [0u8; 64];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sent_at = None::<Instant>;
    loop {
        assert!(
            Instant::now() < deadline,
            "no answer from the kernel vxlan device; counters {:?}, stray {:?}",
            tunnel.counters(peer).unwrap().snapshot(),
            tunnel.stray_counters().snapshot()
        );
        // Resend now and then: the kernel may drop the first while resolving neighbours.
        if sent_at.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
            sock.send(&frame);
            sent_at = Some(Instant::now());
        }
        let Some(k) = sock.recv(&mut rx) else {
            continue;
        };
        let f = &rx[..k];
        if f.len() >= 14 && f[12..14] == ETHERTYPE_ARP.to_be_bytes() {
            let o = handle_arp(f, tunnel.local(), cache, now_ns(start), &mut out).unwrap();
            if let Some(len) = o.reply_len {
                sock.send(&out[..len]);
            }
            continue;
        }
        let r = tunnel.rx(f, |_, _| false);
        if std::env::var_os("SLUICE_TUNNEL_DEBUG").is_some() {
            eprintln!(
                "rx {} bytes: {:?} {:02x?}",
                f.len(),
                r.as_ref().err(),
                &f[..f.len().min(80)]
            );
        }
        if let Ok((id, d)) = r {
            assert_eq!(id, peer);
            assert_eq!(d.kind, TunnelKind::Vxlan);
            assert_eq!(d.vni, VNI);
            assert!(d.src_port >= 1024, "kernel source port {}", d.src_port);
            if want(&f[d.inner.clone()]) {
                return f[d.inner].to_vec();
            }
        }
    }
}

/// Inner ARP request and ICMP echo request to the vxlan device through the tunnel; the
/// kernel's ARP reply and echo reply come back through it.
fn arp_and_ping(
    sock: &RawSocket,
    tunnel: &Tunnel,
    peer: PeerId,
    cache: &mut ArpCache,
    start: Instant,
) {
    let reply = exchange(
        sock,
        tunnel,
        peer,
        cache,
        start,
        &|b| {
            sluice_wire::write_arp_ipv4(
                b,
                sluice_wire::ARP_REQUEST,
                INNER_MAC,
                INNER_OURS.octets(),
                [0; 6],
                INNER_KERNEL.octets(),
            )
            .unwrap()
        },
        &|f| {
            f[12..14] == ETHERTYPE_ARP.to_be_bytes()
                && ArpPacket::new_checked(&f[14..]).is_ok_and(|a| {
                    a.oper() == sluice_wire::ARP_REPLY && a.spa_addr() == INNER_KERNEL
                })
        },
    );
    assert_eq!(&reply[..6], &INNER_MAC);
    let arp = ArpPacket::new_checked(&reply[14..]).unwrap();
    assert_eq!(arp.sha(), VX_MAC, "the vxlan device answers with its MAC");

    let echo = exchange(
        sock,
        tunnel,
        peer,
        cache,
        start,
        &|b| {
            sluice_wire::write_icmp_echo_ipv4(
                b,
                INNER_MAC,
                VX_MAC,
                INNER_OURS.octets(),
                INNER_KERNEL.octets(),
                0x5151,
                7,
                98,
            )
            .unwrap()
        },
        &|f| {
            f[12..14] == ETHERTYPE_IPV4.to_be_bytes()
                && f.len() >= 42
                && f[23] == sluice_wire::IPPROTO_ICMP
                && IcmpPacket::new_checked(&f[34..])
                    .is_ok_and(|i| i.is_echo_reply() && i.identifier() == 0x5151)
        },
    );
    assert_eq!(&echo[..6], &INNER_MAC);
    assert_eq!(&echo[26..30], &INNER_KERNEL.octets());
    assert_eq!(&echo[30..34], &INNER_OURS.octets());
    assert!(sluice_wire::verify_checksums(&echo));

    let s = tunnel.counters(peer).unwrap().snapshot();
    assert!(s.tx_packets >= 2 && s.rx_packets >= 2, "{s:?}");
}

#[test]
fn kernel_vxlan_exchanges_frames_both_ways() {
    if !netns::available("kernel vxlan interop") {
        return;
    }
    let (hosts, root_if) = setup("4", "10.211.0.2", "10.211.0.1", "10.211.0.2/24", false);
    let sock = RawSocket::open(&root_if);
    let start = Instant::now();
    let local = Endpoint::new(1, ROOT_MAC, UNDERLAY_ROOT);
    let mut cache = ArpCache::default();
    let mut rx = vec![0u8; 2048];
    let mut out = [0u8; 64];

    // Resolve the underlay next hop (the namespace's veth) with ARP.
    let mut peer_mac = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last_req = None::<Instant>;
    while peer_mac.is_none() {
        assert!(Instant::now() < deadline, "no ARP reply from the namespace");
        if last_req.is_none_or(|t| t.elapsed() > Duration::from_millis(500)) {
            let k = arp_request(&mut out, &local, UNDERLAY_NS).unwrap();
            sock.send(&out[..k]);
            last_req = Some(Instant::now());
        }
        if let Some(k) = sock.recv(&mut rx) {
            let o = handle_arp(&rx[..k], &local, &mut cache, now_ns(start), &mut out).unwrap();
            if let Some(len) = o.reply_len {
                sock.send(&out[..len]);
            }
            peer_mac = cache.lookup(UNDERLAY_NS, now_ns(start));
        }
    }
    assert_eq!(peer_mac, Some(NS_MAC));

    let mut tunnel = Tunnel::new(local, VNI);
    let peer = tunnel.add_peer(Peer::new(2, UNDERLAY_NS));
    tunnel.set_peer_mac(peer, NS_MAC);
    arp_and_ping(&sock, &tunnel, peer, &mut cache, start);
    drop(sock);
    drop(hosts);
}

#[test]
fn kernel_vxlan_over_ipv6_underlay() {
    if !netns::available("kernel vxlan interop over IPv6") {
        return;
    }
    let (hosts, root_if) = setup("6", "fd00:211::2", "fd00:211::1", "fd00:211::2/64", true);
    let sock = RawSocket::open(&root_if);
    let start = Instant::now();
    let local = Endpoint {
        ipv6: Some(UNDERLAY6_ROOT),
        ..Endpoint::new(1, ROOT_MAC, UNDERLAY_ROOT)
    };
    let mut tunnel = Tunnel::new(local, VNI);
    let peer = tunnel.add_peer(Peer::new(2, UNDERLAY6_NS).with_mac(NS_MAC));
    let mut cache = ArpCache::default();
    arp_and_ping(&sock, &tunnel, peer, &mut cache, start);
    drop(sock);
    drop(hosts);
}
