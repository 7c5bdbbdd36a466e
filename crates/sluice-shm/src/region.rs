//! The shared region: one memfd mapping holding the packet slots, the pool's free ring, each
//! NF instance's rx/tx rings and control block, and the routing tables NFs read.
//!
//! Nothing in the region is a pointer: everything is found by offset from the header, so every
//! process may map the region at a different address.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use crate::ring::{Reservation, Ring, RingHeader};
use crate::slot::{owner, SlotMeta, META_BYTES};
use crate::tables::{ChainTable, Instance, ServiceTable, MAX_CHAINS, MAX_SERVICES};
use crate::ShmError;

const MAGIC: u64 = u64::from_le_bytes(*b"SLUICE\0\x01");
const LAYOUT_VERSION: u32 = 1;
const HUGE_PAGE: usize = 2 << 20;

/// Sizes chosen by the manager's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionConfig {
    /// Packet buffers in the pool.
    pub slots: u32,
    /// Bytes of each slot's data room (the largest frame).
    pub data_room: u32,
    /// Bytes in front of the frame for headers added later (tunnels).
    pub headroom: u32,
    /// Highest instance id + 1 (instance 0 is the manager itself).
    pub max_nfs: u16,
    /// Entries of each NF rx and tx ring (a power of two).
    pub ring_size: u32,
}

impl Default for RegionConfig {
    fn default() -> Self {
        RegionConfig {
            slots: 32768,
            data_room: 2048,
            headroom: 128,
            max_nfs: 128,
            ring_size: 4096,
        }
    }
}

/// How the region's memory is backed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// 2 MiB hugepages (`MFD_HUGETLB`).
    HugePages,
    /// Normal 4 KiB pages.
    NormalPages,
}

/// Whether to use hugepages when creating the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HugePolicy {
    /// Hugepages when the host has enough free, else normal pages.
    #[default]
    Auto,
    /// Hugepages or fail.
    Require,
    /// Normal pages.
    Never,
}

#[repr(C, align(64))]
struct Header {
    magic: u64,
    version: u32,
    slots: u32,
    slot_size: u32,
    headroom: u32,
    data_room: u32,
    ring_size: u32,
    max_nfs: u32,
    pool_ring_size: u32,
    size: u64,
    slots_off: u64,
    pool_off: u64,
    rings_off: u64,
    instances_off: u64,
    services_off: u64,
    chains_off: u64,
    /// Ports known to the manager (NFs validate `Out` against it).
    num_ports: AtomicU16,
    /// Bumped whenever routing tables change (for observers).
    routes_epoch: AtomicU64,
}

struct Layout {
    slot_size: usize,
    pool_ring_size: u32,
    slots_off: usize,
    pool_off: usize,
    rings_off: usize,
    ring_bytes: usize,
    instances_off: usize,
    services_off: usize,
    chains_off: usize,
    size: usize,
}

fn align(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}

impl Layout {
    fn of(c: &RegionConfig) -> Result<Layout, ShmError> {
        if c.slots == 0 || c.slots > 1 << 26 {
            return Err(ShmError::Config(format!(
                "pool size {} out of range 1..=2^26",
                c.slots
            )));
        }
        if !c.ring_size.is_power_of_two() || c.ring_size < 32 {
            return Err(ShmError::Config(format!(
                "ring size {} must be a power of two >= 32",
                c.ring_size
            )));
        }
        if c.max_nfs < 2 || c.max_nfs == u16::MAX {
            return Err(ShmError::Config(format!(
                "max_nfs {} out of range",
                c.max_nfs
            )));
        }
        if c.data_room < 64 || c.data_room as usize + c.headroom as usize > u16::MAX as usize {
            return Err(ShmError::Config(format!(
                "data room {} + headroom {} must be 64..=65535 bytes",
                c.data_room, c.headroom
            )));
        }
        let slot_size = align(META_BYTES + c.headroom as usize + c.data_room as usize, 64);
        let pool_ring_size = (c.slots + 1).next_power_of_two();
        let ring_bytes = RingHeader::bytes(c.ring_size);
        let slots_off = align(std::mem::size_of::<Header>(), 4096);
        let pool_off = align(slots_off + slot_size * c.slots as usize, 4096);
        let rings_off = align(pool_off + RingHeader::bytes(pool_ring_size), 4096);
        let instances_off = align(rings_off + 2 * ring_bytes * c.max_nfs as usize, 4096);
        let services_off = align(
            instances_off + std::mem::size_of::<Instance>() * c.max_nfs as usize,
            4096,
        );
        let chains_off = align(
            services_off + std::mem::size_of::<ServiceTable>() * (MAX_SERVICES + 1),
            64,
        );
        let size = align(
            chains_off + std::mem::size_of::<ChainTable>() * MAX_CHAINS,
            HUGE_PAGE,
        );
        Ok(Layout {
            slot_size,
            pool_ring_size,
            slots_off,
            pool_off,
            rings_off,
            ring_bytes,
            instances_off,
            services_off,
            chains_off,
            size,
        })
    }
}

/// A mapped shared region. The creator (manager) owns the fd; NFs attach from a passed fd.
pub struct Region {
    base: NonNull<u8>,
    size: usize,
    fd: OwnedFd,
    backing: Backing,
    slots: u32,
    slot_size: usize,
    headroom: u32,
    data_room: u32,
    max_nfs: u16,
    slots_off: usize,
    pool: Ring,
}

// SAFETY: the mapping is shared memory reached only through atomics and the ownership protocol
// of slots; the handle itself is immutable after construction.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// Create and initialise a region (the manager does this once at start).
    pub fn create(cfg: &RegionConfig, huge: HugePolicy) -> Result<Region, ShmError> {
        let l = Layout::of(cfg)?;
        let (fd, base, backing) = match huge {
            HugePolicy::Never => {
                let (fd, base) = map_new(l.size, false)?;
                (fd, base, Backing::NormalPages)
            }
            HugePolicy::Require => {
                let (fd, base) = map_new(l.size, true)?;
                (fd, base, Backing::HugePages)
            }
            HugePolicy::Auto => match map_new(l.size, true) {
                Ok((fd, base)) => (fd, base, Backing::HugePages),
                Err(e) => {
                    tracing::debug!("hugepages unavailable ({e}); using normal pages");
                    let (fd, base) = map_new(l.size, false)?;
                    (fd, base, Backing::NormalPages)
                }
            },
        };
        let b = base.as_ptr();
        // SAFETY: the fresh mapping is `l.size` bytes, zero-filled and ours alone; every write
        // below stays inside the offsets computed by `Layout::of`, which are 64-byte aligned.
        unsafe {
            (b as *mut Header).write(Header {
                magic: MAGIC,
                version: LAYOUT_VERSION,
                slots: cfg.slots,
                slot_size: l.slot_size as u32,
                headroom: cfg.headroom,
                data_room: cfg.data_room,
                ring_size: cfg.ring_size,
                max_nfs: cfg.max_nfs as u32,
                pool_ring_size: l.pool_ring_size,
                size: l.size as u64,
                slots_off: l.slots_off as u64,
                pool_off: l.pool_off as u64,
                rings_off: l.rings_off as u64,
                instances_off: l.instances_off as u64,
                services_off: l.services_off as u64,
                chains_off: l.chains_off as u64,
                num_ports: AtomicU16::new(0),
                routes_epoch: AtomicU64::new(0),
            });
            let pool = Ring::init(b.add(l.pool_off), l.pool_ring_size, 0);
            for i in 0..cfg.max_nfs as usize {
                let rx = b.add(l.rings_off + 2 * i * l.ring_bytes);
                Ring::init(rx, cfg.ring_size, ring_id_rx(i as u16));
                Ring::init(rx.add(l.ring_bytes), cfg.ring_size, ring_id_tx(i as u16));
            }
            // Instances, services and chains are all-zero when empty: the mapping already is.
            let region = Region::from_parts(fd, base, l.size, backing)?;
            let mut all = Vec::with_capacity(cfg.slots as usize);
            for i in 0..cfg.slots {
                (*region.meta(i)).owner = owner::FREE;
                all.push(i);
            }
            let r = Reservation::default();
            for chunk in all.chunks(1024) {
                let n = pool.enqueue_mp(chunk, &r);
                debug_assert_eq!(n, chunk.len());
            }
            Ok(region)
        }
    }

    /// Map a region created by another process from its fd.
    pub fn attach(fd: OwnedFd, size: usize) -> Result<Region, ShmError> {
        // SAFETY: mapping a memfd we were given; failure is reported by mmap.
        let base = unsafe { mmap(fd.as_raw_fd(), size, false)? };
        // SAFETY: the header is at offset 0 of a mapping of at least `size` bytes.
        let hdr = unsafe { &*(base.as_ptr() as *const Header) };
        if hdr.magic != MAGIC || hdr.version != LAYOUT_VERSION || hdr.size as usize != size {
            let msg = format!(
                "not a sluice region of layout {LAYOUT_VERSION} and {size} bytes \
                 (magic {:#x}, version {}, size {})",
                hdr.magic, hdr.version, hdr.size
            );
            // SAFETY: unmapping what we just mapped; `hdr` is not used afterwards.
            unsafe { libc::munmap(base.as_ptr() as *mut _, size) };
            return Err(ShmError::Attach(msg));
        }
        Region::from_parts(fd, base, size, Backing::NormalPages)
    }

    fn from_parts(
        fd: OwnedFd,
        base: NonNull<u8>,
        size: usize,
        backing: Backing,
    ) -> Result<Region, ShmError> {
        // SAFETY: the header was written by `create` (ours or another process's) and validated.
        let hdr = unsafe { &*(base.as_ptr() as *const Header) };
        // SAFETY: the pool ring was initialised by `create` at `pool_off`.
        let pool = unsafe { Ring::attach(base.as_ptr().add(hdr.pool_off as usize)) };
        Ok(Region {
            base,
            size,
            fd,
            backing,
            slots: hdr.slots,
            slot_size: hdr.slot_size as usize,
            headroom: hdr.headroom,
            data_room: hdr.data_room,
            max_nfs: hdr.max_nfs as u16,
            slots_off: hdr.slots_off as usize,
            pool,
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: the header lives at offset 0 for the life of the mapping.
        unsafe { &*(self.base.as_ptr() as *const Header) }
    }

    /// The memfd, to pass to NF processes.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Mapped size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Hugepages or normal pages (as created; attached regions report normal pages).
    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// Packet slots in the pool.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Bytes of headroom in front of each frame.
    pub fn headroom(&self) -> u32 {
        self.headroom
    }

    /// The largest frame a slot holds.
    pub fn data_room(&self) -> u32 {
        self.data_room
    }

    /// Headroom + data room: the data area's size.
    pub fn data_area(&self) -> usize {
        (self.headroom + self.data_room) as usize
    }

    /// Bytes per slot (metadata + headroom + data room, rounded up to 64): a multiple of 64,
    /// not necessarily a power of two.
    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// Base address (page-aligned) and length in bytes (`slots() * slot_size()`) of the slot
    /// array in this process's mapping; slot `i` starts at `base + i * slot_size()`. For
    /// registering the packet memory with the kernel (an AF_XDP UMEM); the pages after the
    /// array up to the next page boundary also belong to the mapping.
    pub fn slot_area(&self) -> (*mut u8, usize) {
        // SAFETY: slots_off is inside the mapping (the slot array follows the header).
        let base = unsafe { self.base.as_ptr().add(self.slots_off) };
        (base, self.slot_size * self.slots as usize)
    }

    /// Instance ids run from 1 to `max_nfs() - 1`.
    pub fn max_nfs(&self) -> u16 {
        self.max_nfs
    }

    /// Slot index in range?
    #[inline]
    pub fn valid_slot(&self, idx: u32) -> bool {
        idx < self.slots
    }

    /// Pointer to a slot's metadata. Dereference only while holding the slot.
    ///
    /// # Safety
    /// `idx` must be a valid slot index (`valid_slot`).
    #[inline]
    pub unsafe fn meta(&self, idx: u32) -> *mut SlotMeta {
        debug_assert!(self.valid_slot(idx));
        // SAFETY: idx < slots, so the offset is inside the slot array.
        let p = unsafe {
            self.base
                .as_ptr()
                .add(self.slots_off + idx as usize * self.slot_size)
        };
        p as *mut SlotMeta
    }

    /// Hint the CPU to fetch a slot's metadata line: a burst's slots were written on another
    /// core, so fetching all of them up front overlaps the cache misses.
    #[inline]
    pub fn prefetch(&self, idx: u32) {
        if !self.valid_slot(idx) {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults; the address is inside the mapping anyway.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.meta(idx) as *const i8);
        }
    }

    /// Pointer to the start of a slot's data area (headroom included).
    ///
    /// # Safety
    /// `idx` must be a valid slot index.
    #[inline]
    pub unsafe fn data(&self, idx: u32) -> *mut u8 {
        // SAFETY: as for `meta`; the data area follows the metadata inside the slot.
        unsafe { (self.meta(idx) as *mut u8).add(META_BYTES) }
    }

    /// The frame bytes of a slot whose metadata has been validated. The slot, not the
    /// region, is what the caller borrows mutably: ownership comes from holding the slot.
    ///
    /// # Safety
    /// The caller holds the slot exclusively for the returned lifetime, and
    /// `data_off + len <= data_area()`.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn frame_mut(&self, idx: u32, data_off: u16, len: u16) -> &mut [u8] {
        // SAFETY: the caller validated the bounds and owns the slot exclusively.
        unsafe {
            std::slice::from_raw_parts_mut(self.data(idx).add(data_off as usize), len as usize)
        }
    }

    /// Take up to `out.len()` free slots; returns how many. Their owner is set to `who`.
    pub fn alloc(&self, out: &mut [u32], who: u16) -> usize {
        let n = self.pool.dequeue_mc(out);
        for &i in &out[..n] {
            // SAFETY: indices in the pool ring are valid slots we now hold.
            unsafe { (*self.meta(i)).owner = who };
        }
        n
    }

    /// Return slots to the pool. Only the manager process frees; NFs hand buffers back
    /// through their tx ring so a dying NF can never wedge the pool.
    pub fn free(&self, idx: &[u32]) {
        for &i in idx {
            // SAFETY: the caller holds these valid slots.
            unsafe { (*self.meta(i)).owner = owner::FREE };
        }
        self.pool_ring_put(idx);
    }

    /// The pool's free ring (for thread caches).
    pub(crate) fn pool_ring(&self) -> Ring {
        self.pool
    }

    /// Put free slots (owner already FREE) back on the pool ring.
    pub(crate) fn pool_ring_put(&self, idx: &[u32]) {
        crate::cache::put_all(self.pool, idx);
    }

    /// Free slots in the pool ring (thread caches hold more: see `PoolCache::held`).
    pub fn pool_available(&self) -> u32 {
        self.pool.len()
    }

    /// Slot owner snapshot (for reclaiming a dead NF's buffers).
    pub fn owner_of(&self, idx: u32) -> u16 {
        // SAFETY: valid index; a racy read of a u16 is only used as a hint by the manager,
        // which reads it when the owning process is dead.
        unsafe { std::ptr::read_volatile(&(*self.meta(idx)).owner) }
    }

    fn ring_at(&self, id: u32) -> Ring {
        let h = self.header();
        let ring_bytes = RingHeader::bytes(h.ring_size) as u64;
        let off = h.rings_off + (id as u64 - 1) * ring_bytes;
        // SAFETY: ids 1..=2*max_nfs map to rings initialised by `create`.
        unsafe { Ring::attach(self.base.as_ptr().add(off as usize)) }
    }

    /// The rx ring of instance `iid` (many producers, the instance consumes).
    pub fn rx_ring(&self, iid: u16) -> Ring {
        assert!(iid < self.max_nfs);
        self.ring_at(ring_id_rx(iid))
    }

    /// The tx ring of instance `iid` (the instance produces, the manager consumes).
    pub fn tx_ring(&self, iid: u16) -> Ring {
        assert!(iid < self.max_nfs);
        self.ring_at(ring_id_tx(iid))
    }

    /// Any ring by id (0 = pool), for repairing holes named by a reservation record.
    pub fn ring_by_id(&self, id: u32) -> Option<Ring> {
        match id {
            0 => Some(self.pool),
            i if i <= 2 * self.max_nfs as u32 => Some(self.ring_at(i)),
            _ => None,
        }
    }

    /// Control block of instance `iid` (0 is the manager's own).
    pub fn instance(&self, iid: u16) -> &Instance {
        assert!(iid < self.max_nfs);
        let off =
            self.header().instances_off as usize + iid as usize * std::mem::size_of::<Instance>();
        // SAFETY: inside the instance array; all fields are atomics.
        unsafe { &*(self.base.as_ptr().add(off) as *const Instance) }
    }

    /// Routing table of service `sid` (1..=MAX_SERVICES).
    pub fn service(&self, sid: u16) -> Option<&ServiceTable> {
        if sid == 0 || sid as usize > MAX_SERVICES {
            return None;
        }
        let off = self.header().services_off as usize
            + sid as usize * std::mem::size_of::<ServiceTable>();
        // SAFETY: inside the service array; all fields are atomics.
        Some(unsafe { &*(self.base.as_ptr().add(off) as *const ServiceTable) })
    }

    /// Chain `id` (0..MAX_CHAINS).
    pub fn chain(&self, id: u16) -> Option<&ChainTable> {
        if id as usize >= MAX_CHAINS {
            return None;
        }
        let off =
            self.header().chains_off as usize + id as usize * std::mem::size_of::<ChainTable>();
        // SAFETY: inside the chain array; all fields are atomics.
        Some(unsafe { &*(self.base.as_ptr().add(off) as *const ChainTable) })
    }

    /// Number of ports, for validating `Out` destinations.
    pub fn num_ports(&self) -> u16 {
        self.header().num_ports.load(Ordering::Relaxed)
    }

    /// Set by the manager once its ports are open.
    pub fn set_num_ports(&self, n: u16) {
        self.header().num_ports.store(n, Ordering::Release);
    }

    /// Note a change to services or chains.
    pub fn bump_routes_epoch(&self) {
        self.header().routes_epoch.fetch_add(1, Ordering::Release);
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; handles borrowed from it cannot outlive `self`
        // in safe code (rings are only created by methods on a live region by the caller's
        // contract to keep the region alive).
        unsafe { libc::munmap(self.base.as_ptr() as *mut _, self.size) };
    }
}

/// Ring ids: 0 is the pool; instance `i` has rx `1+2i` and tx `2+2i`.
fn ring_id_rx(iid: u16) -> u32 {
    1 + 2 * iid as u32
}

fn ring_id_tx(iid: u16) -> u32 {
    2 + 2 * iid as u32
}

fn map_new(size: usize, huge: bool) -> Result<(OwnedFd, NonNull<u8>), ShmError> {
    let mut flags = libc::MFD_CLOEXEC;
    if huge {
        flags |= libc::MFD_HUGETLB | libc::MFD_HUGE_2MB;
    }
    // SAFETY: the name is a valid C string; memfd_create returns a new fd or -1.
    let raw = unsafe { libc::memfd_create(c"sluice-region".as_ptr(), flags) };
    if raw < 0 {
        return Err(ShmError::os("memfd_create"));
    }
    // SAFETY: `raw` is a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: plain syscall on our fd.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) } != 0 {
        return Err(ShmError::os("ftruncate"));
    }
    // SAFETY: mapping our own fd; errors are returned. Pre-faulting makes a hugepage shortage
    // an mmap error now rather than a SIGBUS on first touch.
    let base = unsafe { mmap(fd.as_raw_fd(), size, true)? };
    Ok((fd, base))
}

/// # Safety
/// `fd` must be a memfd of at least `size` bytes.
unsafe fn mmap(fd: RawFd, size: usize, populate: bool) -> Result<NonNull<u8>, ShmError> {
    let flags = libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 };
    // SAFETY: a fresh shared mapping placed by the kernel.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(ShmError::os("mmap"));
    }
    NonNull::new(p as *mut u8).ok_or_else(|| ShmError::os("mmap"))
}

/// Atomic counter helpers for single-writer statistics: a relaxed load and store, no locked
/// instruction, readable by other processes.
pub trait Counter {
    /// Add `n` (single writer only).
    fn bump(&self, n: u64);
    /// Current value.
    fn get(&self) -> u64;
}

impl Counter for AtomicU64 {
    #[inline]
    fn bump(&self, n: u64) {
        self.store(
            self.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }
    #[inline]
    fn get(&self) -> u64 {
        self.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> RegionConfig {
        RegionConfig {
            slots: 100,
            data_room: 2048,
            headroom: 128,
            max_nfs: 4,
            ring_size: 64,
        }
    }

    #[test]
    fn pool_alloc_free_and_owner() {
        let r = Region::create(&small(), HugePolicy::Never).unwrap();
        assert_eq!(r.pool_available(), 100);
        let mut got = [0u32; 40];
        assert_eq!(r.alloc(&mut got, 3), 40);
        assert_eq!(r.pool_available(), 60);
        assert!(got.iter().all(|&i| r.valid_slot(i) && r.owner_of(i) == 3));
        r.free(&got);
        assert_eq!(r.pool_available(), 100);
        assert_eq!(r.owner_of(got[0]), owner::FREE);
    }

    #[test]
    fn attach_sees_the_same_memory() {
        let r = Region::create(&small(), HugePolicy::Never).unwrap();
        // SAFETY: dup of a valid fd.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(r.fd())) };
        let a = Region::attach(dup, r.size()).unwrap();
        let mut one = [0u32; 1];
        r.alloc(&mut one, 1);
        // SAFETY: we hold slot one[0]; both mappings alias the same memfd page.
        unsafe {
            (*r.meta(one[0])).len = 77;
            assert_eq!((*a.meta(one[0])).len, 77);
        }
        assert_eq!(a.tx_ring(2).enqueue_sp(&one), 1);
        assert_eq!(r.tx_ring(2).len(), 1);
        assert_eq!(a.slots(), 100);
    }

    #[test]
    fn bad_sizes_and_foreign_fds_are_refused() {
        let bad = RegionConfig {
            ring_size: 100,
            ..small()
        };
        assert!(matches!(
            Region::create(&bad, HugePolicy::Never),
            Err(ShmError::Config(_))
        ));
        let r = Region::create(&small(), HugePolicy::Never).unwrap();
        // SAFETY: dup of a valid fd.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(r.fd())) };
        assert!(matches!(
            Region::attach(dup, r.size() - 4096),
            Err(ShmError::Attach(_))
        ));
    }
}
