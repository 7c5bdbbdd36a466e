//! Encapsulation + decapsulation cost per packet, for 64-byte inner frames.
//!
//! `cargo bench -p sluice-tunnel --bench encap` prints, for VXLAN-GPE + NSH and for plain
//! VXLAN, the median ns/packet of encap alone, decap alone, and encap + decap, over 5 runs of
//! 2 M packets (set `SLUICE_BENCH_ITERS` to change the run length). The inner frames cycle
//! over 64 flows; VXLAN's source port hash is computed from the inner frame each time
//! (`flow_hash`), GPE's comes from the metadata as in the data path.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Instant;

use sluice_tunnel::{decap, encap_gpe_nsh, encap_vxlan, Endpoint, Metadata, Nsh, Peer};

const HEADROOM: usize = 128;
const INNER: usize = 64;
const FLOWS: usize = 64;
const RUNS: usize = 5;

fn frames() -> Vec<Vec<u8>> {
    (0..FLOWS)
        .map(|i| {
            let mut buf = vec![0u8; HEADROOM + INNER];
            sluice_wire::write_udp_ipv4(
                &mut buf[HEADROOM..],
                [2, 0, 0, 0, 1, 1],
                [2, 0, 0, 0, 1, 2],
                [192, 168, 1, 1],
                [192, 168, 1, 2],
                1000 + i as u16,
                53,
                INNER,
            )
            .expect("inner frame");
            buf
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ns per iteration of `f(i)` over RUNS runs of `iters`.
fn time(iters: usize, mut f: impl FnMut(usize)) -> f64 {
    let runs = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for i in 0..iters {
                f(i);
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    median(runs)
}

fn main() {
    let iters: usize = std::env::var("SLUICE_BENCH_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let local = Endpoint::new(1, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 1));
    let peer = Peer::new(2, Ipv4Addr::new(10, 0, 0, 2)).with_mac([2, 0, 0, 0, 0, 2]);
    let inner = HEADROOM..HEADROOM + INNER;
    let mut bufs = frames();
    let hashes: Vec<u32> = bufs
        .iter()
        .map(|b| sluice_wire::flow_hash(&b[inner.clone()]))
        .collect();
    let nsh = |i: usize| {
        Nsh::for_chain(
            3,
            1,
            Metadata {
                origin_host: 1,
                flow_hash: hashes[i],
                ..Metadata::default()
            },
        )
    };

    println!("sluice-tunnel encap/decap, {INNER}-byte inner frames, {FLOWS} flows, median of {RUNS} x {iters}");
    println!(
        "{:<14} {:>10} {:>10} {:>14}",
        "mode", "encap", "decap", "encap+decap"
    );

    // GPE + NSH.
    let e = time(iters, |i| {
        let k = i % FLOWS;
        let r = encap_gpe_nsh(
            &mut bufs[k],
            black_box(inner.clone()),
            &local,
            &peer,
            &nsh(k),
        );
        black_box(r.ok());
    });
    let frames_gpe: Vec<Vec<u8>> = (0..FLOWS)
        .map(|k| {
            let r = encap_gpe_nsh(&mut bufs[k], inner.clone(), &local, &peer, &nsh(k)).unwrap();
            bufs[k][r].to_vec()
        })
        .collect();
    let d = time(iters, |i| {
        black_box(decap(black_box(&frames_gpe[i % FLOWS])).ok());
    });
    let ed = time(iters, |i| {
        let k = i % FLOWS;
        let r = encap_gpe_nsh(
            &mut bufs[k],
            black_box(inner.clone()),
            &local,
            &peer,
            &nsh(k),
        )
        .unwrap();
        black_box(decap(&bufs[k][r]).ok());
    });
    println!(
        "{:<14} {:>7.1} ns {:>7.1} ns {:>11.1} ns",
        "vxlan-gpe+nsh", e, d, ed
    );

    // Plain VXLAN, hash computed from the inner frame.
    let e = time(iters, |i| {
        let k = i % FLOWS;
        let h = sluice_wire::flow_hash(&bufs[k][inner.clone()]);
        let r = encap_vxlan(&mut bufs[k], black_box(inner.clone()), &local, &peer, 42, h);
        black_box(r.ok());
    });
    let frames_vx: Vec<Vec<u8>> = (0..FLOWS)
        .map(|k| {
            let r = encap_vxlan(&mut bufs[k], inner.clone(), &local, &peer, 42, hashes[k]).unwrap();
            bufs[k][r].to_vec()
        })
        .collect();
    let d = time(iters, |i| {
        black_box(decap(black_box(&frames_vx[i % FLOWS])).ok());
    });
    let ed = time(iters, |i| {
        let k = i % FLOWS;
        let h = sluice_wire::flow_hash(&bufs[k][inner.clone()]);
        let r = encap_vxlan(&mut bufs[k], black_box(inner.clone()), &local, &peer, 42, h).unwrap();
        black_box(decap(&bufs[k][r]).ok());
    });
    println!(
        "{:<14} {:>7.1} ns {:>7.1} ns {:>11.1} ns",
        "vxlan", e, d, ed
    );
}
