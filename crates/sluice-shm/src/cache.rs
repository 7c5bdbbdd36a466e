//! Per-thread buffer caches in front of the pool ring, like DPDK's per-lcore mempool cache.
//!
//! The pool ring is FIFO: with tens of thousands of free buffers it hands out the one freed
//! longest ago, whose cache lines are long gone. A [`PoolCache`] is a LIFO stack, so a thread
//! reuses what it freed last (hot in cache). A thread that frees more than it allocates (the
//! TX side) passes its surplus to the allocating thread (the RX side) through a short
//! exchange ring before touching the big pool ring.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::ring::{Reservation, Ring, RingHeader};
use crate::slot::owner;
use crate::Region;

/// A ring in this process's own memory (for exchanges between threads of one process).
pub struct LocalRing {
    _mem: Box<[u64]>,
    ring: Ring,
}

impl LocalRing {
    /// A ring of `capacity` entries (a power of two).
    pub fn new(capacity: u32) -> LocalRing {
        assert!(capacity.is_power_of_two());
        let mut mem = vec![0u64; RingHeader::bytes(capacity) / 8 + 8].into_boxed_slice();
        let aligned = (mem.as_mut_ptr() as usize).next_multiple_of(64) as *mut u8;
        // SAFETY: `mem` has room for the ring after aligning to 64 and lives as long as the
        // handle (both are owned by this struct); nobody else uses it yet.
        let ring = unsafe { Ring::init(aligned, capacity, u32::MAX - 1) };
        LocalRing { _mem: mem, ring }
    }

    /// The ring.
    pub fn ring(&self) -> Ring {
        self.ring
    }
}

/// A thread's stack of free buffers.
pub struct PoolCache {
    stack: Vec<u32>,
    cap: usize,
    take: Option<Ring>,
    give: Option<Ring>,
    held: Arc<AtomicU64>,
}

impl PoolCache {
    /// A cache of up to `cap` buffers. Surplus goes to `give` (else the pool); when empty it
    /// refills from `take` (else the pool). Each ring must have one producer / one consumer.
    pub fn new(cap: usize, take: Option<Ring>, give: Option<Ring>) -> PoolCache {
        PoolCache {
            stack: Vec::with_capacity(cap * 2),
            cap,
            take,
            give,
            held: Arc::default(),
        }
    }

    /// Buffers held right now, published for statistics (they are free, not in flight).
    pub fn held(&self) -> Arc<AtomicU64> {
        self.held.clone()
    }

    fn publish(&self) {
        self.held.store(self.stack.len() as u64, Ordering::Relaxed);
    }

    fn refill(&mut self, region: &Region) {
        let want = self.cap / 2;
        let have = self.stack.len();
        self.stack.resize(have + want, 0);
        let mut got = 0;
        if let Some(t) = self.take {
            got = t.dequeue_sc(&mut self.stack[have..]);
        }
        if got < want {
            got += region.pool_ring().dequeue_mc(&mut self.stack[have + got..]);
        }
        self.stack.truncate(have + got);
    }

    fn alloc(&mut self, region: &Region, out: &mut [u32], who: u16) -> usize {
        if self.stack.len() < out.len() {
            self.refill(region);
        }
        let n = out.len().min(self.stack.len());
        let from = self.stack.len() - n;
        out[..n].copy_from_slice(&self.stack[from..]);
        self.stack.truncate(from);
        for &i in &out[..n] {
            // SAFETY: buffers in the cache are valid free slots; we hand them to `who`.
            unsafe { (*region.meta(i)).owner = who };
        }
        self.publish();
        n
    }

    fn free(&mut self, region: &Region, idx: &[u32]) {
        for &i in idx {
            // SAFETY: the caller held these valid slots.
            unsafe { (*region.meta(i)).owner = owner::FREE };
        }
        self.stack.extend_from_slice(idx);
        if self.stack.len() > self.cap {
            let keep = self.cap / 2;
            let mut done = keep;
            if let Some(g) = self.give {
                done += g.enqueue_sp(&self.stack[keep..]);
            }
            if done < self.stack.len() {
                region.pool_ring_put(&self.stack[done..]);
            }
            self.stack.truncate(keep);
        }
        self.publish();
    }

    /// Give every cached buffer back to the pool (at shutdown).
    pub fn drain(&mut self, region: &Region) {
        region.pool_ring_put(&self.stack);
        self.stack.clear();
        self.publish();
    }
}

/// What ports allocate from and free to: the region, through a thread's cache when it has one.
/// Dereferences to the [`Region`] for slot access.
pub struct Buffers<'a> {
    region: &'a Region,
    cache: Option<&'a mut PoolCache>,
}

impl<'a> Buffers<'a> {
    /// Straight to the pool ring (control plane, tests).
    pub fn direct(region: &'a Region) -> Buffers<'a> {
        Buffers {
            region,
            cache: None,
        }
    }

    /// Through `cache`.
    pub fn cached(region: &'a Region, cache: &'a mut PoolCache) -> Buffers<'a> {
        Buffers {
            region,
            cache: Some(cache),
        }
    }

    /// Take up to `out.len()` free slots for `who`; returns how many.
    #[inline]
    pub fn alloc(&mut self, out: &mut [u32], who: u16) -> usize {
        match &mut self.cache {
            Some(c) => c.alloc(self.region, out, who),
            None => self.region.alloc(out, who),
        }
    }

    /// Return slots to the pool.
    #[inline]
    pub fn free(&mut self, idx: &[u32]) {
        match &mut self.cache {
            Some(c) => c.free(self.region, idx),
            None => self.region.free(idx),
        }
    }
}

impl Deref for Buffers<'_> {
    type Target = Region;
    fn deref(&self) -> &Region {
        self.region
    }
}

/// Unused-reservation helper for single-process producers of the pool ring.
pub(crate) fn put_all(ring: Ring, idx: &[u32]) {
    let rsv = Reservation::default();
    let mut done = 0;
    while done < idx.len() {
        // The pool ring has room for every slot, so this always completes.
        done += ring.enqueue_mp(&idx[done..], &rsv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HugePolicy, RegionConfig};

    #[test]
    fn lifo_reuse_exchange_and_accounting() {
        let cfg = RegionConfig {
            slots: 256,
            data_room: 256,
            headroom: 0,
            max_nfs: 4,
            ring_size: 64,
        };
        let r = Region::create(&cfg, HugePolicy::Never).unwrap();
        let x = LocalRing::new(256);
        let mut rx = PoolCache::new(64, Some(x.ring()), None);
        let mut tx = PoolCache::new(64, None, Some(x.ring()));
        let mut a = [0u32; 8];
        assert_eq!(Buffers::cached(&r, &mut rx).alloc(&mut a, 0), 8);
        assert_eq!(r.owner_of(a[0]), 0);
        Buffers::cached(&r, &mut rx).free(&a);
        let mut b = [0u32; 8];
        Buffers::cached(&r, &mut rx).alloc(&mut b, 0);
        let mut sa = a;
        sa.sort();
        let mut sb = b;
        sb.sort();
        assert_eq!(sa, sb, "the buffers just freed come back first");
        // TX frees more than its cap: the surplus goes to the exchange ring, RX takes it next.
        let mut many = vec![0u32; 100];
        let n = r.alloc(&mut many, 0);
        Buffers::cached(&r, &mut tx).free(&many[..n]);
        assert!(!x.ring().is_empty());
        let total = r.pool_available() as u64
            + rx.held().load(Ordering::Relaxed)
            + tx.held().load(Ordering::Relaxed)
            + x.ring().len() as u64;
        assert_eq!(
            total,
            256 - 8,
            "every buffer is somewhere: pool, caches, exchange or held"
        );
        rx.drain(&r);
        tx.drain(&r);
        r.free(&b);
        assert_eq!(r.pool_available() as u64 + x.ring().len() as u64, 256);
    }
}
