//! The `dpdk` port over DPDK vdevs (net_ring loops frames back, net_null makes and eats them).
//! Run with `cargo test -p sluice-port --features dpdk --test dpdk`. The EAL runs without
//! hugepages or shared files (`--no-huge --no-shconf`) under a file prefix of its own; a guard removes
//! its runtime directory even when a test fails.
#![cfg(feature = "dpdk")]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sluice_port::{open, DpdkConfig, Port, PortConfig, PortKind};
use sluice_shm::{owner, Buffers, HugePolicy, Region, RegionConfig};

fn prefix() -> String {
    format!("sluice-port-test-{}", std::process::id())
}

/// Removes the EAL's runtime directory (and shuts the EAL down) when dropped; every test
/// holds one, and a process-exit hook covers the last.
struct EalGuard;

impl Drop for EalGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(sluice_port::dpdk_runtime_dir(&prefix()));
    }
}

extern "C" fn at_exit() {
    let _ = std::fs::remove_dir_all(sluice_port::dpdk_runtime_dir(&prefix()));
}

fn eal() -> EalGuard {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // SAFETY: registers a plain function without captured state.
        unsafe { libc::atexit(at_exit) };
        let args: Vec<String> = [
            "--no-huge",
            "--no-shconf",
            "-m",
            "256",
            "--no-pci",
            "--no-telemetry",
            "--file-prefix",
            &prefix(),
            "-l",
            "0",
            "--log-level",
            "notice",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        sluice_port::dpdk_init(&args).expect("EAL init");
    });
    EalGuard
}

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

fn dpdk_port(
    r: &Region,
    id: u16,
    name: &str,
    device: &str,
) -> Result<Port, sluice_port::PortError> {
    let pc = PortConfig {
        name: name.into(),
        kind: PortKind::Dpdk(DpdkConfig {
            device: device.into(),
            rx_ring: 256,
            tx_ring: 256,
            mbufs: 2047,
            ..Default::default()
        }),
    };
    open(id, &pc, r)
}

/// A frame of `len` bytes whose content depends on `seed`.
fn frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect();
    if len >= 14 {
        f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
        f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, seed]);
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
    }
    f
}

/// Put `frames` into slots (at `data_off`), transmit them and return how many were taken.
fn send(r: &Region, p: &mut Port, frames: &[(u16, Vec<u8>)]) -> usize {
    let mut slots = vec![0u32; frames.len()];
    assert_eq!(r.alloc(&mut slots, owner::MANAGER), frames.len());
    for (&idx, (off, f)) in slots.iter().zip(frames) {
        // SAFETY: the test holds the slot and the frame fits its data area.
        unsafe {
            assert!(*off as usize + f.len() <= r.data_area());
            std::ptr::copy_nonoverlapping(f.as_ptr(), r.data(idx).add(*off as usize), f.len());
            let m = &mut *r.meta(idx);
            m.data_off = *off;
            m.len = f.len() as u16;
        }
    }
    let taken =
        p.tx.as_mut()
            .expect("tx half")
            .tx_burst(&mut Buffers::direct(r), &slots);
    r.free(&slots[taken..]);
    taken
}

/// Receive until `n` frames arrived or 2 s passed; returns their contents and in_port.
fn receive(r: &Region, p: &mut Port, n: usize) -> Vec<(Vec<u8>, u16)> {
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(2);
    let mut out = [0u32; 32];
    while got.len() < n && Instant::now() < end {
        let k =
            p.rx.as_mut()
                .expect("rx half")
                .rx_burst(&mut Buffers::direct(r), &mut out);
        for &idx in &out[..k] {
            // SAFETY: the port handed us the slot with data_off/len inside the data area.
            unsafe {
                let m = *r.meta(idx);
                assert_eq!(m.owner, owner::MANAGER);
                let f = std::slice::from_raw_parts(
                    r.data(idx).add(m.data_off as usize),
                    m.len as usize,
                );
                assert_eq!(m.flow_hash, sluice_wire::flow_hash(f));
                got.push((f.to_vec(), m.in_port));
            }
        }
        r.free(&out[..k]);
    }
    got
}

fn count(p: &Port, f: impl Fn(&sluice_port::PortStats) -> &std::sync::atomic::AtomicU64) -> u64 {
    f(&p.stats).load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn ring_ports_carry_frames_unchanged_and_count_them() {
    let _g = eal();
    let r = region();
    let mut a = dpdk_port(&r, 0, "ring-a", "net_ring0").expect("open net_ring0");
    let mut b = dpdk_port(&r, 1, "ring-b", "net_ring1").expect("open net_ring1");
    assert_eq!(a.kind, "dpdk");
    assert!(a.stats.link_up.load(std::sync::atomic::Ordering::Relaxed));
    // A net_ring vdev loops its TX queue back to its RX queue.
    let sizes = [60usize, 64, 128, 1000, 1514, 2048];
    let fa: Vec<(u16, Vec<u8>)> = (0..40)
        .map(|i| (128, frame(sizes[i % sizes.len()], i as u8)))
        .collect();
    let fb: Vec<(u16, Vec<u8>)> = (0..10)
        .map(|i| (64, frame(100 + i, 0xa0 | i as u8)))
        .collect();
    assert_eq!(send(&r, &mut a, &fa), 40);
    assert_eq!(send(&r, &mut b, &fb), 10);
    let ga = receive(&r, &mut a, 40);
    let gb = receive(&r, &mut b, 10);
    assert_eq!(ga.len(), 40);
    assert_eq!(gb.len(), 10);
    for ((f, port), (_, want)) in ga.iter().zip(&fa) {
        assert_eq!(f, want);
        assert_eq!(*port, 0);
    }
    for ((f, port), (_, want)) in gb.iter().zip(&fb) {
        assert_eq!(f, want);
        assert_eq!(*port, 1);
    }
    let bytes: u64 = fa.iter().map(|(_, f)| f.len() as u64).sum();
    assert_eq!(count(&a, |s| &s.tx_packets), 40);
    assert_eq!(count(&a, |s| &s.rx_packets), 40);
    assert_eq!(count(&a, |s| &s.tx_bytes), bytes);
    assert_eq!(count(&a, |s| &s.rx_bytes), bytes);
    assert_eq!(count(&b, |s| &s.rx_packets), 10);

    // Runts and frames longer than the data room are sent, but counted and dropped on
    // receive; a zero-length descriptor is a transmit error.
    let bad = vec![
        (128, frame(10, 1)),
        (0, frame(2048 + 100, 2)),
        (128, frame(64, 3)),
        (128, Vec::new()),
    ];
    assert_eq!(send(&r, &mut a, &bad), 4);
    let g = receive(&r, &mut a, 1);
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].0, frame(64, 3));
    assert_eq!(count(&a, |s| &s.rx_malformed), 2);
    assert_eq!(count(&a, |s| &s.tx_errors), 1);
    assert_eq!(count(&a, |s| &s.rx_packets), 41);
    assert_eq!(r.pool_available(), r.slots(), "every slot back in the pool");

    // Closing a port removes its vdev: the same device opens again.
    drop(a);
    let mut a = dpdk_port(&r, 0, "ring-a", "net_ring0").expect("reopen net_ring0");
    assert_eq!(send(&r, &mut a, &fb), 10);
    assert_eq!(receive(&r, &mut a, 10).len(), 10);
}

#[test]
fn null_ports_generate_and_sink() {
    let _g = eal();
    let r = region();
    let mut p = dpdk_port(&r, 2, "null", "net_null0,size=64").expect("open net_null0");
    let got = receive(&r, &mut p, 100);
    assert!(got.len() >= 100);
    assert!(got.iter().all(|(f, port)| f.len() == 64 && *port == 2));
    let frames: Vec<(u16, Vec<u8>)> = (0..64).map(|i| (128, frame(64, i as u8))).collect();
    assert_eq!(send(&r, &mut p, &frames), 64);
    assert_eq!(count(&p, |s| &s.tx_packets), 64);
    assert_eq!(count(&p, |s| &s.tx_bytes), 64 * 64);
    assert_eq!(r.pool_available(), r.slots());
}

#[test]
fn bad_devices_give_clear_errors_and_the_process_carries_on() {
    let _g = eal();
    let r = region();
    let e = dpdk_port(&r, 3, "bogus", "net_bogus0")
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("port bogus") && e.contains("net_bogus0") && e.contains("check the driver"),
        "{e}"
    );
    let e = dpdk_port(&r, 3, "nope", "net_af_packet7,iface=sluice-no-such-if")
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("port nope") && e.contains("sluice-no-such-if"),
        "{e}"
    );
    let e = dpdk_port(&r, 3, "empty", "")
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("port empty") && e.contains("device"), "{e}");
    // The same device twice.
    let _p = dpdk_port(&r, 3, "n5", "net_null5").expect("open net_null5");
    let e = dpdk_port(&r, 4, "n5b", "net_null5")
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("port n5b") && e.contains("already used"), "{e}");
    // The EAL is still fine: another port opens.
    let mut ok = dpdk_port(&r, 4, "ok", "net_ring7").expect("open net_ring7");
    assert_eq!(send(&r, &mut ok, &[(128, frame(64, 9))]), 1);
    assert_eq!(receive(&r, &mut ok, 1).len(), 1);
}
