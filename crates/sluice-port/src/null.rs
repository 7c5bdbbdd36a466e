//! The `null` port: a transmit sink. It counts every frame it is given and frees the slots
//! at once, like `/dev/null` (or a NIC with an infinitely fast wire).

use std::sync::Arc;

use sluice_shm::{Buffers, Counter};

use crate::{PortStats, TxPort};

struct Null {
    stats: Arc<PortStats>,
}

/// Build the sink.
pub(crate) fn open(stats: Arc<PortStats>) -> Box<dyn TxPort> {
    Box::new(Null { stats })
}

impl TxPort for Null {
    fn tx_burst(&mut self, region: &mut Buffers<'_>, slots: &[u32]) -> usize {
        if slots.is_empty() {
            return 0;
        }
        let mut bytes = 0u64;
        for &idx in slots {
            // SAFETY: the caller holds these slots (TxPort contract), so the indices are valid
            // and nobody else writes their metadata.
            bytes += u64::from(unsafe { (*region.meta(idx)).len });
        }
        region.free(slots);
        self.stats.tx_packets.bump(slots.len() as u64);
        self.stats.tx_bytes.bump(bytes);
        slots.len()
    }
}
