//! Bounded rings of `u32` slot indices in shared memory, after DPDK's `rte_ring`.
//!
//! Producer and consumer state live on separate cache lines; indices run free (wrapping `u32`)
//! and are masked on access, so a ring of capacity `2^k` holds exactly `2^k` entries.
//! Multi-producer enqueue reserves space with a CAS on `prod.head`, writes its entries, waits
//! for earlier producers to publish, then publishes with a release store of `prod.tail`.
//!
//! A producer that dies between reserving and publishing would stall every later producer.
//! To make that recoverable, a multi-producer enqueue first writes what it is about to reserve
//! into its [`Reservation`] record (one per process, in shared memory); the manager uses it to
//! fill the dead producer's hole with [`RING_HOLE`] entries and publish past it
//! ([`Ring::repair_hole`]). Dequeue returns holes like any entry; consumers skip them (a hole
//! is never a valid slot index, so the usual index check catches it).

use std::sync::atomic::{AtomicU32, Ordering};

/// Entry value written into a dead producer's reserved cells; consumers skip it.
pub const RING_HOLE: u32 = u32::MAX;

#[repr(C, align(64))]
struct HeadTail {
    head: AtomicU32,
    tail: AtomicU32,
}

/// The ring's header as laid out in shared memory; the entries follow it.
#[repr(C, align(64))]
pub struct RingHeader {
    prod: HeadTail,
    cons: HeadTail,
    /// Read-only after init: capacity - 1.
    mask: u32,
    id: u32,
}

impl RingHeader {
    /// Bytes needed for a ring of `capacity` entries (header + entries), 64-byte aligned.
    pub const fn bytes(capacity: u32) -> usize {
        let b = std::mem::size_of::<RingHeader>() + capacity as usize * 4;
        (b + 63) & !63
    }
}

/// What a multi-producer enqueue is about to reserve, written before its CAS.
#[repr(C, align(64))]
#[derive(Default)]
pub struct Reservation {
    /// Ring id + 1; 0 when no reservation is in progress.
    ring: AtomicU32,
    head: AtomicU32,
    count: AtomicU32,
}

/// A handle to a ring inside a mapped region. Copyable; the region must outlive it.
#[derive(Clone, Copy)]
pub struct Ring {
    hdr: *const RingHeader,
    entries: *mut u32,
    mask: u32,
}

// SAFETY: all shared state is reached through atomics; entries are written only by the producer
// that reserved them and read only after the release/acquire pair on `prod.tail`.
unsafe impl Send for Ring {}
// SAFETY: as above; `&Ring` offers only the atomic protocol.
unsafe impl Sync for Ring {}

impl Ring {
    /// Initialise a ring in place.
    ///
    /// # Safety
    /// `at` must point to `RingHeader::bytes(capacity)` writable bytes, 64-byte aligned, that no
    /// other thread or process uses yet. `capacity` must be a power of two.
    pub unsafe fn init(at: *mut u8, capacity: u32, id: u32) -> Ring {
        debug_assert!(capacity.is_power_of_two());
        let hdr = at as *mut RingHeader;
        // SAFETY: caller guarantees `at` is valid, aligned and exclusively ours.
        unsafe {
            hdr.write(RingHeader {
                prod: HeadTail {
                    head: AtomicU32::new(0),
                    tail: AtomicU32::new(0),
                },
                cons: HeadTail {
                    head: AtomicU32::new(0),
                    tail: AtomicU32::new(0),
                },
                mask: capacity - 1,
                id,
            });
            Ring::attach(at)
        }
    }

    /// A handle to a ring initialised (possibly by another process) at `at`.
    ///
    /// # Safety
    /// `at` must point to a ring made by [`Ring::init`] in a mapping that outlives the handle.
    pub unsafe fn attach(at: *mut u8) -> Ring {
        let hdr = at as *const RingHeader;
        // SAFETY: `mask` is written once at init, before the region is shared.
        let mask = unsafe { (*hdr).mask };
        Ring {
            hdr,
            // SAFETY: entries start right after the header, inside the ring's bytes.
            entries: unsafe { at.add(std::mem::size_of::<RingHeader>()) } as *mut u32,
            mask,
        }
    }

    fn hdr(&self) -> &RingHeader {
        // SAFETY: the header stays mapped as long as the handle (contract of init/attach).
        unsafe { &*self.hdr }
    }

    /// Number of entries the ring can hold.
    pub fn capacity(&self) -> u32 {
        self.mask + 1
    }

    /// The ring's id (its index in the region's ring table).
    pub fn id(&self) -> u32 {
        self.hdr().id
    }

    /// Entries currently in the ring (a snapshot).
    pub fn len(&self) -> u32 {
        let h = self.hdr();
        let prod = h.prod.tail.load(Ordering::Acquire);
        let cons = h.cons.tail.load(Ordering::Acquire);
        prod.wrapping_sub(cons).min(self.capacity())
    }

    /// True when the ring holds nothing (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write_entries(&self, at: u32, items: &[u32]) {
        for (i, &v) in items.iter().enumerate() {
            let pos = at.wrapping_add(i as u32) & self.mask;
            // SAFETY: `pos <= mask`, inside the entry array; the cells [at, at+n) are reserved
            // for this producer until it publishes.
            unsafe { self.entries.add(pos as usize).write(v) };
        }
    }

    fn read_entries(&self, at: u32, out: &mut [u32]) {
        for (i, o) in out.iter_mut().enumerate() {
            let pos = at.wrapping_add(i as u32) & self.mask;
            // SAFETY: `pos <= mask`; the cells were published by a release store we acquired.
            *o = unsafe { self.entries.add(pos as usize).read() };
        }
    }

    /// Single-producer burst enqueue: puts as many of `items` as fit; returns how many.
    /// Only one thread (of one process) may ever produce into this ring.
    pub fn enqueue_sp(&self, items: &[u32]) -> usize {
        let h = self.hdr();
        let head = h.prod.head.load(Ordering::Relaxed);
        let cons = h.cons.tail.load(Ordering::Acquire);
        let free = self.capacity() - head.wrapping_sub(cons);
        let n = (items.len() as u32).min(free);
        if n == 0 {
            return 0;
        }
        self.write_entries(head, &items[..n as usize]);
        h.prod.head.store(head.wrapping_add(n), Ordering::Relaxed);
        h.prod.tail.store(head.wrapping_add(n), Ordering::Release);
        n as usize
    }

    /// Multi-producer burst enqueue: puts as many of `items` as fit; returns how many.
    /// `rsv` is the caller's reservation record (see the module docs).
    pub fn enqueue_mp(&self, items: &[u32], rsv: &Reservation) -> usize {
        let h = self.hdr();
        let mut head = h.prod.head.load(Ordering::Relaxed);
        let n = loop {
            let cons = h.cons.tail.load(Ordering::Acquire);
            let free = self.capacity() - head.wrapping_sub(cons);
            let n = (items.len() as u32).min(free);
            if n == 0 {
                return 0;
            }
            rsv.head.store(head, Ordering::Relaxed);
            rsv.count.store(n, Ordering::Relaxed);
            rsv.ring.store(self.id() + 1, Ordering::Relaxed);
            // Release: the record is visible before the reservation it describes. (It is
            // read only after the writer died, but the order is what makes it true.)
            match h.prod.head.compare_exchange_weak(
                head,
                head.wrapping_add(n),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break n,
                Err(now) => head = now,
            }
        };
        self.write_entries(head, &items[..n as usize]);
        // Earlier producers publish first: entries become visible in reservation order.
        wait_for(&h.prod.tail, head);
        h.prod.tail.store(head.wrapping_add(n), Ordering::Release);
        rsv.ring.store(0, Ordering::Release);
        n as usize
    }

    /// Single-consumer burst dequeue into `out`; returns how many were taken (holes included).
    pub fn dequeue_sc(&self, out: &mut [u32]) -> usize {
        let h = self.hdr();
        let head = h.cons.head.load(Ordering::Relaxed);
        let prod = h.prod.tail.load(Ordering::Acquire);
        let n = (out.len() as u32).min(prod.wrapping_sub(head));
        if n == 0 {
            return 0;
        }
        self.read_entries(head, &mut out[..n as usize]);
        h.cons.head.store(head.wrapping_add(n), Ordering::Relaxed);
        h.cons.tail.store(head.wrapping_add(n), Ordering::Release);
        n as usize
    }

    /// Multi-consumer burst dequeue into `out`; returns how many were taken.
    pub fn dequeue_mc(&self, out: &mut [u32]) -> usize {
        let h = self.hdr();
        let mut head = h.cons.head.load(Ordering::Relaxed);
        let n = loop {
            let prod = h.prod.tail.load(Ordering::Acquire);
            let n = (out.len() as u32).min(prod.wrapping_sub(head));
            if n == 0 {
                return 0;
            }
            match h.cons.head.compare_exchange_weak(
                head,
                head.wrapping_add(n),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break n,
                Err(now) => head = now,
            }
        };
        self.read_entries(head, &mut out[..n as usize]);
        wait_for(&h.cons.tail, head);
        h.cons.tail.store(head.wrapping_add(n), Ordering::Release);
        n as usize
    }

    /// After the producer that owned `rsv` died: if its reservation is stuck unpublished,
    /// fill it with holes and publish past it. Returns true if a hole was repaired.
    ///
    /// Call only once the dead process can no longer run and after live producers have had
    /// time to publish (the caller waits a grace period): a reservation that is still the
    /// oldest unpublished one by then can only be the dead producer's.
    pub fn repair_hole(&self, rsv: &Reservation) -> bool {
        if rsv.ring.load(Ordering::Acquire) != self.id() + 1 {
            return false;
        }
        let h = self.hdr();
        let head = rsv.head.load(Ordering::Relaxed);
        let n = rsv.count.load(Ordering::Relaxed);
        let tail = h.prod.tail.load(Ordering::Acquire);
        let reserved = h.prod.head.load(Ordering::Acquire);
        // Stuck means: publishing has stopped exactly at the recorded head and someone holds
        // space beyond it. Otherwise the CAS failed or the producer published.
        if tail != head || reserved == head || reserved.wrapping_sub(head) < n {
            rsv.ring.store(0, Ordering::Release);
            return false;
        }
        self.write_entries(head, &vec![RING_HOLE; n as usize]);
        h.prod.tail.store(head.wrapping_add(n), Ordering::Release);
        rsv.ring.store(0, Ordering::Release);
        true
    }

    /// The ring's id recorded in `rsv` if a reservation was in progress.
    pub fn reservation_ring(rsv: &Reservation) -> Option<u32> {
        match rsv.ring.load(Ordering::Acquire) {
            0 => None,
            r => Some(r - 1),
        }
    }
}

/// Spin until `tail` reaches `v`. The thread ahead of us may have been preempted between
/// reserving and publishing (likely when threads outnumber cores, as in shared-core mode):
/// after a short spin, yield the CPU so it can finish instead of burning our time slice.
#[inline]
fn wait_for(tail: &AtomicU32, v: u32) {
    let mut spins = 0u32;
    while tail.load(Ordering::Relaxed) != v {
        if spins < 128 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(cap: u32) -> (Vec<u64>, Ring) {
        let mut mem = vec![0u64; RingHeader::bytes(cap) / 8 + 8];
        let p = mem.as_mut_ptr() as *mut u8;
        let aligned = ((p as usize + 63) & !63) as *mut u8;
        // SAFETY: `mem` outlives the ring in each test and has room for the aligned ring.
        let r = unsafe { Ring::init(aligned, cap, 3) };
        (mem, r)
    }

    #[test]
    fn burst_fill_drain_and_wrap() {
        let (_m, r) = ring(8);
        let rsv = Reservation::default();
        let mut out = [0u32; 16];
        for round in 0..100u32 {
            let items: Vec<u32> = (0..10).map(|i| round * 100 + i).collect();
            assert_eq!(r.enqueue_mp(&items, &rsv), 8, "only capacity fits");
            assert_eq!(r.len(), 8);
            assert_eq!(r.enqueue_sp(&items), 0, "full ring takes nothing");
            assert_eq!(r.dequeue_sc(&mut out[..3]), 3);
            assert_eq!(&out[..3], &items[..3]);
            assert_eq!(r.dequeue_mc(&mut out), 5);
            assert_eq!(&out[..5], &items[3..8]);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn indices_wrap_around_u32() {
        let (_m, r) = ring(4);
        // Start near the wrap point of the free-running indices.
        let h = r.hdr();
        for ht in [&h.prod, &h.cons] {
            ht.head.store(u32::MAX - 1, Ordering::Relaxed);
            ht.tail.store(u32::MAX - 1, Ordering::Relaxed);
        }
        let mut out = [0u32; 4];
        assert_eq!(r.enqueue_sp(&[1, 2, 3, 4]), 4);
        assert_eq!(r.len(), 4);
        assert_eq!(r.dequeue_sc(&mut out), 4);
        assert_eq!(out, [1, 2, 3, 4]);
    }

    #[test]
    fn stuck_reservation_is_repaired_and_skipped() {
        let (_m, r) = ring(16);
        let dead = Reservation::default();
        // Simulate a producer that reserved 3 cells and died before publishing.
        let h = r.hdr();
        dead.head.store(0, Ordering::Relaxed);
        dead.count.store(3, Ordering::Relaxed);
        dead.ring.store(r.id() + 1, Ordering::Relaxed);
        h.prod.head.store(3, Ordering::Relaxed);
        // A live producer behind it would spin; repair first, then it can go.
        assert!(r.repair_hole(&dead));
        let live = Reservation::default();
        assert_eq!(r.enqueue_mp(&[7, 8], &live), 2);
        let mut out = [0u32; 8];
        assert_eq!(r.dequeue_sc(&mut out), 5);
        assert_eq!(
            &out[..5],
            &[RING_HOLE, RING_HOLE, RING_HOLE, 7, 8],
            "holes come first"
        );
        assert!(!r.repair_hole(&dead), "a repaired record is cleared");
    }

    #[test]
    fn finished_reservation_is_left_alone() {
        let (_m, r) = ring(16);
        let rsv = Reservation::default();
        assert_eq!(r.enqueue_mp(&[1], &rsv), 1);
        assert!(Ring::reservation_ring(&rsv).is_none());
        // A stale record whose CAS lost: tail moved past it.
        rsv.ring.store(r.id() + 1, Ordering::Relaxed);
        rsv.head.store(0, Ordering::Relaxed);
        rsv.count.store(1, Ordering::Relaxed);
        assert!(!r.repair_hole(&rsv));
        assert_eq!(r.len(), 1);
    }
}
