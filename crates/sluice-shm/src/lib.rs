//! Sluice shared memory: the region every NF maps, with the packet pool, rings, per-instance
//! control blocks and routing tables, plus the eventfd wakeups of shared-core mode.
//!
//! Start with [`Region`]: the manager creates it, NFs attach to it from a passed fd.

mod cache;
mod region;
mod ring;
mod slot;
mod tables;
mod wake;

pub use cache::{Buffers, LocalRing, PoolCache};
pub use region::{Backing, Counter, HugePolicy, Region, RegionConfig};
pub use ring::{Reservation, Ring, RING_HOLE};
pub use slot::{drop_reason, owner, ActionCode, SlotMeta, META_BYTES};
pub use tables::{
    bucket_map, ChainTable, Instance, InstanceState, NfStats, ServiceTable, Step, BUCKETS,
    MAX_CHAINS, MAX_CHAIN_LEN, MAX_SERVICES,
};
pub use wake::{wait_any, EventFd};

/// Errors from creating or attaching a region.
#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    /// A system call failed.
    #[error("{call} failed: {source}")]
    Os {
        /// The call.
        call: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The requested sizes cannot be laid out.
    #[error("invalid region configuration: {0}")]
    Config(String),
    /// The fd passed to an NF does not hold a region it can use.
    #[error("cannot attach to the shared region: {0}")]
    Attach(String),
}

impl ShmError {
    pub(crate) fn os(call: &'static str) -> ShmError {
        ShmError::Os {
            call,
            source: std::io::Error::last_os_error(),
        }
    }
}

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC), comparable across processes.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
