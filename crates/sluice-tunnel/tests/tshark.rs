//! Interop with Wireshark: a capture of what we send decodes in tshark as VXLAN-GPE + NSH
//! and as VXLAN, with the expected fields and a good outer IPv4 checksum.
//!
//! Prints a SKIP line and passes if `tshark` is not installed.

mod common;

use std::process::Command;

use common::*;
use sluice_pcap::{Format, PcapWriter};
use sluice_tunnel::{encap_gpe_nsh, encap_vxlan, source_port, Nsh};

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

const FIELDS: &[&str] = &[
    "ip.len",
    "ip.checksum.status",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "vxlan.flag_i",
    "vxlan.i_bit",
    "vxlan.p_bit",
    "vxlan.next_proto",
    "vxlan.vni",
    "nsh.version",
    "nsh.ttl",
    "nsh.length",
    "nsh.mdtype",
    "nsh.nextproto",
    "nsh.spi",
    "nsh.si",
    "nsh.contextheader",
    "eth.type",
];

#[test]
fn tshark_decodes_gpe_nsh_and_vxlan() {
    if !tshark_available() {
        eprintln!("SKIP: tshark not installed (apt-get install tshark)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sluice-tunnel-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tunnel.pcap");
    let mut w = PcapWriter::create(&path, Format::Pcap).unwrap();
    let mut expect = Vec::new();
    for i in 0..4u16 {
        let (mut buf, inner) = inner_udp(64 + usize::from(i) * 100, 2000 + i);
        let mut nsh: Nsh = nsh_for(&buf[inner.clone()]);
        nsh.spi = 0x10000 + u32::from(i);
        nsh.si = 255 - i as u8;
        nsh.ttl = 60 + i as u8;
        let hash = nsh.meta.flow_hash;
        let r = encap_gpe_nsh(&mut buf, inner, &host_a(), &peer_b(), &nsh).unwrap();
        w.write_packet(u64::from(i) * 1000, &buf[r.clone()])
            .unwrap();
        let mut ctx = nsh.meta;
        ctx.hops = 1;
        let ctx_hex = ctx
            .to_bytes()
            .chunks(4)
            .map(|w| w.iter().map(|b| format!("{b:02x}")).collect::<String>())
            .collect::<Vec<_>>()
            .join(",");
        // ip.len and ip.checksum.status show the outer then the inner header.
        expect.push(vec![
            format!("{},{}", r.len() - 14, 50 + usize::from(i) * 100),
            "1,1".into(),
            format!("{},{}", source_port(hash), 2000 + i),
            "4790,53".into(),
            format!("{},{}", r.len() - 34, 30 + usize::from(i) * 100),
            "".into(),
            "1".into(),
            "1".into(),
            "4".into(),
            "0".into(),
            "0".into(),
            format!("0x{:04x}", 60 + i),
            "6".into(),
            "1".into(),
            "3".into(),
            (0x10000 + u32::from(i)).to_string(),
            (255 - i).to_string(),
            ctx_hex,
            "0x0800,0x0800".into(),
        ]);
    }
    for i in 0..3u32 {
        let (mut buf, inner) = inner_udp(80, 3000 + i as u16);
        let hash = sluice_wire::flow_hash(&buf[inner.clone()]);
        let vni = 42 + i * 0x10101;
        let r = encap_vxlan(&mut buf, inner, &host_a(), &peer_b(), vni, hash).unwrap();
        w.write_packet(10_000 + u64::from(i), &buf[r.clone()])
            .unwrap();
        expect.push(vec![
            format!("{},66", r.len() - 14),
            "1,1".into(),
            format!("{},{}", source_port(hash), 3000 + i),
            "4789,53".into(),
            format!("{},46", r.len() - 34),
            "1".into(),
            "".into(),
            "".into(),
            "".into(),
            vni.to_string(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "0x0800,0x0800".into(),
        ]);
    }
    w.flush().unwrap();
    drop(w);

    let mut cmd = Command::new("tshark");
    cmd.args(["-r"]).arg(&path).args([
        "-o",
        "ip.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=/t",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), expect.len(), "tshark output:\n{text}");
    for (i, (got, want)) in rows.iter().zip(&expect).enumerate() {
        for (k, f) in FIELDS.iter().enumerate() {
            assert_eq!(
                got.get(k).map(String::as_str).unwrap_or(""),
                want[k],
                "frame {i} field {f}; tshark output:\n{text}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tshark_decodes_ipv6_outer_with_good_udp_checksum() {
    if !tshark_available() {
        eprintln!("SKIP: tshark not installed (apt-get install tshark)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("sluice-tunnel-tshark6-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tunnel6.pcapng");
    let mut w = PcapWriter::create(&path, Format::PcapNg).unwrap();
    let (mut buf, inner) = inner_udp(64, 4000);
    let nsh = nsh_for(&buf[inner.clone()]);
    let r = encap_gpe_nsh(&mut buf, inner, &host_a6(), &peer_b6(), &nsh).unwrap();
    w.write_packet(1, &buf[r.clone()]).unwrap();
    let (mut buf, inner) = inner_udp(65, 4001);
    let h = sluice_wire::flow_hash(&buf[inner.clone()]);
    let r2 = encap_vxlan(&mut buf, inner, &host_a6(), &peer_b6(), 77, h).unwrap();
    w.write_packet(2, &buf[r2.clone()]).unwrap();
    w.flush().unwrap();
    drop(w);
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args([
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-E",
            "occurrence=f",
        ])
        .args(["-e", "ipv6.plen", "-e", "ipv6.flow", "-e", "udp.dstport"])
        .args(["-e", "udp.checksum.status", "-e", "vxlan.next_proto"])
        .args(["-e", "vxlan.vni", "-e", "nsh.spi", "-e", "nsh.si"])
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let want = format!(
        "{}\t{:#08x}\t4790\t1\t4\t0\t7\t253\n{}\t{:#08x}\t4789\t1\t\t77\t\t\n",
        r.len() - 54,
        nsh.meta.flow_hash & 0xfffff,
        r2.len() - 54,
        h & 0xfffff,
    );
    assert_eq!(text, want);
    let _ = std::fs::remove_dir_all(&dir);
}
