//! Views of packets in the shared region handed to NF handlers.

use sluice_shm::{Region, SlotMeta};
use sluice_wire::{Headers, WireError};

use crate::Action;

/// One packet: its frame bytes and metadata. Valid for the handler call only.
pub struct Packet<'a> {
    region: &'a Region,
    idx: u32,
    meta: &'a mut SlotMeta,
}

impl<'a> Packet<'a> {
    /// # Safety
    /// The caller holds slot `idx` (validated) exclusively for `'a`.
    pub(crate) unsafe fn new(region: &'a Region, idx: u32) -> Packet<'a> {
        // SAFETY: the caller holds the slot; no other process writes its metadata now.
        let meta = unsafe { &mut *region.meta(idx) };
        Packet { region, idx, meta }
    }

    /// The frame.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: data_off + len were validated against the slot when the packet was taken,
        // and every setter keeps them within the slot.
        unsafe {
            self.region
                .frame_mut(self.idx, self.meta.data_off, self.meta.len)
        }
    }

    /// The frame, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `data`; we hold the slot exclusively.
        unsafe {
            self.region
                .frame_mut(self.idx, self.meta.data_off, self.meta.len)
        }
    }

    /// Frame length.
    #[inline]
    pub fn len(&self) -> usize {
        self.meta.len as usize
    }

    /// True for an empty frame.
    pub fn is_empty(&self) -> bool {
        self.meta.len == 0
    }

    /// Most bytes the frame can grow to from its current start.
    pub fn capacity(&self) -> usize {
        self.region.data_area() - self.meta.data_off as usize
    }

    /// Set the frame length (grow into the data room or cut). False if it does not fit.
    pub fn set_len(&mut self, len: usize) -> bool {
        if len > self.capacity() {
            return false;
        }
        self.meta.len = len as u16;
        true
    }

    /// Grow the frame at the front by `n` bytes of headroom; returns the new bytes.
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.meta.data_off as usize {
            return None;
        }
        self.meta.data_off -= n as u16;
        self.meta.len += n as u16;
        Some(&mut self.data_mut()[..n])
    }

    /// Remove `n` bytes from the front (e.g. a tunnel header). False if shorter.
    pub fn trim_front(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.meta.data_off += n as u16;
        self.meta.len -= n as u16;
        true
    }

    /// Parse the headers (Ethernet, VLANs, IP, L4).
    pub fn headers(&self) -> Result<Headers, WireError> {
        sluice_wire::parse(self.data())
    }

    /// Port the packet arrived on.
    pub fn in_port(&self) -> u16 {
        self.meta.in_port
    }
    /// Symmetric flow hash computed on arrival.
    pub fn flow_hash(&self) -> u32 {
        self.meta.flow_hash
    }
    /// Set the flow hash (e.g. after rewriting addresses), used for instance choice.
    pub fn set_flow_hash(&mut self, h: u32) {
        self.meta.flow_hash = h;
    }
    /// Free bits for NFs.
    pub fn flags(&self) -> u8 {
        self.meta.flags
    }
    /// See [`Packet::flags`].
    pub fn set_flags(&mut self, f: u8) {
        self.meta.flags = f;
    }
    /// Chain id.
    pub fn chain(&self) -> u16 {
        self.meta.chain
    }
    /// Current step in the chain (0-based).
    pub fn chain_index(&self) -> u8 {
        self.meta.chain_index
    }
    /// Instance id of the NF that sent it here (0 = a port).
    pub fn src(&self) -> u16 {
        self.meta.src
    }
    /// Timestamp (ns, CLOCK_MONOTONIC) set on arrival or by the creator.
    pub fn timestamp(&self) -> u64 {
        self.meta.timestamp
    }
    /// See [`Packet::timestamp`].
    pub fn set_timestamp(&mut self, ns: u64) {
        self.meta.timestamp = ns;
    }
    /// Slot index in the pool (for diagnostics).
    pub fn slot(&self) -> u32 {
        self.idx
    }
}

/// A batch of packets with one action slot each (all `Drop` until set).
pub struct Batch<'a> {
    region: &'a Region,
    slots: &'a [u32],
    actions: &'a mut [Action],
}

impl<'a> Batch<'a> {
    pub(crate) fn new(
        region: &'a Region,
        slots: &'a [u32],
        actions: &'a mut [Action],
    ) -> Batch<'a> {
        Batch {
            region,
            slots,
            actions,
        }
    }

    /// Packets in the batch.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Packet `i`.
    #[inline]
    pub fn packet(&mut self, i: usize) -> Packet<'_> {
        // SAFETY: slots in a batch were validated and are held by this NF; the returned view
        // borrows the batch mutably, so two views of one slot cannot coexist.
        unsafe { Packet::new(self.region, self.slots[i]) }
    }

    /// Set the action of packet `i`.
    #[inline]
    pub fn set_action(&mut self, i: usize, a: Action) {
        self.actions[i] = a;
    }

    /// Set every packet's action.
    pub fn set_all(&mut self, a: Action) {
        self.actions.fill(a);
    }

    /// Action of packet `i`.
    pub fn action(&self, i: usize) -> Action {
        self.actions[i]
    }
}
