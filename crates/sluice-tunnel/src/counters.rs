//! Per-peer counters: atomics written by the data path, read by the stats code.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::decap::DropReason;

/// Counters of one tunnel peer (or of traffic from unknown peers). All fields are atomics
/// updated with relaxed ordering; one writer per counter is the norm, several are fine.
#[derive(Debug, Default)]
pub struct PeerCounters {
    /// Frames encapsulated to the peer.
    pub tx_packets: AtomicU64,
    /// Bytes of those frames, outer headers included.
    pub tx_bytes: AtomicU64,
    /// Frames received from the peer and accepted.
    pub rx_packets: AtomicU64,
    /// Bytes of those frames, outer headers included.
    pub rx_bytes: AtomicU64,
    /// Dropped frames (received or to be sent), by [`DropReason::index`].
    pub drops: [AtomicU64; DropReason::COUNT],
}

/// A plain copy of [`PeerCounters`] for display and JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PeerStats {
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames received and accepted.
    pub rx_packets: u64,
    /// Bytes received and accepted.
    pub rx_bytes: u64,
    /// Non-zero drop counters as `(reason name, count)`, in reason order.
    pub drops: Vec<(&'static str, u64)>,
}

impl PeerCounters {
    /// All zero.
    pub fn new() -> PeerCounters {
        PeerCounters::default()
    }

    /// Counts a frame of `bytes` sent.
    #[inline]
    pub fn count_tx(&self, bytes: usize) {
        self.tx_packets.fetch_add(1, Relaxed);
        self.tx_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Counts a frame of `bytes` received.
    #[inline]
    pub fn count_rx(&self, bytes: usize) {
        self.rx_packets.fetch_add(1, Relaxed);
        self.rx_bytes.fetch_add(bytes as u64, Relaxed);
    }

    /// Counts a dropped frame.
    #[inline]
    pub fn count_drop(&self, reason: DropReason) {
        self.drops[reason.index()].fetch_add(1, Relaxed);
    }

    /// Drops counted for `reason`.
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()].load(Relaxed)
    }

    /// Sum of all drop counters.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().map(|d| d.load(Relaxed)).sum()
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> PeerStats {
        PeerStats {
            tx_packets: self.tx_packets.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            rx_packets: self.rx_packets.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            drops: DropReason::ALL
                .iter()
                .map(|r| (r.as_str(), self.drops(*r)))
                .filter(|(_, n)| *n != 0)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let c = PeerCounters::new();
        c.count_tx(100);
        c.count_tx(50);
        c.count_rx(60);
        c.count_drop(DropReason::TooBig);
        c.count_drop(DropReason::TooBig);
        c.count_drop(DropReason::TtlExpired);
        let s = c.snapshot();
        assert_eq!(
            (s.tx_packets, s.tx_bytes, s.rx_packets, s.rx_bytes),
            (2, 150, 1, 60)
        );
        assert_eq!(s.drops, vec![("ttl_expired", 1), ("too_big", 2)]);
        assert_eq!(c.total_drops(), 3);
    }
}
