//! Ring memory ordering checked across real processes: several forked producers enqueue
//! sequence-numbered entries into one multi-producer ring while the parent consumes, and
//! several processes allocate and free pool slots concurrently. Lost, duplicated, reordered
//! or doubly-held entries fail the test.

use std::sync::atomic::{AtomicU32, Ordering};

use sluice_shm::{HugePolicy, Region, RegionConfig};

fn region() -> Region {
    let cfg = RegionConfig {
        slots: 4096,
        data_room: 256,
        headroom: 0,
        max_nfs: 8,
        ring_size: 256,
    };
    Region::create(&cfg, HugePolicy::Never).expect("create region")
}

/// Run `f` in `n` forked children (child k gets k); returns their exit codes.
fn fork_children(n: usize, f: impl Fn(usize) -> i32) -> Vec<libc::pid_t> {
    (0..n)
        .map(|k| {
            // SAFETY: the child only touches the shared mapping and exits with _exit, never
            // returning into the test harness.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let code = f(k);
                // SAFETY: terminate the child without running the parent's destructors.
                unsafe { libc::_exit(code) };
            }
            pid
        })
        .collect()
}

fn wait_all(pids: &[libc::pid_t]) {
    for &pid in pids {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child {pid} did not exit normally");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "child {pid} reported an error"
        );
    }
}

#[test]
fn multi_producer_ring_keeps_every_entry_in_order() {
    const PRODUCERS: usize = 3;
    const PER: u32 = if cfg!(debug_assertions) {
        100_000
    } else {
        400_000
    };
    let r = region();
    let ring = r.rx_ring(1);
    let pids = fork_children(PRODUCERS, |k| {
        let rsv = &r.instance(k as u16 + 2).reservation;
        let mut seq = 0u32;
        let mut batch = [0u32; 32];
        while seq < PER {
            let n = (PER - seq).min(1 + seq % 32);
            for (i, b) in batch[..n as usize].iter_mut().enumerate() {
                *b = ((k as u32) << 24) | (seq + i as u32);
            }
            let sent = ring.enqueue_mp(&batch[..n as usize], rsv);
            seq += sent as u32;
            if sent == 0 {
                std::hint::spin_loop();
            }
        }
        0
    });
    let mut next = [0u32; PRODUCERS];
    let mut got = 0u64;
    let mut out = [0u32; 64];
    while got < PRODUCERS as u64 * PER as u64 {
        let n = ring.dequeue_sc(&mut out);
        for &v in &out[..n] {
            let (p, s) = ((v >> 24) as usize, v & 0xff_ffff);
            assert!(p < PRODUCERS, "garbage entry {v:#x}");
            assert_eq!(s, next[p], "producer {p}: expected {} got {s}", next[p]);
            next[p] += 1;
        }
        got += n as u64;
    }
    wait_all(&pids);
    assert!(ring.is_empty());
}

#[test]
fn pool_slots_are_never_held_twice() {
    const WORKERS: usize = 3;
    const ROUNDS: u32 = 20_000;
    let r = region();
    let total = r.pool_available();
    let pids = fork_children(WORKERS, |k| {
        let me = k as u32 + 1;
        let mut held = [0u32; 48];
        for round in 0..ROUNDS {
            let want = 1 + (round as usize * 7 + k) % held.len();
            let n = r.alloc(&mut held[..want], me as u16);
            for &i in &held[..n] {
                // SAFETY: the slot is ours until freed; its data area holds a holder marker.
                let mark = unsafe { &*(r.data(i) as *const AtomicU32) };
                if mark
                    .compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
                {
                    return 1;
                }
            }
            for &i in &held[..n] {
                // SAFETY: as above.
                let mark = unsafe { &*(r.data(i) as *const AtomicU32) };
                if mark
                    .compare_exchange(me, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
                {
                    return 2;
                }
            }
            r.free(&held[..n]);
        }
        0
    });
    wait_all(&pids);
    assert_eq!(r.pool_available(), total, "every slot is back in the pool");
}
