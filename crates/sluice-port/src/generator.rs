//! The `generator` port: synthetic Ethernet/IPv4-or-IPv6/UDP traffic, like openNetVM's
//! load generator. Every frame of every flow (and direction) is built once at open together
//! with its symmetric flow hash; receiving a burst only allocates slots, copies templates in
//! and writes the metadata.

use std::net::IpAddr;
use std::sync::Arc;

use sluice_shm::{now_ns, owner, Buffers, Counter, Region, SlotMeta};
use sluice_wire::build::{write_udp_ipv4, write_udp_ipv6, MIN_UDP_IPV4_FRAME, MIN_UDP_IPV6_FRAME};
use sluice_wire::{flow_hash, parse_mac, MacAddr, WireError};

use crate::config::{GeneratorConfig, Pattern};
use crate::rate::TokenBucket;
use crate::{PortError, PortStats, RxPort};

/// Largest total size of the prebuilt frames (flows × directions × size).
const MAX_TEMPLATE_BYTES: usize = 256 << 20;

/// Flows that differ only in the source port: beyond this many the source address changes.
const PORTS_PER_ADDRESS: u32 = 1 << 16;

struct Generator {
    stats: Arc<PortStats>,
    /// Frame length.
    size: usize,
    /// Offset of the frame in a slot's data area.
    headroom: usize,
    /// `entries` frames of `size` bytes: entry `dir * flows + flow`.
    templates: Vec<u8>,
    /// Flow hash of each entry (the same for both directions of a flow).
    hashes: Vec<u32>,
    flows: usize,
    /// flows × (2 if bidirectional else 1).
    entries: usize,
    pattern: Pattern,
    bidirectional: bool,
    /// Round robin: next entry.
    next: usize,
    /// Random: xorshift64 state (never 0).
    rng: u64,
    /// Random + bidirectional: direction of each flow's next frame, one bit per flow.
    dir_bits: Vec<u64>,
    /// Frames still to send when `count` is set.
    remaining: u64,
    limited: bool,
    bucket: Option<TokenBucket>,
    /// Metadata written to every slot; `len` fixed, `flow_hash` and `timestamp` per frame.
    meta: SlotMeta,
}

/// Source and destination addresses of a flow.
#[derive(Clone, Copy)]
enum Addrs {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

impl Addrs {
    /// The source address plus `n` (wrapping), for flows beyond the first 65536.
    fn src_plus(self, n: u32) -> Addrs {
        match self {
            Addrs::V4(s, d) => Addrs::V4(u32::from_be_bytes(s).wrapping_add(n).to_be_bytes(), d),
            Addrs::V6(s, d) => Addrs::V6(
                u128::from_be_bytes(s)
                    .wrapping_add(u128::from(n))
                    .to_be_bytes(),
                d,
            ),
        }
    }

    fn reversed(self) -> Addrs {
        match self {
            Addrs::V4(s, d) => Addrs::V4(d, s),
            Addrs::V6(s, d) => Addrs::V6(d, s),
        }
    }

    /// Write the whole frame (all of `buf`) with a zero payload and correct checksums.
    fn write(
        self,
        buf: &mut [u8],
        src_mac: MacAddr,
        dst_mac: MacAddr,
        sport: u16,
        dport: u16,
    ) -> Result<(), WireError> {
        let len = buf.len();
        match self {
            Addrs::V4(s, d) => write_udp_ipv4(buf, src_mac, dst_mac, s, d, sport, dport, len),
            Addrs::V6(s, d) => write_udp_ipv6(buf, src_mac, dst_mac, s, d, sport, dport, len),
        }
        .map(|_| ())
    }
}

fn config_err(port: &str, reason: String) -> PortError {
    PortError::Config {
        port: port.to_string(),
        reason,
    }
}

fn mac(port: &str, field: &str, text: &str) -> Result<MacAddr, PortError> {
    parse_mac(text).map_err(|_| {
        config_err(
            port,
            format!("{field} {text:?} is not a MAC address (six hex bytes like 02:00:00:00:00:01)"),
        )
    })
}

fn ip(port: &str, field: &str, text: &str) -> Result<IpAddr, PortError> {
    text.trim().parse::<IpAddr>().map_err(|_| {
        config_err(
            port,
            format!("{field} {text:?} is not an IPv4 or IPv6 address"),
        )
    })
}

/// Check the configuration and build the port.
pub(crate) fn open(
    id: u16,
    name: &str,
    cfg: &GeneratorConfig,
    region: &Region,
    stats: Arc<PortStats>,
) -> Result<Box<dyn RxPort>, PortError> {
    let src_mac = mac(name, "src_mac", &cfg.src_mac)?;
    let dst_mac = mac(name, "dst_mac", &cfg.dst_mac)?;
    let addrs = match (
        ip(name, "src_ip", &cfg.src_ip)?,
        ip(name, "dst_ip", &cfg.dst_ip)?,
    ) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Addrs::V4(s.octets(), d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => Addrs::V6(s.octets(), d.octets()),
        (s, d) => {
            return Err(config_err(
                name,
                format!(
                    "src_ip {s} and dst_ip {d} are of different families; \
                     use two IPv4 or two IPv6 addresses"
                ),
            ))
        }
    };
    let (min, what) = match addrs {
        Addrs::V4(..) => (MIN_UDP_IPV4_FRAME, "Ethernet/IPv4/UDP"),
        Addrs::V6(..) => (MIN_UDP_IPV6_FRAME, "Ethernet/IPv6/UDP"),
    };
    let size = cfg.size;
    if size < min {
        return Err(config_err(
            name,
            format!("size {size} is below the {min}-byte minimum of an {what} frame"),
        ));
    }
    let room = region.data_room() as usize;
    if size > room {
        return Err(config_err(
            name,
            format!(
                "size {size} is larger than the {room}-byte data room of the packet buffers; \
                 lower size or raise the data room"
            ),
        ));
    }
    if !cfg.rate_pps.is_finite() || cfg.rate_pps < 0.0 {
        return Err(config_err(
            name,
            format!(
                "rate_pps {} must be a finite number >= 0 (0 = as fast as possible)",
                cfg.rate_pps
            ),
        ));
    }
    if cfg.flows == 0 {
        return Err(config_err(name, "flows 0 must be at least 1".into()));
    }
    let flows = cfg.flows as usize;
    let dirs = if cfg.bidirectional { 2 } else { 1 };
    let entries = flows * dirs;
    let too_big = || {
        let both = if cfg.bidirectional {
            " in both directions"
        } else {
            ""
        };
        config_err(
            name,
            format!(
                "flows {flows} with size {size}{both} need more than {} MiB of prebuilt frames; \
                 use fewer flows or smaller frames",
                MAX_TEMPLATE_BYTES >> 20
            ),
        )
    };
    let total = entries
        .checked_mul(size)
        .filter(|&t| t <= MAX_TEMPLATE_BYTES)
        .ok_or_else(too_big)?;

    let mut templates = vec![0u8; total];
    let mut hashes = vec![0u32; entries];
    for f in 0..flows {
        let i = f as u32;
        let (sport, dport) = (cfg.src_port.wrapping_add(i as u16), cfg.dst_port);
        let a = addrs.src_plus(i / PORTS_PER_ADDRESS);
        let fwd = f * size..(f + 1) * size;
        let built = a
            .write(&mut templates[fwd.clone()], src_mac, dst_mac, sport, dport)
            .and_then(|_| {
                if cfg.bidirectional {
                    let rev = (flows + f) * size..(flows + f + 1) * size;
                    a.reversed()
                        .write(&mut templates[rev], dst_mac, src_mac, dport, sport)?;
                }
                Ok(())
            });
        built.map_err(|e| config_err(name, format!("cannot build the frame of flow {f}: {e}")))?;
        let h = flow_hash(&templates[fwd]);
        hashes[f] = h;
        if cfg.bidirectional {
            hashes[flows + f] = h;
        }
    }

    let meta = crate::rx_meta(region, id, size as u16);

    Ok(Box::new(Generator {
        stats,
        size,
        headroom: region.headroom() as usize,
        templates,
        hashes,
        flows,
        entries,
        pattern: cfg.pattern,
        bidirectional: cfg.bidirectional,
        next: 0,
        rng: 0x9e37_79b9_7f4a_7c15 ^ u64::from(id),
        dir_bits: if cfg.bidirectional && cfg.pattern == Pattern::Random {
            vec![0; flows.div_ceil(64)]
        } else {
            Vec::new()
        },
        remaining: cfg.count,
        limited: cfg.count > 0,
        bucket: (cfg.rate_pps > 0.0).then(|| TokenBucket::new(cfg.rate_pps)),
        meta,
    }))
}

impl Generator {
    /// Copy entry `e` into slot `idx` and write its metadata.
    ///
    /// # Safety
    /// `idx` is a valid slot the caller holds; `e < self.entries`.
    #[inline(always)]
    unsafe fn emit(&self, region: &Region, idx: u32, e: usize, meta: &mut SlotMeta) {
        debug_assert!(e < self.entries);
        meta.flow_hash = self.hashes[e];
        // SAFETY: `e < entries`, so the template lies inside `templates`; the slot is ours and
        // its data area holds headroom + data room >= headroom + size bytes (checked at open).
        unsafe {
            let src = self.templates.as_ptr().add(e * self.size);
            let dst = region.data(idx).add(self.headroom);
            // Whole 64-byte blocks as fixed-size copies (inlined vector moves, no memmove
            // call for the usual small frames), then the tail.
            let blocks = self.size / 64;
            for b in 0..blocks {
                std::ptr::copy_nonoverlapping(
                    src.add(b * 64) as *const [u8; 64],
                    dst.add(b * 64) as *mut [u8; 64],
                    1,
                );
            }
            let tail = self.size % 64;
            if tail > 0 {
                std::ptr::copy_nonoverlapping(src.add(blocks * 64), dst.add(blocks * 64), tail);
            }
            region.meta(idx).write(*meta);
        }
    }

    #[inline]
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

impl RxPort for Generator {
    fn rx_burst(&mut self, region: &mut Buffers<'_>, out: &mut [u32]) -> usize {
        let mut want = out.len();
        if self.limited {
            want = want.min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        }
        if want == 0 {
            return 0;
        }
        let now = now_ns();
        if let Some(b) = &mut self.bucket {
            want = b.take(now, want);
            if want == 0 {
                return 0;
            }
        }
        let got = region.alloc(&mut out[..want], owner::MANAGER);
        if got < want {
            // Offered but not generated, as a NIC drops what arrives with no buffer.
            self.stats.rx_no_buffer.bump((want - got) as u64);
        }
        if got == 0 {
            return 0;
        }
        let mut meta = self.meta;
        meta.timestamp = now;
        let slots = &out[..got];
        match self.pattern {
            Pattern::RoundRobin => {
                let mut e = self.next;
                for &idx in slots {
                    // SAFETY: `idx` came from the pool just now; `e < entries`.
                    unsafe { self.emit(region, idx, e, &mut meta) };
                    e += 1;
                    if e == self.entries {
                        e = 0;
                    }
                }
                self.next = e;
            }
            Pattern::Random => {
                for &idx in slots {
                    let r = self.next_random() >> 32;
                    let mut e = ((r * self.flows as u64) >> 32) as usize;
                    if self.bidirectional {
                        let (w, b) = (e / 64, e % 64);
                        let reverse = (self.dir_bits[w] >> b) & 1;
                        self.dir_bits[w] ^= 1 << b;
                        e += reverse as usize * self.flows;
                    }
                    // SAFETY: as above; `e < flows * dirs`.
                    unsafe { self.emit(region, idx, e, &mut meta) };
                }
            }
        }
        if self.limited {
            self.remaining -= got as u64;
        }
        self.stats.rx_packets.bump(got as u64);
        self.stats.rx_bytes.bump((got * self.size) as u64);
        got
    }

    fn provides_flow_hash(&self) -> bool {
        true
    }

    fn exhausted(&self) -> bool {
        self.limited && self.remaining == 0
    }
}
