//! A pcap replayed through a 3-step chain of three different NF processes and recorded:
//! the recording matches the input packet for packet, and every packet is accounted for.

use std::time::Duration;

use sluice_pcap::{Format, PcapReader, PcapWriter};
use sluice_tests::*;
use sluice_wire::build;

/// A varied set of frames: UDP/TCP/ICMP over IPv4, UDP over IPv6, ARP, sizes 42..1514.
fn frames() -> Vec<Vec<u8>> {
    let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut out = Vec::new();
    for i in 0..300u32 {
        let mut f = vec![0u8; 1514];
        let size = 60 + (i as usize * 37) % 1455;
        let n = match i % 5 {
            0 => build::write_udp_ipv4(
                &mut f,
                a,
                b,
                [10, 0, 0, 1],
                [10, 0, 1, (i % 7) as u8],
                1000 + i as u16,
                53,
                size,
            ),
            1 => build::write_tcp_ipv4(
                &mut f,
                a,
                b,
                [10, 0, 0, 2],
                [10, 0, 1, 1],
                2000,
                80 + i as u16,
                0x18,
                size.max(54),
            ),
            2 => build::write_udp_ipv6(
                &mut f,
                a,
                b,
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                5000,
                6000 + i as u16,
                size.max(62),
            ),
            3 => build::write_icmp_echo_ipv4(
                &mut f,
                a,
                b,
                [10, 0, 0, 3],
                [10, 0, 1, 3],
                7,
                i as u16,
                98,
            ),
            _ => build::write_arp_ipv4(
                &mut f,
                1,
                a,
                [10, 0, 0, 1],
                [0; 6],
                [10, 0, 0, (i % 250) as u8 + 2],
            ),
        }
        .expect("build frame");
        f.truncate(n);
        out.push(f);
    }
    out
}

#[test]
fn pcap_through_three_nf_processes_comes_out_unchanged() {
    let dir = TestDir::new("pipeline");
    let input = frames();
    let mut w = PcapWriter::create(dir.path("in.pcap"), Format::Pcap).unwrap();
    for (i, f) in input.iter().enumerate() {
        w.write_packet(1_000_000_000 + i as u64 * 1000, f).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    std::fs::write(dir.path("rules.toml"), "default = \"allow\"\n").unwrap();
    let d = Daemon::start(
        &dir,
        &format!(
            r#"{MANAGER}
wait_for_chains = true

[[services]]
id = 1
name = "fwd"

[[services]]
id = 2
name = "mon"

[[services]]
id = 3
name = "fw"

[[ports]]
name = "in"
kind = "pcap"
read = "{{dir}}/in.pcap"

[[ports]]
name = "out"
kind = "pcap"
write = "{{dir}}/out.pcapng"

[[chains]]
name = "main"
steps = ["fwd", "mon", "fw", "port:out"]
"#
        ),
    );
    let rules = dir.path("rules.toml").display().to_string();
    let _nfs = [
        NfProc::spawn(&dir, &d, "sluice-forward", "fwd", "fwd", &[]),
        NfProc::spawn(
            &dir,
            &d,
            "sluice-monitor",
            "mon",
            "mon",
            &["--print-every", "0"],
        ),
        NfProc::spawn(
            &dir,
            &d,
            "sluice-firewall",
            "fw",
            "fw",
            &["--rules", &rules],
        ),
    ];
    let n = input.len() as u64;
    let s = d.wait_until("all packets out", Duration::from_secs(60), |s| {
        port(s, "out").tx == n && s.accounting.in_flight == 0
    });
    assert_eq!(port(&s, "in").rx, n);
    assert_conserved(&s);
    assert_eq!(s.accounting.dropped, 0, "{}", sluice_ctl::table::render(&s));
    for name in ["fwd", "mon", "fw"] {
        let nf = s.nfs.iter().find(|x| x.name == name).expect("nf listed");
        assert_eq!(nf.rx, n, "{name} saw every packet");
    }
    assert!(d.shutdown().success());
    let mut r = PcapReader::open(dir.path("out.pcapng")).unwrap();
    let mut buf = Vec::new();
    let mut got = Vec::new();
    while r.next_packet(&mut buf).unwrap().is_some() {
        got.push(buf.clone());
    }
    assert_eq!(got.len(), input.len(), "recorded packet count");
    for (i, (a, b)) in input.iter().zip(&got).enumerate() {
        assert_eq!(a, b, "packet {i} differs");
    }
}
