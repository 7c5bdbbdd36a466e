use super::*;
use clap::Parser;
use sluice_nf::wire::{
    fill_checksums, verify_checksums, write_arp_ipv4, write_icmp_echo_ipv4, write_tcp_ipv4,
    write_udp_ipv4, write_udp_ipv6, FlowKey, ARP_REQUEST, TCP_SYN,
};

#[derive(Parser)]
struct W {
    #[command(flatten)]
    o: Opts,
}

const M: [u8; 6] = [2, 0, 0, 0, 0, 1];
const INSIDE: [u8; 4] = [192, 168, 1, 10];
const REMOTE: [u8; 4] = [8, 8, 8, 8];
const PUBLIC: [u8; 4] = [203, 0, 113, 1];
const S: u64 = 1_000_000_000;
const IN: u16 = 0;
const OUT: u16 = 1;

fn nat(extra: &[&str]) -> Nat {
    let mut args = vec!["nat", "--inside-port", "0", "--public-ip", "203.0.113.1"];
    args.extend_from_slice(extra);
    build(&W::try_parse_from(args).unwrap().o).unwrap()
}

fn udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> Vec<u8> {
    let mut b = vec![0u8; 80];
    write_udp_ipv4(&mut b, M, M, src, dst, sp, dp, 80).unwrap();
    b
}

fn tcp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> Vec<u8> {
    let mut b = vec![0u8; 60];
    write_tcp_ipv4(&mut b, M, M, src, dst, sp, dp, TCP_SYN, 60).unwrap();
    b
}

fn key(f: &[u8]) -> FlowKey {
    FlowKey::parse(f).unwrap()
}

/// The incremental update gives the same bytes as recomputing every checksum.
fn assert_checksums(f: &[u8]) {
    assert!(verify_checksums(f));
    let mut g = f.to_vec();
    fill_checksums(&mut g).unwrap();
    assert_eq!(f, &g[..]);
}

#[test]
fn udp_round_trip() {
    let mut n = nat(&[]);
    let mut f = udp(INSIDE, REMOTE, 5555, 53);
    let Outcome::Translated { hash: h_out } = n.translate(&mut f, IN, S) else {
        panic!()
    };
    let k = key(&f);
    assert_eq!(k.src_ip().to_string(), "203.0.113.1");
    assert_eq!(k.dst_ip().to_string(), "8.8.8.8");
    assert_eq!(k.src_port, 20000);
    assert_eq!(k.dst_port, 53);
    assert_checksums(&f);
    assert_eq!(h_out, flow_hash(&f));
    assert_eq!(n.lookup(17, INSIDE.into(), 5555), Some(20000));

    // Same inside endpoint, another remote: same public port (endpoint-independent mapping).
    let mut f2 = udp(INSIDE, [1, 1, 1, 1], 5555, 53);
    assert!(matches!(
        n.translate(&mut f2, IN, S),
        Outcome::Translated { .. }
    ));
    assert_eq!(key(&f2).src_port, 20000);
    assert_eq!(n.mappings(), [0, 1, 0]);

    // The reply comes back to the inside endpoint, with the same flow hash.
    let mut r = udp(REMOTE, PUBLIC, 53, 20000);
    let Outcome::Translated { hash: h_in } = n.translate(&mut r, OUT, 2 * S) else {
        panic!()
    };
    let k = key(&r);
    assert_eq!(
        (k.dst_ip().to_string().as_str(), k.dst_port),
        ("192.168.1.10", 5555)
    );
    assert_eq!(
        (k.src_ip().to_string().as_str(), k.src_port),
        ("8.8.8.8", 53)
    );
    assert_checksums(&r);
    assert_eq!(h_in, h_out, "both directions carry the public-side hash");

    let c = n.counters();
    assert_eq!((c.outbound, c.inbound, c.created), (2, 1, 1));
}

#[test]
fn tcp_and_zero_udp_checksum() {
    let mut n = nat(&["--port-range", "40000-40010"]);
    let mut f = tcp(INSIDE, REMOTE, 33000, 443);
    assert!(matches!(
        n.translate(&mut f, IN, S),
        Outcome::Translated { .. }
    ));
    assert_eq!(key(&f).src_port, 40000);
    assert_checksums(&f);
    let mut r = tcp(REMOTE, PUBLIC, 443, 40000);
    assert!(matches!(
        n.translate(&mut r, OUT, S),
        Outcome::Translated { .. }
    ));
    assert_eq!(key(&r).dst_port, 33000);
    assert_checksums(&r);

    // UDP without checksum keeps none.
    let mut u = udp(INSIDE, REMOTE, 7, 9);
    u[14 + 20 + 6] = 0;
    u[14 + 20 + 7] = 0;
    assert!(matches!(
        n.translate(&mut u, IN, S),
        Outcome::Translated { .. }
    ));
    assert_eq!(&u[40..42], &[0, 0]);
    assert!(verify_checksums(&u));
    assert_eq!(
        key(&u).src_port,
        40000,
        "TCP and UDP have separate port spaces"
    );
}

#[test]
fn many_flows_checksums() {
    let mut n = nat(&[]);
    for i in 0..500u16 {
        let src = [10, 1, (i >> 8) as u8, i as u8];
        let mut f = udp(src, REMOTE, 1000 + i * 7, 80 + i);
        assert!(matches!(
            n.translate(&mut f, IN, S),
            Outcome::Translated { .. }
        ));
        assert_checksums(&f);
        let mut t = tcp(src, REMOTE, 1000 + i * 13, 443);
        assert!(matches!(
            n.translate(&mut t, IN, S),
            Outcome::Translated { .. }
        ));
        assert_checksums(&t);
        let k = key(&t);
        let mut back = tcp(REMOTE, PUBLIC, 443, k.src_port);
        assert!(matches!(
            n.translate(&mut back, OUT, S),
            Outcome::Translated { .. }
        ));
        assert_checksums(&back);
        assert_eq!(key(&back).dst_port, 1000 + i * 13);
    }
    assert_eq!(n.mappings(), [500, 500, 0]);
}

#[test]
fn icmp_echo() {
    let mut n = nat(&[]);
    let mut b = vec![0u8; 64];
    write_icmp_echo_ipv4(&mut b, M, M, INSIDE, REMOTE, 0x1234, 1, 64).unwrap();
    let Outcome::Translated { hash } = n.translate(&mut b, IN, S) else {
        panic!()
    };
    assert_checksums(&b);
    let h = parse(&b).unwrap();
    let id = h.icmp(&b).unwrap().identifier();
    assert_eq!(id, 20000);
    assert_eq!(h.ipv4(&b).unwrap().src(), PUBLIC);
    // the reply: swap addresses, make it an echo reply
    let mut r = vec![0u8; 64];
    write_icmp_echo_ipv4(&mut r, M, M, REMOTE, PUBLIC, id, 1, 64).unwrap();
    {
        let h = parse(&r).unwrap();
        h.icmp_mut(&mut r).unwrap().make_echo_reply();
    }
    assert_eq!(n.translate(&mut r, OUT, S), Outcome::Translated { hash });
    assert_checksums(&r);
    let h = parse(&r).unwrap();
    assert_eq!(h.icmp(&r).unwrap().identifier(), 0x1234);
    assert_eq!(h.ipv4(&r).unwrap().dst(), INSIDE);
    // an inbound echo request to the public address is not translated
    let mut q = vec![0u8; 64];
    write_icmp_echo_ipv4(&mut q, M, M, REMOTE, PUBLIC, 20000, 1, 64).unwrap();
    assert_eq!(n.translate(&mut q, OUT, S), Outcome::Drop);
    assert_eq!(n.counters().untranslatable, 1);
}

#[test]
fn drops_and_passes() {
    let mut n = nat(&[]);
    // inbound without mapping, outside the range, not to the public address
    assert_eq!(
        n.translate(&mut udp(REMOTE, PUBLIC, 53, 20000), OUT, S),
        Outcome::Drop
    );
    assert_eq!(
        n.translate(&mut udp(REMOTE, PUBLIC, 53, 80), OUT, S),
        Outcome::Drop
    );
    assert_eq!(
        n.translate(&mut udp(REMOTE, INSIDE, 53, 20000), OUT, S),
        Outcome::Drop
    );
    let c = n.counters();
    assert_eq!((c.inbound_unknown, c.inbound_not_public), (2, 1));
    // non-IPv4 passes unchanged, both ways
    let mut arp = vec![0u8; 42];
    write_arp_ipv4(&mut arp, ARP_REQUEST, M, INSIDE, [0; 6], [192, 168, 1, 1]).unwrap();
    let orig = arp.clone();
    assert_eq!(n.translate(&mut arp, IN, S), Outcome::Passed);
    assert_eq!(n.translate(&mut arp, OUT, S), Outcome::Passed);
    assert_eq!(arp, orig);
    let mut v6 = vec![0u8; 80];
    write_udp_ipv6(&mut v6, M, M, [1; 16], [2; 16], 1, 2, 80).unwrap();
    assert_eq!(n.translate(&mut v6, IN, S), Outcome::Passed);
    assert_eq!(n.counters().passed, 3);
    // fragments and other protocols are dropped
    let mut frag = udp(INSIDE, REMOTE, 1, 2);
    frag[14 + 6] = 0x20; // more fragments
    fill_checksums(&mut frag).unwrap();
    assert_eq!(n.translate(&mut frag, IN, S), Outcome::Drop);
    let mut gre = udp(INSIDE, REMOTE, 1, 2);
    gre[14 + 9] = 47;
    fill_checksums(&mut gre).unwrap();
    assert_eq!(n.translate(&mut gre, IN, S), Outcome::Drop);
    assert_eq!(
        n.translate(&mut udp(INSIDE, REMOTE, 1, 2)[..30], IN, S),
        Outcome::Drop
    );
    assert_eq!(n.translate(&mut [0u8; 20], IN, S), Outcome::Passed); // EtherType 0: not IPv4
    assert_eq!(n.counters().untranslatable, 3);
    assert_eq!(n.counters().passed, 4);
}

#[test]
fn table_full_and_expiry() {
    let mut n = nat(&["--port-range", "100-101", "--idle-timeout", "10"]);
    assert!(matches!(
        n.translate(&mut udp(INSIDE, REMOTE, 1, 9), IN, S),
        Outcome::Translated { .. }
    ));
    assert!(matches!(
        n.translate(&mut udp(INSIDE, REMOTE, 2, 9), IN, 5 * S),
        Outcome::Translated { .. }
    ));
    assert_eq!(
        n.translate(&mut udp(INSIDE, REMOTE, 3, 9), IN, 5 * S),
        Outcome::Drop
    );
    assert_eq!(n.counters().nat_table_full, 1);
    // traffic keeps a mapping alive (inbound too)
    assert!(matches!(
        n.translate(&mut udp(REMOTE, PUBLIC, 9, 100), OUT, 8 * S),
        Outcome::Translated { .. }
    ));
    assert_eq!(n.expire(12 * S), 0);
    // the second mapping (last used at 5 s) expires at 15 s; the first (8 s) at 18 s
    assert_eq!(n.expire(15 * S), 1);
    assert_eq!(n.lookup(17, INSIDE.into(), 2), None);
    assert_eq!(n.lookup(17, INSIDE.into(), 1), Some(100));
    assert_eq!(
        n.translate(&mut udp(REMOTE, PUBLIC, 9, 101), OUT, 15 * S),
        Outcome::Drop
    );
    let mut f = udp(INSIDE, REMOTE, 3, 9);
    assert!(matches!(
        n.translate(&mut f, IN, 15 * S),
        Outcome::Translated { .. }
    ));
    assert_eq!(key(&f).src_port, 101);
    assert_eq!(n.expire(100 * S), 2);
    assert_eq!(n.mappings(), [0, 0, 0]);
    assert_eq!(n.counters().expired, 3);
}

#[test]
fn options() {
    let o = W::try_parse_from(["nat", "--inside-port", "2", "--public-ip", "1.2.3.4"])
        .unwrap()
        .o;
    assert_eq!(
        o.port_range,
        PortRange {
            lo: 20000,
            hi: 29999
        }
    );
    assert_eq!((o.idle_timeout, o.dest), (120, None));
    assert_eq!(o.port_range.len(), 10000);
    assert!(W::try_parse_from(["nat", "--public-ip", "1.2.3.4"]).is_err());
    assert!(W::try_parse_from(["nat", "--inside-port", "0"]).is_err());
    for bad in ["0-10", "10-5", "x", "1-70000", "5"] {
        assert!(bad.parse::<PortRange>().is_err(), "{bad}");
    }
    assert_eq!("1-65535".parse::<PortRange>().unwrap().len(), 65535);
    let n = build(
        &W::try_parse_from([
            "nat",
            "--inside-port",
            "0",
            "--public-ip",
            "1.2.3.4",
            "-d",
            "5",
        ])
        .unwrap()
        .o,
    )
    .unwrap();
    assert_eq!(n.action, Action::ToService(5));
}
