use std::sync::Arc;

use serde_json::{json, Value};

use super::{add, with};
use crate::config::{PfConfig, Registry};
use crate::switch::*;

const PCI: &str = "0000:07:00.0";
const HEADROOM: usize = 64;
const PEER: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const UNKNOWN: [u8; 6] = [0x02, 0xee, 0xee, 0xee, 0xee, 0xee];
const BCAST: [u8; 6] = [0xff; 6];
const MCAST: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x30];
const PAYLOAD: [u8; 8] = [0x45, 0, 0, 20, 1, 2, 3, 4];

fn vf_mac(vf: u8) -> [u8; 6] {
    [0xfa, 0xce, 0xed, 0x09, 0x01, vf]
}

fn mac_str(m: [u8; 6]) -> String {
    sluice_wire::MacFmt(m).to_string()
}

/// dst, src, tags (tpid, vid) outermost first, then IPv4 type and a payload.
fn frame(dst: [u8; 6], src: [u8; 6], tags: &[(u16, u16)]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    for &(tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(&PAYLOAD);
    f
}

const Q: u16 = 0x8100;
const AD: u16 = 0x88a8;

/// A buffer with `HEADROOM` bytes in front of the frame.
struct Buf {
    data: Vec<u8>,
    off: usize,
    len: usize,
}

impl Buf {
    fn new(f: &[u8]) -> Self {
        Self::with_headroom(f, HEADROOM)
    }
    fn with_headroom(f: &[u8], h: usize) -> Self {
        let mut data = vec![0xaa; h + f.len()];
        data[h..].copy_from_slice(f);
        Buf {
            data,
            off: h,
            len: f.len(),
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.data[self.off..self.off + self.len]
    }
}

impl FrameBuf for Buf {
    fn frame(&self) -> &[u8] {
        &self.data[self.off..self.off + self.len]
    }
    fn frame_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.off..self.off + self.len]
    }
    fn headroom(&self) -> usize {
        self.off
    }
    fn push_head(&mut self, n: usize) {
        self.off -= n;
        self.len += n;
    }
    fn pull_head(&mut self, n: usize) {
        self.off += n;
        self.len -= n;
    }
}

fn vf(vfid: u8, vlans: &[u16], extra: Value) -> Value {
    let mut v = json!({
        "name": format!("vf{vfid}"), "pciid": PCI, "vfid": vfid,
        "vlans": vlans, "macs": [mac_str(vf_mac(vfid))],
    });
    for (k, x) in extra.as_object().unwrap() {
        v = with(v, k, x.clone());
    }
    v
}

fn switch_with(pf: PfConfig, vfs: &[Value]) -> PfSwitch {
    let mut reg = Registry::new(vec![pf]);
    for (i, v) in vfs.iter().enumerate() {
        add(&mut reg, &format!("/c/{i}.json"), v).unwrap();
    }
    let policy = Arc::new(PfPolicy::build(&reg.pfs()[0]));
    PfSwitch::new(policy, PfShared::new())
}

fn switch(vfs: &[Value]) -> PfSwitch {
    switch_with(PfConfig::new(PCI), vfs)
}

fn loopback_switch(vfs: &[Value]) -> PfSwitch {
    let mut pf = PfConfig::new(PCI);
    pf.enable_loopback = true;
    switch_with(pf, vfs)
}

fn bit(vf: u8) -> VfMask {
    1 << vf
}

fn counters(sw: &PfSwitch, vf: u32) -> CounterSnapshot {
    sw.shared().vf_snapshot(vf).unwrap()
}

// ---- §3.7 BUM matrix ---------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Dst {
    Unknown,
    Own,
    Bcast,
    Mcast,
}

#[test]
fn bum_matrix_strip_off_and_on() {
    for strip in [false, true] {
        // The reference's test configs; with strip each VF keeps one VLAN (stripT files).
        let v1: &[u16] = if strip {
            &[104]
        } else {
            &[100, 101, 102, 103, 104]
        };
        let v2: &[u16] = if strip { &[202] } else { &[200, 201, 202] };
        let v4: &[u16] = if strip { &[401] } else { &[400, 401] };
        let bum = |b: bool, m: bool, u: bool| json!({"allow_bcast": b, "allow_mcast": m, "allow_un_ucast": u, "strip_stag": strip});
        let mut sw = switch(&[
            vf(1, v1, bum(true, true, false)),
            vf(2, v2, bum(false, true, false)),
            vf(3, &[300], bum(false, false, false)),
            vf(4, v4, bum(true, true, true)),
        ]);
        // (vf, destination, vlan, delivered?)
        let rows: Vec<(u8, Dst, u16, bool)> = vec![
            (1, Dst::Unknown, 104, false), // test_invalid_mac_valid_vlan
            (1, Dst::Own, 104, true),      // test_valid_macs_valid_vlan
            (1, Dst::Own, 99, false),      // test_valid_macs_invalid_vlan
            (1, Dst::Own, 999, false),
            (1, Dst::Bcast, 104, true),  // test_bcast_valid_vlan
            (1, Dst::Bcast, 99, false),  // test_bcast_invalid_vlan
            (1, Dst::Mcast, 104, true),  // test_mcast_valid_vlan
            (1, Dst::Mcast, 999, false), // test_mcast_invalid_vlan
            (2, Dst::Bcast, 202, false), // bcast blocked, valid vlan
            (2, Dst::Bcast, 99, false),
            (2, Dst::Mcast, 202, true),
            (3, Dst::Mcast, 300, false), // mcast blocked
            (3, Dst::Mcast, 99, false),
            (3, Dst::Own, 300, true),
            (4, Dst::Unknown, 401, true), // received (un-ucast) ...
            (4, Dst::Unknown, 99, false), // test_invalid_mac_invalid_vlan
        ];
        let mut extra_valid: Vec<(u8, u16)> = Vec::new();
        if !strip {
            extra_valid.extend([(1, 100), (1, 101), (1, 102), (1, 103), (2, 200), (4, 400)]);
        }
        for (vfid, vlan) in extra_valid {
            let f = frame(vf_mac(vfid), PEER, &[(Q, vlan)]);
            assert_eq!(
                sw.from_wire(&f).vfs,
                bit(vfid),
                "strip={strip} vf{vfid} vlan {vlan}"
            );
        }
        for (vfid, dst, vlan, want) in rows {
            let dmac = match dst {
                Dst::Unknown => UNKNOWN,
                Dst::Own => vf_mac(vfid),
                Dst::Bcast => BCAST,
                Dst::Mcast => MCAST,
            };
            let f = frame(dmac, PEER, &[(Q, vlan)]);
            let d = sw.from_wire(&f);
            let got = d.vfs & bit(vfid) != 0;
            assert_eq!(
                got, want,
                "strip={strip} vf{vfid} {dst:?} vlan {vlan}: {d:?}"
            );
            if !got {
                continue;
            }
            // The VF sees the frame stripped or not.
            let mut b = Buf::new(&f);
            sw.to_vf(vfid, &mut b).unwrap();
            let seen = if strip {
                frame(dmac, PEER, &[])
            } else {
                f.clone()
            };
            assert_eq!(b.bytes(), &seen[..]);
            // The gobbler reflects it: dst := original src, src := its MAC (VF 4 keeps the
            // MACs swapped instead, so its reply is spoofed, as in the reference's test).
            let mut reply = b.bytes().to_vec();
            reply[..6].copy_from_slice(&PEER);
            let src = if vfid == 4 { dmac } else { vf_mac(vfid) };
            reply[6..12].copy_from_slice(&src);
            let mut rb = Buf::new(&reply);
            let before = counters(&sw, vfid.into()).spoofed;
            let out = sw.from_vf(vfid, &mut rb, None, 0);
            if vfid == 4 {
                assert_eq!(out.drop, Some(DropReason::Spoofed));
                assert_eq!(counters(&sw, 4).spoofed, before + 1);
            } else {
                assert!(out.wire, "{out:?}");
                // Reply carries the same VLAN on the wire (insert follows strip).
                assert_eq!(rb.bytes(), &frame(PEER, vf_mac(vfid), &[(Q, vlan)])[..]);
            }
        }
    }
}

// ---- VLAN filter, trunks, untagged -------------------------------------------------------

#[test]
fn vlan_trunk_without_strip_and_untagged_policy() {
    let mut sw = switch(&[
        vf(1, &[10, 20, 30], json!({})),
        vf(2, &[10], json!({"allow_untagged": true})),
    ]);
    for vlan in [10, 20, 30] {
        let f = frame(vf_mac(1), PEER, &[(Q, vlan)]);
        assert_eq!(sw.from_wire(&f).vfs, bit(1));
        let mut b = Buf::new(&f);
        sw.to_vf(1, &mut b).unwrap();
        assert_eq!(b.bytes(), &f[..], "trunk keeps the tag");
    }
    let d = sw.from_wire(&frame(vf_mac(1), PEER, &[(Q, 40)]));
    assert_eq!((d.vfs, d.drop), (0, Some(DropReason::NoDestination)));
    // Untagged: only the VF that allows it.
    assert_eq!(sw.from_wire(&frame(vf_mac(1), PEER, &[])).vfs, 0);
    assert_eq!(sw.from_wire(&frame(vf_mac(2), PEER, &[])).vfs, bit(2));
    assert_eq!(sw.from_wire(&frame(BCAST, PEER, &[])).vfs, bit(2));
    assert_eq!(
        sw.from_wire(&frame(BCAST, PEER, &[(Q, 10)])).vfs,
        bit(1) | bit(2)
    );
    // TX: listed VLAN passes unchanged, other VLAN / untagged are spoofed.
    let ok = frame(PEER, vf_mac(1), &[(Q, 20)]);
    let mut b = Buf::new(&ok);
    assert!(sw.from_vf(1, &mut b, None, 0).wire);
    assert_eq!(b.bytes(), &ok[..]);
    for bad in [
        frame(PEER, vf_mac(1), &[(Q, 40)]),
        frame(PEER, vf_mac(1), &[]),
    ] {
        assert_eq!(
            sw.from_vf(1, &mut Buf::new(&bad), None, 0).drop,
            Some(DropReason::Spoofed)
        );
    }
    assert_eq!(counters(&sw, 1).spoofed, 2);
    assert_eq!(sw.shared().pf_snapshot().spoofed, 2);
    assert!(
        sw.from_vf(2, &mut Buf::new(&frame(PEER, vf_mac(2), &[])), None, 0)
            .wire
    );
    assert_eq!(sw.shared().pf_snapshot().rx_dropped, 2);
}

// ---- Strip / insert, 802.1Q and 802.1ad, byte-exact -------------------------------------

#[test]
fn strip_and_insert_dot1q_byte_exact() {
    let mut sw = switch(&[vf(1, &[100], json!({"strip_stag": true}))]);
    let wire = frame(vf_mac(1), PEER, &[(Q, 100)]);
    #[rustfmt::skip]
    let expect_wire: Vec<u8> = [
        &vf_mac(1)[..], &PEER, &[0x81, 0x00, 0x00, 0x64, 0x08, 0x00], &PAYLOAD,
    ].concat();
    assert_eq!(wire, expect_wire);
    let mut b = Buf::new(&wire);
    assert_eq!(sw.to_vf(1, &mut b), Ok(None));
    let expect_vf: Vec<u8> = [&vf_mac(1)[..], &PEER, &[0x08, 0x00], &PAYLOAD].concat();
    assert_eq!(b.bytes(), &expect_vf[..]);
    assert_eq!(b.off, HEADROOM + 4);
    // TX: the guest's untagged frame gets the tag.
    let guest = [&PEER[..], &vf_mac(1), &[0x08, 0x00], &PAYLOAD].concat();
    let mut t = Buf::new(&guest);
    let d = sw.from_vf(1, &mut t, None, 0);
    assert!(d.wire && d.vfs == 0 && d.drop.is_none());
    let expect_tx = [
        &PEER[..],
        &vf_mac(1),
        &[0x81, 0x00, 0x00, 0x64, 0x08, 0x00],
        &PAYLOAD,
    ]
    .concat();
    assert_eq!(t.bytes(), &expect_tx[..]);
    assert_eq!(
        t.off,
        HEADROOM - 4,
        "inserted into the headroom, no copy of the payload"
    );
    let c = counters(&sw, 1);
    assert_eq!((c.rx_packets, c.rx_bytes), (1, expect_vf.len() as u64));
    assert_eq!((c.tx_packets, c.tx_bytes), (1, guest.len() as u64));
    let pf = sw.shared().pf_snapshot();
    assert_eq!((pf.tx_packets, pf.tx_bytes), (1, expect_tx.len() as u64));
}

#[test]
fn qinq_dot1ad_outer_tag_inner_kept() {
    let mut sw = switch(&[
        vf(
            1,
            &[100],
            json!({"strip_stag": true, "vlan_proto": "802.1ad"}),
        ),
        vf(2, &[100], json!({"strip_stag": true})),
    ]);
    // S-tag 100 (0x88a8) outside, C-tag 200 (0x8100) inside.
    let wire = frame(vf_mac(1), PEER, &[(AD, 100), (Q, 200)]);
    assert_eq!(sw.from_wire(&wire).vfs, bit(1));
    let mut b = Buf::new(&wire);
    sw.to_vf(1, &mut b).unwrap();
    let expect = [
        &vf_mac(1)[..],
        &PEER,
        &[0x81, 0x00, 0x00, 0xc8, 0x08, 0x00],
        &PAYLOAD,
    ]
    .concat();
    assert_eq!(
        b.bytes(),
        &expect[..],
        "outer S-tag stripped, inner C-tag kept"
    );
    // The 802.1Q VF does not match an 802.1ad tag with the same VID.
    assert_eq!(sw.from_wire(&frame(vf_mac(2), PEER, &[(AD, 100)])).vfs, 0);
    // TX: the guest's C-tagged frame gets the S-tag outside.
    let mut t = Buf::new(&frame(PEER, vf_mac(1), &[(Q, 200)]));
    assert!(sw.from_vf(1, &mut t, None, 0).wire);
    let expect_tx = [
        &PEER[..],
        &vf_mac(1),
        &[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00],
        &PAYLOAD,
    ]
    .concat();
    assert_eq!(t.bytes(), &expect_tx[..]);
    // QinQ on an 802.1Q VF (0x8100 over 0x8100): only the outer tag is stripped.
    let wire = frame(vf_mac(2), PEER, &[(Q, 100), (Q, 7)]);
    let mut b = Buf::new(&wire);
    assert_eq!(sw.from_wire(&wire).vfs, bit(2));
    sw.to_vf(2, &mut b).unwrap();
    assert_eq!(b.bytes(), &frame(vf_mac(2), PEER, &[(Q, 7)])[..]);
}

#[test]
fn insert_stag_is_separate_from_strip() {
    let mut sw = switch(&[
        vf(1, &[100], json!({"strip_stag": true, "insert_stag": false})),
        vf(2, &[200], json!({"strip_stag": false, "insert_stag": true})),
    ]);
    // VF 1 strips on RX but does not insert: untagged TX is spoofed, tagged passes as is.
    let mut b = Buf::new(&frame(vf_mac(1), PEER, &[(Q, 100)]));
    sw.to_vf(1, &mut b).unwrap();
    assert_eq!(b.bytes(), &frame(vf_mac(1), PEER, &[])[..]);
    assert_eq!(
        sw.from_vf(1, &mut Buf::new(&frame(PEER, vf_mac(1), &[])), None, 0)
            .drop,
        Some(DropReason::Spoofed)
    );
    let tagged = frame(PEER, vf_mac(1), &[(Q, 100)]);
    let mut t = Buf::new(&tagged);
    assert!(sw.from_vf(1, &mut t, None, 0).wire);
    assert_eq!(t.bytes(), &tagged[..]);
    // VF 2 keeps the tag on RX but inserts on TX.
    let wire = frame(vf_mac(2), PEER, &[(Q, 200)]);
    let mut b = Buf::new(&wire);
    sw.to_vf(2, &mut b).unwrap();
    assert_eq!(b.bytes(), &wire[..]);
    let mut t = Buf::new(&frame(PEER, vf_mac(2), &[]));
    assert!(sw.from_vf(2, &mut t, None, 0).wire);
    assert_eq!(t.bytes(), &frame(PEER, vf_mac(2), &[(Q, 200)])[..]);
}

#[test]
fn insert_with_several_vlans_uses_descriptor_vlan() {
    let mut sw = switch(&[vf(1, &[10, 20], json!({"strip_stag": true}))]);
    let guest = frame(PEER, vf_mac(1), &[]);
    let mut t = Buf::new(&guest);
    assert!(sw.from_vf(1, &mut t, Some(20), 0).wire);
    assert_eq!(t.bytes(), &frame(PEER, vf_mac(1), &[(Q, 20)])[..]);
    let mut t = Buf::new(&guest);
    assert!(sw.from_vf(1, &mut t, None, 0).wire);
    assert_eq!(
        t.bytes(),
        &frame(PEER, vf_mac(1), &[(Q, 10)])[..],
        "no descriptor VLAN: the first"
    );
    assert_eq!(
        sw.from_vf(1, &mut Buf::new(&guest), Some(30), 0).drop,
        Some(DropReason::Spoofed)
    );
    // No headroom: counted as a TX error, frame untouched.
    let mut t = Buf::with_headroom(&guest, 2);
    assert_eq!(
        sw.from_vf(1, &mut t, None, 0).drop,
        Some(DropReason::NoHeadroom)
    );
    assert_eq!(t.bytes(), &guest[..]);
    assert_eq!(counters(&sw, 1).tx_errors, 1);
}

// ---- Anti-spoof ----------------------------------------------------------------------

#[test]
fn mac_anti_spoof_counts_spoofed() {
    let mut sw = switch(&[
        vf(
            1,
            &[10],
            json!({"macs": [mac_str(vf_mac(1)), "02:00:00:00:00:99"]}),
        ),
        vf(2, &[10], json!({"mac_anti_spoof": false})),
    ]);
    // Whitelisted second MAC may send; another VF's MAC and an unknown MAC may not.
    for (src, ok) in [
        (vf_mac(1), true),
        ([2, 0, 0, 0, 0, 0x99], true),
        (vf_mac(2), false),
        (UNKNOWN, false),
    ] {
        let d = sw.from_vf(1, &mut Buf::new(&frame(PEER, src, &[(Q, 10)])), None, 0);
        assert_eq!(d.wire, ok, "{src:?}");
    }
    let c = counters(&sw, 1);
    assert_eq!((c.spoofed, c.tx_packets), (2, 2));
    assert_eq!(sw.shared().pf_snapshot().spoofed, 2);
    // Without MAC anti-spoof any source passes (VLAN anti-spoof still applies).
    assert!(
        sw.from_vf(2, &mut Buf::new(&frame(PEER, UNKNOWN, &[(Q, 10)])), None, 0)
            .wire
    );
    assert!(
        !sw.from_vf(2, &mut Buf::new(&frame(PEER, UNKNOWN, &[(Q, 11)])), None, 0)
            .wire
    );
    assert_eq!(counters(&sw, 2).spoofed, 1);
    // Generated default MAC (macs: []) is the one allowed.
    let mut sw = switch(&[vf(3, &[10], json!({"macs": []}))]);
    let mac = sw.policy().default_mac(3).unwrap();
    assert!(
        sw.from_vf(3, &mut Buf::new(&frame(PEER, mac, &[(Q, 10)])), None, 0)
            .wire
    );
    assert_eq!(sw.from_wire(&frame(mac, PEER, &[(Q, 10)])).vfs, bit(3));
}

// ---- Rate --------------------------------------------------------------------------------

#[test]
fn token_bucket_rate_within_10_percent() {
    let mut pf = PfConfig::new(PCI);
    pf.link_speed_mbps = 1000;
    let mut sw = switch_with(pf, &[vf(1, &[10], json!({"rate": 0.1}))]);
    let rate = sw.policy().rate_bytes_per_sec(1);
    assert_eq!(rate, 12_500_000);
    // Offer twice the rate: 1000-byte frames every 40 µs for 10 simulated seconds.
    let mut f = frame(PEER, vf_mac(1), &[(Q, 10)]);
    f.resize(1000, 0);
    let (mut sent, mut dropped) = (0u64, 0u64);
    let mut now = 5_000_000_000u64;
    for _ in 0..250_000 {
        let d = sw.from_vf(1, &mut Buf::new(&f), None, now);
        if d.wire {
            sent += 1000;
        } else {
            assert_eq!(d.drop, Some(DropReason::RateLimited));
            dropped += 1;
        }
        now += 40_000;
    }
    let achieved = sent as f64 / 10.0;
    let err = (achieved - rate as f64).abs() / rate as f64;
    assert!(
        err < 0.10,
        "achieved {achieved} B/s vs {rate} ({:.1} %)",
        err * 100.0
    );
    assert_eq!(counters(&sw, 1).tx_dropped, dropped);
    // Another VF without a rate is not limited.
    let mut sw = switch(&[vf(1, &[10], json!({}))]);
    for _ in 0..1000 {
        assert!(sw.from_vf(1, &mut Buf::new(&f), None, 0).wire);
    }
}

#[test]
fn policy_update_keeps_unchanged_buckets() {
    let mut pf = PfConfig::new(PCI);
    pf.link_speed_mbps = 1000;
    let mut reg = Registry::new(vec![pf]);
    add(&mut reg, "/a", &vf(1, &[10], json!({"rate": 0.01}))).unwrap();
    let mut sw = PfSwitch::new(Arc::new(PfPolicy::build(&reg.pfs()[0])), PfShared::new());
    let mut f = frame(PEER, vf_mac(1), &[(Q, 10)]);
    f.resize(1500, 0);
    // Drain the bucket at t = 0.
    while sw.from_vf(1, &mut Buf::new(&f), None, 0).wire {}
    add(&mut reg, "/b", &vf(2, &[10], json!({}))).unwrap();
    sw.set_policy(Arc::new(PfPolicy::build(&reg.pfs()[0])));
    assert!(
        !sw.from_vf(1, &mut Buf::new(&f), None, 0).wire,
        "bucket kept its (empty) state"
    );
    assert!(
        sw.from_vf(
            2,
            &mut Buf::new(&frame(PEER, vf_mac(2), &[(Q, 10)])),
            None,
            0
        )
        .wire
    );
}

// ---- Mirroring ---------------------------------------------------------------------------

#[test]
fn mirroring_decisions() {
    let m = |dir: &str| json!({"mirror": {"target": 5, "direction": dir}});
    let mut sw = switch(&[
        vf(1, &[10], m("in")),
        vf(2, &[10], m("out")),
        vf(3, &[10], m("all")),
        vf(
            4,
            &[10],
            json!({"mirror": {"pcap": "/tmp/vf4.pcap", "direction": "both"}}),
        ),
        vf(5, &[10], json!({})),
        vf(6, &[10], m("off")),
    ]);
    let want_in = [(1, true), (2, false), (3, true), (5, false), (6, false)];
    for (vfid, mirrored) in want_in {
        let mut b = Buf::new(&frame(vf_mac(vfid), PEER, &[(Q, 10)]));
        let r = sw.to_vf(vfid, &mut b).unwrap();
        assert_eq!(r, mirrored.then_some(MirrorTo::Vf(5)), "in, vf{vfid}");
        let d = sw.from_vf(
            vfid,
            &mut Buf::new(&frame(PEER, vf_mac(vfid), &[(Q, 10)])),
            None,
            0,
        );
        let out = matches!(vfid, 2 | 3);
        assert_eq!(d.mirror, out.then_some(MirrorTo::Vf(5)), "out, vf{vfid}");
    }
    let mut b = Buf::new(&frame(vf_mac(4), PEER, &[(Q, 10)]));
    assert_eq!(
        sw.to_vf(4, &mut b).unwrap(),
        Some(MirrorTo::Pcap { source_vf: 4 })
    );
    assert_eq!(sw.policy().mirror_pcap(4), Some("/tmp/vf4.pcap"));
    assert_eq!(counters(&sw, 3).mirrored, 2);
    // Spoofed frames are not mirrored.
    let d = sw.from_vf(3, &mut Buf::new(&frame(PEER, UNKNOWN, &[(Q, 10)])), None, 0);
    assert_eq!((d.mirror, d.drop), (None, Some(DropReason::Spoofed)));
}

// ---- Loopback and link -------------------------------------------------------------------

#[test]
fn loopback_switches_between_vfs() {
    let cfgs = [
        vf(1, &[10], json!({})),
        vf(2, &[10], json!({})),
        vf(3, &[20], json!({})),
        vf(4, &[10], json!({"allow_bcast": false})),
    ];
    let mut sw = loopback_switch(&cfgs);
    // Known unicast to VF 2: local only.
    let d = sw.from_vf(
        1,
        &mut Buf::new(&frame(vf_mac(2), vf_mac(1), &[(Q, 10)])),
        None,
        0,
    );
    assert_eq!((d.vfs, d.wire), (bit(2), false));
    // VF 3's MAC in VF 1's VLAN is not VF 3's (VLAN 20 only): to the wire.
    let d = sw.from_vf(
        1,
        &mut Buf::new(&frame(vf_mac(3), vf_mac(1), &[(Q, 10)])),
        None,
        0,
    );
    assert_eq!((d.vfs, d.wire), (0, true));
    // Broadcast: the wire and the other VFs of the VLAN that accept broadcast; not itself.
    let d = sw.from_vf(
        1,
        &mut Buf::new(&frame(BCAST, vf_mac(1), &[(Q, 10)])),
        None,
        0,
    );
    assert_eq!((d.vfs, d.wire), (bit(2), true));
    // Without loopback everything goes to the wire.
    let mut sw = switch(&cfgs);
    let d = sw.from_vf(
        1,
        &mut Buf::new(&frame(vf_mac(2), vf_mac(1), &[(Q, 10)])),
        None,
        0,
    );
    assert_eq!((d.vfs, d.wire), (0, true));
}

#[test]
fn loopback_with_strip_edits_per_destination() {
    // VF 1 inserts 10, VF 2 strips, VF 3 keeps the tag: one broadcast, three different copies.
    let mut sw = loopback_switch(&[
        vf(1, &[10], json!({"strip_stag": true})),
        vf(2, &[10], json!({"strip_stag": true})),
        vf(3, &[10], json!({})),
    ]);
    let mut b = Buf::new(&frame(BCAST, vf_mac(1), &[]));
    let d = sw.from_vf(1, &mut b, None, 0);
    assert_eq!((d.vfs, d.wire), (bit(2) | bit(3), true));
    let wire = frame(BCAST, vf_mac(1), &[(Q, 10)]);
    assert_eq!(b.bytes(), &wire[..]);
    let targets: Vec<u8> = mask_iter(d.vfs).collect();
    assert_eq!(targets, [2, 3]);
    let mut c2 = Buf::new(b.bytes());
    let mut c3 = Buf::new(b.bytes());
    sw.to_vf(2, &mut c2).unwrap();
    sw.to_vf(3, &mut c3).unwrap();
    assert_eq!(c2.bytes(), &frame(BCAST, vf_mac(1), &[])[..]);
    assert_eq!(c3.bytes(), &wire[..]);
}

#[test]
fn link_state_drops_and_counts() {
    let mut sw = switch(&[
        vf(1, &[10], json!({"link_status": "off"})),
        vf(2, &[10], json!({"link_status": "auto"})),
        vf(3, &[10], json!({"link_status": "on"})),
    ]);
    let d = sw.from_wire(&frame(BCAST, PEER, &[(Q, 10)]));
    assert_eq!(d.vfs, bit(2) | bit(3));
    assert_eq!(counters(&sw, 1).rx_dropped, 1);
    assert_eq!(
        sw.from_vf(
            1,
            &mut Buf::new(&frame(PEER, vf_mac(1), &[(Q, 10)])),
            None,
            0
        )
        .drop,
        Some(DropReason::LinkDown)
    );
    assert_eq!(counters(&sw, 1).tx_dropped, 1);
    sw.shared().set_pf_link(false);
    assert_eq!(sw.from_wire(&frame(BCAST, PEER, &[(Q, 10)])).vfs, bit(3));
    let d = sw.from_wire(&frame(vf_mac(2), PEER, &[(Q, 10)]));
    assert_eq!(d.drop, Some(DropReason::LinkDown));
    assert_eq!(counters(&sw, 2).rx_dropped, 2);
    sw.shared().set_pf_link(true);
    assert_eq!(
        sw.from_wire(&frame(vf_mac(2), PEER, &[(Q, 10)])).vfs,
        bit(2)
    );
}

// ---- Counters, malformed, unconfigured ---------------------------------------------------

#[test]
fn counters_clear_and_errors() {
    let mut sw = switch(&[vf(1, &[10], json!({}))]);
    let f = frame(vf_mac(1), PEER, &[(Q, 10)]);
    for _ in 0..3 {
        let mut b = Buf::new(&f);
        assert_eq!(sw.from_wire(&f).vfs, bit(1));
        sw.to_vf(1, &mut b).unwrap();
    }
    assert_eq!(sw.from_wire(&f[..10]).drop, Some(DropReason::Malformed));
    assert_eq!(
        sw.from_wire(&f[..16]).drop,
        Some(DropReason::Malformed),
        "tag TPID without the tag"
    );
    assert_eq!(
        sw.from_vf(1, &mut Buf::new(&f[..12]), None, 0).drop,
        Some(DropReason::Malformed)
    );
    assert_eq!(
        sw.from_vf(7, &mut Buf::new(&f), None, 0).drop,
        Some(DropReason::NotConfigured)
    );
    assert_eq!(
        sw.from_vf(40, &mut Buf::new(&f), None, 0).drop,
        Some(DropReason::NotConfigured)
    );
    let pf = sw.shared().pf_snapshot();
    assert_eq!((pf.rx_packets, pf.rx_errors), (5, 2));
    let c = counters(&sw, 1);
    assert_eq!(
        (c.rx_packets, c.rx_bytes, c.tx_errors),
        (3, 3 * f.len() as u64, 1)
    );
    assert_eq!(counters(&sw, 7).tx_dropped, 1);
    sw.shared().clear_all();
    assert_eq!(counters(&sw, 1), CounterSnapshot::default());
    assert_eq!(sw.shared().pf_snapshot(), CounterSnapshot::default());
    sw.to_vf(1, &mut Buf::new(&f)).unwrap();
    assert_eq!(counters(&sw, 1).rx_packets, 1);
    let json = serde_json::to_value(counters(&sw, 1)).unwrap();
    assert_eq!(json["rx_packets"], 1);
}

#[test]
fn slice_frame_bounds() {
    let mut data = [0u8; 32];
    assert!(SliceFrame::new(&mut data, 20, 13).is_none());
    let mut f = SliceFrame::new(&mut data, 8, 20).unwrap();
    assert_eq!((f.headroom(), f.len()), (8, 20));
    f.push_head(4);
    assert_eq!((f.offset(), f.len()), (4, 24));
    f.pull_head(8);
    assert_eq!((f.offset(), f.len(), f.is_empty()), (12, 16, false));
}

#[test]
fn oversize_frames_are_errors() {
    let mut pf = PfConfig::new(PCI);
    pf.mtu = 1500;
    let mut sw = switch_with(pf, &[vf(1, &[10], json!({"strip_stag": true}))]);
    let mut f = frame(PEER, vf_mac(1), &[]);
    f.resize(1514, 0);
    assert!(
        sw.from_vf(1, &mut Buf::new(&f), None, 0).wire,
        "1500 + header + inserted tag fits"
    );
    f.resize(1523, 0);
    assert_eq!(
        sw.from_vf(1, &mut Buf::new(&f), None, 0).drop,
        Some(DropReason::Oversize)
    );
    assert_eq!(counters(&sw, 1).tx_errors, 1);
    let mut w = frame(vf_mac(1), PEER, &[(Q, 10)]);
    w.resize(1523, 0);
    assert_eq!(sw.from_wire(&w).drop, Some(DropReason::Oversize));
    assert_eq!(sw.shared().pf_snapshot().rx_errors, 1);
}

/// Rough per-frame cost of the policy (run: `cargo test -p sluice-vf --release -- --ignored
/// --nocapture hot_path_cost`).
#[test]
#[ignore]
fn hot_path_cost() {
    use std::time::Instant;
    let mut sw = loopback_switch(&[
        vf(
            1,
            &[10, 20],
            json!({"strip_stag": true, "rate": 1.0, "mirror": {"target": 3, "direction": "in"}}),
        ),
        vf(2, &[10], json!({"allow_un_ucast": true})),
        vf(3, &[30], json!({})),
    ]);
    let wire = frame(vf_mac(1), PEER, &[(Q, 10)]);
    let guest = frame(PEER, vf_mac(1), &[]);
    let n = 10_000_000u64;
    let mut buf = vec![0u8; 256];
    let t = Instant::now();
    let mut acc = 0u64;
    for i in 0..n {
        buf[64..64 + wire.len()].copy_from_slice(&wire);
        let d = sw.from_wire(std::hint::black_box(&buf[64..64 + wire.len()]));
        let mut b = SliceFrame::new(&mut buf, 64, wire.len()).unwrap();
        if d.vfs != 0 {
            acc += u64::from(sw.to_vf(1, &mut b).is_ok());
        }
        acc += i & 1;
    }
    let rx = t.elapsed().as_nanos() as f64 / n as f64;
    let t = Instant::now();
    for i in 0..n {
        buf[64..64 + guest.len()].copy_from_slice(&guest);
        let mut b = SliceFrame::new(&mut buf, 64, guest.len()).unwrap();
        let d = sw.from_vf(1, &mut b, None, i * 100);
        acc += u64::from(d.wire);
    }
    let tx = t.elapsed().as_nanos() as f64 / n as f64;
    println!("wire->vf (classify + strip): {rx:.1} ns/frame; vf->wire (spoof + insert + rate): {tx:.1} ns/frame ({acc})");
}

#[test]
fn counters_sum_over_switches_on_threads() {
    let mut reg = Registry::new(vec![PfConfig::new(PCI)]);
    add(&mut reg, "/a", &vf(1, &[10], json!({}))).unwrap();
    add(&mut reg, "/b", &vf(2, &[10], json!({}))).unwrap();
    let policy = Arc::new(PfPolicy::build(&reg.pfs()[0]));
    let shared = PfShared::new();
    let f = frame(vf_mac(1), PEER, &[(Q, 10)]);
    std::thread::scope(|s| {
        for _ in 0..2 {
            // One switch per thread (PfSwitch is Send, not Sync).
            let mut sw = PfSwitch::new(Arc::clone(&policy), Arc::clone(&shared));
            let f = &f;
            s.spawn(move || {
                for _ in 0..1000 {
                    let mut b = Buf::new(f);
                    assert_eq!(sw.from_wire(f).vfs, bit(1));
                    sw.to_vf(1, &mut b).unwrap();
                    assert!(
                        sw.from_vf(
                            2,
                            &mut Buf::new(&frame(PEER, vf_mac(2), &[(Q, 10)])),
                            None,
                            0
                        )
                        .wire
                    );
                }
            });
        }
    });
    assert_eq!(shared.pf_snapshot().rx_packets, 2000);
    assert_eq!(shared.pf_snapshot().tx_packets, 2000);
    assert_eq!(shared.vf_snapshot(1).unwrap().rx_packets, 2000);
    shared.clear_vf(1);
    assert_eq!(shared.vf_snapshot(1).unwrap().rx_packets, 0);
    assert_eq!(shared.vf_snapshot(2).unwrap().get(Counter::TxPackets), 2000);
    shared.clear_pf();
    assert_eq!(shared.pf_snapshot(), CounterSnapshot::default());
    assert!(shared.vf_snapshot(32).is_none());
}

/// Per-frame cost of the VF transmit policy, full against off, as sluice-bench's `vf` figure
/// configures them (run: `cargo test -p sluice-vf --release -- --ignored --nocapture
/// policy_cost`). Alternates the two, median of 7.
#[test]
#[ignore]
fn policy_cost() {
    use std::time::Instant;
    let mut pf = PfConfig::new(PCI);
    pf.link_speed_mbps = 1_000_000;
    let full = json!({"strip_stag": true, "mac_anti_spoof": true, "rate": 1.0});
    let off = json!({"strip_stag": false, "allow_untagged": true, "mac_anti_spoof": false});
    let mut sws = [
        switch_with(pf.clone(), &[vf(0, &[10], off)]),
        switch_with(pf, &[vf(0, &[10], full)]),
    ];
    let f = frame(PEER, vf_mac(0), &[]);
    let mut buf = vec![0u8; 256];
    let n = 4_000_000u64;
    let mut ns = [Vec::new(), Vec::new()];
    for round in 0..14 {
        let k = round % 2;
        let sw = &mut sws[k];
        let t = Instant::now();
        let mut acc = 0u64;
        for i in 0..n {
            buf[64..64 + f.len()].copy_from_slice(&f);
            let mut b = SliceFrame::new(&mut buf, 64, f.len()).unwrap();
            acc += u64::from(sw.from_vf(0, &mut b, None, i / 32 * 1000).wire);
        }
        assert_eq!(acc, n);
        ns[k].push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (o, u) = (med(&mut ns[0]), med(&mut ns[1]));
    println!(
        "vf->wire: policy off {o:.2} ns/frame, full {u:.2} ns/frame, policy {:.2} ns",
        u - o
    );
}
