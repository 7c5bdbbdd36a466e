//! Tables the manager writes and NFs read: per-instance control blocks (state, sleep flag,
//! statistics), per-service instance maps and chains. All fields are atomics.

use std::sync::atomic::{fence, AtomicU16, AtomicU32, AtomicU64, Ordering};

use crate::ring::Reservation;
use crate::slot::ActionCode;

/// Service ids run from 1 to this.
pub const MAX_SERVICES: usize = 64;
/// Chain ids run from 0 to this - 1.
pub const MAX_CHAINS: usize = 64;
/// Steps in one chain.
pub const MAX_CHAIN_LEN: usize = 8;
/// Buckets of a service's flow-to-instance map (a power of two).
pub const BUCKETS: usize = 1024;

/// Life of an instance slot.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceState {
    /// Unused.
    Free = 0,
    /// Registered, not yet receiving.
    Starting = 1,
    /// Receiving traffic.
    Running = 2,
    /// Asked to stop or stopping.
    Stopping = 3,
    /// Gone; its buffers are being reclaimed.
    Dead = 4,
}

impl InstanceState {
    fn from_u32(v: u32) -> InstanceState {
        match v {
            1 => InstanceState::Starting,
            2 => InstanceState::Running,
            3 => InstanceState::Stopping,
            4 => InstanceState::Dead,
            _ => InstanceState::Free,
        }
    }

    /// Lower-case name for tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Free => "free",
            InstanceState::Starting => "starting",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Dead => "dead",
        }
    }
}

/// Counters an NF keeps about itself (single writer: the NF) plus one counter other producers
/// add to (`rx_drop_full`, with atomic adds).
#[repr(C, align(64))]
#[derive(Default)]
pub struct NfStats {
    /// Packets taken from the rx ring (valid descriptors).
    pub rx: AtomicU64,
    /// Packets handed on to another NF's rx ring.
    pub tx_nf: AtomicU64,
    /// Packets put on the tx ring for the manager (Out, or drops to free).
    pub tx_mgr: AtomicU64,
    /// Actions returned by the handler.
    pub act_drop: AtomicU64,
    /// See `act_drop`.
    pub act_next: AtomicU64,
    /// See `act_drop`.
    pub act_tonf: AtomicU64,
    /// See `act_drop`.
    pub act_out: AtomicU64,
    /// Sends that found the destination ring full (dropped).
    pub drop_ring_full: AtomicU64,
    /// ToService / Next with no instance, chain end or an unknown service or port.
    pub drop_no_route: AtomicU64,
    /// Descriptors on the rx ring that failed validation.
    pub drop_bad_desc: AtomicU64,
    /// Times the NF went to sleep (shared-core mode).
    pub sleeps: AtomicU64,
    /// Times a producer woke the NF.
    pub wakeups: AtomicU64,
    /// Packets other producers could not enqueue because this NF's rx ring was full
    /// (written by many producers: atomic adds).
    pub rx_drop_full: AtomicU64,
}

/// Control block of one instance slot.
#[repr(C, align(64))]
pub struct Instance {
    /// [`InstanceState`] as u32.
    pub state: AtomicU32,
    /// Service the instance belongs to.
    pub service: AtomicU16,
    /// 1 when the instance may sleep (shared-core mode): only then do producers pay for the
    /// wakeup check's fence. Set before the instance starts receiving.
    pub may_sleep: AtomicU32,
    /// Set by the NF before it sleeps on its eventfd; cleared by the producer that wakes it.
    pub sleeping: CacheLine<AtomicU32>,
    /// The instance's in-progress multi-producer enqueue, for hole repair if it dies.
    pub reservation: Reservation,
    /// Counters.
    pub stats: NfStats,
}

/// Pads its content to a cache line of its own.
#[repr(C, align(64))]
pub struct CacheLine<T>(pub T);

impl std::ops::Deref for CacheLine<AtomicU32> {
    type Target = AtomicU32;
    fn deref(&self) -> &AtomicU32 {
        &self.0
    }
}

impl Instance {
    /// Current state.
    pub fn state(&self) -> InstanceState {
        InstanceState::from_u32(self.state.load(Ordering::Acquire))
    }

    /// Move to a state.
    pub fn set_state(&self, s: InstanceState) {
        self.state.store(s as u32, Ordering::Release);
    }

    /// Consumer side of the sleep protocol: announce sleep. Call [`Instance::still_idle`] with
    /// the ring's emptiness afterwards and only block if it returns true.
    pub fn announce_sleep(&self) {
        self.sleeping.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// After `announce_sleep`: if work arrived meanwhile, take the flag back and return false.
    pub fn still_idle(&self, work_pending: bool) -> bool {
        if work_pending {
            self.sleeping.store(0, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Producer side, once per enqueued batch: true when the consumer flagged itself asleep
    /// and this caller won the right to wake it (exactly one producer writes the eventfd).
    /// A busy shared-core consumer costs a fence and a load, a poll-mode one a load: no
    /// syscall either way.
    #[inline]
    pub fn take_wakeup(&self) -> bool {
        if self.may_sleep.load(Ordering::Relaxed) == 0 {
            return false;
        }
        fence(Ordering::SeqCst);
        self.sleeping.load(Ordering::Relaxed) != 0 && self.sleeping.swap(0, Ordering::AcqRel) != 0
    }

    /// Reset counters and flags for a new occupant.
    pub fn reset(&self) {
        let s = &self.stats;
        for c in [
            &s.rx,
            &s.tx_nf,
            &s.tx_mgr,
            &s.act_drop,
            &s.act_next,
            &s.act_tonf,
            &s.act_out,
            &s.drop_ring_full,
            &s.drop_no_route,
            &s.drop_bad_desc,
            &s.sleeps,
            &s.wakeups,
            &s.rx_drop_full,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.sleeping.store(0, Ordering::Relaxed);
    }
}

/// A service's map from flow-hash bucket to instance id (0 = no instance).
#[repr(C, align(64))]
pub struct ServiceTable {
    /// Live instances (informational).
    pub instances: AtomicU16,
    /// The instance id when the service has exactly one, else 0: lets a sender skip the
    /// per-packet bucket lookup.
    sole: AtomicU16,
    /// `buckets[hash % BUCKETS]` = instance id.
    pub buckets: [AtomicU16; BUCKETS],
}

impl ServiceTable {
    /// Instance for a flow hash, or None when the service has no instance.
    #[inline]
    pub fn pick(&self, flow_hash: u32) -> Option<u16> {
        match self.buckets[flow_hash as usize & (BUCKETS - 1)].load(Ordering::Relaxed) {
            0 => None,
            i => Some(i),
        }
    }

    /// The only instance, if there is exactly one (read once per batch).
    #[inline]
    pub fn sole(&self) -> u16 {
        self.sole.load(Ordering::Acquire)
    }

    /// Install a new bucket map (manager only). Readers see each bucket old or new.
    pub fn publish(&self, map: &[u16; BUCKETS], live: u16) {
        // Leave the single-instance shortcut before the map changes under it.
        self.sole.store(0, Ordering::Release);
        for (b, &v) in self.buckets.iter().zip(map.iter()) {
            b.store(v, Ordering::Relaxed);
        }
        self.instances.store(live, Ordering::Release);
        if live == 1 {
            self.sole.store(map[0], Ordering::Release);
        }
    }
}

/// One step of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// To an instance of this service.
    ToService(u16),
    /// Out of this port.
    Out(u16),
}

impl Step {
    fn encode(self) -> u32 {
        match self {
            Step::ToService(s) => ((ActionCode::ToService as u32) << 16) | s as u32,
            Step::Out(p) => ((ActionCode::Out as u32) << 16) | p as u32,
        }
    }

    fn decode(v: u32) -> Option<Step> {
        let d = (v & 0xffff) as u16;
        match ActionCode::from_u8((v >> 16) as u8)? {
            ActionCode::ToService => Some(Step::ToService(d)),
            ActionCode::Out => Some(Step::Out(d)),
            _ => None,
        }
    }
}

/// A chain of up to [`MAX_CHAIN_LEN`] steps.
#[repr(C, align(64))]
pub struct ChainTable {
    len: AtomicU32,
    steps: [AtomicU32; MAX_CHAIN_LEN],
}

impl ChainTable {
    /// Step `i`, or None past the end.
    #[inline]
    pub fn step(&self, i: usize) -> Option<Step> {
        if i >= self.len.load(Ordering::Acquire) as usize || i >= MAX_CHAIN_LEN {
            return None;
        }
        Step::decode(self.steps[i].load(Ordering::Relaxed))
    }

    /// Number of steps.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire) as usize
    }

    /// True for an undefined chain.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Set the chain (manager only; chains are written before traffic uses them).
    pub fn publish(&self, steps: &[Step]) {
        assert!(steps.len() <= MAX_CHAIN_LEN);
        self.len.store(0, Ordering::Release);
        for (slot, s) in self.steps.iter().zip(steps) {
            slot.store(s.encode(), Ordering::Relaxed);
        }
        self.len.store(steps.len() as u32, Ordering::Release);
    }
}

/// Rendezvous (highest-random-weight) map of buckets to instances: each bucket goes to the
/// instance with the highest weight for it, so adding or removing an instance moves only the
/// buckets that instance gains or loses (openNetVM's `hash % n` remaps nearly all flows).
pub fn bucket_map(instances: &[u16]) -> Box<[u16; BUCKETS]> {
    let mut map = Box::new([0u16; BUCKETS]);
    if instances.is_empty() {
        return map;
    }
    for (b, slot) in map.iter_mut().enumerate() {
        *slot = *instances
            .iter()
            .max_by_key(|&&iid| (weight(b as u64, iid as u64), iid))
            .expect("non-empty");
    }
    map
}

fn weight(bucket: u64, iid: u64) -> u64 {
    // splitmix64 of the pair: deterministic across processes and runs.
    let mut z =
        bucket.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ iid.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_an_instance_moves_only_its_share() {
        let two = bucket_map(&[3, 7]);
        let three = bucket_map(&[3, 7, 9]);
        let moved = two.iter().zip(three.iter()).filter(|(a, b)| a != b).count();
        assert!(
            three.iter().zip(two.iter()).all(|(n, o)| n == o || *n == 9),
            "moves go to the new one"
        );
        let share = moved as f64 / BUCKETS as f64;
        assert!((0.25..0.42).contains(&share), "moved {share}");
        for iid in [3u16, 7, 9] {
            let own = three.iter().filter(|&&x| x == iid).count() as f64 / BUCKETS as f64;
            assert!((0.25..0.42).contains(&own), "instance {iid} has {own}");
        }
    }

    #[test]
    fn removing_an_instance_moves_only_its_buckets() {
        let three = bucket_map(&[1, 2, 3]);
        let two = bucket_map(&[1, 3]);
        for (o, n) in three.iter().zip(two.iter()) {
            if *o != 2 {
                assert_eq!(o, n);
            }
        }
        assert!(bucket_map(&[]).iter().all(|&x| x == 0));
    }

    #[test]
    fn chain_steps_round_trip() {
        let c: ChainTable = ChainTable {
            len: AtomicU32::new(0),
            steps: Default::default(),
        };
        c.publish(&[Step::ToService(3), Step::Out(1)]);
        assert_eq!(c.step(0), Some(Step::ToService(3)));
        assert_eq!(c.step(1), Some(Step::Out(1)));
        assert_eq!(c.step(2), None);
        assert_eq!(c.len(), 2);
    }
}
