//! ARP for the underlay: requests for the next hop, replies for our tunnel address, and a
//! small cache with caller-supplied timestamps.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use sluice_wire::{
    write_arp_ipv4, ArpPacket, MacAddr, WireError, ARP_REPLY, ARP_REQUEST, ETHERTYPE_ARP,
};
use thiserror::Error;

use crate::endpoint::Endpoint;

/// Length of the ARP frames built here (Ethernet + ARP, no padding).
pub const ARP_FRAME_LEN: usize = 42;

/// ARP handling errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArpError {
    /// The output buffer cannot hold an ARP frame.
    #[error("ARP output buffer too small: need {ARP_FRAME_LEN} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes available.
        have: usize,
    },
    /// Building the frame failed.
    #[error("building an ARP frame: {0}")]
    Wire(#[from] WireError),
}

/// Writes a broadcast ARP request "who has `target`? tell `local.ip`" into `out`; returns
/// its length (42). Resolve [`Endpoint::next_hop`] of a peer, not the peer, when it is
/// behind a gateway.
pub fn arp_request(out: &mut [u8], local: &Endpoint, target: Ipv4Addr) -> Result<usize, ArpError> {
    if out.len() < ARP_FRAME_LEN {
        return Err(ArpError::BufferTooSmall { have: out.len() });
    }
    Ok(write_arp_ipv4(
        out,
        ARP_REQUEST,
        local.mac,
        local.ip.octets(),
        [0; 6],
        target.octets(),
    )?)
}

/// What [`handle_arp`] did with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpOutcome {
    /// Address and MAC learned or refreshed in the cache.
    pub learned: Option<(Ipv4Addr, MacAddr)>,
    /// Length of the reply written to the output buffer (the request asked for our tunnel
    /// address); send `out[..len]`.
    pub reply_len: Option<usize>,
}

/// Handles a received Ethernet frame if it is ARP (RFC 826 merge rules): the sender is
/// learned when it is already in the cache or the frame is aimed at our tunnel address (a
/// reply to our request, or a request for us), and a request for `local.ip` is answered
/// into `out`. Anything else (not ARP, malformed, for another address) is ignored: the
/// outcome is empty.
pub fn handle_arp(
    frame: &[u8],
    local: &Endpoint,
    cache: &mut ArpCache,
    now_ns: u64,
    out: &mut [u8],
) -> Result<ArpOutcome, ArpError> {
    let mut outcome = ArpOutcome {
        learned: None,
        reply_len: None,
    };
    if frame.len() < 14 || u16::from_be_bytes([frame[12], frame[13]]) != ETHERTYPE_ARP {
        return Ok(outcome);
    }
    let Ok(arp) = ArpPacket::new_checked(&frame[14..]) else {
        return Ok(outcome);
    };
    let spa = arp.spa_addr();
    let sha = arp.sha();
    let for_us = arp.tpa_addr() == local.ip;
    let valid_sender = !spa.is_unspecified() && sha[0] & 1 == 0;
    if valid_sender && (for_us || cache.contains(spa)) && cache.insert(spa, sha, now_ns) {
        outcome.learned = Some((spa, sha));
    }
    if for_us && arp.oper() == ARP_REQUEST && valid_sender {
        if out.len() < ARP_FRAME_LEN {
            return Err(ArpError::BufferTooSmall { have: out.len() });
        }
        let n = write_arp_ipv4(
            out,
            ARP_REPLY,
            local.mac,
            local.ip.octets(),
            sha,
            spa.octets(),
        )?;
        outcome.reply_len = Some(n);
    }
    Ok(outcome)
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: MacAddr,
    updated_ns: u64,
    is_static: bool,
}

/// IPv4 → MAC cache for underlay next hops. Times are nanoseconds on a clock of the
/// caller's choice (e.g. CLOCK_MONOTONIC); learned entries expire `ttl_ns` after their last
/// update, static entries never and are never overwritten by ARP.
#[derive(Clone, Debug)]
pub struct ArpCache {
    entries: HashMap<Ipv4Addr, Entry>,
    ttl_ns: u64,
}

impl ArpCache {
    /// Default lifetime of a learned entry: 60 s.
    pub const DEFAULT_TTL_NS: u64 = 60_000_000_000;

    /// An empty cache whose learned entries live `ttl_ns`.
    pub fn new(ttl_ns: u64) -> ArpCache {
        ArpCache {
            entries: HashMap::new(),
            ttl_ns,
        }
    }

    /// Sets a static MAC for `ip` (overrides ARP, never expires).
    pub fn set_static(&mut self, ip: Ipv4Addr, mac: MacAddr) {
        self.entries.insert(
            ip,
            Entry {
                mac,
                updated_ns: 0,
                is_static: true,
            },
        );
    }

    /// Learns `ip` at `mac` at time `now_ns`. Returns false (and changes nothing) if `ip`
    /// has a static entry.
    pub fn insert(&mut self, ip: Ipv4Addr, mac: MacAddr, now_ns: u64) -> bool {
        match self.entries.get(&ip) {
            Some(e) if e.is_static => false,
            _ => {
                self.entries.insert(
                    ip,
                    Entry {
                        mac,
                        updated_ns: now_ns,
                        is_static: false,
                    },
                );
                true
            }
        }
    }

    /// The MAC of `ip` at time `now_ns`, if static or learned less than the TTL ago.
    pub fn lookup(&self, ip: Ipv4Addr, now_ns: u64) -> Option<MacAddr> {
        let e = self.entries.get(&ip)?;
        (e.is_static || now_ns.saturating_sub(e.updated_ns) < self.ttl_ns).then_some(e.mac)
    }

    /// True if `ip` has an entry, expired or not (RFC 826's "already in the table").
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.entries.contains_key(&ip)
    }

    /// Forgets `ip` (static or learned).
    pub fn remove(&mut self, ip: Ipv4Addr) {
        self.entries.remove(&ip);
    }

    /// Forgets learned entries older than the TTL at `now_ns`; returns how many.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        let before = self.entries.len();
        let ttl = self.ttl_ns;
        self.entries
            .retain(|_, e| e.is_static || now_ns.saturating_sub(e.updated_ns) < ttl);
        before - self.entries.len()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Default for ArpCache {
    fn default() -> Self {
        ArpCache::new(Self::DEFAULT_TTL_NS)
    }
}
